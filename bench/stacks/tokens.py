"""jieba search-mode tokens, as the FTS5 and tantivy baselines index and query them."""

from __future__ import annotations

import logging

import jieba

jieba.setLogLevel(logging.WARNING)


def segment(text: str) -> str:
    """Return ``text`` as jieba search-mode tokens joined by single spaces."""
    return " ".join(token for token in jieba.cut_for_search(text) if not token.isspace())


def query_terms(query: str) -> list[str]:
    """Return the search-mode tokens of a query, without punctuation or duplicates."""
    terms = []
    for token in jieba.cut_for_search(query):
        if any(ch.isalnum() for ch in token) and token not in terms:
            terms.append(token)
    return terms
