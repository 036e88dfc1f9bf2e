"""What a searcher knows about every record of one index generation.

The searchable text of every record (the ``norm`` column) and its original text (``text``, what
hits show and highlight) stay in the index's column files, memory-mapped: a query reads the
texts of its candidates and of the page only, so a searcher's memory does not grow with the
archive's text. Substring and phrase matches are checked on the UTF-8 bytes (a UTF-8 string
holds another exactly where its bytes do). Each record's length in characters, which BM25
needs for every match, is an array per segment that ``build`` and ``update`` write beside the
segment's files (made from the column when missing).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from sys import intern
from typing import Any

import numpy as np

from search.index import LENGTHS, character_lengths
from search.query.rank import K1, B
from search.whoosh_adapter import (
    ColumnPart,
    column_parts,
    deleted_records,
    derived_arrays,
    read_column,
)


class Texts(Sequence[str]):
    """Every record's text of one column, read from the index's column files when asked."""

    def __init__(self, parts: list[ColumnPart]) -> None:
        self._data = [data for data, _, _ in parts]
        # Each record's segment, and where its text lies in that segment's data.
        self._segments = np.concatenate(
            [np.full(len(starts), i, dtype=np.uint16) for i, (_, starts, _) in enumerate(parts)]
            or [np.zeros(0, dtype=np.uint16)])
        self._starts = np.concatenate([starts for _, starts, _ in parts]
                                      or [np.zeros(0, dtype=np.int64)])
        self._ends = self._starts + np.concatenate([lengths for _, _, lengths in parts]
                                                   or [np.zeros(0, dtype=np.int64)])

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, record: int) -> str:  # type: ignore[override]
        if not 0 <= record < len(self._starts):
            raise IndexError(record)
        data = self._data[self._segments[record]]
        return data[self._starts[record]:self._ends[record]].decode("utf-8")

    def spans(self, records: Iterable[int]) -> Iterator[tuple[int, Any, int, int]]:
        """(record, data, start, end) for each of ``records``, in their order: the record's
        text as UTF-8 is ``data[start:end]`` (sliced by the caller: no call per record)."""
        wanted = records if isinstance(records, np.ndarray) else \
            np.fromiter(records, dtype=np.int64)
        return zip(wanted.tolist(), map(self._data.__getitem__, self._segments[wanted].tolist()),
                   self._starts[wanted].tolist(), self._ends[wanted].tolist(), strict=True)


def _article_fields(fields: dict[str, Any]) -> dict[str, str]:
    """An article's fields, with their names and the values that repeat across articles (a
    source, an author, a date: all but the title) held once in memory."""
    return {intern(name): value if name == "title" or not isinstance(value, str)
            else intern(value) for name, value in fields.items()}


class DocIds(Sequence[str]):
    """Each record's doc_id, held once per article: an article's records are consecutive, so
    a record keeps only the number of its run of records (4 bytes, not a string of its own)."""

    def __init__(self, values: list[bytes]) -> None:
        # (compared as one NumPy array of bytes: a loop over a million records took a second)
        raw = np.array(values, dtype=bytes) if values else np.zeros(0, dtype="S1")
        firsts = np.flatnonzero(np.concatenate(([True], raw[1:] != raw[:-1]))) \
            if len(raw) else np.zeros(0, dtype=np.int64)
        self._names: list[str] = [values[i].decode("utf-8") for i in firsts.tolist()]
        runs = np.zeros(len(raw), dtype=np.int32)
        runs[firsts[1:]] = 1
        self._runs = array("i", np.cumsum(runs, dtype=np.int32).tobytes())

    def __len__(self) -> int:
        return len(self._runs)

    def __getitem__(self, record: int) -> str:  # type: ignore[override]
        return self._names[self._runs[record]]

    def __iter__(self) -> Iterator[str]:
        return map(self._names.__getitem__, self._runs)


@dataclass(frozen=True)
class Records:
    """The records of one index generation: texts, ids, articles, which are live."""

    generation: object
    texts: Texts  # searchable (normalized) text by record number
    originals: Texts  # the text as written, shown and highlighted
    doc_ids: DocIds
    headers: dict[str, int]  # doc_id -> the record number of the article's header
    # doc_id -> the article's title, author and source, normalized (filters, title boost), and
    # its publication date ("published", ISO 8601, or None)
    articles: dict[str, dict[str, str]]
    deleted: frozenset[int]  # record numbers deleted
    live_count: int
    average_length: float  # of the live records' searchable text, in characters
    lengths: np.ndarray  # each record's searchable length, in characters
    # BM25's length normalization of each record, K1 * (1 - B + B * length / average length).
    length_norm: np.ndarray
    # (field, term) -> how many records hold it, filled as queries ask: the Han characters and
    # character pairs (16,384 buckets at most) that queries read candidates from.
    doc_frequencies: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def load(cls, searcher, generation: object) -> Records:  # noqa: ANN001 - Whoosh searcher
        """Map the searchable and the original texts, read the doc_id and searchable length of
        every record, and each article's fields."""
        reader = searcher.reader()
        texts = Texts(column_parts(reader, "norm"))
        originals = Texts(column_parts(reader, "text"))
        doc_ids = DocIds(read_column(reader, "doc_id"))
        deleted = frozenset(deleted_records(reader))
        headers: dict[str, int] = {}
        articles: dict[str, dict[str, str]] = {}
        raw_articles = read_column(reader, "article")
        # only header records carry it; parsed as one JSON array, much faster than one by one
        header_records = [d for d, raw in enumerate(raw_articles) if raw and d not in deleted]
        parsed = json.loads(b"[" + b",".join([raw_articles[d] for d in header_records]) + b"]")
        for d, fields in zip(header_records, parsed, strict=True):
            headers[doc_ids[d]] = d
            articles[doc_ids[d]] = _article_fields(fields)
        parts = derived_arrays(reader, LENGTHS, character_lengths, "norm")
        lengths = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
        live_count = len(lengths) - len(deleted)
        total = int(lengths.sum(dtype=np.int64)) - sum(int(lengths[d]) for d in deleted)
        average = total / live_count if live_count else 1.0
        scale = B / (average or 1.0)
        # (the same float operations, in the same order, as for one record at a time)
        length_norm = K1 * (1 - B + scale * lengths.astype(np.float64))
        return cls(generation, texts, originals, doc_ids, headers, articles, deleted,
                   live_count, average, lengths, length_norm)

    @cached_property
    def live_records(self) -> np.ndarray:
        """The record numbers not deleted, ascending (made when a query needs them all: a
        query of exclusions only)."""
        return np.setdiff1d(np.arange(len(self.lengths), dtype=np.int64), self.deleted_records)

    @cached_property
    def deleted_records(self) -> np.ndarray:
        """The record numbers deleted, ascending."""
        return np.array(sorted(self.deleted), dtype=np.int64)

    # An article's records are added together, header first, and neither segments nor merges
    # reorder them: its paragraphs are the records after its header.

    def paragraph(self, record: int) -> int:
        """The paragraph number of a live record (0: the article's header)."""
        return record - self.headers[self.doc_ids[record]]

    def body(self, header: int) -> range:
        """The record numbers of the body paragraphs of the article whose header is ``header``."""
        doc_ids, doc_id = self.doc_ids, self.doc_ids[header]
        end = header + 1
        while end < len(doc_ids) and doc_ids[end] == doc_id:
            end += 1
        return range(header + 1, end)

    def containing(self, needle: str, candidates: np.ndarray) -> np.ndarray:
        """The candidates (ascending) whose searchable text contains ``needle``."""
        wanted = needle.encode("utf-8")
        # (find within bounds: no copy of each text, as slicing would make)
        return np.array([d for d, data, start, end in self.texts.spans(candidates)
                         if data.find(wanted, start, end) >= 0], dtype=np.int64)

    def counts(self, needle: str, records: np.ndarray) -> np.ndarray:
        """How many times each record's searchable text holds ``needle`` (not overlapping)."""
        wanted = needle.encode("utf-8")
        return np.array([data[start:end].count(wanted)
                         for _, data, start, end in self.texts.spans(records)],
                        dtype=np.float64)

    def title(self, record: int) -> str:
        """The normalized title of the record's article."""
        return self.articles[self.doc_ids[record]]["title"]
