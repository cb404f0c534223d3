"""The standalone graph HTML in headless Chromium: offline, keyboard-navigable, details on focus.

Skips when Debian's chromium or chromium-driver is absent (CI installs both).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tailcfg.cli.main import main

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "graph"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, chromedriver)",
    ),
]

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (dev extra) missing")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--window-size=1200,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    )
    try:
        yield driver
    finally:
        driver.quit()


def _focused(driver: Any) -> str:
    return str(driver.execute_script("return document.activeElement.id || ''"))


def test_graph_html_offline_and_keyboard(browser: Any, tmp_path: Path) -> None:
    out = tmp_path / "graph.html"
    policy, nodes = GOLDEN / "homelab.hujson", GOLDEN / "homelab.nodes.json"
    assert main(["policy", "graph", str(policy), "--nodes", str(nodes), "-o", str(out)]) == 0
    browser.get(out.as_uri())
    assert browser.title == f"Access graph — {policy}"
    # Nothing but the page itself was loaded.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0

    # Tab walks the edges (in order) and then the identities; focus shows the rules.
    order = []
    for _ in range(11 + 12):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        order.append(_focused(browser))
    assert order == [f"e{i}" for i in range(11)] + [f"s{i}" for i in range(5)] + [
        f"d{i}" for i in range(7)
    ]
    detail = browser.find_element(By.ID, "tg-detail")
    assert detail.text.splitlines() == ["nas (host): 192.168.1.10", "192.168.1.10"]
    browser.execute_script("document.getElementById('e3').focus()")
    assert detail.text.splitlines() == [
        "group:admins → tag:server: network tcp:22,443",
        f"granted by {policy}:30 grants[0]",
    ]
    dimmed = browser.find_elements(By.CSS_SELECTOR, "g.tg-e.tg-dim")
    assert len(dimmed) == 10

    # A matrix cell takes the focus too and names its rules.
    cell = browser.find_element(By.CSS_SELECTOR, "table.tg-matrix td.has")
    browser.execute_script("arguments[0].focus()", cell)
    assert detail.text.splitlines() == [
        "laptop → laptop: ssh nonroot",
        f"granted by {policy}:75 ssh[2]",
    ]
    browser.save_screenshot(str(tmp_path / "graph.png"))
