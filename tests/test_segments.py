"""Parallel segment writing (search/segments.py): many segments, memory budgets, failures.

Every index here is a real Whoosh index on disk; what one segment holds is the adapter's
contract (tests/test_whoosh_adapter.py). Here: a build split into many segments by its memory
budget holds and finds the same as one, the pool's memory estimate is right, and a failing or
dying worker fails the build without leaving a process or a committed segment.
"""

from __future__ import annotations

import errno
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from whoosh import index as whoosh_index
from whoosh.qparser import QueryParser

from search.index import make_schema
from search.segments import WorkerLost, write_index
from search.whoosh_adapter import PostingPool
from tests.whoosh_indexes import (
    Records,
    add_all,
    assert_same,
    fast_index,
    plain_index,
    project_key,
    segment_count,
    snapshot,
    varied_records,
    varied_schema,
)


def test_a_tiny_memory_budget_writes_many_segments_with_the_same_content(
        articles: list[Records], tmp_path: Path) -> None:
    expected = snapshot(plain_index(tmp_path / "plain", make_schema(), articles), project_key)
    fast = fast_index(tmp_path / "fast", make_schema(), articles, procs=2, budget_mb=0.05)
    assert segment_count(fast) > 4
    assert_same(snapshot(fast, project_key), expected)


def test_a_tiny_memory_budget_gives_the_same_search_results(articles: list[Records],
                                                           tmp_path: Path) -> None:
    one = fast_index(tmp_path / "one", make_schema(), articles, procs=1)
    many = fast_index(tmp_path / "many", make_schema(), articles, procs=2, budget_mb=0.05)
    assert segment_count(one) == 1 and segment_count(many) > 4
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
                hits.append(sorted((round(hit.score, 4), *project_key(hit.fields()))
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
    return add_all(item, add_document)


def _children_since(before: set[psutil.Process]) -> set[psutil.Process]:
    """This process's children that were not there before: a build's workers that stayed (the
    OpenSearch cluster a test run may have started earlier is not one of them)."""
    return set(psutil.Process().children()) - before


@pytest.mark.parametrize("procs", [1, 2])
def test_an_error_in_a_worker_is_raised_in_the_build_and_no_worker_stays(
        tmp_path: Path, procs: int) -> None:
    before = set(psutil.Process().children())
    (tmp_path / "ix").mkdir()
    ix = whoosh_index.create_in(tmp_path / "ix", varied_schema())
    with pytest.raises(OSError, match="No space left on device") as raised:
        write_index(ix, varied_records(40), _fail_on_fifth, lambda *_: None, procs=procs,
                    compound=False)
    assert raised.value.errno == errno.ENOSPC
    assert _children_since(before) == set()
    assert not (tmp_path / "ix" / "MAIN.tmp").exists()


def _die_on_fifth(item: Records, add_document: Callable[..., None]) -> int:
    if item[0]["id"] == "r5":
        psutil.Process().kill()
    return add_all(item, add_document)


def test_a_worker_that_dies_fails_the_build(tmp_path: Path) -> None:
    before = set(psutil.Process().children())
    (tmp_path / "ix").mkdir()
    ix = whoosh_index.create_in(tmp_path / "ix", varied_schema())
    with pytest.raises(WorkerLost, match="killed by SIGKILL"):
        write_index(ix, varied_records(40), _die_on_fifth, lambda *_: None, procs=2,
                    compound=False)
    assert _children_since(before) == set()
    assert whoosh_index.open_dir(tmp_path / "ix").doc_count() == 0  # no TOC names a segment
