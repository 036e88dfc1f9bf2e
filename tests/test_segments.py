"""Parallel segment writing (search/segments.py): the same index as Whoosh's own writer, faster.

Every index here is a real Whoosh index on disk. The reference is Whoosh's plain
``ix.writer()`` with ``add_document``; an index written by :func:`write_index` (in this process
or in workers, in one segment or many) must hold the same terms, postings, weights, values,
field lengths, stored fields and column values, record by record (document numbers differ).
"""

from __future__ import annotations

import errno
import random
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from whoosh import index as whoosh_index
from whoosh.fields import (
    BOOLEAN,
    DATETIME,
    ID,
    KEYWORD,
    NUMERIC,
    STORED,
    TEXT,
    Schema,
)
from whoosh.index import FileIndex
from whoosh.qparser import QueryParser

from search.documents import read_document
from search.index import make_schema, records
from search.segments import PostingPool, WorkerLost, write_index
from tests.conftest import SEED, SIMPLIFIED_ARTICLES

Records = list[dict[str, Any]]


# --- corpora ----------------------------------------------------------------------------------


def _articles(tmp_path: Path) -> list[Path]:
    """Twenty copies of the seed (terms with more postings than a block holds), the simplified
    articles, and generated ones mixing the seed's sentences."""
    folder = tmp_path / "articles"
    folder.mkdir()
    text = SEED.read_text(encoding="utf-8")
    paths = []
    for number in range(20):
        paths.append(folder / f"copy_{number:02d}.txt")
        paths[-1].write_text(text, encoding="utf-8")
    for name, article in SIMPLIFIED_ARTICLES.items():
        paths.append(folder / name.replace("/", "_"))
        paths[-1].write_text(article, encoding="utf-8")
    sentences = [s + "。" for p in text.split("\n\n")[3:] for s in p.split("。") if s.strip()]
    rng = random.Random(7)
    for number in range(12):
        paragraphs = ["".join(rng.sample(sentences, rng.randint(1, 4)))
                      for _ in range(rng.randint(1, 6))]
        paths.append(folder / f"mixed_{number:02d}.txt")
        paths[-1].write_text("\n\n".join([f"第{number}篇", *paragraphs]) + "\n",
                             encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def articles(tmp_path_factory: pytest.TempPathFactory) -> list[Records]:
    """The project's own records (make_schema, records) of every article, one list each."""
    paths = _articles(tmp_path_factory.mktemp("segments"))
    return [list(records(read_document(p, p.stem))) for p in paths]


def _varied_schema() -> Schema:
    """Every kind of posting value and length: positions, characters, frequencies, existence,
    boosts, numbers, dates, stored-only and sortable (column) fields."""
    return Schema(
        id=ID(stored=True, unique=True),
        body=TEXT(phrase=True, stored=True),
        chars=TEXT(chars=True),
        plain=TEXT(phrase=False, field_boost=2.0),
        tags=KEYWORD(scorable=True, commas=True, lowercase=True),
        flags=KEYWORD(),
        rank=NUMERIC(sortable=True, stored=True),
        when=DATETIME(sortable=True),
        ok=BOOLEAN(),
        note=STORED(),
        group=ID(sortable=True),
    )


def _varied_records(count: int) -> list[Records]:
    rng = random.Random(11)
    words = [f"w{n}" for n in range(60)] + ["alpha", "beta", "gamma", "delta"]
    items = []
    for number in range(count):
        body = " ".join(rng.choices(words, k=rng.randint(0, 40)))
        record: dict[str, Any] = {
            "id": f"r{number}", "body": body, "chars": body, "plain": body[: rng.randint(0, 80)],
            "tags": ",".join(rng.sample(words, rng.randint(0, 5))),
            "flags": " ".join(rng.sample(["x", "y", "z"], rng.randint(0, 3))),
            "rank": rng.randint(-5, 5000), "ok": rng.random() < 0.5,
            "when": datetime(2020, 1, 1) + timedelta(hours=rng.randint(0, 10000)),
            "note": {"n": number}, "group": rng.choice(["a", "b", "c"]),
        }
        if rng.random() < 0.3:
            record["_boost"] = 1.5
        if rng.random() < 0.2:
            del record["plain"]
        items.append([record])
    return items


# --- building and comparing -------------------------------------------------------------------


def _plain(folder: Path, schema: Schema, items: list[Records]) -> FileIndex:
    """The reference: Whoosh's own single writer."""
    folder.mkdir()
    ix = whoosh_index.create_in(folder, schema)
    with ix.writer(compound=False) as writer:
        for item in items:
            for record in item:
                writer.add_document(**record)
    return ix


def _add_all(item: Records, add_document: Callable[..., None]) -> int:
    for record in item:
        add_document(**record)
    return len(item)


def _fast(folder: Path, schema: Schema, items: list[Records], **options: Any) -> FileIndex:
    folder.mkdir()
    ix = whoosh_index.create_in(folder, schema)
    results: dict[int, int] = {}
    added = write_index(ix, items, _add_all, results.__setitem__, compound=False, **options)
    assert sorted(results) == list(range(len(items)))
    assert added == sum(results.values()) == sum(map(len, items))
    return whoosh_index.open_dir(folder)


def _snapshot(ix: FileIndex, key: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Everything the index holds, with each document named by ``key(stored fields)``."""
    schema = ix.schema
    with ix.reader() as reader:
        keys = {n: key(reader.stored_fields(n)) for n in reader.all_doc_ids()}
        assert len(set(keys.values())) == len(keys)
        postings: dict[tuple[str, bytes], dict[Any, tuple[float, bytes]]] = {}
        terms: dict[tuple[str, bytes], tuple[Any, ...]] = {}
        for fieldname, tbytes in reader.all_terms():
            matcher = reader.postings(fieldname, tbytes)
            found = {}
            while matcher.is_active():
                found[keys[matcher.id()]] = (matcher.weight(), matcher.value())
                matcher.next()
            postings[fieldname, tbytes] = found
            info = reader.term_info(fieldname, tbytes)
            terms[fieldname, tbytes] = (info.weight(), info.doc_frequency(), info.min_length(),
                                        info.max_length(), info.max_weight())
        scorable = [name for name in schema.names() if schema[name].scorable]
        # A segment without a length column for a field says 0, one with it None: both "none".
        lengths = {(keys[n], name): reader.doc_field_length(n, name) or 0
                   for n in keys for name in scorable}
        # (Not min/max_field_length: Whoosh fails on a segment without lengths in a field.)
        totals = {name: reader.field_length(name) for name in scorable}
        columns = {}
        for name in schema.names():
            if schema[name].column_type and reader.has_column(name):
                column = reader.column_reader(name)
                columns[name] = {keys[n]: column[n] for n in keys}
        return {"doc_count": reader.doc_count(), "postings": postings, "terms": terms,
                "stored": {keys[n]: reader.stored_fields(n) for n in keys},
                "lengths": lengths, "totals": totals, "columns": columns}


def _project_key(stored: dict[str, Any]) -> tuple[str, int]:
    return stored["doc_id"], stored["paragraph"]


def _assert_same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert actual.keys() == expected.keys()
    for part in expected:  # one part at a time, for a readable failure
        assert actual[part] == expected[part], part


def _segment_count(ix: FileIndex) -> int:
    return len(ix._segments())


# --- the same index as Whoosh's writer --------------------------------------------------------


@pytest.mark.parametrize(("procs", "bulk"), [(1, True), (2, True), (1, False)],
                         ids=["in process", "two workers", "through add_postings"])
def test_fast_build_holds_exactly_what_whooshs_writer_writes(
        articles: list[Records], tmp_path: Path, procs: int, bulk: bool) -> None:
    expected = _snapshot(_plain(tmp_path / "plain", make_schema(), articles), _project_key)
    fast = _fast(tmp_path / "fast", make_schema(), articles, procs=procs, bulk=bulk)
    assert _segment_count(fast) == procs
    _assert_same(_snapshot(fast, _project_key), expected)
    # The check is not vacuous: some terms span several blocks of 128 postings.
    assert max(len(found) for found in expected["postings"].values()) > 128


def _segment_files(ix: FileIndex) -> dict[str, bytes]:
    """The files of the index's one segment, by what follows the segment's name."""
    (segment,) = ix._segments()
    name = segment.segment_id()
    folder = Path(ix.storage.folder)
    return {p.name.removeprefix(name): p.read_bytes() for p in folder.glob(f"{name}.*")}


@pytest.mark.parametrize("schema", [make_schema, _varied_schema], ids=["project", "varied"])
def test_in_process_the_segment_files_are_whooshs_byte_for_byte(
        articles: list[Records], tmp_path: Path, schema: Callable[[], Schema]) -> None:
    items = articles if schema is make_schema else _varied_records(400)
    plain = _segment_files(_plain(tmp_path / "plain", schema(), items))
    fast = _segment_files(_fast(tmp_path / "fast", schema(), items, procs=1))
    assert ".pst" in plain and ".trm" in plain
    assert fast.keys() == plain.keys()
    for suffix in plain:
        assert fast[suffix] == plain[suffix], suffix


@pytest.mark.parametrize("procs", [1, 2])
def test_every_kind_of_field_matches_whooshs_writer(tmp_path: Path, procs: int) -> None:
    items = _varied_records(400)
    expected = _snapshot(_plain(tmp_path / "plain", _varied_schema(), items),
                         lambda stored: stored["id"])
    fast = _fast(tmp_path / "fast", _varied_schema(), items, procs=procs)
    _assert_same(_snapshot(fast, lambda stored: stored["id"]), expected)


def test_a_tiny_memory_budget_writes_many_segments_with_the_same_content(
        articles: list[Records], tmp_path: Path) -> None:
    expected = _snapshot(_plain(tmp_path / "plain", make_schema(), articles), _project_key)
    fast = _fast(tmp_path / "fast", make_schema(), articles, procs=2, budget_mb=0.05)
    assert _segment_count(fast) > 4
    _assert_same(_snapshot(fast, _project_key), expected)


def test_a_tiny_memory_budget_gives_the_same_search_results(articles: list[Records],
                                                           tmp_path: Path) -> None:
    one = _fast(tmp_path / "one", make_schema(), articles, procs=1)
    many = _fast(tmp_path / "many", make_schema(), articles, procs=2, budget_mb=0.05)
    assert _segment_count(one) == 1 and _segment_count(many) > 4
    searched = 0
    for field, text in [("words", "工業"), ("words", "倍增"), ("title", "棗"),
                        ("words", "锂电"), ("source", "新聞")]:
        if field not in one.schema:
            continue
        query = QueryParser(field, one.schema).parse(text)
        hits = []
        for ix in (one, many):
            with ix.searcher() as searcher:
                results = searcher.search(query, limit=None)
                hits.append(sorted((round(hit.score, 4), *_project_key(hit.fields()))
                                   for hit in results))
        assert hits[0] == hits[1], (field, text)
        searched += bool(hits[0])
    assert searched >= 3


# --- memory and failures ----------------------------------------------------------------------


def test_the_pool_estimates_its_memory_within_a_factor_of_two(articles: list[Records]) -> None:
    schema = make_schema()
    sizes = {name: schema[name].format.fixed_value_size() for name in schema.names()
             if schema[name].indexed and schema[name].format is not None}
    postings = [(name, tbytes, docnum, weight, vbytes)
                for docnum, record in enumerate(r for item in articles for r in item)
                for name in sorted(record) if name in sizes and record[name] is not None
                for tbytes, _, weight, vbytes in schema[name].index(record[name])]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        pool = PostingPool(dict(sizes))
        for posting in postings:
            pool.add(posting)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(pool) == len(postings)
    assert used / 2 < pool.size < used * 2, (pool.size, used)


def _fail_on_fifth(item: Records, add_document: Callable[..., None]) -> int:
    if item[0]["id"] == "r5":
        raise OSError(errno.ENOSPC, "No space left on device")
    return _add_all(item, add_document)


def _children_since(before: set[psutil.Process]) -> set[psutil.Process]:
    """This process's children that were not there before: a build's workers that stayed (the
    OpenSearch cluster a test run may have started earlier is not one of them)."""
    return set(psutil.Process().children()) - before


@pytest.mark.parametrize("procs", [1, 2])
def test_an_error_in_a_worker_is_raised_in_the_build_and_no_worker_stays(
        tmp_path: Path, procs: int) -> None:
    before = set(psutil.Process().children())
    (tmp_path / "ix").mkdir()
    ix = whoosh_index.create_in(tmp_path / "ix", _varied_schema())
    with pytest.raises(OSError, match="No space left on device") as raised:
        write_index(ix, _varied_records(40), _fail_on_fifth, lambda *_: None, procs=procs,
                    compound=False)
    assert raised.value.errno == errno.ENOSPC
    assert _children_since(before) == set()
    assert not (tmp_path / "ix" / "MAIN.tmp").exists()


def _die_on_fifth(item: Records, add_document: Callable[..., None]) -> int:
    if item[0]["id"] == "r5":
        psutil.Process().kill()
    return _add_all(item, add_document)


def test_a_worker_that_dies_fails_the_build(tmp_path: Path) -> None:
    before = set(psutil.Process().children())
    (tmp_path / "ix").mkdir()
    ix = whoosh_index.create_in(tmp_path / "ix", _varied_schema())
    with pytest.raises(WorkerLost, match="killed by SIGKILL"):
        write_index(ix, _varied_records(40), _die_on_fifth, lambda *_: None, procs=2,
                    compound=False)
    assert _children_since(before) == set()
    assert whoosh_index.open_dir(tmp_path / "ix").doc_count() == 0  # no TOC names a segment
