"""jieba search-mode tokens, as the FTS5 and tantivy baselines index and query them."""

from __future__ import annotations

import logging

import jieba

jieba.setLogLevel(logging.WARNING)


# Set to a dict by the scale curve's builds (``bench.worker build --memo``): its copies of the
# corpus repeat every paragraph, and only the peers' query figures are reported at scale, so
# each distinct text is segmented once.
SEGMENT_MEMO: dict[str, str] | None = None


def segment(text: str) -> str:
    """Return ``text`` as jieba search-mode tokens joined by single spaces."""
    if SEGMENT_MEMO is not None and text in SEGMENT_MEMO:
        return SEGMENT_MEMO[text]
    segmented = " ".join(token for token in jieba.cut_for_search(text) if not token.isspace())
    if SEGMENT_MEMO is not None:
        SEGMENT_MEMO[text] = segmented
    return segmented


def query_terms(query: str) -> list[str]:
    """Return the search-mode tokens of a query, without punctuation or duplicates."""
    terms = []
    for token in jieba.cut_for_search(query):
        if any(ch.isalnum() for ch in token) and token not in terms:
            terms.append(token)
    return terms
