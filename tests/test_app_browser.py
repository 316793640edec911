"""The page in a real headless browser (Debian's Chromium through Selenium): every tab opens, an
uploaded image is classified and the result shown; a screenshot of each tab is kept as an artifact
(in $LTCLI_SCREENSHOTS, else the test's tmp folder)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the web app needs the app extra: pip install 'ltcli[app]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (the dev extra)")

pytestmark = pytest.mark.slow  # starts a browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
TABS = ("Train", "Infer", "Compare", "Runs", "Data")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM or not DRIVER:
        pytest.skip("no Chromium and chromedriver on PATH (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100",
                     "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception:  # the page is still rendering (stale or missing elements)
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def tab_button(driver, name: str):
    from selenium.webdriver.common.by import By

    return next(b for b in driver.find_elements(By.CSS_SELECTOR, "button[role='tab']")
                if b.text.strip() == name and b.is_displayed())


def full_page(driver, path: Path) -> None:
    """A screenshot of the whole page, not only the window (the tab's results run below the fold)."""
    width, height = driver.get_window_size()["width"], driver.get_window_size()["height"]
    page = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(page + 120, height), 4000))
    time.sleep(0.5)
    driver.save_screenshot(str(path))
    driver.set_window_size(width, height)


def text_of(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def test_every_tab_and_an_inference_in_a_browser(browser, served_app, app_root, tmp_path):
    from selenium.webdriver.common.by import By

    shots = Path(os.environ.get("LTCLI_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    browser.get(served_app.url)
    wait_until(lambda: all(tab_button(browser, name) for name in TABS), 60, "the tabs")
    load_seconds = time.perf_counter() - started
    navigation = browser.execute_script(
        "const t = performance.getEntriesByType('navigation')[0]; return t ? t.loadEventEnd : null;")
    print(f"page load: tabs visible {load_seconds:.2f} s after navigation started (load event {navigation} ms)")
    (shots / "load_time.txt").write_text(f"tabs visible after {load_seconds:.2f} s; load event {navigation} ms\n")

    # Train: the form and the (empty) jobs table.
    assert browser.find_element(By.ID, "train-button").is_displayed()
    full_page(browser, (shots / "train.png"))

    # Infer: upload a test image, run the newest run, see its top classes.
    tab_button(browser, "Infer").click()
    image = next((app_root / "a_datasets/colours/test/apple").glob("*.png"))
    upload = wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "#infer-images input[type='file']"), 20,
                        "the upload box")
    upload.send_keys(str(image))
    wait_until(lambda: image.stem in text_of(browser, "infer-images"), 30, "the upload")  # "img002\n.png"
    browser.find_element(By.ID, "infer-button").click()

    def shown_result() -> str | None:
        text = text_of(browser, "infer-result")
        return text if "probability_1" in text and image.name in text else None

    result = wait_until(shown_result, 60, "the inference result")
    assert any(name in result for name in ("apple", "leaf", "sky"))
    assert "1 image(s)" in text_of(browser, "infer-note")
    full_page(browser, (shots / "infer.png"))

    # Compare: the two tested runs, pre-selected.
    tab_button(browser, "Compare").click()
    wait_until(lambda: browser.find_element(By.ID, "compare-button").is_displayed(), 20, "the Compare tab")
    browser.find_element(By.ID, "compare-button").click()
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#compare-recall img"), 60, "the recall figure")
    time.sleep(1.0)  # the gallery's images
    full_page(browser, (shots / "compare.png"))

    # Runs: the table, then one run opened.
    tab_button(browser, "Runs").click()
    cell = wait_until(lambda: next(c for c in browser.find_elements(
        By.XPATH, "//*[@id='runs-table']//*[normalize-space(text())='baseline']") if c.is_displayed()), 30,
        "the runs table")
    cell.click()
    wait_until(lambda: "logs/" in browser.find_element(By.CSS_SELECTOR, "#runs-selected textarea")
               .get_attribute("value"), 30, "the selected run")
    time.sleep(1.5)  # its curves and figures
    full_page(browser, (shots / "runs.png"))

    # Data: counts and histogram of the dataset.
    tab_button(browser, "Data").click()
    wait_until(lambda: browser.find_element(By.ID, "data-button").is_displayed(), 20, "the Data tab")
    browser.find_element(By.ID, "data-button").click()
    wait_until(lambda: "imbalance ratio" in browser.find_element(By.TAG_NAME, "body").text, 30, "the stats")
    time.sleep(1.0)
    full_page(browser, (shots / "data.png"))

    saved = sorted(p.name for p in shots.glob("*.png"))
    assert saved == sorted(f"{name.lower()}.png" for name in TABS)
    assert all((shots / name).stat().st_size > 10_000 for name in saved)  # real renders, not blank pages
