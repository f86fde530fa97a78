"""A real browser (headless Chromium via Selenium) searches, filters, opens an article and sees the highlight."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import load_config
from tests.conftest import REPO
from tests.mailserver import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DOCS = REPO / "docs"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
        "chromium-driver); .ci/run installs them",
    ),
]


@pytest.fixture(scope="module")
def server(demo_url) -> Iterator[str]:
    import uvicorn

    from monitor.web import create_app

    config = load_config(REPO / "config.yaml").with_storage_url(demo_url)
    port = free_port()
    instance = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(10)


@pytest.fixture
def browser(tmp_path) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def keep_screenshot(driver, tmp_path: Path, name: str) -> None:
    """Screenshots go to the test's folder; NEWSMON_UPDATE_SCREENSHOTS=1 refreshes docs/."""
    path = tmp_path / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    if os.environ.get("NEWSMON_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copy(path, DOCS / name)


def test_search_filter_open_and_see_the_highlight(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(server + "/")
    box = browser.find_element(By.ID, "q")
    box.send_keys("nickel OR battery")
    browser.find_element(By.ID, "go").click()
    hits = browser.find_elements(By.CSS_SELECTOR, "li.hit")
    assert len(hits) >= 5
    assert browser.find_elements(By.CSS_SELECTOR, "p.snippet mark")
    all_count = browser.find_element(By.ID, "count").text

    browser.find_element(By.CSS_SELECTOR, 'a.facet[data-topic="eu_japan"]').click()
    assert "topic=eu_japan" in browser.current_url
    filtered = browser.find_elements(By.CSS_SELECTOR, "li.hit")
    assert 0 < len(filtered) < len(hits)
    assert browser.find_element(By.ID, "count").text != all_count
    for hit in filtered:
        chips = [c.text for c in hit.find_elements(By.CSS_SELECTOR, ".chip")]
        assert "eu_japan" in chips
    keep_screenshot(browser, tmp_path, "search.png")

    title = filtered[0].find_element(By.CSS_SELECTOR, "a.title").text
    filtered[0].find_element(By.CSS_SELECTOR, "a.title").click()
    assert browser.find_element(By.ID, "headline").text == title
    marks = browser.find_elements(By.CSS_SELECTOR, "#text mark[data-topic]")
    assert marks and all(
        m.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)" for m in marks
    )
    assert {m.get_attribute("data-topic") for m in marks} & {"eu_japan", "ev_supply_chain"}
    keep_screenshot(browser, tmp_path, "article.png")
