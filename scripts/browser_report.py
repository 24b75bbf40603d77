"""Drives the Hummingbird example's report page in headless Chromium: clicks "Build a report" and waits until the
progress bar, fed by server-sent events, reaches 100% and the job's result is shown.

Usage: python browser_report.py http://127.0.0.1:PORT/
"""
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url = sys.argv[1]
options = webdriver.ChromeOptions()
for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
    options.add_argument(argument)
options.binary_location = "/usr/bin/chromium"
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.get(url)
    driver.find_element(By.ID, "start").click()
    shown = set()

    def finished(d):
        shown.add(int(d.find_element(By.ID, "bar").get_attribute("value")))
        return d.find_element(By.ID, "result").text

    WebDriverWait(driver, 60, poll_frequency=0.02).until(finished)
    value = int(driver.find_element(By.ID, "bar").get_attribute("value"))
    result = driver.find_element(By.ID, "result").text
    status = driver.find_element(By.ID, "status").text
    print(f"progress values shown: {sorted(shown)}; bar {value}%; status {status!r}; result {result!r}")
    assert value == 100, f"the bar stopped at {value}%"
    assert driver.find_element(By.ID, "percent").text == "100%"
    assert result == "report ready: 10 pages", f"result {result!r}"
    assert any(0 < v < 100 for v in shown), f"no intermediate progress was shown: {sorted(shown)}"
finally:
    driver.quit()
