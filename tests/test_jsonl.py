"""JSON Lines input: one article a line, every bad line kind reported with its file and line."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from conftest import SEED, SEED_ID

from search.config import load_settings
from search.documents import Document, Skipped, iter_documents, read_document
from search.index import build, update
from search.query import Searcher

GOOD = {
    "id": "rmrb-1",
    "title": "锂电产业链加快集聚",
    "body": "枣庄锂电产业加快发展，一批新能源项目落地投产。\n\n"
            "马克思主义理论学习会在市委党校举行。",
    "source": "人民网",
    "published": "2022-12-01T08:00:00",
    "authors": ["王明", "Li Hua"],
    "url": "https://example.org/a/1.html",
}


def write_lines(path: Path, *lines: object) -> Path:
    """Write each line: a dict as JSON, bytes as they are, a str as UTF-8."""
    with open(path, "wb") as f:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line, ensure_ascii=False)
            f.write(line if isinstance(line, bytes) else line.encode("utf-8"))
            f.write(b"\n")
    return path


def read(path: Path, repair: bool = True) -> tuple[list[Document], list[Skipped]]:
    """What ingestion makes of a file or a folder, as a build reads it."""
    items = list(iter_documents([path], repair=repair))
    return ([i for i in items if isinstance(i, Document)],
            [i for i in items if isinstance(i, Skipped)])


def test_a_good_line_becomes_an_article(tmp_path: Path) -> None:
    (doc,), skipped = read(write_lines(tmp_path / "a.jsonl", GOOD))

    assert skipped == []
    assert doc.doc_id == "rmrb-1"
    assert doc.title == "锂电产业链加快集聚"
    assert doc.paragraphs == ["枣庄锂电产业加快发展，一批新能源项目落地投产。",
                              "马克思主义理论学习会在市委党校举行。"]
    assert doc.source == "人民网"
    assert doc.published == datetime(2022, 12, 1, 8, 0)
    assert doc.authors == ["王明", "Li Hua"]
    assert doc.url == "https://example.org/a/1.html"
    assert (doc.line, doc.dropped) == (1, [])


def test_paragraphs_a_list_and_the_other_forms_of_fields(tmp_path: Path) -> None:
    line = {"id": 42, "title": "标题", "paragraphs": ["第一段。", "  ", "第二段。"],
            "body": "不用这个。", "published": "2023-04-19", "authors": "刘振江 李卉"}
    (doc,), _ = read(write_lines(tmp_path / "a.jsonl", line))

    assert doc.doc_id == "42"
    assert doc.paragraphs == ["第一段。", "第二段。"]
    assert doc.published == datetime(2023, 4, 19)
    assert doc.authors == ["刘振江", "李卉"]


@pytest.mark.parametrize(("written", "expected"), [
    ("2023-04-19T09:39:36+08:00", datetime(2023, 4, 19, 9, 39, 36)),  # the time as written
    ("2023-04-19T01:39Z", datetime(2023, 4, 19, 1, 39)),
    ("2023-04-19T09:39:36.250", datetime(2023, 4, 19, 9, 39, 36, 250000)),
])
def test_iso_dates_and_date_times(tmp_path: Path, written: str, expected: datetime) -> None:
    (doc,), _ = read(write_lines(tmp_path / "a.jsonl", {**GOOD, "published": written}))
    assert doc.published == expected


def test_the_title_is_the_first_paragraph_when_there_is_none(tmp_path: Path) -> None:
    (doc,), _ = read(write_lines(tmp_path / "a.jsonl", {"id": "x", "body": "头条\n\n正文。"}))
    assert (doc.title, doc.paragraphs) == ("头条", ["正文。"])


def test_cleaning_and_spam_rules_apply(tmp_path: Path) -> None:
    line = {"id": "x", "title": "<b>标题</b>",
            "paragraphs": ["正文&amp;内容。<br>下一句。", "首頁|新聞|體育|財經"]}
    (doc,), _ = read(write_lines(tmp_path / "a.jsonl", line))

    assert doc.title == "标题"
    assert doc.paragraphs == ["正文&内容。 下一句。"]
    assert doc.spam == ["首頁|新聞|體育|財經"]


def test_mojibake_is_repaired_as_in_a_text_file(tmp_path: Path) -> None:
    from_file = read_document(SEED, SEED_ID)
    garbled = next(p for p in SEED.read_text(encoding="utf-8").split("\n\n") if "倍增干勁?" in p)
    line = {"id": "x", "title": from_file.title, "paragraphs": [garbled.strip()]}

    (doc,), _ = read(write_lines(tmp_path / "a.jsonl", line))
    (kept,), _ = read(tmp_path / "a.jsonl", repair=False)

    assert "倍增干勁。”滕州市工信局局長孟凡軍" in doc.paragraphs[0]
    assert doc.paragraphs[0] in from_file.paragraphs
    assert [(r.paragraph, r.before, r.after) for r in doc.repairs] == \
        [(1, r.before, r.after) for r in from_file.repairs if r.before in garbled]
    assert kept.paragraphs == [garbled.strip()] and kept.repairs == []


def test_every_bad_line_is_skipped_with_its_line_and_reason(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "bad.jsonl",
        GOOD,                                     # 1: kept
        "{not json",                              # 2
        '["a", "list"]',                          # 3
        {"title": "没有编号", "body": "正文。"},    # 4
        {"id": "", "body": "正文。"},              # 5
        {"id": True, "body": "正文。"},            # 6: a boolean is not an id
        {**GOOD, "title": "同一编号的第二篇"},       # 7: duplicate of line 1
        b'{"id": "gbk", "body": "\xd5\xfd\xce\xc4"}',  # 8: GBK bytes
        {"id": "empty"},                          # 9: no text
        "",                                       # 10: blank, ignored
        {"id": "html-only", "body": "<p></p>"},   # 11
        {**GOOD, "id": "rmrb-2"},                 # 12: kept
    )
    docs, skipped = read(path)

    assert [d.doc_id for d in docs] == ["rmrb-1", "rmrb-2"]
    assert docs[0].title == GOOD["title"]  # the first article with an id keeps it
    reasons = {s.line: s.reason for s in skipped}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 9, 11]
    assert reasons[2].startswith("not JSON")
    assert reasons[3] == "not a JSON object but list"
    assert reasons[4] == reasons[5] == reasons[6] == 'no "id" (a non-empty string or an integer)'
    assert reasons[7] == f"duplicate id 'rmrb-1' (already at {path}:1)"
    assert reasons[8] == "not UTF-8"
    assert reasons[9] == 'no text: no "title", "body" or "paragraphs"'
    assert reasons[11] == "no text left after removing HTML"
    assert all(s.path == path and s.where == f"{path}:{s.line}" for s in skipped)


def test_bad_fields_are_dropped_and_the_article_kept(tmp_path: Path) -> None:
    line = {**GOOD, "published": "19 April 2023", "authors": {"name": "王明"}, "source": 7,
            "paragraphs": "not a list"}
    (doc,), skipped = read(write_lines(tmp_path / "a.jsonl", line))

    assert skipped == []
    assert doc.published is None and doc.authors == [] and doc.source == ""
    assert doc.paragraphs == ["枣庄锂电产业加快发展，一批新能源项目落地投产。",
                              "马克思主义理论学习会在市委党校举行。"]  # from "body"
    assert sorted(doc.dropped) == [
        '"authors" dropped: not a string or a list of strings',
        '"paragraphs" dropped: not a list of strings',
        "\"published\" dropped: '19 April 2023' is not an ISO 8601 date",
        '"source" dropped: not a string',
    ]


@pytest.mark.parametrize("date", ["2023-02-30", "2023-04-19 09:39", "20230419", "2023-W16"])
def test_dates_outside_iso_8601_are_dropped(tmp_path: Path, date: str) -> None:
    (doc,), _ = read(write_lines(tmp_path / "a.jsonl", {**GOOD, "published": date}))
    assert doc.published is None
    assert doc.dropped == [f'"published" dropped: {date!r} is not an ISO 8601 date']


def test_ids_are_unique_across_files_and_with_text_articles(tmp_path: Path) -> None:
    first = write_lines(tmp_path / "a.jsonl", GOOD, {**GOOD, "id": "news"})
    write_lines(tmp_path / "b.jsonl", {**GOOD, "title": "后来的同号文章"}, {**GOOD, "id": "new"})
    (tmp_path / "news.txt").write_text("标题\n\n正文。\n", encoding="utf-8")

    docs, skipped = read(tmp_path)

    assert sorted(d.doc_id for d in docs) == ["new", "news", "rmrb-1"]
    assert next(d for d in docs if d.doc_id == "rmrb-1").title == GOOD["title"]
    assert sorted((s.path.name, s.line, s.reason) for s in skipped) == [
        ("b.jsonl", 1, f"duplicate id 'rmrb-1' (already at {first}:1)"),
        ("news.txt", None, f"duplicate doc_id 'news' (already read from {first}:2)")]


def test_each_line_has_its_own_content_hash(tmp_path: Path) -> None:
    docs, _ = read(write_lines(tmp_path / "a.jsonl", GOOD, {**GOOD, "id": "rmrb-2"},
                               {**GOOD, "id": "rmrb-3", "title": "改了"}))
    hashes = [d.content_hash for d in docs]
    assert len(set(hashes)) == 3
    again, _ = read(write_lines(tmp_path / "b.jsonl", {**GOOD, "id": "rmrb-2"}))
    assert again[0].content_hash == hashes[1]


# --- build and update ---------------------------------------------------------------------------

BAD_LINES = ("{not json", '["a", "list"]', {"title": "没有编号", "body": "正文。"},
             {"id": "", "body": "正文。"}, {**GOOD, "title": "重复的编号"},
             b'{"id": "gbk", "body": "\xd5\xfd\xce\xc4"}', {"id": "empty"})


def article(n: int, **fields: object) -> dict[str, object]:
    return {**GOOD, "id": f"rmrb-{n}", "title": f"第{n}篇：锂电产业链加快集聚", **fields}


def test_a_build_indexes_jsonl_beside_txt_and_reports_each_bad_line(tmp_path: Path) -> None:
    source, index = tmp_path / "source", tmp_path / "index"
    source.mkdir()
    shutil.copyfile(SEED, source / SEED.name)
    feed = write_lines(source / "feed.jsonl", GOOD, *BAD_LINES,
                       article(2, published="19 April 2023"))

    report = build([source], index, procs=1)

    assert report.documents == 3  # the seed, rmrb-1 and rmrb-2
    assert [(s.where, s.reason) for s in report.skipped] == [
        (f"{feed}:{n}", reason) for n, reason in [
            (2, "not JSON (Expecting property name enclosed in double quotes)"),
            (3, "not a JSON object but list"), (4, 'no "id" (a non-empty string or an integer)'),
            (5, 'no "id" (a non-empty string or an integer)'),
            (6, f"duplicate id 'rmrb-1' (already at {feed}:1)"), (7, "not UTF-8"),
            (8, 'no text: no "title", "body" or "paragraphs"')]]
    assert [(d.where, d.reason) for d in report.dropped] == [
        (f"{feed}:9", "\"published\" dropped: '19 April 2023' is not an ISO 8601 date")]
    searcher = Searcher(index, load_settings({}))
    try:
        (hit,) = searcher.search("马克思主义 source:人民网 date:2022-12").hits
        assert (hit.doc_id, hit.paragraph, hit.original_url) == ("rmrb-1", 2, GOOD["url"])
        assert hit.authors == ["王明", "Li Hua"] and hit.published == "2022-12-01T08:00:00"
        assert searcher.article("rmrb-2").published is None  # type: ignore[union-attr]
        assert searcher.search("工業倍增").total > 0  # the .txt article is there too
    finally:
        searcher.close()


def test_update_reindexes_only_the_lines_that_changed(tmp_path: Path) -> None:
    source, index = tmp_path / "source", tmp_path / "index"
    source.mkdir()
    write_lines(source / "feed.jsonl", article(1), article(2), article(3))
    build([source], index, procs=1)

    write_lines(source / "feed.jsonl", article(1), article(2, title="改过的标题"), article(4))
    report = update([source], index)

    assert (report.added, report.changed, report.removed) == (["rmrb-4"], ["rmrb-2"],
                                                              ["rmrb-3"])
    assert report.documents == 2  # rmrb-1's line is the same: not read again
    searcher = Searcher(index, load_settings({}))
    try:
        assert searcher.article("rmrb-2").title == "改过的标题"  # type: ignore[union-attr]
        assert searcher.article("rmrb-3") is None
        assert searcher.search("锂电", group="article").total == 3
    finally:
        searcher.close()
    assert update([source], index).documents == 0  # nothing changed: nothing read


def test_bad_lines_lose_nothing_indexed_before(tmp_path: Path, zhsearch) -> None:
    source, index = tmp_path / "source", tmp_path / "index"
    source.mkdir()
    shutil.copyfile(SEED, source / SEED.name)
    write_lines(source / "feed.jsonl", article(1), article(2))
    build([source], index, procs=1)
    before = Searcher(index, load_settings({}))
    kept = {hit.doc_id for hit in before.search("锂电 OR 工業", group="article",
                                                per_page=100).hits}
    before.close()
    assert kept == {SEED_ID, "rmrb-1", "rmrb-2"}

    # Bad lines arrive, in the same file and in a new one; the update and a full build keep
    # every good article and report every bad line.
    write_lines(source / "feed.jsonl", article(1), *BAD_LINES, article(2))
    write_lines(source / "more.jsonl", *BAD_LINES, article(3))
    updated = zhsearch("update", "--source", str(source), "--index", str(index))
    assert updated.returncode == 0, updated.stderr
    assert "added 1, changed 0, removed 0" in updated.stdout
    assert f"skipped {source / 'feed.jsonl'}:2: not JSON" in updated.stderr
    assert f"skipped {source / 'more.jsonl'}:5: duplicate id 'rmrb-1' (already at " \
           f"{source / 'feed.jsonl'}:1)" in updated.stderr
    rebuilt = zhsearch("build", "--source", str(source), "--index", str(index))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert ", 14 skipped, " in rebuilt.stdout
    after = Searcher(index, load_settings({}))
    try:
        found = {hit.doc_id for hit in after.search("锂电 OR 工業", group="article",
                                                    per_page=100).hits}
    finally:
        after.close()
    assert found == kept | {"rmrb-3"}
