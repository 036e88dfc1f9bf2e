"""Suggestions as you type, on the real shared index (the traditional seed and the simplified
articles): by prefix in either script, by pinyin, through the library and the API."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import make_app
from test_api import check_against_openapi
from whoosh import index as whoosh_index

from search.config import load_settings
from search.errors import ParameterError
from search.index import build, current_build, update
from search.query import Searcher
from search.query.records import Records
from search.suggest import VOCABULARY_FILE, Suggester, pinyin_keys
from web.searcher import close_searcher


def _texts(searcher: Searcher, query: str, limit: int = 10) -> list[str]:
    return [s.text for s in searcher.suggest(query, limit).suggestions]


def test_either_script_gives_the_same_suggestions_in_the_script_typed(searcher: Searcher) -> None:
    simplified = searcher.suggest("枣").suggestions
    traditional = searcher.suggest("棗").suggestions
    assert [s.text for s in simplified][0] == "枣庄"
    assert [s.text for s in traditional][0] == "棗莊"
    assert [(s.kind, s.count) for s in simplified] == [(s.kind, s.count) for s in traditional]
    assert _texts(searcher, "劉")[0] == "劉振江" and _texts(searcher, "刘")[0] == "刘振江"


def test_titles_people_places_and_words_ranked_by_how_often_they_occur(
        searcher: Searcher) -> None:
    kinds = {s.text: s.kind for s in searcher.suggest("锂").suggestions}
    assert kinds == {"锂电": "word", "锂电产业链加快集聚": "title"}
    assert searcher.suggest("枣").suggestions[0].kind == "place"
    assert searcher.suggest("刘").suggestions[0].kind == "person"
    counts = [s.count for s in searcher.suggest("zz").suggestions]
    assert counts == sorted(counts, reverse=True) and len(counts) > 2
    # The count is real: 锂电 is a word of this many records.
    assert searcher.suggest("锂电").suggestions[0].count == searcher.search("锂电").total


def test_pinyin_full_spaced_and_initials(searcher: Searcher) -> None:
    for typed in ("zaozhuang", "zao zhuang", "zaozh", "zz", "ZaoZhuang"):
        assert "枣庄" in _texts(searcher, typed), typed
    assert _texts(searcher, "liuzhenjiang") == ["刘振江"]


def test_every_reading_of_a_polyphonic_character() -> None:
    assert {"chongqing", "zhongqing", "cq", "zq"} <= pinyin_keys("重庆")
    suggester = Suggester([("重庆", "place", 5), ("银行", "word", 9)])
    assert [s.text for s in suggester.suggest("chongq").suggestions] == ["重庆"]
    assert [s.text for s in suggester.suggest("yinhang").suggestions] == ["银行"]
    assert [s.text for s in suggester.suggest("yinxing").suggestions] == ["银行"]


def test_limit_and_empty_input(searcher: Searcher) -> None:
    assert len(searcher.suggest("z", 3).suggestions) == 3
    assert searcher.suggest("", 5).suggestions == []
    assert searcher.suggest("   ").suggestions == []
    assert searcher.suggest("齉齉").suggestions == []
    for bad in (0, 21):
        with pytest.raises(ParameterError, match="limit must be from 1 to 20"):
            searcher.suggest("枣", bad)


def test_pinyin_is_over_the_suggestion_vocabulary_only(searcher: Searcher) -> None:
    # 孟庄镇 stands in an article body only once: not a suggestion, so its pinyin finds nothing.
    assert _texts(searcher, "mengzhuangzhen") == []


@pytest.fixture(scope="module")
def client(index_dir: Path):  # noqa: ANN201
    app = make_app(index_dir)
    yield app.test_client()
    close_searcher(app)


def test_api_suggest(client) -> None:  # noqa: ANN001
    response = client.get("/api/suggest", query_string={"q": "棗", "limit": "5"})
    assert response.status_code == 200
    check_against_openapi("/api/suggest", response)
    body = response.get_json()
    assert body["query"] == "棗"
    assert body["suggestions"][0] == {"text": "棗莊", "kind": "place", "count": 7}
    pinyin = client.get("/api/suggest", query_string={"q": "zz"}).get_json()
    assert pinyin["suggestions"][0]["text"] == "枣庄"
    for bad, message in (("0", "limit must be from 1 to 20, not 0"),
                         ("99", "limit must be from 1 to 20, not 99"),
                         ("x", "limit must be a whole number from 1 to 20, not 'x'")):
        refused = client.get("/api/suggest", query_string={"q": "枣", "limit": bad})
        assert refused.status_code == 400
        check_against_openapi("/api/suggest", refused)
        assert refused.get_json()["error"] == {"code": "bad_parameter", "message": message}
    assert client.get("/api/suggest").get_json() == {"query": "", "suggestions": []}


# --- did you mean -------------------------------------------------------------------------------


def test_pinyin_typed_is_offered_as_its_characters(searcher: Searcher) -> None:
    for typed in ("zaozhuang", "Zao Zhuang", "zao'zhuang"):
        assert searcher.search(typed).did_you_mean == "枣庄", typed
    assert searcher.search("iphone").did_you_mean is None  # not pinyin
    assert searcher.search("zz").did_you_mean is None  # initials are too little to go on


def test_nothing_found_offers_the_query_without_its_rarest_word(searcher: Searcher) -> None:
    page = searcher.search("枣庄 火星人")
    assert page.total == 0 and page.did_you_mean == "枣庄"
    assert searcher.search("锂电火星").did_you_mean == "锂电"
    assert searcher.search("棗莊").did_you_mean is None  # found: nothing to offer
    assert searcher.search("火星人").did_you_mean is None  # nothing left that finds something


def test_nothing_found_with_regional_off_offers_the_regional_form(searcher: Searcher) -> None:
    # The simplified article says 软件; 软体 is Taiwan's word for it.
    assert searcher.search("软体", regional=False).total == 0
    assert searcher.search("软体", regional=False).did_you_mean == "软件"
    found = searcher.search("软体")
    assert found.total > 0 and found.did_you_mean is None


def test_did_you_mean_through_the_api_and_the_page(client) -> None:  # noqa: ANN001
    response = client.get("/api/search", query_string={"q": "枣庄 火星人"})
    check_against_openapi("/api/search", response)
    assert response.get_json()["did_you_mean"] == "枣庄"
    assert client.get("/api/search", query_string={"q": "枣庄"}).get_json()["did_you_mean"] is None
    page = client.get("/", query_string={"q": "zaozhuang"}).get_data(as_text=True)
    assert 'id="did-you-mean"' in page and ">枣庄</a>" in page


# --- the vocabulary saved by the build -------------------------------------------------------


def _made_from_the_index(index_dir: Path) -> Suggester:
    """The suggestions made from the live index itself, its word counts read through Whoosh's
    own reader of every segment (not the counts kept beside each segment)."""
    ix = whoosh_index.open_dir(current_build(index_dir))
    with ix.searcher() as searcher:
        counts = {term.decode("utf-8"): info.doc_frequency()
                  for term, info in searcher.reader().iter_field("words")}
        return Suggester.from_counts(counts.items(), Records.load(searcher, None).articles)


PREFIXES = ("枣", "棗", "刘", "锂", "zz", "zaozhuang", "l", "工业", "中")


def test_the_build_saves_the_suggestions_that_were_made_from_the_index(
        index_dir: Path, searcher: Searcher) -> None:
    saved = current_build(index_dir) / VOCABULARY_FILE
    assert saved.is_file()
    loaded, made = Suggester.load(saved), _made_from_the_index(index_dir)
    assert len(loaded) > 100 and loaded == made
    for prefix in PREFIXES:
        assert searcher.suggest(prefix, 20) == made.suggest(prefix, 20), prefix


def test_an_update_saves_them_again_and_an_open_searcher_follows(corpus_dir: Path,
                                                                 tmp_path: Path) -> None:
    source = tmp_path / "articles"
    shutil.copytree(corpus_dir, source)
    index_dir = tmp_path / "index"
    build([source], index_dir, procs=1)
    searcher = Searcher(index_dir, load_settings({}))
    try:
        assert _texts(searcher, "瀑布") == []
        (source / "new.txt").write_text("瀑布观测站落成\n\n瀑布观测站今天落成。\n",
                                        encoding="utf-8")
        update([source], index_dir)
        saved = current_build(index_dir) / VOCABULARY_FILE
        assert Suggester.load(saved) == _made_from_the_index(index_dir)
        assert "瀑布观测站落成" in _texts(searcher, "瀑布")
        assert "瀑布观测站落成" in _texts(searcher, "pubu")
    finally:
        searcher.close()


def test_a_damaged_vocabulary_is_made_from_the_index_instead(corpus_dir: Path,
                                                             tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([corpus_dir], index_dir, procs=1)
    saved = current_build(index_dir) / VOCABULARY_FILE
    saved.write_bytes(saved.read_bytes()[:-10])
    with pytest.raises(ValueError, match="damaged"):
        Suggester.load(saved)
    searcher = Searcher(index_dir, load_settings({}))
    try:
        made = _made_from_the_index(index_dir)
        for prefix in PREFIXES:
            assert searcher.suggest(prefix, 20) == made.suggest(prefix, 20), prefix
    finally:
        searcher.close()
