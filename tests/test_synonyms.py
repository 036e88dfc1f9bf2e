"""Synonyms from a file in Solr's format, applied at query time on a real index, re-read when the
file changes, malformed lines reported and skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import make_app

from search.config import load_settings
from search.index import build
from search.query import Searcher
from search.vocabulary import SynonymFile, parse_synonyms
from web.searcher import close_searcher

ARTICLES = {
    "a/fanqie.txt": "番茄\n\n今年的番茄炒蛋比赛吸引了很多市民。\n",
    "a/xihongshi.txt": "西红柿\n\n农贸市场的西红柿价格回落。\n",
    "a/shouji.txt": "手机\n\n今年手机价格普遍上涨。\n",
    "a/yidong.txt": "电话\n\n今年移动电话价格普遍上涨。\n",
    "a/zhifu.txt": "支付\n\n今年移动支付价格普遍下降。\n",
    "a/ai.txt": "AI\n\n市里的AI产业发展迅速。\n",
    "a/rengong.txt": "智能\n\n市里的人工智能产业发展迅速。\n",
}

SYNONYMS = """# Solr's format, either script
番茄, 西紅柿
ai => 人工智能
手机 => 移动 电话
"""


@pytest.fixture(scope="module")
def synonym_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("synonym-articles")
    for name, text in ARTICLES.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text, encoding="utf-8")
    target = tmp_path_factory.mktemp("synonym-index")
    build([source], target, procs=1)
    return target


@pytest.fixture
def synonyms_file(tmp_path: Path) -> Path:
    path = tmp_path / "synonyms.txt"
    path.write_text(SYNONYMS, encoding="utf-8")
    return path


@pytest.fixture
def searcher(synonym_index: Path, synonyms_file: Path) -> Searcher:
    s = Searcher(synonym_index, load_settings({}, synonyms=synonyms_file))
    yield s
    s.close()


def _docs(searcher: Searcher, query: str, **kwargs: object) -> set[str]:
    return {h.doc_id for h in searcher.search(query, per_page=100, **kwargs).hits}


def _rewrite(path: Path, text: str | bytes) -> None:
    """Change the file so that its modification time moves even within one clock tick."""
    before = path.stat().st_mtime_ns if path.exists() and path.is_file() else 0
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def test_equivalents_find_each_other_in_either_script(searcher: Searcher) -> None:
    assert _docs(searcher, "番茄") == {"a/fanqie", "a/xihongshi"}
    assert _docs(searcher, "西红柿") == {"a/fanqie", "a/xihongshi"}
    assert searcher.search("西紅柿").expanded == [{"from": "西紅柿", "to": "番茄"}]
    assert searcher.search("番茄").expanded == [{"from": "番茄", "to": "西红柿"}]
    # The form typed ranks first.
    assert searcher.search("番茄").hits[0].doc_id == "a/fanqie"


def test_one_way_synonyms_add_and_never_replace(searcher: Searcher) -> None:
    assert _docs(searcher, "ai") == {"a/ai", "a/rengong"}
    assert _docs(searcher, "人工智能") == {"a/rengong"}


def test_a_synonym_of_several_words_needs_all_of_them_under_and(searcher: Searcher) -> None:
    # 手机 => 移动 电话: the clause 手机 is satisfied by 手机, or by 移动 and 电话 together; 价格
    # is still required. 移动支付价格 has 移动 and 价格 but not 电话.
    assert _docs(searcher, "手机 价格") == {"a/shouji", "a/yidong"}
    assert _docs(searcher, "手机价格") == {"a/shouji", "a/yidong"}
    hit = next(h for h in searcher.search("手机 价格").hits if h.doc_id == "a/yidong")
    assert hit.snippet.marked() == ["移动电话价格"]


def test_synonyms_apply_with_regional_off(searcher: Searcher) -> None:
    assert _docs(searcher, "番茄", regional=False) == {"a/fanqie", "a/xihongshi"}
    assert _docs(searcher, "手机", regional=False) == {"a/shouji", "a/yidong"}


def test_a_changed_file_is_read_again_without_a_restart(searcher: Searcher,
                                                        synonyms_file: Path) -> None:
    assert _docs(searcher, "支付") == {"a/zhifu"}
    _rewrite(synonyms_file, "支付, 电话\n")
    assert _docs(searcher, "支付") == {"a/zhifu", "a/yidong"}
    assert _docs(searcher, "番茄") == {"a/fanqie"}
    synonyms_file.unlink()  # no file: no synonyms
    assert _docs(searcher, "支付") == {"a/zhifu"}


def test_an_unreadable_file_keeps_the_synonyms_read_before(searcher: Searcher,
                                                           synonyms_file: Path) -> None:
    assert _docs(searcher, "番茄") == {"a/fanqie", "a/xihongshi"}
    _rewrite(synonyms_file, "番茄, 支付\n".encode("gb18030") + b"\xff\xfe\x00")
    assert _docs(searcher, "番茄") == {"a/fanqie", "a/xihongshi"}
    assert "cannot read" in str(searcher.synonyms.problems[0])
    assert "kept" in str(searcher.synonyms.problems[0])
    synonyms_file.unlink()
    synonyms_file.mkdir()  # a folder where the file was: cannot be read either
    assert _docs(searcher, "番茄") == {"a/fanqie", "a/xihongshi"}
    assert "cannot read" in str(searcher.synonyms.problems[0])


def test_malformed_lines_are_reported_with_their_number_and_the_rest_loads(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "synonyms.txt"
    path.write_text("番茄, 西红柿\n=> 西瓜\n苹果 =>\n香蕉\n\n# a comment\n葡萄 => 提子 => 葡萄干\n"
                    "new york, 纽约\n、, 逗号\n土豆, 马铃薯 # potatoes\n", encoding="utf-8")
    synonyms = SynonymFile(path)
    with caplog.at_level("WARNING", logger="zhsearch.synonyms"):
        thesaurus = synonyms.current()
    assert [str(p) for p in synonyms.problems] == [
        "line 2: nothing before =>",
        "line 3: nothing after =>",
        "line 4: a single word: write 'a, b' or 'a => b'",
        "line 7: more than one =>",
        "line 8: 'new york' is several words: a query word is one Chinese run or one Latin "
        "word",
        "line 9: a synonym with no letters, digits or Chinese",
    ]
    assert len(caplog.records) == 6 and "line 2" in caplog.records[0].getMessage()
    assert thesaurus.alternatives("番茄") == ("西红柿",)
    assert thesaurus.alternatives("马铃薯") == ("土豆",)
    assert len(thesaurus) == 4


def test_spaces_between_chinese_words_on_the_left_make_one_run() -> None:
    thesaurus, problems = parse_synonyms("人工 智能 => ai\n")
    assert problems == [] and thesaurus.alternatives("人工智能") == ("ai",)


def test_the_setting_and_the_api(synonym_index: Path, synonyms_file: Path) -> None:
    assert load_settings({"ZHSEARCH_SYNONYMS": str(synonyms_file)}).synonyms == synonyms_file
    assert load_settings({}).synonyms == Path("synonyms.txt")
    app = make_app(synonym_index, synonyms=synonyms_file)
    try:
        body = app.test_client().get("/api/search", query_string={"q": "番茄"}).get_json()
        assert body["expanded"] == [{"from": "番茄", "to": "西红柿"}]
        assert {h["doc_id"] for h in body["hits"]} == {"a/fanqie", "a/xihongshi"}
    finally:
        close_searcher(app)
