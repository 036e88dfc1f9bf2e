"""The user dictionary: recorded by the build, applied by ``zhsearch update`` to the paragraphs
that hold a changed word only, followed by searchers; a bad file changes nothing.

Real article files in tmp_path, real Whoosh indexes on disk, the real ``zhsearch`` command.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jieba
import pytest
from whoosh import index as whoosh_index

from search.analysis import UserDictError, UserDictionary, use_user_words, words
from search.config import load_settings
from search.index import USER_DICT_FILE, build, current_build, recorded_user_dict, update
from search.query import Searcher
from tests.conftest import zhsearch_command, zhsearch_env

NAME = "雾凇岛"  # jieba cuts it 雾凇 / 岛上 in "在雾凇岛上", and 雾凇 / 岛 alone
ARTICLES = {
    # Two paragraphs and a title hold the name; the title and one paragraph of 甲 do not.
    "a": ("冬日游记", "游客在雾凇岛上拍照。", "湖边的早晨很冷。", "霧凇島的冬天很美。"),
    "b": ("雾凇岛的渔民", "渔民在湖上凿冰捕鱼。"),
    # 雾凇 without 岛, and the name's characters apart: candidates by character, not holders.
    "c": ("天气预报", "明天有雾凇，岛上有雪。", "气温零下十度。"),
    "d": ("城市新闻", "地铁新线今天开通。", "市民乘车出行。"),
}


def _write_articles(source: Path) -> Path:
    source.mkdir(parents=True, exist_ok=True)
    for doc_id, (title, *paragraphs) in ARTICLES.items():
        (source / f"{doc_id}.txt").write_text("\n\n".join([title, *paragraphs]) + "\n",
                                              encoding="utf-8")
    return source


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(sources, index folder, user dictionary file): built with an empty dictionary."""
    source = _write_articles(tmp_path / "articles")
    user_dict = tmp_path / "userdict.txt"
    user_dict.write_text("# names jieba does not know\n", encoding="utf-8")
    index_dir = tmp_path / "index"
    build([source], index_dir, procs=1, user_dict=user_dict)
    return source, index_dir, user_dict


def _records_with_word(index_dir: Path, word: str) -> set[str]:
    """The keys (doc_id#paragraph) of the live records whose word field holds ``word``."""
    ix = whoosh_index.open_dir(current_build(index_dir))
    with ix.searcher() as searcher:
        from whoosh.query import Term

        return {searcher.stored_fields(d)["doc_id"] + f"#{searcher.stored_fields(d)['paragraph']}"
                for d in searcher.docs_for_query(Term("words", word))}


def _segments(index_dir: Path) -> list[tuple[str, int]]:
    """(segment name, records) of the live build: what an update wrote anew."""
    ix = whoosh_index.open_dir(current_build(index_dir))
    return sorted((s.segment_id(), s.doc_count_all()) for s in ix._segments())  # noqa: SLF001


def _word_hit(searcher: Searcher, query: str, key: str) -> tuple[int, list[str]]:
    """(tier, the words its signals are about) of the hit of ``query`` in record ``key``
    (doc_id#paragraph)."""
    hits = [h for h in searcher.search(query, per_page=50, explain=True).hits
            if f"{h.doc_id}#{h.paragraph}" == key]
    assert hits, f"{query} finds nothing in {key}"
    explanation = hits[0].explanation
    assert explanation is not None
    return explanation.tier, [s.term for s in explanation.signals if s.name == "word"]


def test_a_build_records_its_user_dictionary(built: tuple[Path, Path, Path]) -> None:
    _, index_dir, user_dict = built
    recorded = recorded_user_dict(current_build(index_dir))
    assert recorded == UserDictionary.read(user_dict)
    assert recorded is not None and recorded.words == () and len(recorded.sha256) == 64


def test_a_word_added_is_cut_whole_in_old_articles_and_nothing_else_is_indexed_again(
        built: tuple[Path, Path, Path]) -> None:
    source, index_dir, user_dict = built
    searcher = Searcher(index_dir, load_settings({}))
    try:
        assert _records_with_word(index_dir, NAME) == set()
        assert _word_hit(searcher, NAME, "a#1")[0] == 2  # 雾凇 / 岛上: text, not words

        user_dict.write_text(f"{NAME} 50 ns\n", encoding="utf-8")
        report = update([source], index_dir, user_dict=user_dict)

        change = report.dictionary
        assert change is not None
        assert (change.added, change.changed, change.removed) == ([NAME], [], [])
        # a#1, a#3 (in traditional script) and b's title hold it; c's 雾凇，岛 does not.
        assert (change.paragraphs, change.articles) == (3, ["a", "b"])
        assert change.records == 4 + 2  # the articles' records, header included
        assert (report.added, report.changed, report.removed) == ([], [], [])
        assert report.resegmented == ["a", "b"]
        assert _records_with_word(index_dir, NAME) == {"a#1", "a#3", "b#0"}
        article = searcher.article("a")  # its records still together, in order
        assert article is not None and article.paragraphs == list(ARTICLES["a"][1:])
        # The open searcher cuts the query as the index now does: a word match, tier 1.
        assert _word_hit(searcher, NAME, "a#1") == (1, [NAME])
        assert _word_hit(searcher, "霧凇島", "a#1") == (1, [NAME])
        assert searcher.search(NAME).total == 3
        recorded = recorded_user_dict(current_build(index_dir))
        assert recorded is not None and recorded.words == ((NAME, 50, "ns"),)

        # The same file again: nothing to do.
        again = update([source], index_dir, user_dict=user_dict)
        assert again.dictionary is None and again.resegmented == []

        # Taken out again: the paragraphs that held it are cut as before.
        user_dict.write_text("", encoding="utf-8")
        reverted = update([source], index_dir, user_dict=user_dict)
        assert reverted.dictionary is not None
        assert (reverted.dictionary.removed, reverted.dictionary.articles) == ([NAME], ["a", "b"])
        assert _records_with_word(index_dir, NAME) == set()
        assert _word_hit(searcher, NAME, "a#1")[0] == 2
        assert list(jieba.cut(f"在{NAME}上")) == ["在", "雾凇", "岛上"]
    finally:
        searcher.close()


def test_a_changed_frequency_indexes_again_only_the_paragraphs_holding_the_word(
        built: tuple[Path, Path, Path]) -> None:
    source, index_dir, user_dict = built
    user_dict.write_text(f"{NAME} 50\n地铁新线\n", encoding="utf-8")
    first = update([source], index_dir, user_dict=user_dict)
    assert first.dictionary is not None
    assert first.dictionary.added == sorted([NAME, "地铁新线"])
    assert first.dictionary.articles == ["a", "b", "d"]
    user_dict.write_text(f"{NAME} 80\n地铁新线\n", encoding="utf-8")
    report = update([source], index_dir, user_dict=user_dict)
    assert report.dictionary is not None
    assert (report.dictionary.added, report.dictionary.changed) == ([], [NAME])
    assert report.dictionary.articles == ["a", "b"]  # not d, whose word did not change


def test_update_after_a_new_article_and_a_new_word_does_both(
        built: tuple[Path, Path, Path]) -> None:
    source, index_dir, user_dict = built
    (source / "e.txt").write_text(f"新到\n\n船开往{NAME}。\n", encoding="utf-8")
    user_dict.write_text(f"{NAME}\n", encoding="utf-8")
    report = update([source], index_dir, user_dict=user_dict)
    assert report.added == ["e"]
    assert report.resegmented == ["a", "b"]  # e is added, not counted again
    assert _records_with_word(index_dir, NAME) == {"a#1", "a#3", "b#0", "e#1"}


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe\xb0\xa1 not utf-8\n", "is not UTF-8 (line 1)"),
    (f"{NAME} 50\n{NAME} often ns\n".encode(),
     "line 2: '雾凇岛 often ns' is not 'word [frequency] [tag]'"),
    (None, "cannot read the user dictionary"),
])
def test_a_bad_user_dictionary_stops_the_update_and_loses_nothing(
        built: tuple[Path, Path, Path], content: bytes | None, message: str) -> None:
    source, index_dir, user_dict = built
    user_dict.write_text(f"{NAME} 50\n", encoding="utf-8")
    update([source], index_dir, user_dict=user_dict)
    record = (current_build(index_dir) / USER_DICT_FILE).read_bytes()
    before = _segments(index_dir)
    if content is None:
        user_dict.unlink()
        user_dict.mkdir()  # a folder where the file was: it cannot be read
    else:
        user_dict.write_bytes(content)
    with pytest.raises(UserDictError, match=re.escape(message)):
        update([source], index_dir, user_dict=user_dict)
    assert (current_build(index_dir) / USER_DICT_FILE).read_bytes() == record
    assert _segments(index_dir) == before
    assert _records_with_word(index_dir, NAME) == {"a#1", "a#3", "b#0"}
    with pytest.raises(UserDictError, match="user dictionary|line"):
        build([source], index_dir, procs=1, user_dict=user_dict)


def test_words_given_twice_or_without_a_frequency_cut_as_jieba_would() -> None:
    try:
        applied = use_user_words([(NAME, None, ""), ("地铁新线", 7, "n"), ("地铁新线", 9, "")])
        assert applied[0][1] is not None and applied[0][1] > 0  # jieba's suggested frequency
        assert jieba.dt.FREQ["地铁新线"] == 9  # the last line of a word counts, as in jieba
        assert [w.term for w in words(f"在{NAME}上", with_parts=False, keep_stops=True)] \
            == ["在", NAME, "上"]
        assert use_user_words(applied) == applied  # the same state again, frequencies given
    finally:
        use_user_words(())
    assert [w.term for w in words(f"在{NAME}上", with_parts=False, keep_stops=True)] \
        == ["在", "雾凇", "岛上"]
    assert "地铁新线" not in jieba.dt.FREQ


def test_update_command_says_what_the_dictionary_changed(
        built: tuple[Path, Path, Path]) -> None:
    source, index_dir, user_dict = built
    user_dict.write_text(f"{NAME} 50 ns\n", encoding="utf-8")

    def zhsearch_update() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            zhsearch_command("update", "--index", str(index_dir), "--source", str(source)),
            capture_output=True, text=True, timeout=120, check=False,
            env={**zhsearch_env(), "ZHSEARCH_USER_DICT": str(user_dict)})

    result = zhsearch_update()
    assert result.returncode == 0, result.stderr
    assert (f"user dictionary: added {NAME}; 3 paragraphs hold these words and were cut "
            "again: 2 articles indexed again (6 records), nothing else") in result.stdout
    user_dict.write_text("雾凇岛 x y z\n", encoding="utf-8")
    bad = zhsearch_update()
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        f"Error: {user_dict}, line 1: '雾凇岛 x y z' is not 'word [frequency] [tag]'"]
    assert json.loads((current_build(index_dir) / USER_DICT_FILE).read_text(
        encoding="utf-8"))["words"] == [[NAME, 50, "ns"]]
