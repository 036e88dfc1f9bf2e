"""Real Whoosh indexes to compare: corpora, Whoosh's own writer, the fast build, snapshots.

Shared by the adapter's contract tests (tests/test_whoosh_adapter.py) and the build's
(tests/test_segments.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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

from search.documents import read_document
from search.index import records
from search.segments import write_index
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


def project_articles(tmp_path_factory: pytest.TempPathFactory) -> list[Records]:
    """The project's own records (make_schema, records) of every article, one list each."""
    paths = _articles(tmp_path_factory.mktemp("segments"))
    return [list(records(read_document(p, p.stem))) for p in paths]


def varied_schema() -> Schema:
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


def varied_records(count: int) -> list[Records]:
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


def plain_index(folder: Path, schema: Schema, items: list[Records]) -> FileIndex:
    """The reference: Whoosh's own single writer."""
    folder.mkdir()
    ix = whoosh_index.create_in(folder, schema)
    with ix.writer(compound=False) as writer:
        for item in items:
            for record in item:
                writer.add_document(**record)
    return ix


def add_all(item: Records, add_document: Callable[..., None]) -> int:
    for record in item:
        add_document(**record)
    return len(item)


def fast_index(folder: Path, schema: Schema, items: list[Records], **options: Any) -> FileIndex:
    folder.mkdir()
    ix = whoosh_index.create_in(folder, schema)
    results: dict[int, int] = {}
    added = write_index(ix, items, add_all, results.__setitem__, compound=False, **options)
    assert sorted(results) == list(range(len(items)))
    assert added == sum(results.values()) == sum(map(len, items))
    return whoosh_index.open_dir(folder)


def snapshot(ix: FileIndex, key: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
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


def project_key(stored: dict[str, Any]) -> tuple[str, int]:
    return stored["doc_id"], stored["paragraph"]


def assert_same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert actual.keys() == expected.keys()
    for part in expected:  # one part at a time, for a readable failure
        assert actual[part] == expected[part], part


def segment_count(ix: FileIndex) -> int:
    return len(ix._segments())
