"""A real browser against the real server: Debian's Chromium, driven by Playwright, over waitress.

Screenshots go to a temporary folder; set ZHSEARCH_SCREENSHOT_DIR=docs to refresh the ones the
README shows. Without Chromium the test is skipped with a plain reason, or fails when
ZHSEARCH_REQUIRE_BROWSER=1 (as in CI, where .ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import waitress

from search.index import BuildReport
from tests.conftest import make_app
from web.searcher import close_searcher

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1100, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_or_skip() -> Path:
    """The Chromium binary; skip (or fail, when the browser is required) if it is missing."""
    found = Path(shutil.which("chromium") or CHROMIUM)
    if found.exists():
        return found
    reason = "Chromium is not installed (apt-get install chromium): the browser test did not run"
    if os.environ.get("ZHSEARCH_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + ", and ZHSEARCH_REQUIRE_BROWSER=1 requires it")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(seed_index: BuildReport) -> Iterator[str]:
    """The app under waitress on a free port of 127.0.0.1, in a background thread."""
    app = make_app(seed_index.index_dir, testing=False)
    wsgi = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, name="waitress-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{wsgi.effective_port}"
    finally:
        wsgi.close()  # the loop ends once its sockets are closed
        thread.join(timeout=10)
        wsgi.task_dispatcher.shutdown()
        close_searcher(app)


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("ZHSEARCH_SCREENSHOT_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_simplified_query_in_the_browser_finds_and_opens_the_traditional_article(
    server: str, screenshot_dir: Path
) -> None:
    executable = chromium_or_skip()
    from playwright.sync_api import ConsoleMessage, Request, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=DESKTOP, locale="zh-CN")
            problems: list[str] = []  # console errors (a CSP violation is one) and page errors
            foreign: list[str] = []  # requests to anywhere but our server

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    problems.append(message.text)

            def on_request(request: Request) -> None:
                if not request.url.startswith(server):
                    foreign.append(request.url)

            page.on("console", on_console)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", on_request)

            # Type a simplified query into the labelled box and submit the form.
            page.goto(server + "/")
            box = page.get_by_label("搜索新闻（简体或繁体）")
            box.fill("枣庄")
            with page.expect_navigation():
                page.get_by_role("button", name="搜索").click()

            assert unquote(urlsplit(page.url).query) == "q=枣庄"
            assert "枣庄" in page.title()
            assert box.input_value() == "枣庄"
            marked = page.locator(".hit-text mark").all_inner_texts()
            assert "棗莊" in marked, marked
            assert page.get_by_role("status").inner_text().startswith("找到")
            page.screenshot(path=str(screenshot_dir / "screenshot-results.png"), full_page=True)

            # Follow the last hit that points into the body, and land on that paragraph.
            link = page.locator(".hit-title a[href*='#p']").last
            anchor = link.get_attribute("href").rsplit("#", 1)[1]
            with page.expect_navigation():
                link.click()
            assert page.url.endswith("#" + anchor)
            assert page.evaluate("document.querySelector(':target').id") == anchor
            paragraph = page.locator(f"#{anchor}")
            assert "棗莊" in paragraph.locator("mark").all_inner_texts()
            # Scrolled down to it (the last paragraph may sit low: the page cannot scroll further).
            top = paragraph.evaluate("element => element.getBoundingClientRect().top")
            assert page.evaluate("window.scrollY") > 0
            assert 0 <= top < DESKTOP["height"], "the linked paragraph is not scrolled into view"
            assert page.locator("h1").inner_text() == "壓實責任 夯實舉措 奮力實施工業倍增計劃"
            page.screenshot(path=str(screenshot_dir / "screenshot-article.png"), full_page=True)

            # On a phone the article fits the screen's width: no sideways scrolling.
            page.set_viewport_size(PHONE)
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= PHONE["width"], f"page is {wide}px wide on a {PHONE['width']}px phone"

            assert problems == [], problems
            assert foreign == [], foreign  # everything comes from our server: works offline
        finally:
            browser.close()

    for name in ("screenshot-results.png", "screenshot-article.png"):
        assert (screenshot_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
