"""Regional vocabulary: a query word also finds its other regions' forms (软件 / 軟體), on a real
index of mainland and Taiwanese articles, through the library, the API, the page and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_app

from search.config import load_settings
from search.index import build
from search.query import QueryError, Searcher, plan_query
from search.vocabulary import REGIONAL_TABLES, read_opencc_table, regional_vocabulary
from web.searcher import close_searcher

# The same sentence as a mainland paper and a Taiwanese one write it (OpenCC s2twp), and the
# two senses of 文件 (a document, and a computer file: 檔案 in Taiwan).
ARTICLES = {
    "cn/ruanjian.txt": "软件企业\n\n这家公司的软件开发团队发布了新的打印机驱动程序。\n",
    "tw/ruanti.txt": "軟體企業\n\n這家公司的軟體開發團隊發布了新的印表機驅動程式。\n",
    "cn/wenjian.txt": "政府文件\n\n国务院印发了关于加强安全管理的文件。\n",
    "tw/dangan.txt": "電腦檔案\n\n使用者應該定期備份電腦裡的重要檔案。\n",
    "cn/xinxi.txt": "信息化\n\n全市加快建设信息网络基础设施。\n",
}


@pytest.fixture(scope="module")
def regional_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("regional-articles")
    for name, text in ARTICLES.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text, encoding="utf-8")
    target = tmp_path_factory.mktemp("regional-index")
    build([source], target, procs=1)
    return target


@pytest.fixture(scope="module")
def searcher(regional_index: Path) -> Searcher:
    s = Searcher(regional_index, load_settings({}))
    yield s
    s.close()


def _found(searcher: Searcher, query: str, **kwargs: object) -> list[tuple[str, int]]:
    return [(h.doc_id, h.paragraph) for h in searcher.search(query, **kwargs).hits]


def test_the_vocabulary_holds_every_regional_table_both_ways() -> None:
    vocabulary = regional_vocabulary()
    assert "软体" in vocabulary.alternatives("软件")
    assert "软件" in vocabulary.alternatives("软体")
    assert "资讯" in vocabulary.alternatives("信息")
    assert "列印" in vocabulary.alternatives("打印")
    assert "使用者" in vocabulary.alternatives("用户")
    assert "网路" in vocabulary.alternatives("网络")
    assert {"档案", "文档"} <= set(vocabulary.alternatives("文件"))  # ambiguous: both kept
    # Every table entry of Han characters on both sides is there, folded, in both directions.
    from search.analysis import normalize

    checked = 0
    for table in REGIONAL_TABLES:
        for key, values in read_opencc_table(table):
            folded = normalize(key).text
            for value in values:
                other = normalize(value).text
                if other != folded and (folded + other).isalpha() and "·" not in key + value \
                        and all("\u4e00" <= c <= "\u9fff" for c in folded + other):
                    assert other in vocabulary.alternatives(folded), (table, key, value)
                    assert folded in vocabulary.alternatives(other), (table, key, value)
                    checked += 1
    assert checked > 1500  # the full tables of OpenCC 1.4.2, not the few hundred of 0.1.7


def test_a_mainland_word_finds_the_taiwanese_one_ranked_just_below(searcher: Searcher) -> None:
    assert _found(searcher, "软件开发") == [("cn/ruanjian", 1), ("tw/ruanti", 1)]
    assert _found(searcher, "软件开发", regional=False) == [("cn/ruanjian", 1)]
    # And the other way: the Taiwanese form typed ranks its own article first.
    assert _found(searcher, "軟體開發") == [("tw/ruanti", 1), ("cn/ruanjian", 1)]


def test_expanded_lists_what_was_added_in_the_script_typed(searcher: Searcher) -> None:
    assert searcher.search("软件").expanded == [{"from": "软件", "to": "软体"}]
    assert searcher.search("軟件").expanded == [{"from": "軟件", "to": "軟體"}]
    assert searcher.search("打印机驱动程序").expanded[:2] == [
        {"from": "打印机", "to": "印表机"}, {"from": "程序", "to": "程式"}]
    assert searcher.search("软件", regional=False).expanded == []
    assert searcher.search("企业").expanded == []


def test_the_highlight_marks_the_alternative_in_the_text(searcher: Searcher) -> None:
    hits = searcher.search("打印机驱动程序").hits
    by_doc = {h.doc_id: h.snippet.marked() for h in hits}
    assert by_doc["cn/ruanjian"] == ["打印机驱动程序"]
    assert by_doc["tw/ruanti"] == ["印表機驅動程式"]
    article = searcher.article("tw/ruanti")
    assert article is not None
    assert "<mark>軟體</mark>" in searcher.highlight_article(article, "软件")[0]
    assert "<mark>" not in searcher.highlight_article(article, "软件", regional=False)[0]


def test_an_ambiguous_word_is_expanded_never_replaced(searcher: Searcher) -> None:
    # 文件 is a government document on the mainland and a computer file (檔案) in Taiwan:
    # both senses are found, the form typed first.
    assert [doc for doc, _ in _found(searcher, "文件")] == ["cn/wenjian"] * 2 + ["tw/dangan"] * 2


def test_words_of_a_compound_and_several_words_of_a_run(searcher: Searcher) -> None:
    # 软件 inside the jieba word 软件企业 (a sub-word), and two words replaced at once.
    assert ("tw/ruanti", 0) in _found(searcher, "软件企业")
    assert searcher.search("信息网络").total == 1
    plan = plan_query("信息网络", load_settings({}), regional_vocabulary())
    assert plan is not None and {e.to for e in plan.expansions} == {"资讯", "网路"}


def test_text_across_word_boundaries_is_never_converted() -> None:
    # OpenCC's tables applied to text turn 少数组织 into 少陣列織 and 电视频段 into 電影片段.
    for query in ("少数组织", "电视频段"):
        plan = plan_query(query, load_settings({}), regional_vocabulary())
        assert plan is not None and plan.expansions == ()


def test_phrases_and_exclusions_are_as_typed(searcher: Searcher) -> None:
    assert {d for d, _ in _found(searcher, '"软件"')} == {"cn/ruanjian"}
    assert searcher.search('"软件"').expanded == []
    # -软件 excludes the word typed; the Taiwanese article, which says 軟體, stays.
    assert {d for d, _ in _found(searcher, "开发 -软件")} == {"tw/ruanti"}


def test_the_term_limit_counts_the_alternatives() -> None:
    plain = plan_query("打印机驱动程序", load_settings({}))
    expanded = plan_query("打印机驱动程序", load_settings({}), regional_vocabulary())
    assert plain is not None and expanded is not None
    assert set(plain.terms()) < set(expanded.terms())
    settings = load_settings({}, max_query_terms=len(plain.terms()))
    assert plan_query("打印机驱动程序", settings) is not None
    with pytest.raises(QueryError, match="too broad"):
        plan_query("打印机驱动程序", settings, regional_vocabulary())


def test_explain_shows_the_alternative_weighed_less(searcher: Searcher) -> None:
    hit = next(h for h in searcher.search("软件开发", explain=True).hits
               if h.doc_id == "tw/ruanti")
    assert hit.explanation is not None
    words = {s.term: s.weight for s in hit.explanation.signals if s.name == "word"}
    assert words == {"软体": pytest.approx(0.8), "开发": pytest.approx(0.8)}
    assert sum(s.value for s in hit.explanation.signals) == pytest.approx(hit.score, abs=1e-3)


@pytest.fixture(scope="module")
def client(regional_index: Path):  # noqa: ANN201
    app = make_app(regional_index)
    yield app.test_client()
    close_searcher(app)


def test_api_lists_the_expansion_and_regional_0_turns_it_off(client) -> None:  # noqa: ANN001
    body = client.get("/api/search", query_string={"q": "软件开发"}).get_json()
    assert body["expanded"] == [{"from": "软件", "to": "软体"}]
    assert [h["doc_id"] for h in body["hits"]] == ["cn/ruanjian", "tw/ruanti"]
    off = client.get("/api/search", query_string={"q": "软件开发", "regional": "0"}).get_json()
    assert off["expanded"] == [] and [h["doc_id"] for h in off["hits"]] == ["cn/ruanjian"]
    assert "regional=0" in off["hits"][0]["url"]
    bad = client.get("/api/search", query_string={"q": "软件", "regional": "2"})
    assert bad.status_code == 400
    assert bad.get_json()["error"]["message"] == "regional must be 1 or 0 (true or false), not '2'"


def test_the_page_says_what_it_also_searched(client) -> None:  # noqa: ANN001
    page = client.get("/", query_string={"q": "软件开发"}).get_data(as_text=True)
    assert "also searched" in page and ">软体</span>" in page
    assert "<mark>軟體開發</mark>" in page
    off = client.get("/", query_string={"q": "软件开发", "regional": "0"}).get_data(as_text=True)
    assert "also searched" not in off and "軟體" not in off
    article = client.get("/doc/tw/ruanti", query_string={"q": "软件"}).get_data(as_text=True)
    assert "<mark>軟體</mark>" in article


def test_cli_flag(regional_index: Path) -> None:
    def run(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "zhsearch", "query", "软件开发", "--json",
                               "--index", str(regional_index), *args],
                              capture_output=True, text=True, check=True)
        return json.loads(done.stdout)

    assert run()["expanded"] == [{"from": "软件", "to": "软体"}]
    assert run("--no-regional")["expanded"] == []
    assert run("--no-regional")["total"] == 1
