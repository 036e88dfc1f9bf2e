"""Fast reads of an open index for the query engine: posting lists and columns.

Whoosh's matchers walk postings one document at a time in Python and score each through several
method calls; for a query that has to count every match and rank the best ten, reading each
term's posting list a block at a time into a Python dict, and scoring with a few arithmetic
operations per document, is several times faster. The searchable text of every record (the
``norm`` column) is read into memory once per index generation, so substring and phrase matches
are checked with ``in`` instead of unpickling stored fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import accumulate, islice, repeat

from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.columns import VarBytesColumn
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import TermNotFound


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
