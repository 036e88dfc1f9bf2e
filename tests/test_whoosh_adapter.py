"""The contract of search/whoosh_adapter.py, the one module using Whoosh's internals.

What it writes is what Whoosh's own writer writes from the same records (the segment files byte
for byte in one process; every term, posting, length, stored field and column value with
workers); what it reads is what Whoosh's own matchers and readers give, across segments and
deletions. ``pyproject.toml`` pins whoosh3 to the version these tests pass on.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from whoosh import index as whoosh_index
from whoosh.fields import Schema
from whoosh.index import FileIndex

from search.index import LENGTHS, build, current_build, make_schema, update
from search.query.records import Records as InMemoryRecords
from search.whoosh_adapter import (
    deleted_records,
    flat_postings,
    next_commit_path,
    read_column,
    read_ids,
    read_postings,
    save_flat_postings,
)
from tests.conftest import SEED
from tests.whoosh_indexes import (
    Records,
    assert_same,
    fast_index,
    plain_index,
    project_key,
    segment_count,
    snapshot,
    varied_records,
    varied_schema,
)

# --- writing: the same index as Whoosh's writer ---------------------------------------------


@pytest.mark.parametrize(("procs", "bulk"), [(1, True), (2, True), (1, False)],
                         ids=["in process", "two workers", "through add_postings"])
def test_fast_build_holds_exactly_what_whooshs_writer_writes(
        articles: list[Records], tmp_path: Path, procs: int, bulk: bool) -> None:
    expected = snapshot(plain_index(tmp_path / "plain", make_schema(), articles), project_key)
    fast = fast_index(tmp_path / "fast", make_schema(), articles, procs=procs, bulk=bulk)
    assert segment_count(fast) == procs
    assert_same(snapshot(fast, project_key), expected)
    # The check is not vacuous: some terms span several blocks of 128 postings.
    assert max(len(found) for found in expected["postings"].values()) > 128


def _segment_files(ix: FileIndex) -> dict[str, bytes]:
    """The files of the index's one segment, by what follows the segment's name."""
    (segment,) = ix._segments()
    name = segment.segment_id()
    folder = Path(ix.storage.folder)
    return {p.name.removeprefix(name): p.read_bytes() for p in folder.glob(f"{name}.*")}


# The file the fast writer adds beside a segment's (its flat postings), named after it.
FLAT_FILE = ".flat_postings"


@pytest.mark.parametrize("schema", [make_schema, varied_schema], ids=["project", "varied"])
def test_in_process_the_segment_files_are_whooshs_byte_for_byte(
        articles: list[Records], tmp_path: Path, schema: Callable[[], Schema]) -> None:
    items = articles if schema is make_schema else varied_records(400)
    plain = _segment_files(plain_index(tmp_path / "plain", schema(), items))
    fast = _segment_files(fast_index(tmp_path / "fast", schema(), items, procs=1))
    assert ".pst" in plain and ".trm" in plain
    assert fast.keys() - plain.keys() == {FLAT_FILE}  # and Whoosh's, the same:
    assert fast.keys() & plain.keys() == plain.keys()
    for suffix in plain:
        assert fast[suffix] == plain[suffix], suffix


@pytest.mark.parametrize("procs", [1, 2])
def test_every_kind_of_field_matches_whooshs_writer(tmp_path: Path, procs: int) -> None:
    items = varied_records(400)
    expected = snapshot(plain_index(tmp_path / "plain", varied_schema(), items),
                         lambda stored: stored["id"])
    fast = fast_index(tmp_path / "fast", varied_schema(), items, procs=procs)
    assert_same(snapshot(fast, lambda stored: stored["id"]), expected)



# --- reading: what Whoosh's own readers give --------------------------------------------------


def whoosh_postings(searcher, fieldname: str, text: str | bytes) -> dict[int, float]:  # noqa: ANN001
    """Whoosh's matcher, one posting at a time: the reference."""
    if (fieldname, text) not in searcher.reader():
        return {}
    matcher = searcher.postings(fieldname, text)
    found = {}
    while matcher.is_active():
        found[matcher.id()] = matcher.weight()
        matcher.next()
    return found


def _two_segment_build(tmp_path: Path, copies: int) -> tuple[Path, Path]:
    """A build of ``copies`` copies of the seed by two workers: its sources and index."""
    sources = tmp_path / "src"
    sources.mkdir()
    for n in range(copies):
        shutil.copyfile(SEED, sources / f"seed{n}.txt")
    index_dir = tmp_path / "index"
    build([sources], index_dir, procs=2)
    return sources, index_dir


@pytest.fixture(scope="module")
def changed_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of several segments, one with deleted records: built, then updated (shared:
    tests must not change it)."""
    sources, index_dir = _two_segment_build(tmp_path_factory.mktemp("changed"), copies=6)
    (sources / "seed1.txt").write_text("新的文章\n\n棗莊工業倍增，強工興產。\n", encoding="utf-8")
    (sources / "seed4.txt").unlink()
    update(None, index_dir)
    return index_dir


def test_posting_lists_equal_whoosh_matchers_across_segments_and_deletions(
        changed_index: Path) -> None:
    ix = whoosh_index.open_dir(current_build(changed_index))
    with ix.searcher() as searcher:
        assert len(searcher.leaf_searchers()) > 1 and searcher.reader().has_deletions()
        checked = 0
        for fieldname in ("words", "chars", "pairs", "title", "doc_id"):
            for term in searcher.reader().lexicon(fieldname):
                text = term.decode("utf-8")
                expected = whoosh_postings(searcher, fieldname, text)
                ids, frequencies = read_postings(searcher, fieldname, text)
                assert dict(zip(ids.tolist(), frequencies.tolist(), strict=True)) == expected
                assert ids.tolist() == sorted(expected)  # ascending, each once
                assert read_ids(searcher, fieldname, text).tolist() == sorted(expected)
                checked += 1
        assert checked > 300
        assert [len(a) for a in read_postings(searcher, "words", "不在索引里的词")] == [0, 0]


def assert_every_list_is_whooshs(ix: FileIndex, *, flat: bool) -> int:
    """Check that every posting list of every field of ``ix``, read by the adapter, is what
    Whoosh's matcher gives, every segment's through its flat postings (``flat``) or none's;
    return how many postings were checked."""
    checked = 0
    with ix.searcher() as searcher:
        assert [flat_postings(leaf.reader()) is not None
                for leaf, _ in searcher.leaf_searchers()] == [flat] * segment_count(ix)
        reader = searcher.reader()
        for fieldname in reader.indexed_field_names():
            for term in reader.lexicon(fieldname):  # (bytes: any kind of field)
                expected = whoosh_postings(searcher, fieldname, term)
                ids, frequencies = read_postings(searcher, fieldname, term)
                assert ids.dtype == np.int64 and frequencies.dtype == np.float64
                assert ids.tolist() == sorted(expected), (fieldname, term)
                assert frequencies.tolist() == [expected[d] for d in sorted(expected)]
                checked += len(ids)
    return checked


@pytest.mark.parametrize("procs", [1, 2])
@pytest.mark.parametrize("schema", [make_schema, varied_schema], ids=["project", "varied"])
def test_a_builds_segments_carry_flat_postings_that_are_whooshs(
        articles: list[Records], tmp_path: Path, procs: int,
        schema: Callable[[], Schema]) -> None:
    items = articles if schema is make_schema else varied_records(400)  # boosts: 1.5, 3.0...
    ix = fast_index(tmp_path / "fast", schema(), items, procs=procs)  # blocks of 128
    assert segment_count(ix) == procs
    assert assert_every_list_is_whooshs(ix, flat=True) > 10_000


@pytest.fixture(scope="module")
def merged_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built index of two segments updated six times (articles added, changed, deleted):
    each update adds a segment, and the sixth merges the five small ones into its own (Whoosh's
    MERGE_SMALL); shared: tests must not change it."""
    sources, index_dir = _two_segment_build(tmp_path_factory.mktemp("merged"), copies=8)
    for n in range(6):
        (sources / f"new{n}.txt").write_text(f"新的文章{n}\n\n棗莊工業倍增，強工興產{n}。\n",
                                             encoding="utf-8")
        if n == 2:
            (sources / "seed0.txt").write_text("改了\n\n滕州市工信局局長。\n", encoding="utf-8")
        if n == 5:
            (sources / "seed7.txt").unlink()
        update(None, index_dir)
    return index_dir


def test_an_update_writes_flat_postings_for_the_segments_it_makes_and_merges(
        merged_index: Path) -> None:
    build_dir = current_build(merged_index)
    ix = whoosh_index.open_dir(build_dir)
    with ix.reader() as reader:
        assert reader.has_deletions()
    assert segment_count(ix) == 2 + 1  # the build's, and the last update's with the merged
    assert len(list(build_dir.glob(f"*{FLAT_FILE}"))) == segment_count(ix)
    assert assert_every_list_is_whooshs(ix, flat=True) > 1000


def test_segments_without_flat_postings_are_decoded_and_get_them_back(
        merged_index: Path, tmp_path: Path) -> None:
    shutil.copytree(merged_index, tmp_path / "index")
    build_dir = current_build(tmp_path / "index")
    written = {p.name: p.read_bytes() for p in build_dir.glob(f"*{FLAT_FILE}")}
    assert len(written) == segment_count(whoosh_index.open_dir(build_dir))
    for name in written:
        (build_dir / name).unlink()
    ix = whoosh_index.open_dir(build_dir)  # (an index built before flat postings)
    expected = assert_every_list_is_whooshs(ix, flat=False)
    with ix.searcher() as searcher:  # opened before an update's files are written
        readers = [leaf.reader() for leaf, _ in searcher.leaf_searchers()]
        assert not any(flat_postings(reader) for reader in readers)
        save_flat_postings(searcher.reader())
        time.sleep(1.1)  # (a segment without them is looked at again after a second)
        assert all(flat_postings(reader) for reader in readers)
    # Decoded from the postings file, the files the build's writer wrote from its pool.
    assert {p.name: p.read_bytes() for p in build_dir.glob(f"*{FLAT_FILE}")} == written
    assert not list(build_dir.glob("*.tmp"))
    assert assert_every_list_is_whooshs(whoosh_index.open_dir(build_dir), flat=True) == expected


def test_damaged_flat_postings_are_not_read(changed_index: Path, tmp_path: Path) -> None:
    shutil.copytree(changed_index, tmp_path / "index")
    build_dir = current_build(tmp_path / "index")
    damaged = sorted(build_dir.glob(f"*{FLAT_FILE}"))
    assert damaged
    for path in damaged[:1]:  # cut short, as by a disk that filled up
        path.write_bytes(path.read_bytes()[:-4])
    for path in damaged[1:]:  # not ours at all
        path.write_bytes(b"\0" * 200)
    assert assert_every_list_is_whooshs(whoosh_index.open_dir(build_dir), flat=False) > 1000


def test_whooshs_own_segments_get_flat_postings_that_are_whooshs(tmp_path: Path) -> None:
    ix = plain_index(tmp_path / "plain", varied_schema(), varied_records(400))
    with ix.reader() as reader:
        save_flat_postings(reader)
    assert assert_every_list_is_whooshs(whoosh_index.open_dir(tmp_path / "plain"),
                                        flat=True) > 10_000


def test_records_hold_every_live_record_text_and_article(changed_index: Path) -> None:
    ix = whoosh_index.open_dir(current_build(changed_index))
    with ix.searcher() as searcher:
        records = InMemoryRecords.load(searcher, "test")
        reader = searcher.reader()
        live_records = records.live_records.tolist()
        assert live_records == sorted(reader.all_doc_ids())
        assert read_column(reader, "norm") == list(reader.column_reader("norm"))
        for d in live_records:
            stored = searcher.stored_fields(d)
            assert records.doc_ids[d] == stored["doc_id"]
            assert records.paragraph(d) == stored["paragraph"]
            if stored["paragraph"] == 0:
                assert records.headers[stored["doc_id"]] == d
        for doc_id, header in records.headers.items():  # an article's records, in order
            live = [d for d in live_records if records.doc_ids[d] == doc_id]
            assert [header, *records.body(header)] == live
        assert sorted(records.headers) == ["seed0", "seed1", "seed2", "seed3", "seed5"]
        assert records.articles["seed1"]["title"] == "新的文章"
        assert "压实责任" in records.articles["seed0"]["title"]
        assert any("强工兴产" in records.texts[d] for d in live_records)
        assert any("強工興產" in records.originals[d] for d in live_records)


def test_record_lengths_are_saved_per_segment_and_made_when_missing(
        changed_index: Path, tmp_path: Path) -> None:
    shutil.copytree(changed_index, tmp_path / "index")
    build_dir = current_build(tmp_path / "index")
    ix = whoosh_index.open_dir(build_dir)
    saved = sorted(build_dir.glob(f"*.{LENGTHS}.npy"))
    assert len(saved) == len(ix._segments()) > 1  # the build's segments and the update's
    with ix.searcher() as searcher:
        records = InMemoryRecords.load(searcher, "test")
        expected = [len(records.texts[d]) for d in range(len(records.texts))]
        assert max(expected) > 0 and records.lengths.tolist() == expected
        for path in saved:
            path.unlink()
        assert InMemoryRecords.load(searcher, "test").lengths.tolist() == expected


def test_columns_and_deletions_are_whooshs(changed_index: Path) -> None:
    ix = whoosh_index.open_dir(current_build(changed_index))
    with ix.reader() as reader:
        for name in ("norm", "text", "doc_id", "article"):
            assert read_column(reader, name) == \
                list(reader.column_reader(name, translate=False)), name
        deleted = deleted_records(reader)
        assert deleted
        assert deleted == {d for d in range(reader.doc_count_all()) if reader.is_deleted(d)}


def test_the_next_commit_path_is_the_file_an_update_writes(tmp_path: Path,
                                                           seed_copy: Path) -> None:
    build([seed_copy], tmp_path / "index", procs=1)
    ix = whoosh_index.open_dir(current_build(tmp_path / "index"))
    with ix.searcher() as searcher:
        path = Path(next_commit_path(ix, searcher))
        assert path.parent == current_build(tmp_path / "index") and not path.exists()
        (seed_copy / "new.txt").write_text("新的文章\n\n棗莊工業倍增。\n", encoding="utf-8")
        update([seed_copy], tmp_path / "index")
        assert path.exists()
        assert ix.latest_generation() == searcher.reader().generation() + 1
