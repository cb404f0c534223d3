"""The console in headless Chromium (selenium): log in, live devices, the access graph.

The control plane runs in real uvicorn on 127.0.0.1; devices register through the node
protocol client. A screenshot of every page is saved under the test's tmp dir. Skips
when Debian's chromium or chromium-driver is absent (CI installs both).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_helpers import register

from tailcfg.control.server import RunningControl, running_control
from tailcfg.control.service import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

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
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT = 20.0  # seconds a page may take to show an expected change (not a timed assertion)


@pytest.fixture
def control(state_dir: Path, policy_file: Path) -> Iterator[RunningControl]:
    with running_control(state_dir, policy_file, settings=Settings(keepalive=5.0)) as ctl:
        yield ctl


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
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def _api(ctl: RunningControl) -> httpx.Client:
    return httpx.Client(
        base_url=ctl.url, headers={"Authorization": f"Bearer {ctl.admin_key}"}, timeout=30
    )


def _mint(ctl: RunningControl, **create: Any) -> str:
    body = {"capabilities": {"devices": {"create": {"preauthorized": True, **create}}}}
    with _api(ctl) as api:
        r = api.post("/api/v2/tailnet/-/keys", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


def _join(ctl: RunningControl, name: str, **create: Any) -> dict[str, Any]:
    return asyncio.run(register(ctl.url, _mint(ctl, **create), name))


def _rows(driver: Any) -> list[str]:
    """Device names in the table, read in one script (the poller may swap the rows)."""
    names = driver.execute_script(
        "return Array.from(document.querySelectorAll('#devices tbody tr th[scope=row]'))"
        ".map(th => th.textContent);"
    )
    return sorted(str(n) for n in names)


def _unlabelled_inputs(driver: Any) -> list[str]:
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('input,select,textarea'))"
            ".filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length)"
            " && !e.getAttribute('aria-label')).map(e => e.outerHTML);"
        )
    )


def _headers_without_scope(driver: Any) -> list[str]:
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('table')).flatMap(t => {"
            " const ths = Array.from(t.querySelectorAll('th'));"
            " if (!ths.length) return ['table without th: ' + t.id];"
            " return ths.filter(h => !h.getAttribute('scope')).map(h => h.outerHTML); });"
        )
    )


def _tab_reaches(driver: Any, hrefs: set[str], presses: int = 40) -> set[str]:
    """Press Tab from the top of the page; the hrefs of links that took the focus."""
    driver.find_element(By.TAG_NAME, "body").click()
    driver.execute_script("document.activeElement && document.activeElement.blur();")
    seen: set[str] = set()
    for _ in range(presses):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        href = driver.execute_script(
            "const a = document.activeElement; return a && a.getAttribute('href');"
        )
        if href in hrefs:
            seen.add(str(href))
        if seen == hrefs:
            break
    return seen


def test_console_in_chromium(control: RunningControl, browser: Any, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    dao = _join(control, "dao", tags=["tag:server"])
    _join(control, "laptop")
    wait = WebDriverWait(browser, WAIT)

    # Without a session every page answers 401 and points at the login form.
    browser.get(control.url + "/graph")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Log in required"
    browser.save_screenshot(str(shots / "unauthorized.png"))
    browser.find_element(By.LINK_TEXT, "Log in").click()
    wait.until(lambda d: d.find_elements(By.ID, "key"))
    assert _unlabelled_inputs(browser) == []
    browser.save_screenshot(str(shots / "login.png"))
    browser.find_element(By.ID, "key").send_keys(control.admin_key)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()

    # Devices: the registered ones, then a new one appears without a reload.
    wait.until(lambda d: d.find_elements(By.ID, "devices"))
    assert _rows(browser) == ["dao", "laptop"]
    assert _headers_without_scope(browser) == []
    nav = {"/", "/keys", "/policy", "/graph"}
    assert _tab_reaches(browser, nav) == nav
    cookies = {c["name"]: c for c in browser.get_cookies()}
    assert cookies["tailcfg_console"]["httpOnly"] is True
    assert cookies["tailcfg_console"]["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""
    browser.save_screenshot(str(shots / "devices.png"))
    browser.execute_script("window.__sameDocument = 'yes';")
    _join(control, "ci-runner", tags=["tag:ci"])
    wait.until(lambda d: "ci-runner" in _rows(d))
    assert _rows(browser) == ["ci-runner", "dao", "laptop"]
    tags = browser.execute_script(
        "return document.querySelector(\"tr[data-device='ci-runner'] span.tag\").textContent;"
    )
    assert tags == "tag:ci"
    assert browser.execute_script("return window.__sameDocument") == "yes"
    browser.save_screenshot(str(shots / "devices-live.png"))
    # ... and one that leaves disappears.
    with _api(control) as api:
        assert api.delete(f"/api/v2/device/{dao['NodeID']}").status_code == 200
    wait.until(lambda d: "dao" not in _rows(d))
    assert browser.execute_script("return window.__sameDocument") == "yes"
    _join(control, "dao", tags=["tag:server"])
    wait.until(lambda d: "dao" in _rows(d))

    # Auth keys: listed by id, never with their secret.
    browser.get(control.url + "/keys")
    key_rows = browser.find_elements(By.CSS_SELECTOR, "#keys tbody tr")
    assert len(key_rows) == 4
    assert "tskey-auth-" not in browser.page_source
    assert control.admin_key not in browser.page_source
    assert _headers_without_scope(browser) == []
    browser.save_screenshot(str(shots / "keys.png"))

    # Policy: numbered lines and the test results.
    browser.get(control.url + "/policy")
    assert browser.find_element(By.ID, "L2").text == "2{"
    results = browser.find_elements(By.CSS_SELECTOR, "#tests + table tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[4].text for r in results] == ["pass", "pass"]
    browser.save_screenshot(str(shots / "policy.png"))

    # Graph: the edge the policy grants, its rule on hover, the matrix cell.
    browser.get(control.url + "/graph")
    edge = browser.find_element(
        By.CSS_SELECTOR, "g.tg-e[aria-label^='group:admins → tag:server: network tcp:22,443']"
    )
    ActionChains(browser).move_to_element(edge).perform()
    detail = browser.find_element(By.ID, "tg-detail")
    wait.until(lambda d: "granted by" in detail.text)
    assert detail.text.splitlines() == [
        "group:admins → tag:server: network tcp:22,443",
        "granted by policy.hujson:6 grants[0]",
    ]
    matrix = browser.find_element(By.CSS_SELECTOR, "table.tg-matrix")
    cols = [th.text for th in matrix.find_elements(By.CSS_SELECTOR, "thead th")]
    rows = matrix.find_elements(By.CSS_SELECTOR, "tbody tr")
    laptop = next(r for r in rows if r.find_element(By.TAG_NAME, "th").text == "laptop")
    cell = laptop.find_elements(By.TAG_NAME, "td")[cols.index("dao")]
    assert cell.text.splitlines() == ["tcp:22,443", "ssh root"]
    assert _headers_without_scope(browser) == []
    browser.save_screenshot(str(shots / "graph.png"))
    assert sorted(p.name for p in shots.iterdir()) == [
        "devices-live.png",
        "devices.png",
        "graph.png",
        "keys.png",
        "login.png",
        "policy.png",
        "unauthorized.png",
    ]
