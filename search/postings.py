"""Fast reads of an open index for the query engine: posting lists, record texts, BM25.

Whoosh's matchers walk postings one document at a time in Python and score each through several
method calls; for a query that has to count every match and rank the best ten, reading each
term's posting list a block at a time into a Python dict, and scoring with a few arithmetic
operations per document, is several times faster. The searchable text of every record (the
``norm`` column) is read into memory once per index generation, so substring and phrase matches
are checked with ``in`` instead of unpickling stored fields.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate, islice, repeat

from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.columns import VarBytesColumn
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import TermNotFound

# BM25's usual parameters: term frequency saturation and length normalization.
K1 = 1.2
B = 0.75


@dataclass(frozen=True)
class Records:
    """What a searcher needs in memory about every record of one index generation."""

    generation: object
    texts: list[str]  # searchable (normalized) text by record number
    originals: list[str]  # the text as written, shown and highlighted
    doc_ids: list[str]
    headers: dict[str, int]  # doc_id -> the record number of the article's header
    # doc_id -> the article's title, author and source, normalized (filters, title boost)
    articles: dict[str, dict[str, str]]
    live: frozenset[int]  # record numbers not deleted
    # BM25's length normalization of each record, K1 * (1 - B + B * length / average length).
    length_norm: list[float]
    # (field, term) -> how many records hold it, filled as queries ask: the Han characters and
    # character pairs (16,384 buckets at most) that queries read candidates from.
    doc_frequencies: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def load(cls, searcher, generation: object) -> Records:  # noqa: ANN001 - Whoosh searcher
        """Read the searchable and the original text and the doc_id of every record, and each
        article's fields."""
        reader = searcher.reader()
        texts = [b.decode("utf-8") for b in read_column(reader, "norm")]
        originals = [b.decode("utf-8") for b in read_column(reader, "text")]
        doc_ids = [b.decode("utf-8") for b in read_column(reader, "doc_id")]
        live = set(range(len(texts)))
        for leaf, offset in reader.leaf_readers():
            if leaf.has_deletions():
                live.difference_update(d + offset for d in leaf.deleted_docs_set)
        headers: dict[str, int] = {}
        articles: dict[str, dict[str, str]] = {}
        for d, article in enumerate(read_column(reader, "article")):
            if article and d in live:  # only header records carry it
                headers[doc_ids[d]] = d
                articles[doc_ids[d]] = json.loads(article)
        average = (sum(len(texts[d]) for d in live) / len(live)) if live else 1.0
        scale = B / (average or 1.0)
        length_norm = [K1 * (1 - B + scale * len(t)) for t in texts]
        return cls(generation, texts, originals, doc_ids, headers, articles, frozenset(live),
                   length_norm)

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

    def idf(self, matches: int) -> float:
        """BM25's inverse document frequency of a term found in ``matches`` records."""
        n = len(self.live)
        return math.log(1 + (n - matches + 0.5) / (matches + 0.5))

    def bm25(self, frequencies: dict[int, float], boost: float = 1.0,
             among: Iterable[int] | None = None, found: int | None = None) -> dict[int, float]:
        """BM25 of one term in each record of ``frequencies`` (or of ``among``, a subset);
        ``found``: how many records hold the term, when ``frequencies`` is not all of them."""
        weight = boost * self.idf(len(frequencies) if found is None else found) * (K1 + 1)
        norm = self.length_norm
        if among is None:
            return {d: weight * tf / (tf + norm[d]) for d, tf in frequencies.items()}
        return {d: weight * frequencies[d] / (frequencies[d] + norm[d]) for d in among}

    def containing(self, needle: str, candidates: Iterable[int]) -> set[int]:
        """The candidates whose searchable text contains ``needle``."""
        texts = self.texts
        return {d for d in candidates if needle in texts[d]}


def read_postings(searcher, fieldname: str, text: str) -> dict[int, float]:  # noqa: ANN001
    """Record number -> term frequency for one term, over every segment of ``searcher``."""
    found: dict[int, float] = {}
    for ids, weights in _postings(searcher, fieldname, text):
        found.update(zip(ids, weights, strict=True))
    return found


def read_ids(searcher, fieldname: str, text: str) -> set[int]:  # noqa: ANN001
    """The record numbers holding one term, over every segment of ``searcher``."""
    found: set[int] = set()
    for ids, _ in _postings(searcher, fieldname, text):
        found.update(ids)
    return found


def _postings(searcher, fieldname: str, text: str  # noqa: ANN001
              ) -> Iterator[tuple[Iterable[int], Iterable[float]]]:
    """(record numbers, frequencies) of a term, a block at a time, deleted records left out."""
    for leaf, offset in searcher.subsearchers or [(searcher, 0)]:
        reader = leaf.reader()
        try:
            matcher = reader.postings(fieldname, text)
        except TermNotFound:
            continue
        deleted: frozenset[int] = frozenset()
        if isinstance(matcher, FilterMatcher):  # the segment has deleted records
            deleted = reader.deleted_docs_set
            matcher = matcher.child
        for ids, weights in _blocks(matcher, offset):
            if deleted:
                kept = [(i, w) for i, w in zip(ids, weights, strict=True)
                        if i - offset not in deleted]
                ids, weights = [i for i, _ in kept], [w for _, w in kept]
            yield ids, weights


def _blocks(matcher, offset: int  # noqa: ANN001
            ) -> Iterator[tuple[Iterable[int], Iterable[float]]]:
    """The (record numbers, weights) of a posting list, a whole block at a time where Whoosh
    allows; ``offset`` is the segment's first record number."""
    if isinstance(matcher, W3LeafMatcher):
        # whoosh3 stores a block as a pickled (id deltas, weights, values) tuple; decoding it
        # here with itertools instead of Whoosh's per-posting generators and method calls is
        # what makes reading long posting lists cheap (pinned: whoosh3 < 4, see pyproject.toml).
        while matcher.is_active():
            if matcher._data is None:
                matcher._read_data()
            deltas, weights = matcher._data[0], matcher._data[1]
            if weights is None or isinstance(weights, float):
                weights = repeat(1.0 if weights is None else weights, len(deltas))
            # Each block's deltas start from 0, so starting the sum at the segment's offset
            # (and dropping that start) numbers them in the whole index at C speed.
            yield list(islice(accumulate(deltas, initial=offset), 1, None)), weights
            matcher._next_block()
        return
    while matcher.is_active():  # any other matcher, one posting at a time
        yield (matcher.id() + offset,), (matcher.weight(),)
        matcher.next()


def read_column(reader, fieldname: str) -> list[bytes]:  # noqa: ANN001 - a Whoosh reader
    """Every record's raw value of a variable-bytes column, in record order.

    Whoosh reads a column value by value (a seek and a read each, 2.5 µs); this reads each
    segment's values in one piece and slices them, about 20 times faster, falling back to
    Whoosh's way for any other kind of column reader.
    """
    values: list[bytes] = []
    for leaf, _ in reader.leaf_readers():
        column = leaf.column_reader(fieldname, translate=False)
        if not isinstance(column, VarBytesColumn.Reader):
            values.extend(column)
            continue
        # whoosh3's VarBytesColumn.Reader: values stored back to back from _basepos, with
        # their lengths in _lengths (pinned: whoosh3 < 4, see pyproject.toml).
        lengths = column._lengths
        data = column._dbfile.get(column._basepos, sum(lengths))
        start = 0
        for length in lengths:
            values.append(data[start : start + length])
            start += length
    return values
