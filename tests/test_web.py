"""The HTML pages, through Flask's test client, against real indexes built from files."""

from __future__ import annotations

import html
import re
from itertools import pairwise
from pathlib import Path

import pytest

from search import load_settings
from search.index import BuildReport, build
from search.query import ResultPage
from tests.conftest import ROOT, SEEDS, make_app
from web import CONTENT_SECURITY_POLICY, create_app
from web.searcher import close_searcher
from web.views import LABEL_GAP, MONTH_LABEL_WIDTH, YEAR_LABEL_WIDTH, month_bars, pagination

TEMPLATES = ROOT / "web" / "templates"

# Markup and template syntax that must come back as plain text wherever it is shown.
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "javascript:alert(1)",
]

# An article whose title and body hold markup as text (the entities decode to it on reading).
HOSTILE_ARTICLE = """\
&lt;script&gt;alert("title")&lt;/script&gt;工业新闻

来源:测试网 2023-05-02

工业园区 &lt;img src=x onerror=alert(1)&gt; 发布公告 {{7*7}} 详见 javascript:alert(1) 链接。
"""


# The pages' one script tag (the search box's suggestions); anything else is injected markup.
OWN_SCRIPT = '<script src="/static/suggest.js" defer></script>'
TEMPLATE_SCRIPT = """<script src="{{ url_for('static', filename='suggest.js') }}" defer></script>"""


def own_script_removed(page: str) -> str:
    """``page`` without its one legitimate script tag (it must be there exactly once)."""
    assert page.count(OWN_SCRIPT) == 1
    return page.replace(OWN_SCRIPT, "")


# --- fixtures (the seed index, ``seed_index``, is built once in conftest.py) -------------------


@pytest.fixture(scope="session")
def hostile_index(tmp_path_factory: pytest.TempPathFactory) -> BuildReport:
    """An index of the seed plus one article full of markup."""
    folder = tmp_path_factory.mktemp("web-hostile")
    (folder / "articles").mkdir()
    (folder / "articles" / "evil.txt").write_text(HOSTILE_ARTICLE, encoding="utf-8")
    return build([SEEDS, folder / "articles"], folder / "index")


def _app(index_dir: Path):
    return make_app(index_dir)


@pytest.fixture(scope="module")
def app(seed_index: BuildReport):
    app = _app(seed_index.index_dir)
    yield app
    close_searcher(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def seed_doc_id(app) -> str:
    """The seed article's id, as the API reports it."""
    return app.test_client().get("/api/search?q=枣庄").get_json()["hits"][0]["doc_id"]


# --- helpers ----------------------------------------------------------------------------------


def page_text(response) -> str:
    return response.get_data(as_text=True)


def box_value(page: str) -> str:
    """The query as it stands in the search box."""
    match = re.search(r'<input id="q" name="q" type="search" value="([^"]*)"', page)
    assert match, "no search box"
    return html.unescape(match.group(1))


def title_of(page: str) -> str:
    match = re.search(r"<title>(.*?)</title>", page, re.S)
    assert match
    return html.unescape(match.group(1))


def hit_texts(page: str) -> list[str]:
    return re.findall(r'<p class="hit-text">(.*?)</p>', page, re.S)


def hit_links(page: str) -> list[str]:
    return [html.unescape(link) for link in
            re.findall(r'<h2 class="hit-title"><a href="([^"]+)"', page)]


def marks(fragment: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<mark>(.*?)</mark>", fragment, re.S)]


def tags(fragment: str) -> set[str]:
    return set(re.findall(r"</?([a-zA-Z][a-zA-Z0-9]*)", fragment))


# --- the start page ---------------------------------------------------------------------------


def test_start_page_has_a_labelled_search_form_and_landmarks(client) -> None:
    response = client.get("/")
    page = page_text(response)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert '<html lang="zh">' in page
    assert 'name="viewport"' in page
    assert '<form class="search-form" role="search"' in page
    assert '<label for="q"' in page and 'id="q"' in page
    for landmark in ("<header", "<main", "<footer"):
        assert landmark in page
    assert box_value(page) == ""
    # The examples are links that run their query.
    assert 'href="/?q=%E6%9E%A3%E5%BA%84"' in page  # 枣庄


# --- results ----------------------------------------------------------------------------------


def test_simplified_query_marks_the_traditional_text(client, app) -> None:
    response = client.get("/?q=枣庄")
    page = page_text(response)
    assert response.status_code == 200
    assert "枣庄" in title_of(page)
    assert box_value(page) == "枣庄"
    texts = hit_texts(page)
    assert texts, "no hits shown"
    assert all("棗莊" in marks(text) for text in texts)
    # The count shown is the library's count of stories (the page groups by story).
    total = app.test_client().get("/api/search?q=枣庄&group=story").get_json()["total"]
    assert f"找到 <strong>{total}</strong> 篇报道" in page
    # Each hit shows its source, date and position, and links to the article at the paragraph.
    assert "棗莊新聞網" in page
    assert '<time datetime="2023-04-19T09:39:36">2023-04-19 09:39</time>' in page
    assert re.search(r"第 \d+ 段", page)
    for link in hit_links(page):
        assert re.fullmatch(r"/doc/[^?#]+\?q=%E6%9E%A3%E5%BA%84(#p[1-9]\d*)?", link), link


def test_both_scripts_show_the_same_results(client) -> None:
    simplified = page_text(client.get("/?q=工业倍增计划"))
    traditional = page_text(client.get("/?q=工業倍增計劃"))
    assert hit_texts(simplified)
    assert hit_texts(simplified) == hit_texts(traditional)
    assert "工業倍增計劃" in marks("".join(hit_texts(simplified)))


def test_highlight_is_the_only_markup_in_a_hit(client) -> None:
    for text in hit_texts(page_text(client.get("/?q=工业"))):
        assert tags(text) <= {"mark"}


def test_hit_link_opens_the_article_at_the_marked_paragraph(client) -> None:
    page = page_text(client.get("/?q=锂电"))
    links = [link for link in hit_links(page) if "#p" in link]
    assert links
    path, anchor = links[0].split("#")
    article = client.get(path)
    assert article.status_code == 200
    paragraph = re.search(rf'<p id="{anchor}">(.*?)</p>', page_text(article), re.S)
    assert paragraph, f"no paragraph {anchor}"
    assert "鋰電" in marks(paragraph.group(1))


def test_no_results_page_suggests_what_to_try(client) -> None:
    response = client.get("/?q=xylophone")
    page = page_text(response)
    assert response.status_code == 200
    assert "没有找到" in page
    assert '<ul class="suggestions">' in page
    assert "/api/analyze?text=xylophone" in page
    assert box_value(page) == "xylophone"
    assert not hit_texts(page)


def test_refused_query_shows_the_message_and_keeps_the_query(client) -> None:
    query = "工业" * 300  # longer than max_query_length
    response = client.get("/", query_string={"q": query})
    page = page_text(response)
    assert response.status_code == 400
    message = re.search(r'<p id="query-error" role="alert">(.*?)</p>', page, re.S)
    assert message and message.group(1).strip()
    assert box_value(page) == query
    assert 'aria-invalid="true"' in page


def test_empty_query_shows_the_start_page(client) -> None:
    response = client.get("/?q=+++")
    assert response.status_code == 200
    assert "搜索新闻段落" in page_text(response)


@pytest.mark.parametrize(
    ("query_string", "name"),
    [("page=0", "page"), ("page=abc", "page"), ("page=-1", "page"), ("page=１", "page"),
     ("per_page=100000", "per_page"), ("per_page=0", "per_page")],
)
def test_bad_paging_parameters_get_an_html_400(client, query_string: str, name: str) -> None:
    response = client.get(f"/?q=枣庄&{query_string}")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = page_text(response)
    assert "请求有误" in title_of(page)
    assert f"{name} must be" in page
    assert box_value(page) == "枣庄"


def test_pagination_links_walk_through_the_results(client) -> None:
    # Paragraphs: the seed index is one article, one story.
    first = page_text(client.get("/?q=工业&per_page=2&group=paragraph"))
    assert 'aria-label="分页"' in first
    assert re.search(r'<a href="[^"]*page=1[^"]*" aria-current="page">1</a>', first)
    next_link = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert next_link
    next_url = html.unescape(next_link.group(1))
    assert "per_page=2" in next_url and "page=2" in next_url and "group=paragraph" in next_url
    second = page_text(client.get(next_url))
    assert 'rel="prev"' in second
    assert hit_texts(second) and set(hit_texts(second)).isdisjoint(hit_texts(first))
    assert '<ol class="hits" start="3">' in second


def test_a_page_past_the_end_says_so(client) -> None:
    response = client.get("/?q=枣庄&page=500")
    assert response.status_code == 200
    assert "第 500 页没有结果" in page_text(response)


def test_pagination_window_has_gaps(app) -> None:
    results = ResultPage("q", total=200, page=10, per_page=10, took_ms=1.0, hits=[])
    with app.test_request_context():
        pages = pagination(results, "q")
    numbers = [item[0] if item else None for item in pages["numbers"]]
    assert numbers == [1, None, 8, 9, 10, 11, 12, None, 20]
    assert pages["previous"] == "/?q=q&page=9"
    assert pages["next"] == "/?q=q&page=11"


# --- the article page -------------------------------------------------------------------------


def test_article_page_shows_metadata_and_every_paragraph(client, seed_doc_id: str) -> None:
    article = client.get(f"/api/doc/{seed_doc_id}").get_json()
    response = client.get(f"/doc/{seed_doc_id}")
    page = page_text(response)
    assert response.status_code == 200
    assert title_of(page).startswith(article["title"])
    assert f'<h1 id="p0">{article["title"]}</h1>' in page
    assert article["subtitle"] in page
    for name in article["authors"] + article["editors"] + [article["source"]]:
        assert name in page
    assert '<time datetime="2023-04-19T09:39:36">2023-04-19 09:39</time>' in page
    byline = re.search(r'<details class="byline">(.*?)</details>', page, re.S)
    assert byline and article["byline"]
    for line in article["byline"]:
        assert f"<p>{line}</p>" in html.unescape(byline.group(1))
    for number, text in enumerate(article["paragraphs"], 1):
        shown = re.search(rf'<p id="p{number}">.*?</a>(.*?)</p>', page, re.S)
        assert shown, f"paragraph {number} missing"
        assert html.unescape(shown.group(1)) == text
    assert f'id="p{len(article["paragraphs"]) + 1}"' not in page
    assert "<mark>" not in page  # nothing to mark without a query
    assert "先锋影音" not in page  # the SEO spam line is not part of the article


def test_article_page_marks_the_query(client, seed_doc_id: str) -> None:
    page = page_text(client.get(f"/doc/{seed_doc_id}?q=枣庄"))
    assert "棗莊" in marks(page)
    assert "枣庄" in title_of(page)
    assert box_value(page) == "枣庄"
    assert 'href="/?q=%E6%9E%A3%E5%BA%84"' in page  # back to the results


@pytest.mark.parametrize(
    "doc_id",
    ["no-such-article", "..", "%2e%2e", "%2E%2E/%2e%2e/etc/passwd", "../../etc/passwd",
     "a/b", "%00", "x%00y", "x" * 5000],
)
def test_unknown_or_hostile_doc_id_gets_the_404_page(client, doc_id: str) -> None:
    response = client.get(f"/doc/{doc_id}")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "找不到页面" in title_of(page_text(response))


# --- errors, headers, markup ------------------------------------------------------------------


def test_unknown_path_and_wrong_method_get_html_errors(client) -> None:
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.mimetype == "text/html"
    wrong = client.post("/")
    assert wrong.status_code == 405
    assert wrong.mimetype == "text/html"
    assert "GET" in wrong.headers["Allow"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_markup_in_a_query_is_shown_as_text(client, seed_doc_id: str, hostile: str) -> None:
    cases = [
        ("/", {}, True),  # results page (no results); the query is in the title
        (f"/doc/{seed_doc_id}", {}, True),  # article page
        ("/no/such/page", {}, False),  # error page
        ("/", {"page": "0"}, False),  # bad parameter page
    ]
    for url, extra, titled in cases:
        response = client.get(url, query_string={"q": hostile, **extra})
        page = page_text(response)
        assert response.status_code < 500, url
        assert box_value(page) == hostile, url
        assert "<script" not in own_script_removed(page) and "<img" not in page, url
        if titled:
            assert hostile in title_of(page), url


def test_refused_markup_query_is_text_too(client) -> None:
    query = "<script>alert(1)</script>" * 20
    response = client.get("/", query_string={"q": query})
    assert response.status_code == 400
    page = page_text(response)
    assert "<script" not in own_script_removed(page)
    assert box_value(page) == query


def test_markup_in_an_article_is_shown_as_text(hostile_index: BuildReport) -> None:
    app = _app(hostile_index.index_dir)
    try:
        client = app.test_client()
        results = page_text(client.get("/?q=工业园区"))
        assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;工业新闻" in results
        assert "<script" not in own_script_removed(results) and "<img" not in results
        (link,) = [link for link in hit_links(results) if "evil" in link]
        article = page_text(client.get(link.split("#")[0]))
        assert "<script" not in own_script_removed(article) and "<img" not in article
        assert "&lt;img src=x onerror=alert(1)&gt;" in article
        assert "{{7*7}}" in article and "javascript:alert(1)" in article
        assert '<a href="javascript' not in article
        assert "<title>&lt;script&gt;" in article
    finally:
        close_searcher(app)


@pytest.mark.parametrize("url", ["/", "/?q=枣庄", "/static/style.css", "/nope", "/?page=0"])
def test_security_headers_on_every_response(client, url: str) -> None:
    response = client.get(url)
    response.close()  # the static file is streamed from an open file
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_policy_allows_no_inline_script_or_style() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # static/suggest.js, no inline script
    assert directives["connect-src"] == "'self'"  # it asks /api/suggest
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY


def test_templates_carry_no_inline_scripts_styles_or_handlers() -> None:
    templates = sorted(TEMPLATES.glob("*.html"))
    assert templates
    # The one script is static/suggest.js, from this origin, in base.html.
    assert TEMPLATE_SCRIPT in (TEMPLATES / "base.html").read_text(encoding="utf-8")
    for template in templates:
        source = template.read_text(encoding="utf-8")
        assert "<script" not in source.replace(TEMPLATE_SCRIPT, ""), template.name
        assert "<style" not in source, template.name
        assert not re.search(r"\sstyle=", source), template.name
        assert not re.search(r"\son[a-z]+=", source), template.name
        # The one |safe is the library's escaped highlight.
        for use in re.findall(r"\{\{([^}]*)\|\s*safe", source):
            assert use.strip() in {"hit.highlight", "match.highlight", "paragraph"}, \
                (template.name, use)


def test_stylesheet_is_served_with_a_cjk_font_stack(client) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    css = page_text(response)
    for font in ("PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC"):
        assert font in css
    assert "@media (max-width:" in css  # a phone layout
    response.close()


# --- no index, configuration ------------------------------------------------------------------


def test_pages_answer_503_without_an_index_and_recover_when_one_is_built(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    app = _app(index_dir)
    try:
        client = app.test_client()
        assert client.get("/").status_code == 200  # the form needs no index
        waiting = client.get("/?q=枣庄")
        assert waiting.status_code == 503
        assert waiting.mimetype == "text/html"
        assert "索引尚未就绪" in page_text(waiting)
        assert client.get("/doc/anything").status_code == 503

        build([SEEDS], index_dir)
        found = client.get("/?q=枣庄")
        assert found.status_code == 200
        assert "棗莊" in marks(page_text(found))
    finally:
        close_searcher(app)


def test_settings_come_from_environment_then_test_config(
    monkeypatch: pytest.MonkeyPatch, seed_index: BuildReport, tmp_path: Path
) -> None:
    monkeypatch.setenv("ZHSEARCH_INDEX_DIR", str(seed_index.index_dir))
    monkeypatch.setenv("ZHSEARCH_MAX_PER_PAGE", "3")
    app = create_app()
    app.testing = True
    try:
        client = app.test_client()
        assert client.get("/?q=工业&per_page=3").status_code == 200
        assert client.get("/?q=工业&per_page=4").status_code == 400
    finally:
        close_searcher(app)
    # The test config wins over the environment.
    app = create_app(load_settings(index_dir=tmp_path / "empty", max_per_page=50))
    app.testing = True
    try:
        client = app.test_client()
        assert client.get("/api/search?q=工业&per_page=4").status_code == 503
        assert client.get("/api/search?q=工业&per_page=51").status_code == 400
    finally:
        close_searcher(app)


@pytest.mark.parametrize("count", [1, 4, 7, 13, 40, 300])
def test_month_chart_labels_keep_their_distance_at_any_number_of_months(count: int) -> None:
    months = [(f"{1990 + n // 12}-{n % 12 + 1:02d}", n % 5 + 1) for n in range(count)]
    chart = month_bars(months, lambda month: f"/?q=x+date:{month}")
    assert chart is not None
    bars = chart["bars"]
    assert [(b["month"], b["count"], b["href"]) for b in bars] == [
        (month, n, f"/?q=x+date:{month}") for month, n in months]
    assert all(0 < b["width"] and b["x"] + b["width"] <= chart["width"] for b in bars)
    assert [b["x"] for b in bars] == sorted({b["x"] for b in bars})  # no bar on another
    months_row, years_row = chart["month_labels"], chart["year_labels"]
    # Month numbers are centred, years start at their x: neither leaves the chart.
    assert all(MONTH_LABEL_WIDTH / 2 <= label["x"] <= chart["width"] - MONTH_LABEL_WIDTH / 2
               for label in months_row)
    assert all(0 <= label["x"] <= chart["width"] - YEAR_LABEL_WIDTH for label in years_row)
    assert all(b["x"] - a["x"] >= MONTH_LABEL_WIDTH for a, b in pairwise(months_row))
    assert all(b["x"] - a["x"] >= YEAR_LABEL_WIDTH + LABEL_GAP
               for a, b in pairwise(years_row))
    assert years_row[0]["text"] == "1990" and months_row[0]["text"] == "1"
    assert [label["text"] for label in years_row] == [
        str(1990 + n) for n in range((count - 1) // 12 + 1)] if count <= 40 else years_row
    # As many month numbers as fit: all of them while bars are wide enough.
    assert len(months_row) == count if count <= 13 else \
        len(months_row) >= chart["width"] // (MONTH_LABEL_WIDTH + LABEL_GAP) // 2
