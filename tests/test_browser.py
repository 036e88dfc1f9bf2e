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
from itertools import pairwise
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
# Months of one brief each in the archive, 2021-01 to 2023-06.
MANY_MONTHS = 30
# The boxes of the month chart's bars and labels, in the page's pixels.
CHART_BOXES = """svg => {
    const box = e => { const r = e.getBoundingClientRect();
                       return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
    return {chart: box(svg),
            bars: [...svg.querySelectorAll("a")].map(a => ({
                href: a.getAttribute("href"), title: a.querySelector("title").textContent,
                ...box(a.querySelector("rect"))})),
            rows: [...svg.querySelectorAll("g")].map(g => [...g.querySelectorAll("text")].map(
                t => ({text: t.textContent, ...box(t)})))};
}"""
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

            # Follow the last link into the body (a story's title or one of its other
            # matching paragraphs), and land on that paragraph.
            link = page.locator(".hit a[href*='#p']").last
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
            # The top of the article (a whole long article is a screenshot of megabytes).
            page.screenshot(path=str(screenshot_dir / "screenshot-article.png"), full_page=True,
                            clip={"x": 0, "y": 0, "width": DESKTOP["width"], "height": 760})

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


@pytest.fixture(scope="module")
def archive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app over an archive of several sources and months, with a repost of the seed."""
    import opencc

    from search.index import build
    from tests.conftest import SEED

    source = tmp_path_factory.mktemp("browser-archive")
    shutil.copyfile(SEED, source / SEED.name)
    seed = SEED.read_text(encoding="utf-8")
    repost = opencc.OpenCC("t2s").convert(seed.replace("2023-04-19 09:39:36", "2023-04-20 10:00"))
    (source / "repost.txt").write_text("转载｜" + repost.replace("枣庄新闻网", "人民网"),
                                       encoding="utf-8")
    for n, (site, month) in enumerate([("人民网", "01"), ("新华网", "02"), ("人民网", "03"),
                                       ("澎湃新闻", "03")]):
        (source / f"brief{n}.txt").write_text(
            f"枣庄快讯第{n}期\n\n来源：{site} 2023-{month}-1{n} 08:00\n\n"
            f"枣庄第{n}项民生工程今天开工。", encoding="utf-8")
    for n in range(MANY_MONTHS):  # one a month, for a chart of many months
        year, month = 2021 + n // 12, n % 12 + 1
        (source / f"tengzhou{n}.txt").write_text(
            f"滕州月报第{n}期\n\n来源：新华网 {year}-{month:02d}-15 08:00\n\n"
            f"滕州本月第{n}批项目签约。", encoding="utf-8")
    index = tmp_path_factory.mktemp("browser-archive-index")
    build([source], index, procs=1)
    app = make_app(index, testing=False)
    wsgi = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, name="waitress-archive", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{wsgi.effective_port}"
    finally:
        wsgi.close()
        thread.join(timeout=10)
        wsgi.task_dispatcher.shutdown()
        close_searcher(app)


def test_a_source_facet_narrows_the_stories_and_its_chip_takes_it_back(
        archive_server: str, screenshot_dir: Path) -> None:
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=DESKTOP, locale="zh-CN")
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(archive_server + "/?q=枣庄")
            status = page.get_by_role("status")
            assert status.inner_text().startswith("找到 5 篇报道")  # the repost folds in
            assert "也发表于：人民网" in page.locator(".copies").inner_text()
            bars = page.locator("svg.facet-months a")
            assert bars.count() == 4  # 2023-01 to 2023-04
            assert page.locator(".chip").count() == 0
            page.screenshot(path=str(screenshot_dir / "screenshot-archive.png"), full_page=True)

            # Click a source: the results narrow to it and its chip appears.
            with page.expect_navigation():
                page.locator(".facet-sources a", has_text="人民网").click()
            assert status.inner_text().startswith("找到 3 篇报道")
            chip = page.locator(".chip")
            assert chip.count() == 1 and 'source:"人民网"' in chip.inner_text()
            assert all("人民网" in meta for meta in page.locator(".hit-meta").all_inner_texts())

            # Click a month bar: a second chip; then remove the source chip.
            with page.expect_navigation():
                page.locator("svg.facet-months a").first.click()
            assert page.locator(".chip").count() == 2
            assert status.inner_text().startswith("找到 1 篇报道")
            with page.expect_navigation():
                page.get_by_label('去掉筛选 source:"人民网"').click()
            assert page.locator(".chip").count() == 1
            assert "source:" not in page.get_by_label("搜索新闻（简体或繁体）").input_value()

            # Newest first: the order control keeps the filters.
            with page.expect_navigation():
                page.get_by_role("link", name="最新").click()
            assert "sort=newest" in page.url and page.locator(".chip").count() == 1
            assert "没有日期的文章排在最后" in page.locator(".controls").inner_text()
            assert problems == [], problems
        finally:
            browser.close()


def test_suggestions_wait_for_the_input_method_and_work_from_the_keyboard(server: str) -> None:
    """The box is an ARIA combobox: nothing is asked while an input method composes, the list
    appears after compositionend, arrows and Enter choose; without JavaScript, a plain form."""
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=DESKTOP, locale="zh-CN")
            problems: list[str] = []
            asked: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda r: asked.append(unquote(r.url))
                    if "/api/suggest" in r.url else None)
            page.goto(server + "/")
            box = page.locator("#q")
            assert box.get_attribute("role") == "combobox"
            box.focus()
            # An input method composing 枣 from the pinyin "zao": input events while composing.
            box.evaluate("""el => {
                el.dispatchEvent(new CompositionEvent('compositionstart', {bubbles: true}));
                el.value = 'zao';
                el.dispatchEvent(new InputEvent('input', {bubbles: true, isComposing: true}));
            }""")
            page.wait_for_timeout(500)
            assert asked == [] and box.get_attribute("aria-expanded") == "false"
            box.evaluate("""el => {
                el.value = '枣';
                el.dispatchEvent(new CompositionEvent('compositionend', {bubbles: true,
                                                                        data: '枣'}));
            }""")
            options = page.get_by_role("option")
            options.first.wait_for()
            assert asked and asked[-1].endswith("q=枣"), asked
            assert box.get_attribute("aria-expanded") == "true"
            assert options.first.inner_text() == "枣庄"
            box.press("ArrowDown")
            assert box.get_attribute("aria-activedescendant") == "q-suggestion-0"
            assert options.first.get_attribute("aria-selected") == "true"
            with page.expect_navigation():
                box.press("Enter")
            assert unquote(urlsplit(page.url).query) == "q=枣庄"
            assert "棗莊" in page.locator(".hit-text mark").all_inner_texts()
            assert problems == [], problems

            # Without JavaScript: no combobox, the form still searches.
            plain = browser.new_page(java_script_enabled=False)
            plain.goto(server + "/")
            assert plain.locator("#q").get_attribute("role") is None
            plain.locator("#q").fill("枣庄")
            with plain.expect_navigation():
                plain.get_by_role("button", name="搜索").click()
            assert unquote(urlsplit(plain.url).query) == "q=枣庄"
        finally:
            browser.close()


@pytest.mark.parametrize(("query", "months"), [("枣庄", 4), ("滕州月报", MANY_MONTHS)])
def test_the_month_chart_labels_never_overlap_and_every_bar_links_its_month(
        archive_server: str, screenshot_dir: Path, query: str, months: int) -> None:
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=DESKTOP, locale="zh-CN")
            page.goto(archive_server + "/?q=" + query)
            chart = page.locator("svg.facet-months")
            boxes = chart.evaluate(CHART_BOXES)
            bars, (month_row, year_row) = boxes["bars"], boxes["rows"]
            assert len(bars) == months
            for bar in bars:  # each bar a link to its month, its count in a <title>
                month = unquote(bar["href"]).rsplit("date:", 1)[1].split("&")[0]
                assert bar["title"].startswith(month + "：") and int(bar["title"][8:]) >= 1
                assert bar["right"] > bar["left"]
            assert [b["left"] for b in bars] == sorted(b["left"] for b in bars)
            first_year = unquote(bars[0]["href"]).rsplit("date:", 1)[1][:4]
            assert month_row and year_row and year_row[0]["text"] == first_year
            assert len(month_row) < months if months > 12 else len(month_row) == months
            for row in (month_row, year_row):
                for label in row:  # legible: inside the chart, under the bars
                    assert boxes["chart"]["left"] <= label["left"] < label["right"] \
                        <= boxes["chart"]["right"]
                    assert label["top"] >= max(b["bottom"] for b in bars) - 1
                for before, after in pairwise(row):
                    assert before["right"] <= after["left"], (before, after)
            assert max(m["bottom"] for m in month_row) <= min(y["top"] for y in year_row) + 1
            if months == MANY_MONTHS:
                page.locator(".facets").screenshot(
                    path=str(screenshot_dir / "screenshot-months.png"))
                # The last, narrow bar is still a link that narrows to its month.
                with page.expect_navigation():
                    chart.locator("a").last.click()
                assert page.get_by_role("status").inner_text().startswith("找到 1 篇报道")
                assert "date:2023-06" in page.locator(".chip").inner_text()
        finally:
            browser.close()
