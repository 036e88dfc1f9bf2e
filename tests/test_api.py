"""The JSON API and its OpenAPI description, through Flask's test client, on real indexes."""

from __future__ import annotations

import html
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import opencc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search.index import BuildReport, build
from tests.conftest import ROOT, SEEDS, make_app
from tests.openapi_contract import (
    OPENAPI,
    OPENAPI_URI,
    REGISTRY,
    check_against_openapi,
    violations,
)
from web.searcher import close_searcher

# --- fixtures (the seed index, ``seed_index``, is built once in conftest.py) -------------------


@pytest.fixture(scope="module")
def app(seed_index: BuildReport):
    app = make_app(seed_index.index_dir)
    yield app
    close_searcher(app)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def seed_doc_id(client) -> str:
    return client.get("/api/search?q=枣庄").get_json()["hits"][0]["doc_id"]


def test_the_checker_finds_what_breaks_the_schema() -> None:
    good = {"error": {"code": "bad_query", "message": "x"}}
    error = {"$ref": "#/components/schemas/Error"}
    assert violations(good, error) == []
    assert violations({"error": {"code": "bad_query"}}, error)  # no message
    assert violations({"error": {"code": "nonsense", "message": "x"}}, error)  # not a code
    assert violations({**good, "extra": 1}, error)  # the shape is closed
    hit = {"$ref": "#/components/schemas/SearchResult"}
    assert violations({"query": "q", "total": -1, "page": 1, "per_page": 1, "took_ms": 0,
                       "hits": []}, hit)  # a negative total


# --- the error shape --------------------------------------------------------------------------


def test_every_api_error_has_the_one_shape(client, tmp_path: Path) -> None:
    no_index = make_app(tmp_path / "none")
    responses = [
        ("bad_parameter", 400, client.get("/api/search?q=枣庄&page=0")),
        ("bad_query", 400, client.get("/api/search", query_string={"q": "工业" * 300})),
        ("not_found", 404, client.get("/api/doc/no-such-article")),
        ("not_found", 404, client.get("/api/no/such/endpoint")),
        ("method_not_allowed", 405, client.post("/api/search?q=枣庄")),
        ("no_index", 503, no_index.test_client().get("/healthz")),
    ]
    for code, status, response in responses:
        assert response.status_code == status
        assert response.mimetype == "application/json"
        body = response.get_json()
        assert list(body) == ["error"]
        assert sorted(body["error"]) == ["code", "message"]
        assert body["error"]["code"] == code
        message = body["error"]["message"]
        assert isinstance(message, str) and message and "\n" not in message
        assert "Traceback" not in message


# --- /api/search ------------------------------------------------------------------------------


def test_search_answers_with_the_documented_fields(client) -> None:
    response = client.get("/api/search?q=枣庄")
    assert response.status_code == 200
    check_against_openapi("/api/search", response)
    body = response.get_json()
    assert list(body) == ["query", "total", "page", "per_page", "took_ms", "hits", "expanded",
                          "group", "sort", "did_you_mean"]
    assert body["query"] == "枣庄" and body["page"] == 1 and body["per_page"] == 10
    assert body["total"] >= len(body["hits"]) > 0
    for hit in body["hits"]:
        assert "<mark>棗莊</mark>" in hit["highlight"]
        assert hit["source"] == "棗莊新聞網"
        assert hit["published"] == "2023-04-19T09:39:36"
        # The highlight is the escaped original text (or an excerpt of it) plus <mark> tags.
        plain = html.unescape(re.sub(r"</?mark>", "", hit["highlight"]))
        for piece in plain.split("…"):
            assert piece in hit["text"]
    scores = [hit["score"] for hit in body["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_search_reads_both_scripts_alike(client) -> None:
    def hits(query: str) -> list[tuple[str, int]]:
        body = client.get("/api/search", query_string={"q": query}).get_json()
        return [(hit["doc_id"], hit["paragraph"]) for hit in body["hits"]]

    assert hits("工业倍增计划") == hits("工業倍增計劃") != []
    assert hits("枣庄") == hits("棗莊") != []


def test_hit_url_opens_the_article_at_its_paragraph(client) -> None:
    body = client.get("/api/search?q=锂电").get_json()
    for hit in body["hits"]:
        path, _, anchor = hit["url"].partition("#")
        assert path.startswith(f"/doc/{hit['doc_id']}?q=")
        assert anchor == (f"p{hit['paragraph']}" if hit["paragraph"] else "")
        page = client.get(path).get_data(as_text=True)
        assert f'id="p{hit["paragraph"]}"' in page


def test_paging_splits_the_same_result_list(client) -> None:
    everything = client.get("/api/search?q=工业&per_page=100").get_json()
    assert everything["total"] >= 4
    keys = [(hit["doc_id"], hit["paragraph"]) for hit in everything["hits"]]
    first = client.get("/api/search?q=工业&per_page=2").get_json()
    second = client.get("/api/search?q=工业&per_page=2&page=2").get_json()
    assert first["total"] == second["total"] == everything["total"]
    assert [(h["doc_id"], h["paragraph"]) for h in first["hits"] + second["hits"]] == keys[:4]
    # 2.0 is the integer 2 to JSON Schema, and so to the OpenAPI document.
    assert client.get("/api/search?q=工业&per_page=2.0&page=2.00").get_json()["hits"] == \
        second["hits"]
    past_the_end = client.get("/api/search?q=工业&page=9999").get_json()
    assert past_the_end["hits"] == [] and past_the_end["total"] == everything["total"]


def test_search_explains_each_hit_when_asked(client) -> None:
    plain = client.get("/api/search?q=工业倍增计划").get_json()["hits"]
    response = client.get("/api/search?q=工业倍增计划&explain=1")
    assert response.status_code == 200
    check_against_openapi("/api/search", response)
    hits = response.get_json()["hits"]
    assert hits and all("explain" not in hit for hit in plain)
    assert [(h["doc_id"], h["paragraph"], h["score"]) for h in hits] == \
        [(h["doc_id"], h["paragraph"], h["score"]) for h in plain]
    for hit in hits:
        explain = hit["explain"]
        assert explain["score"] == hit["score"] and explain["tier"] in (1, 2)
        assert sum(s["value"] for s in explain["signals"]) == pytest.approx(hit["score"],
                                                                            abs=1e-3)
        for signal in explain["signals"]:
            if signal["name"] not in ("title", "filter"):  # what BM25 saw
                assert {"tf", "df", "idf", "length", "average_length"} <= set(signal)
    assert {"word", "together"} <= {s["name"] for s in hits[0]["explain"]["signals"]}
    for off in ("explain=0", "explain=", "explain=false"):
        response = client.get(f"/api/search?q=工业倍增计划&{off}")
        assert response.status_code == 200, off
        assert all("explain" not in hit for hit in response.get_json()["hits"]), off
    refused = client.get("/api/search?q=工业倍增计划&explain=maybe")
    assert refused.status_code == 400
    assert refused.get_json()["error"]["message"] == \
        "explain must be 1 or 0 (true or false), not 'maybe'"
    check_against_openapi("/api/search", refused)


@pytest.mark.parametrize(
    "query_string",
    ["page=0", "page=-1", "page=abc", "page=1.5", "page=1_0", "page=%201", "page=１",
     "page=99999999999999999999", "page=10001",
     "per_page=0", "per_page=101", "per_page=100000", "per_page=ten"],
)
def test_bad_paging_parameters_get_400(client, query_string: str) -> None:
    response = client.get(f"/api/search?q=枣庄&{query_string}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_parameter"
    assert error["message"].startswith(query_string.split("=")[0] + " must be")
    check_against_openapi("/api/search", response)


@pytest.mark.parametrize("query", ["工业" * 101, "x" * 10_000])
def test_overlong_query_is_refused_with_400(client, query: str) -> None:
    response = client.get("/api/search", query_string={"q": query})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_query"


def test_empty_query_returns_nothing(client) -> None:
    for url in ("/api/search", "/api/search?q=", "/api/search?q=%20%20"):
        body = client.get(url).get_json()
        assert body["total"] == 0 and body["hits"] == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    query=st.text(max_size=40),
    page=st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 20_000).map(str)),
    per_page=st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 200).map(str)),
)
def test_no_input_makes_the_search_fail(app, query: str, page, per_page) -> None:
    args = {"q": query, "page": page, "per_page": per_page}
    response = app.test_client().get(
        "/api/search", query_string={k: v for k, v in args.items() if v is not None}
    )
    assert response.status_code in (200, 400)
    check_against_openapi("/api/search", response)


# --- /api/doc ---------------------------------------------------------------------------------


def test_doc_returns_the_article(client, seed_doc_id: str) -> None:
    response = client.get(f"/api/doc/{seed_doc_id}")
    assert response.status_code == 200
    check_against_openapi("/api/doc/{doc_id}", response)
    article = response.get_json()
    assert article["doc_id"] == seed_doc_id
    assert article["title"] == "壓實責任 夯實舉措 奮力實施工業倍增計劃"
    assert "劉振江" in article["authors"] and "徐曉偉" in article["editors"]
    assert len(article["paragraphs"]) == 8
    assert not any("先锋影音" in p for p in article["paragraphs"])


@pytest.mark.parametrize(
    "doc_id",
    ["no-such-article", "..", "%2e%2e", "%2E%2E/%2e%2e/etc/passwd", "../../etc/passwd", "a/b",
     "%00", "x%00y", "x" * 5000, "000_0c4e82e9c0ffe15d%00"],
)
def test_unknown_or_hostile_doc_id_gets_404(client, doc_id: str) -> None:
    response = client.get(f"/api/doc/{doc_id}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


# --- /api/analyze -----------------------------------------------------------------------------


def test_analyze_shows_normalization_and_spans_into_the_original(client) -> None:
    text = "棗莊ＡＢＣ工業倍增"
    response = client.get("/api/analyze", query_string={"text": text})
    assert response.status_code == 200
    check_against_openapi("/api/analyze", response)
    body = response.get_json()
    assert body["text"] == text
    assert body["normalized"] == "枣庄abc工业倍增"
    words = {token["term"]: token for token in body["tokens"] if token["field"] == "words"}
    assert {"枣庄", "abc", "工业"} <= set(words)
    assert text[words["枣庄"]["start"]:words["枣庄"]["end"]] == "棗莊"
    assert text[words["abc"]["start"]:words["abc"]["end"]] == "ＡＢＣ"
    for token in body["tokens"]:
        assert 0 <= token["start"] < token["end"] <= len(text)


def test_analyze_without_text_is_empty_and_overlong_text_is_refused(client) -> None:
    empty = client.get("/api/analyze").get_json()
    assert empty["normalized"] == "" and empty["tokens"] == []
    response = client.get("/api/analyze", query_string={"text": "字" * 5001})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_parameter"
    check_against_openapi("/api/analyze", response)


# --- /healthz ---------------------------------------------------------------------------------


def test_healthz_reports_the_index(client, seed_index: BuildReport) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    check_against_openapi("/healthz", response)
    body = response.get_json()
    assert body["documents"] == seed_index.documents == 1
    assert body["paragraphs"] == seed_index.paragraphs
    assert datetime.fromisoformat(body["built_at"]).year >= 2024


def test_no_index_gives_503_until_one_is_built_without_restart(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    app = make_app(index_dir)
    try:
        client = app.test_client()
        for url in ("/healthz", "/api/search?q=枣庄", "/api/doc/anything"):
            response = client.get(url)
            assert response.status_code == 503, url
            assert response.get_json()["error"]["code"] == "no_index"
            assert response.headers["Retry-After"]
        check_against_openapi("/healthz", client.get("/healthz"))
        # Analysis needs no index.
        assert client.get("/api/analyze?text=枣庄").status_code == 200

        report = build([SEEDS], index_dir)
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.get_json()["paragraphs"] == report.paragraphs
        assert client.get("/api/search?q=枣庄").get_json()["total"] > 0
    finally:
        close_searcher(app)


def test_a_rebuilt_index_is_served_without_restart(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    extra = tmp_path / "extra"
    extra.mkdir()
    build([SEEDS], index_dir)
    app = make_app(index_dir)
    try:
        client = app.test_client()
        assert client.get("/api/search?q=鄂尔多斯").get_json()["total"] == 0
        article = "鄂尔多斯新闻\n\n鄂尔多斯的工业园区开工。\n"
        (extra / "new.txt").write_text(article, encoding="utf-8")
        # Build folders are named to the second (search/index.py): two builds in one second
        # collide, so wait for the next second. Remove once build names are unique.
        time.sleep(1.0 - time.time() % 1.0 + 0.01)
        build([SEEDS, extra], index_dir)
        deadline = time.monotonic() + 10
        while True:  # the searcher checks for a new build every fraction of a second
            health = client.get("/healthz")
            assert health.status_code == 200
            if health.get_json()["documents"] == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert health.get_json()["documents"] == 2
        hits = client.get("/api/search?q=鄂尔多斯").get_json()["hits"]
        assert {hit["doc_id"] for hit in hits} == {"new"}
        assert client.get("/doc/new").status_code == 200
    finally:
        close_searcher(app)


# --- methods, unknown paths, headers ----------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
@pytest.mark.parametrize("url", ["/api/search", "/api/doc/x", "/api/analyze", "/healthz"])
def test_other_methods_get_405_json(client, method: str, url: str) -> None:
    response = getattr(client, method)(url)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_json_responses_carry_the_security_headers(client) -> None:
    for url in ("/api/search?q=枣庄", "/api/nope", "/healthz"):
        response = client.get(url)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


# --- the OpenAPI file -------------------------------------------------------------------------


def test_openapi_is_served_and_describes_every_route(app, client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == OPENAPI
    assert OPENAPI["openapi"].startswith("3.1.")
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
    }
    assert routes == set(OPENAPI["paths"])
    for path, item in OPENAPI["paths"].items():
        assert set(item) == {"get"}, path
        for status, documented in item["get"]["responses"].items():
            content = documented["content"]
            if path.startswith("/api/") or path == "/healthz":
                assert "application/json" in content, (path, status)
                if not status.startswith("2"):
                    assert content["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }
            elif path == "/feed" and status == "200":
                assert set(content) == {"application/atom+xml"}
            else:
                assert set(content) == {"text/html"}, (path, status)


def test_openapi_refs_all_resolve() -> None:
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(OPENAPI))
    assert refs
    resolver = REGISTRY.resolver(OPENAPI_URI)
    for ref in refs:
        assert resolver.lookup(ref).contents


def test_openapi_error_example_matches_a_real_error(client) -> None:
    (example,) = OPENAPI["components"]["schemas"]["Error"]["examples"]
    real = client.get("/api/search?q=x&page=0").get_json()
    assert real == example


def test_the_document_and_the_validation_follow_the_settings(tmp_path: Path) -> None:
    app = make_app(tmp_path / "no-index", max_page=7, per_page=5, max_per_page=50,
                   max_analyze_length=12)
    client = app.test_client()
    document = client.get("/api/openapi.json").get_json()
    parameters = {p["name"]: p["schema"] for p in document["paths"]["/api/search"]["get"]
                  ["parameters"]}
    assert parameters["page"]["maximum"] == 7
    assert (parameters["per_page"]["default"], parameters["per_page"]["maximum"]) == (5, 50)
    (text,) = document["paths"]["/api/analyze"]["get"]["parameters"]
    assert text["schema"]["maxLength"] == 12
    refused = {
        "/api/search?q=x&page=8": "page must be from 1 to 7, not 8",
        "/api/search?q=x&per_page=51": "per_page must be from 1 to 50, not 51",
        "/api/analyze?text=" + "字" * 13: "text is 13 characters long; the limit is 12",
    }
    for url, message in refused.items():
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.get_json() == {"error": {"code": "bad_parameter", "message": message}}
    assert client.get("/api/search?q=x&page=7&per_page=50").status_code == 503  # accepted
    assert client.get("/?q=x&page=8").status_code == 400  # the results page too


# --- serving ----------------------------------------------------------------------------------


def test_serve_runs_waitress_and_prints_the_url(seed_index: BuildReport) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import sys; from search import load_settings; from web.serve import serve; "
        "serve(load_settings({}, index_dir=sys.argv[1]), '127.0.0.1', int(sys.argv[2]))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(seed_index.index_dir), str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # the index is opened before the URL is printed
            lines.append(line)
            if url in line:
                break
        assert any(url in line for line in lines), lines
        body = None
        deadline = time.monotonic() + 30
        while body is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url + "healthz", timeout=5) as response:
                    assert response.headers["Server"] == "waitress"
                    body = json.load(response)
            except urllib.error.URLError:
                time.sleep(0.2)
        assert body is not None and body["paragraphs"] == seed_index.paragraphs
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


# --- grouping, sorting, facets (issue 15) -------------------------------------------------------


@pytest.fixture(scope="module")
def archive_client(tmp_path_factory: pytest.TempPathFactory):
    """The seed, a simplified repost of it from another source a day later, and an article of
    its own."""
    source = tmp_path_factory.mktemp("api-archive")
    seed = (SEEDS / "000_0c4e82e9c0ffe15d.txt").read_text(encoding="utf-8")
    repost = opencc.OpenCC("t2s").convert(seed.replace("2023-04-19 09:39:36", "2023-04-20 10:00"))
    (source / "000_0c4e82e9c0ffe15d.txt").write_text(seed, encoding="utf-8")
    (source / "repost.txt").write_text("转载｜" + repost.replace("枣庄新闻网", "人民网"),
                                       encoding="utf-8")
    (source / "other.txt").write_text("枣庄新闻\n\n来源：新华网 2022-01-05\n\n枣庄今年的锂电产业。",
                                      encoding="utf-8")
    index = tmp_path_factory.mktemp("api-archive-index")
    build([source], index, procs=1)
    app = make_app(index)
    yield app.test_client()
    close_searcher(app)


def test_story_grouping_folds_the_repost_into_its_original(archive_client) -> None:
    response = archive_client.get("/api/search?q=枣庄&group=story&facets=source,month")
    check_against_openapi("/api/search", response)
    body = response.get_json()

    assert body["group"] == "story" and body["total"] == 2
    first = next(hit for hit in body["hits"] if hit["doc_id"] == "000_0c4e82e9c0ffe15d")
    assert [(c["doc_id"], c["source"], c["published"]) for c in first["copies"]] == [
        ("repost", "人民网", "2023-04-20T10:00:00")]
    assert first["copies"][0]["url"] == "/doc/repost?q=%E6%9E%A3%E5%BA%84"
    assert len(first["matches"]) == 2 and all("<mark>" in m["highlight"]
                                              for m in first["matches"])
    # The story counts once under each source and month of its matching articles.
    assert body["facets"] == {
        "source": [{"value": "人民网", "count": 1}, {"value": "新华网", "count": 1},
                   {"value": "棗莊新聞網", "count": 1}],
        "month": [{"value": "2022-01", "count": 1}, {"value": "2023-04", "count": 1}]}


def test_article_grouping_sorted_newest_first(archive_client) -> None:
    response = archive_client.get("/api/search?q=枣庄&group=article&sort=newest")
    check_against_openapi("/api/search", response)
    body = response.get_json()

    assert [hit["doc_id"] for hit in body["hits"]] == ["repost", "000_0c4e82e9c0ffe15d",
                                                       "other"]
    assert "copies" not in body["hits"][0] and "facets" not in body
    oldest = archive_client.get("/api/search?q=枣庄&group=article&sort=oldest").get_json()
    assert [hit["doc_id"] for hit in oldest["hits"]] == ["other", "000_0c4e82e9c0ffe15d",
                                                         "repost"]


@pytest.mark.parametrize(("query_string", "name"), [
    ("group=site", "group"), ("sort=best", "sort"),
    ("facets=author", "facets"), ("facets=source,", "facets"), ("facets=source;month", "facets"),
])
def test_bad_grouping_parameters_get_400(client, query_string: str, name: str) -> None:
    response = client.get(f"/api/search?q=枣庄&{query_string}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_parameter"
    assert error["message"].startswith(f"{name} must be"), error["message"]
    check_against_openapi("/api/search", response)


def test_empty_grouping_parameters_mean_the_defaults(client) -> None:
    body = client.get("/api/search?q=枣庄&group=&sort=&facets=").get_json()
    assert (body["group"], body["sort"]) == ("paragraph", "relevance") and "facets" not in body
