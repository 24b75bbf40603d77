"""Drives `conveyor dashboard` in headless Chromium against RabbitMQ or SQS (LocalStack):
- the token: refused without it; opened once with ?token=, then the cookie carries it;
- a queue's page shows a running `progress` job's bar move, fed by server-sent events, and the event log its end;
- a dead-lettered job whose payload holds markup shows it as text (no script runs, no element is made);
- an action without the CSRF token is refused (403); redriving the selected job from the dead-letter page puts it
  back in the queue, as `conveyor dlq redrive --id` would; purging needs the queue's name typed;
- the workers page lists the running worker.
With CONVEYOR_SCREENSHOTS=DIR, it saves a screenshot of each page there (docs/images/ holds the committed ones).

Usage: python browser_dashboard.py http://127.0.0.1:PORT/ QUEUE CONVEYOR_BINARY TOKEN BROKER_ARGUMENTS...
(BROKER_ARGUMENTS: what points a conveyor command at the broker, e.g. --provider rabbitmq --url amqp://...)
"""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, queue, conveyor, token = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], sys.argv[4]
broker = sys.argv[5:]
shots = os.environ.get("CONVEYOR_SCREENSHOTS")


def cli(*arguments):
    return subprocess.run([conveyor, *arguments, *broker], check=True, capture_output=True, text=True).stdout


def enqueue(task, payload):
    out = cli("enqueue", "--queue", queue, "--task", task, "--payload", json.dumps(payload), "--json")
    return json.loads(out.strip().splitlines()[-1])["id"]


def stats():
    return json.loads(cli("stats", "--queue", queue, "--json").strip().splitlines()[-1])


def start_worker():
    return subprocess.Popen([conveyor, "worker", "--queue", queue, "--concurrency", "4", *broker],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_worker(worker):
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)


def shot(name):
    if shots:
        os.makedirs(shots, exist_ok=True)
        driver.save_screenshot(os.path.join(shots, f"dashboard-{name}.png"))


def wait_until(condition, timeout=60, poll=0.1):
    return WebDriverWait(driver, timeout, poll_frequency=poll).until(condition)


def purge_form():
    return [f for f in driver.find_elements(By.TAG_NAME, "form") if f.get_attribute("action").endswith("/purge")][0]


# Without the token, nothing: pages, API, assets.
for path in ("/", "/api/queues", "/assets/dashboard.js"):
    try:
        urllib.request.urlopen(url + path)
        raise AssertionError(f"{path} answered without the token")
    except urllib.error.HTTPError as error:
        assert error.code == 401, f"{path}: {error.code}"

options = webdriver.ChromeOptions()
for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
    options.add_argument(argument)
options.binary_location = "/usr/bin/chromium"
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
worker = start_worker()
try:
    driver.get(f"{url}/queues/{queue}?token={token}")
    assert token not in driver.current_url, "the token leaves the address bar"
    wait_until(lambda d: d.execute_script("return document.readyState") == "complete")
    time.sleep(1)  # the EventSource connects

    # A running job's progress bar moves; the event log shows its end.
    job = enqueue("progress", {"steps": 20, "ms": 250})
    seen = set()

    def progressing(d):
        for row in d.find_elements(By.CSS_SELECTOR, "#running tbody tr"):
            cells = row.find_elements(By.TAG_NAME, "td")
            if cells and cells[0].text == job:
                seen.add(float(row.find_element(By.TAG_NAME, "progress").get_attribute("value")))
        return len([v for v in seen if 0 < v < 1]) >= 2

    wait_until(progressing, poll=0.05)
    shot("queue")
    wait_until(lambda d: any("succeeded" in li.text and job in li.text for li in d.find_elements(By.CSS_SELECTOR, "#events li")))
    print(f"progress values shown: {sorted(seen)}; the event log shows the success")

    driver.get(f"{url}/workers")
    assert queue in driver.find_element(By.ID, "workers").text, "the workers page lists the worker"
    shot("workers")

    # Markup in a dead letter is text.
    bad = enqueue("sleep", {"ms": -5, "note": "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"})
    deadline = time.time() + 60
    while time.time() < deadline and bad not in driver.page_source:
        driver.get(f"{url}/queues/{queue}/dead-letters")
        time.sleep(0.3)
    stop_worker(worker)
    worker = None
    shot("dead-letters")
    driver.get(f"{url}/queues/{queue}/dead-letters/{bad}")
    payload = driver.find_element(By.ID, "payload").text
    for piece in ("<img src=x onerror=", "<script>document.title="):
        assert piece in payload, f"the payload is not shown as text: {payload!r}"
    assert "pwned" not in driver.execute_script("return document.title")
    assert not driver.find_elements(By.CSS_SELECTOR, "main img"), "markup from the job became an element"
    shot("dead-letter")
    print("a payload with markup shows as text; no script ran")

    # An action without the CSRF token is refused.
    status = driver.execute_script(
        "return fetch(arguments[0], {method: 'POST', credentials: 'same-origin'}).then(r => r.status)", f"{url}/queues/{queue}/pause")
    assert status == 403, f"a POST without the CSRF token answered {status}"
    assert stats()["paused"] is False

    # Redrive the selected job: it is back in the queue, the dead letters empty.
    driver.get(f"{url}/queues/{queue}/dead-letters")
    driver.find_element(By.CSS_SELECTOR, f"input[name='id'][value='{bad}']").click()
    driver.find_element(By.XPATH, "//button[text()='Redrive selected']").click()
    wait_until(lambda d: d.current_url.endswith("/dead-letters") and bad not in d.page_source)
    deadline = time.time() + 30
    while time.time() < deadline and (stats()["ready"], stats()["dead_lettered"]) != (1, 0):
        time.sleep(0.3)  # SQS counts are approximate for a moment
    counts = stats()
    assert counts["ready"] == 1 and counts["dead_lettered"] == 0, f"after the redrive: {counts}"
    driver.get(url + "/")

    def overview(ready, dead):
        def check(d):
            row = d.find_element(By.CSS_SELECTOR, f"tr[data-queue='{queue}']")
            return (row.find_element(By.CSS_SELECTOR, "[data-field='ready']").text,
                    row.find_element(By.CSS_SELECTOR, "[data-field='dead_lettered']").text) == (str(ready), str(dead))
        return check

    wait_until(overview(1, 0), timeout=30, poll=0.2)
    print("redrive from the page moved the job back to the queue; the overview shows it")

    # Dead-lettered again by a worker, then purged after typing the queue's name.
    worker = start_worker()
    deadline = time.time() + 60
    while time.time() < deadline and stats()["dead_lettered"] != 1:
        time.sleep(0.3)
    driver.get(f"{url}/queues/{queue}/dead-letters")
    form = purge_form()
    form.find_element(By.NAME, "confirm").send_keys("wrong")
    form.find_element(By.TAG_NAME, "button").click()
    wait_until(lambda d: "type the queue" in d.page_source)
    driver.get(f"{url}/queues/{queue}/dead-letters")
    form = purge_form()
    form.find_element(By.NAME, "confirm").send_keys(queue)
    form.find_element(By.TAG_NAME, "button").click()
    wait_until(lambda d: d.current_url.endswith("/dead-letters") and bad not in d.page_source)
    driver.get(url + "/")

    wait_until(overview(0, 0), timeout=30, poll=0.2)
    shot("overview")
    print("purge with the typed name emptied the dead letters; the overview shows 0")

    driver.get(f"{url}/schedules")
    shot("schedules")
finally:
    if worker:
        stop_worker(worker)
    driver.quit()
