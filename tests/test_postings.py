"""The fast index reads (search/postings.py) give exactly what Whoosh's own readers give."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from whoosh import index as whoosh_index

from search.index import build, current_build, update
from search.postings import read_column, read_ids, read_postings
from search.query.records import Records
from tests.conftest import SEED


def whoosh_postings(searcher, fieldname: str, text: str) -> dict[int, float]:  # noqa: ANN001
    """Whoosh's matcher, one posting at a time: the reference."""
    if (fieldname, text) not in searcher.reader():
        return {}
    matcher = searcher.postings(fieldname, text)
    found = {}
    while matcher.is_active():
        found[matcher.id()] = matcher.weight()
        matcher.next()
    return found


@pytest.fixture
def changed_index(tmp_path: Path) -> Path:
    """An index of several segments, one with deleted records: built, then updated."""
    sources = tmp_path / "src"
    sources.mkdir()
    for n in range(6):
        shutil.copyfile(SEED, sources / f"seed{n}.txt")
    index_dir = tmp_path / "index"
    build([sources], index_dir, procs=2)
    (sources / "seed1.txt").write_text("新的文章\n\n棗莊工業倍增，強工興產。\n", encoding="utf-8")
    (sources / "seed4.txt").unlink()
    update(None, index_dir)
    return index_dir


def test_posting_lists_equal_whoosh_matchers_across_segments_and_deletions(
        changed_index: Path) -> None:
    ix = whoosh_index.open_dir(current_build(changed_index))
    with ix.searcher() as searcher:
        assert len(searcher.subsearchers) > 1 and searcher.reader().has_deletions()
        checked = 0
        for fieldname in ("words", "chars", "pairs", "title", "doc_id"):
            for term in searcher.reader().lexicon(fieldname):
                text = term.decode("utf-8")
                expected = whoosh_postings(searcher, fieldname, text)
                assert read_postings(searcher, fieldname, text) == expected
                assert read_ids(searcher, fieldname, text) == set(expected)
                checked += 1
        assert checked > 300
        assert read_postings(searcher, "words", "不在索引里的词") == {}


def test_records_hold_every_live_record_text_and_article(changed_index: Path) -> None:
    ix = whoosh_index.open_dir(current_build(changed_index))
    with ix.searcher() as searcher:
        records = Records.load(searcher, "test")
        reader = searcher.reader()
        assert records.live == frozenset(reader.all_doc_ids())
        assert read_column(reader, "norm") == list(reader.column_reader("norm"))
        for d in records.live:
            stored = searcher.stored_fields(d)
            assert records.doc_ids[d] == stored["doc_id"]
            assert records.paragraph(d) == stored["paragraph"]
            if stored["paragraph"] == 0:
                assert records.headers[stored["doc_id"]] == d
        for doc_id, header in records.headers.items():  # an article's records, in order
            live = sorted(d for d in records.live if records.doc_ids[d] == doc_id)
            assert [header, *records.body(header)] == live
        assert sorted(records.headers) == ["seed0", "seed1", "seed2", "seed3", "seed5"]
        assert records.articles["seed1"]["title"] == "新的文章"
        assert "压实责任" in records.articles["seed0"]["title"]
        assert any("强工兴产" in records.texts[d] for d in records.live)
        assert any("強工興產" in records.originals[d] for d in records.live)
