"""What a searcher holds in memory about every record of one index generation.

The searchable text of every record (the ``norm`` column) is read once per index generation, so
substring and phrase matches are checked with ``in`` instead of unpickling stored fields; the
original text is what hits show and highlight.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from search.query.rank import K1, B
from search.whoosh_adapter import deleted_records, read_column


@dataclass(frozen=True)
class Records:
    """The records of one index generation: texts, ids, articles, which are live."""

    generation: object
    texts: list[str]  # searchable (normalized) text by record number
    originals: list[str]  # the text as written, shown and highlighted
    doc_ids: list[str]
    headers: dict[str, int]  # doc_id -> the record number of the article's header
    # doc_id -> the article's title, author and source, normalized (filters, title boost), and
    # its publication date ("published", ISO 8601, or None)
    articles: dict[str, dict[str, str]]
    live: frozenset[int]  # record numbers not deleted
    average_length: float  # of the live records' searchable text, in characters
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
        live = set(range(len(texts))) - deleted_records(reader)
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
                   average, length_norm)

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

    def containing(self, needle: str, candidates: Iterable[int]) -> set[int]:
        """The candidates whose searchable text contains ``needle``."""
        texts = self.texts
        return {d for d in candidates if needle in texts[d]}

    def title(self, record: int) -> str:
        """The normalized title of the record's article."""
        return self.articles[self.doc_ids[record]]["title"]
