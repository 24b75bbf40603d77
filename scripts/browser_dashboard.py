"""Drives `conveyor dashboard` in headless Chromium against RabbitMQ, with a `conveyor worker` running:
- a queue's page shows a running job's progress bar, fed by server-sent events, and the event log its success;
- a dead-lettered job whose payload and reason hold markup shows them as text (no script runs, the title stays);
- purging the dead letters needs the queue's name typed, and the overview's counts follow.

Usage: python browser_dashboard.py http://127.0.0.1:PORT/ QUEUE CONVEYOR_BINARY AMQP_URL
"""
import json
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, queue, conveyor, amqp = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], sys.argv[4]


def enqueue(task, payload):
    out = subprocess.run(
        [conveyor, "enqueue", "--provider", "rabbitmq", "--url", amqp, "--queue", queue, "--task", task,
         "--payload", json.dumps(payload), "--json"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["id"]


options = webdriver.ChromeOptions()
for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
    options.add_argument(argument)
options.binary_location = "/usr/bin/chromium"
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    # Live progress on the queue's page.
    driver.get(f"{url}/queues/{queue}")
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    time.sleep(1)  # the EventSource connects
    job = enqueue("progress", {"steps": 10, "ms": 300})
    seen = set()

    def progressing(d):
        for row in d.find_elements(By.CSS_SELECTOR, "#running tbody tr"):
            cells = row.find_elements(By.TAG_NAME, "td")
            if cells and cells[0].text == job:
                seen.add(float(row.find_element(By.TAG_NAME, "progress").get_attribute("value")))
        return any(0 < v < 1 for v in seen)

    WebDriverWait(driver, 60, poll_frequency=0.05).until(progressing)
    WebDriverWait(driver, 60, poll_frequency=0.1).until(
        lambda d: any("succeeded" in li.text and job in li.text for li in d.find_elements(By.CSS_SELECTOR, "#events li")))
    running_ids = [r.find_elements(By.TAG_NAME, "td")[0].text for r in driver.find_elements(By.CSS_SELECTOR, "#running tbody tr")]
    assert job not in running_ids, "the finished job left the running table"
    print(f"progress values shown: {sorted(seen)}; the event log shows the success")

    # Markup in a dead letter is text.
    markup = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
    bad = enqueue("sleep", {"ms": -5, "note": markup})
    deadline = time.time() + 60
    while time.time() < deadline:
        driver.get(f"{url}/queues/{queue}/dead-letters")
        if bad in driver.page_source:
            break
        time.sleep(0.5)
    driver.get(f"{url}/queues/{queue}/dead-letters/{bad}")
    payload = driver.find_element(By.ID, "payload").text
    # The payload is JSON (its quotes escaped); the markup's pieces must be there as text.
    for piece in ("<img src=x onerror=", "<script>document.title="):
        assert piece in payload, f"the payload is not shown as text: {payload!r}"
    assert driver.title != "pwned" and "pwned" not in driver.execute_script("return document.title")
    assert not driver.find_elements(By.CSS_SELECTOR, "main img"), "markup from the job became an element"
    print("a payload with markup shows as text; no script ran")

    # Purge needs the typed name; the overview follows.
    driver.get(f"{url}/queues/{queue}/dead-letters")
    forms = [f for f in driver.find_elements(By.TAG_NAME, "form") if f.get_attribute("action").endswith("/purge")]
    forms[0].find_element(By.NAME, "confirm").send_keys("wrong")
    forms[0].find_element(By.TAG_NAME, "button").click()
    WebDriverWait(driver, 30).until(lambda d: "type the queue" in d.page_source)  # refused, saying why
    driver.get(f"{url}/queues/{queue}/dead-letters")
    forms = [f for f in driver.find_elements(By.TAG_NAME, "form") if f.get_attribute("action").endswith("/purge")]
    forms[0].find_element(By.NAME, "confirm").send_keys(queue)
    forms[0].find_element(By.TAG_NAME, "button").click()
    # The purge answers with a redirect back to the (now empty) list.
    WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/dead-letters") and bad not in d.page_source)
    driver.get(url + "/")

    def purged(d):
        row = d.find_element(By.CSS_SELECTOR, f"tr[data-queue='{queue}']")
        return row.find_element(By.CSS_SELECTOR, "[data-field='dead_lettered']").text == "0"

    WebDriverWait(driver, 30, poll_frequency=0.2).until(purged)
    print("purge with the typed name emptied the dead letters; the overview shows 0")
finally:
    driver.quit()
