"""The pages in a real browser: Debian's chromium, headless, driven by Playwright for
Python (`executable_path`, never a browser download), against `lrs serve`'s app on a
seeded province. Screenshots go to test-artefacts/web/ (kept by CI, ignored by git).

Marked `servers`: ./scripts/test installs chromium with the other test servers.
"""

from __future__ import annotations

import csv
import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.servers import ServerUnavailable, free_port
from tests.web.conftest import CLASS, Seeded

pytestmark = pytest.mark.servers

CHROMIUM = "/usr/bin/chromium"
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "web"
PHONE = {"width": 375, "height": 740}


def _chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        raise ServerUnavailable(
            f"no browser at {CHROMIUM}: run ./scripts/test (it installs Debian's chromium "
            "with the other test servers) or, as root, apt-get install -y chromium"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def live(seeded: Seeded) -> Iterator[str]:
    """The seeded app served over real HTTP by uvicorn, as `lrs serve` serves it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(seeded.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 30 s", pytrace=False)
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(live: str) -> Iterator[Any]:
    try:
        path = _chromium()
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    from playwright.sync_api import sync_playwright

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # --no-sandbox: the tests may run as root (CI containers), where chromium's sandbox cannot
        launched = playwright.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def open_page(browser: Any, live: str) -> Iterator[Any]:
    """A fresh browser context (no cookies); every request outside the server fails the
    test: the pages must work offline."""
    contexts = []
    outside: list[str] = []

    def make(locale: str = "vi-VN", viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(locale=locale, viewport=viewport or {"width": 1280, "height": 900})
        contexts.append(context)

        def guard(route: Any) -> None:
            if route.request.url.startswith(live):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()
    assert outside == [], f"pages asked for outside resources: {outside}"


def sign_in(page: Any, live: str, seeded: Seeded, role: str) -> None:
    key, secret = seeded.secrets[role]
    page.goto(live + "/signin")
    page.fill("#key", key)
    page.fill("#secret", secret)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(live + "/")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def test_admin_sees_every_page(open_page: Any, live: str, seeded: Seeded) -> None:
    page = open_page()
    sign_in(page, live, seeded, "admin")
    assert page.locator("#classes li").count() == 5
    shot(page, "admin-home")
    page.click("text=Lớp 10A1")
    assert page.locator("#heatmap tbody tr").count() == 14
    assert page.locator("#quiz tbody tr").count() == 2
    shot(page, "admin-class")
    page.locator("#heatmap tbody th a").first.click()
    page.wait_for_selector("#timeline")
    assert page.locator("#timeline tbody tr").count() > 0
    shot(page, "admin-person")
    page.goto(live + "/areas?by=commune")
    page.wait_for_selector("#trend-chart canvas")  # uPlot, served from the package
    assert page.locator("#aggregates td.withheld").count() > 0
    shot(page, "admin-areas")
    page.goto(live + "/ops")
    assert page.locator("#figures tbody tr").count() > 0
    shot(page, "admin-ops")
    page.goto(live + "/audit")
    assert "✓" in page.inner_text("#chain-state")


def test_a_school_sees_its_class_and_no_audit_or_operations(
    open_page: Any, live: str, seeded: Seeded
) -> None:
    page = open_page()
    sign_in(page, live, seeded, "school")
    nav = page.inner_text("nav")
    assert "Kiểm toán" not in nav and "Vận hành" not in nav
    page.goto(live + "/class?id=" + CLASS)
    assert page.locator("#heatmap tbody tr").count() == 14
    shot(page, "school-class")
    response = page.goto(live + "/ops")
    assert response.status == 403
    assert page.locator("p.error").is_visible()
    shot(page, "school-ops-refused")


def test_another_school_finds_nothing_of_this_one(open_page: Any, live: str, seeded: Seeded) -> None:
    page = open_page()
    sign_in(page, live, seeded, "other_school")
    assert page.locator("#classes").count() == 0
    response = page.goto(live + "/class?id=" + CLASS)
    assert response.status == 404
    shot(page, "other-school-class")


def test_an_auditor_filters_a_history_and_exports_it(open_page: Any, live: str, seeded: Seeded) -> None:
    page = open_page(locale="en-GB")
    sign_in(page, live, seeded, "auditor")
    page.goto(live + "/audit")
    assert "hash chain intact" in page.inner_text("#chain-state")
    page.fill("#person", "p-u0001")
    page.fill("#verb", "http://adlnet.gov/expapi/verbs/answered")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#timeline")
    assert page.locator("#timeline tbody tr").count() == 2
    shot(page, "auditor-history")
    with page.expect_download() as download:
        page.click("#export-csv")
    text = Path(download.value.path()).read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["verb"] for r in rows] == ["http://adlnet.gov/expapi/verbs/answered"] * 2


def test_a_platform_credential_sees_no_learner_data(open_page: Any, live: str, seeded: Seeded) -> None:
    page = open_page()
    sign_in(page, live, seeded, "platform")
    assert page.locator("p.error").is_visible()
    assert page.goto(live + "/areas").status == 403
    shot(page, "platform-home")


def test_public_page_on_a_phone_in_english(open_page: Any, live: str) -> None:
    page = open_page(locale="en-US", viewport=PHONE)
    page.goto(live + "/public")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#open-data").is_visible()
    # nothing wider than the phone but the tables' own scrolling regions
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "public-phone-en")
    page.click("text=Tiếng Việt")
    assert page.locator("html").get_attribute("lang") == "vi"
    with page.expect_download() as download:
        page.click("#csv")
    assert Path(download.value.path()).read_text("utf-8").startswith("framework,by,group")


def test_sign_in_and_navigation_work_from_the_keyboard(open_page: Any, live: str, seeded: Seeded) -> None:
    page = open_page()
    page.goto(live + "/signin")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")  # the skip link: focus moves to the content
    key, secret = seeded.secrets["school"]
    page.focus("#key")
    page.keyboard.type(key)
    page.keyboard.press("Tab")
    page.keyboard.type(secret)
    page.keyboard.press("Enter")
    page.wait_for_url(live + "/")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    focused = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused == "solid"  # a visible focus ring


CONTRAST = """
() => {
  function lum(rgb) {
    const [r, g, b] = rgb.match(/\\d+/g).slice(0, 3).map(Number).map(v => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  function background(el) {
    while (el) {
      const bg = getComputedStyle(el).backgroundColor;
      if (bg && !bg.endsWith(", 0)") && bg !== "transparent") return bg;
      el = el.parentElement;
    }
    return "rgb(255, 255, 255)";
  }
  const worst = [];
  for (const el of document.querySelectorAll("td, th, a, p, button, label, span")) {
    if (!el.textContent.trim() || getComputedStyle(el).backgroundImage !== "none") continue;
    const a = lum(getComputedStyle(el).color), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) worst.push(el.tagName + " " + el.className + " " + ratio.toFixed(2));
  }
  return worst;
}
"""


def test_text_meets_wcag_aa_contrast(open_page: Any, live: str, seeded: Seeded) -> None:
    page = open_page()
    sign_in(page, live, seeded, "admin")
    for path in ("/class?id=" + CLASS, "/areas", "/public", "/audit"):
        page.goto(live + path)
        assert page.evaluate(CONTRAST) == [], path
