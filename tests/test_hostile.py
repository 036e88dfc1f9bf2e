"""Hostile input: markup everywhere it can be shown, doc_ids that try to leave the index, and
queries that try to pin a CPU.

tests/test_web.py and tests/test_api.py already cover markup in the query on the plain pages and
the common hostile doc_ids; this file adds markup in every article field and in file names (so in
doc_ids and links), markup echoed by error messages, the 503 page, JSON, a real file outside the
index that a doc_id points at, raw request paths sent to the real server, and the query limits
with their messages on both the API and the page.
"""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from search.config import Settings
from search.index import build
from tests.conftest import SIMPLIFIED_ARTICLES, make_app
from tests.test_load import LiveServer, html_problems, live_server
from web.searcher import close_searcher

# Markup and template syntax; each must reach the reader as the same text, never as markup.
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{7*7}}"
JS_URL = "javascript:alert(1)"

# Articles whose every field holds markup (HTML entities in the file decode to it on reading,
# as they do in real web text; raw tags in a file are cleaned out as HTML remnants). The file
# names hold markup too, and so do the doc_ids and the links to the articles.
HOSTILE_ARTICLES = {
    '"><img src=x onerror=alert(1)>': (
        "&lt;script&gt;alert(1)&lt;/script&gt;工业标题\n\n"
        "副标题&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\n\n"
        "作者:&lt;b&gt;王明 来源:{{7*7}}网 2023-05-02 08:00\n\n"
        "工业园区 &lt;svg onload=alert(1)&gt; 发布公告 {{7*7}} 详见 javascript:alert(1) 链接。\n"
    ),
    "{{7*7}}": "模板{{7*7}}工业标题\n\n工业模板正文 {{ config }} {% raw %} 结束。\n",
    "javascript:alert(1)": "链接工业标题\n\n工业链接正文 javascript:alert(1) 结束。\n",
    "a?b#c%d&e": "符号工业标题\n\n工业符号正文。\n",
}
QUERY_PAYLOADS = [SCRIPT, IMG, TEMPLATE, JS_URL]

# A real article next to the source folder, which no doc_id may reach.
SECRET = "机密外部文件的内容"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A source folder of hostile and plain articles, a secret outside it, and their index."""
    root = tmp_path_factory.mktemp("hostile")
    source = root / "articles"
    for name, text in {**SIMPLIFIED_ARTICLES,
                       **{f"{k}.txt": v for k, v in HOSTILE_ARTICLES.items()}}.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"外部文章\n\n{SECRET}。\n", encoding="utf-8")
    report = build([source], root / "index", procs=1)
    assert report.documents == len(SIMPLIFIED_ARTICLES) + len(HOSTILE_ARTICLES)
    return {"root": root, "source": source, "outside": outside, "index": root / "index"}


@pytest.fixture(scope="module")
def app(hostile_dirs: dict[str, Path]) -> Iterator[Flask]:
    app = _app(hostile_dirs["index"])
    yield app
    close_searcher(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def server(hostile_dirs: dict[str, Path]) -> Iterator[LiveServer]:
    """The real server (waitress) over the hostile index, for raw request paths."""
    with live_server(hostile_dirs["index"], hostile_dirs["root"] / "server.log") as running:
        running.wait_for_health(200)
        yield running


def _app(index_dir: Path) -> Flask:
    return make_app(index_dir)


# --- what "shown as text" means ---------------------------------------------------------------

DANGEROUS_TAGS = {"script", "img", "svg", "iframe", "object", "embed", "style", "b"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction"}
# The results page's month facet, an SVG the server draws (no scripts, no handlers).
OUR_CHART = "facet-months"


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.title = ""
        self._in_title = False
        self._in_chart = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # The pages' own script, the search box's suggestions, is the one script allowed.
        own_script = tag == "script" and attrs == [("src", "/static/suggest.js"), ("defer", None)]
        if tag == "svg" and dict(attrs).get("class") == OUR_CHART:
            self._in_chart = True  # the page's own month chart: its titles are the bars'
        elif tag in DANGEROUS_TAGS and not own_script:
            self.problems.append(f"live <{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"live {name}= on <{tag}>")
            if name in URL_ATTRIBUTES and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in <{tag} {name}>")
        self._in_title = tag == "title" and not self._in_chart

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False
        if tag == "svg":
            self._in_chart = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def markup_problems(page: str) -> list[str]:
    """Live tags, event handlers or javascript: URLs in a page, and broken structure."""
    parser = _Markup()
    parser.feed(page)
    parser.close()
    return parser.problems + html_problems(page)


def page_title(page: str) -> str:
    parser = _Markup()
    parser.feed(page)
    return parser.title


def box_value(page: str) -> str:
    match = re.search(r'<input id="q" name="q" type="search" value="([^"]*)"', page)
    assert match, "no search box"
    return html.unescape(match.group(1))


def hit_links(page: str) -> list[str]:
    return [html.unescape(link) for link in
            re.findall(r'<h2 class="hit-title"><a href="([^"]+)"', page)]


# --- markup in documents ----------------------------------------------------------------------


def test_markup_reaches_the_index_as_text(client: FlaskClient) -> None:
    """The payloads are live in the data: the escaping tests below can fail."""
    doc_id = '"><img src=x onerror=alert(1)>'
    article = client.get("/api/doc/" + quote(doc_id)).get_json()
    assert article["doc_id"] == doc_id
    assert article["title"] == f"{SCRIPT}工业标题"
    assert IMG in article["subtitle"]
    assert article["source"] == f"{TEMPLATE}网"
    assert "<svg onload=alert(1)>" in article["paragraphs"][0]


def test_results_page_shows_markup_in_titles_sources_and_text_as_text(
        client: FlaskClient) -> None:
    response = client.get("/?" + urlencode({"q": "工业", "per_page": 50}))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert markup_problems(page) == []
    assert html.escape(f"{SCRIPT}工业标题", quote=False) in page
    assert f"{TEMPLATE}网" in page and f"模板{TEMPLATE}工业标题" in page
    assert "&lt;svg onload=alert(1)&gt;" in page
    # Every hostile doc_id is a working link to its article, percent-encoded in the path.
    links = {link.split("#")[0] for link in hit_links(page)}
    for doc_id in HOSTILE_ARTICLES:
        (link,) = {link for link in links if unquote(link.split("?")[0]) == "/doc/" + doc_id}
        assert not re.search(r'[<>"\s]', link), link
        article = client.get(link)
        assert article.status_code == 200, link
        assert markup_problems(article.get_data(as_text=True)) == []


@pytest.mark.parametrize("doc_id", list(HOSTILE_ARTICLES))
@pytest.mark.parametrize("query", QUERY_PAYLOADS)
def test_article_page_shows_markup_in_every_field_and_the_query_as_text(
        client: FlaskClient, doc_id: str, query: str) -> None:
    response = client.get("/doc/" + quote(doc_id), query_string={"q": query})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert markup_problems(page) == []
    assert box_value(page) == query
    title = client.get("/api/doc/" + quote(doc_id)).get_json()["title"]
    assert page_title(page).startswith(title)  # markup and {{7*7}} as written, not run


def test_highlight_marks_inside_escaped_markup(client: FlaskClient) -> None:
    body = client.get("/api/search", query_string={"q": "svg onload"}).get_json()
    (hit,) = body["hits"]
    assert "&lt;<mark>svg</mark> <mark>onload</mark>=alert(1)&gt;" in hit["highlight"]
    assert set(re.findall(r"</?([a-z]+)", hit["highlight"])) == {"mark"}
    page = client.get("/", query_string={"q": "svg onload"}).get_data(as_text=True)
    assert markup_problems(page) == []
    assert "&lt;<mark>svg</mark>" in page


def test_json_carries_markup_as_data_never_as_html(client: FlaskClient) -> None:
    for url, query_string in [("/api/search", {"q": "工业", "per_page": 50}),
                              ("/api/search", {"q": f"date:{SCRIPT}"}),
                              ("/api/doc/" + quote('"><img src=x onerror=alert(1)>'), {}),
                              ("/api/analyze", {"text": SCRIPT + IMG}),
                              ("/api/doc/" + quote(SCRIPT), {})]:
        response = client.get(url, query_string=query_string)
        assert response.mimetype == "application/json", url
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        response.get_json()  # parses
    hits = client.get("/api/search", query_string={"q": "工业", "per_page": 50}).get_json()["hits"]
    for hit in hits:
        assert set(re.findall(r"</?([a-z]+)", hit["highlight"])) <= {"mark"}
        assert not re.search(r'[<>"\s]', hit["url"]), hit["url"]


# --- markup echoed by error messages and error pages ------------------------------------------


# Markup that survives the query lexer whole up to "(" (quotes and spaces split a query).
DATE_PAYLOADS = [SCRIPT, "<img/src=x/onerror=alert(1)>", TEMPLATE, JS_URL]


@pytest.mark.parametrize("payload", DATE_PAYLOADS)
def test_error_message_that_quotes_the_query_is_text(client: FlaskClient, payload: str) -> None:
    query = f"date:{payload}"  # the refusal names the value it could not read
    response = client.get("/", query_string={"q": query})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert markup_problems(page) == []
    message = re.search(r'<p id="query-error" role="alert">(.*?)</p>', page, re.S)
    assert message and "is not a date" in message.group(1)
    assert html.unescape(message.group(1)).startswith("date:" + payload.split("(")[0])
    assert box_value(page) == query
    api = client.get("/api/search", query_string={"q": query}).get_json()
    assert api["error"]["code"] == "bad_query"
    assert api["error"]["message"].startswith("date:")


@pytest.mark.parametrize("payload", QUERY_PAYLOADS)
def test_not_found_and_no_index_pages_keep_the_query_as_text(client: FlaskClient, payload: str,
                                                             tmp_path: Path) -> None:
    missing = client.get("/doc/missing" + quote(payload), query_string={"q": payload})
    assert missing.status_code == 404
    page = missing.get_data(as_text=True)
    assert markup_problems(page) == [] and box_value(page) == payload

    no_index = _app(tmp_path / "no-index")
    try:
        waiting = no_index.test_client().get("/", query_string={"q": payload})
        assert waiting.status_code == 503
        page = waiting.get_data(as_text=True)
        assert markup_problems(page) == [] and box_value(page) == payload
    finally:
        close_searcher(no_index)


# --- doc_ids that try to leave the index ------------------------------------------------------


def _escape_attempts(dirs: dict[str, Path]) -> list[str]:
    """doc_ids (as URL path text) naming files outside the source folder, or not quite an id."""
    secret = dirs["outside"] / "secret"
    index = dirs["index"]
    return [
        "../outside/secret", "../outside/secret.txt", "news/../../outside/secret",
        "%2e%2e/outside/secret", "%2E%2E%2Foutside%2Fsecret", "..%2foutside%2fsecret",
        "..%5coutside%5csecret", "....//outside//secret", "%252e%252e/outside/secret",
        quote(str(secret)), quote(str(secret)) + ".txt", "/" + quote(str(secret)),
        quote(str(index / "CURRENT")), "../index/CURRENT", "CURRENT",
        "news/lidian.txt", "news/./lidian", "./news/lidian", "news/lidian/",
        "news/../news/lidian", "NEWS/LIDIAN", "news/lidian%00", "news%00/lidian",
        "x" * 1001, "%00",
    ]


def test_doc_ids_never_reach_a_file_outside_the_index(client: FlaskClient,
                                                      hostile_dirs: dict[str, Path]) -> None:
    assert (hostile_dirs["source"] / "../outside/secret.txt").is_file()
    assert client.get("/doc/news/lidian").status_code == 200  # a real id works
    for attempt in _escape_attempts(hostile_dirs):
        for prefix, mimetype in (("/doc/", "text/html"), ("/api/doc/", "application/json")):
            # "//" is merged by a redirect to the same site first (Werkzeug's routing).
            response = client.get(prefix + attempt, follow_redirects=True)
            body = response.get_data(as_text=True)
            assert response.status_code == 404, (prefix, attempt)
            assert response.mimetype == mimetype
            assert SECRET not in body


def test_raw_paths_on_the_real_server_never_reach_outside_files(
        server: LiveServer, hostile_dirs: dict[str, Path]) -> None:
    assert server.get("/doc/news/lidian").status == 200
    for attempt in [*_escape_attempts(hostile_dirs), "../../../../etc/passwd",
                    "..;/outside/secret", "x" * 100_000]:
        for prefix in ("/doc/", "/api/doc/"):
            reply = server.get(prefix + attempt)
            if reply.status == 308:  # "//" merged: the redirect stays on this site
                assert reply.location.startswith(f"http://127.0.0.1:{server.port}/"), reply
                reply = server.get(reply.location.split(str(server.port), 1)[1])
            assert reply.status == 404, (prefix, attempt[:80], reply.status)
            assert SECRET.encode() not in reply.body and b"root:" not in reply.body


def _raw_request(server: LiveServer, request: bytes) -> bytes:
    """Send bytes as they are; what came back before the server closed (or reset) the line."""
    chunks = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        try:
            connection.sendall(request)
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass  # a refusal too: waitress drops a request head over its limit
    return b"".join(chunks)


@pytest.mark.parametrize("request_line", [
    b"GET /doc/x\x00y HTTP/1.1",  # a NUL byte in the request line
    b"GET /doc/../outside/secret HTTP/1.1",  # dot segments, as no client would send them
    b"GET /doc/%2e%2e/outside/secret HTTP/1.0",
    b"GET /doc/x\r\nX-Injected: 1 HTTP/1.1",  # a header smuggled into the path
    b"GET /" + b"x" * 300_000 + b" HTTP/1.1",  # over waitress's limit for the request head
])
def test_malformed_requests_get_a_4xx_and_the_server_stays_up(server: LiveServer,
                                                             request_line: bytes) -> None:
    reply = _raw_request(server, request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close"
                                                b"\r\n\r\n")
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else None
    assert status is None or 400 <= status < 500, reply[:200]
    assert SECRET.encode() not in reply
    assert server.process.poll() is None
    assert server.get("/healthz").status == 200


# --- query limits -----------------------------------------------------------------------------


def test_query_length_limit_is_exact_and_says_so(client: FlaskClient) -> None:
    limit = Settings().max_query_length
    at_limit = ("a " * limit)[:limit]
    assert client.get("/api/search", query_string={"q": at_limit}).status_code == 200
    too_long = at_limit + "b"
    api = client.get("/api/search", query_string={"q": too_long})
    assert api.status_code == 400
    message = api.get_json()["error"]["message"]
    assert message == f"the query is too long ({limit + 1} characters; the limit is {limit})"
    page = client.get("/", query_string={"q": too_long})
    assert page.status_code == 400
    assert html.escape(message) in page.get_data(as_text=True)


def test_a_query_expanding_to_too_many_terms_is_refused_as_too_broad(
        client: FlaskClient) -> None:
    settings = Settings()
    # 150 distinct Chinese characters: well under the length limit, but every pair of them is
    # an n-gram to look up.
    query = "".join(chr(0x4E00 + 37 * i) for i in range(150))
    assert len(set(query)) == 150 and len(query) <= settings.max_query_length
    api = client.get("/api/search", query_string={"q": query})
    assert api.status_code == 400
    error = api.get_json()["error"]
    assert error["code"] == "bad_query"
    assert "too broad" in error["message"]
    assert f"the limit is {settings.max_query_terms}" in error["message"]
    page = client.get("/", query_string={"q": query})
    assert page.status_code == 400
    shown = page.get_data(as_text=True)
    assert "too broad" in shown and box_value(shown) == query
    # The same query split in two halves is within the limit: the cap is on terms, not text.
    assert client.get("/api/search", query_string={"q": query[:40]}).status_code == 200


@pytest.mark.parametrize("query", [
    "(" * 199 + "工", ")" * 199 + "工", "-" * 199 + "工", "NOT " * 49 + "工",
    '"' * 199 + "工", "工 OR " * 39 + "工", ":" * 199 + "工", "title:" * 33 + "工",
    "工" * 200, "\u200b" * 199 + "工", "\u0301" * 199 + "工",
])
def test_pathological_queries_under_the_limits_answer_without_error(client: FlaskClient,
                                                                    query: str) -> None:
    assert len(query) <= Settings().max_query_length
    response = client.get("/api/search", query_string={"q": query})
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:300]
    if response.status_code == 400:
        assert "\n" not in response.get_json()["error"]["message"]
    page = client.get("/", query_string={"q": query})
    assert page.status_code == response.status_code
    assert markup_problems(page.get_data(as_text=True)) == []
