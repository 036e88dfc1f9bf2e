"""SQLite FTS5 (standard library) over jieba search-mode tokens joined by spaces.

FTS5's ``unicode61`` tokenizer splits on the spaces, so each jieba token is one FTS5 term. The
indexed column holds the segmented text, so ``snippet()`` highlights that (with the spaces
jieba put in), not the original text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from bench.common import read_paragraphs
from bench.stacks import Hit
from bench.stacks.tokens import query_terms, segment

DB_NAME = "fts5.sqlite3"
SEARCH_SQL = """
    SELECT key, snippet(paragraphs, 1, '<mark>', '</mark>', '…', 24)
    FROM paragraphs WHERE paragraphs MATCH ? ORDER BY rank LIMIT ?
"""


class Fts5Stack:
    """One FTS5 table of (key, segmented text), ranked by bm25."""

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None

    def build(self, sources: Sequence[Path], workdir: Path) -> dict[str, int]:
        workdir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(workdir / DB_NAME)
        paragraphs = characters = 0
        try:
            with db:
                db.execute("CREATE VIRTUAL TABLE paragraphs USING fts5(key UNINDEXED, text)")
                rows = []
                for para in read_paragraphs(sources):
                    rows.append((para.key, segment(para.text)))
                    paragraphs += 1
                    characters += len(para.text)
                db.executemany("INSERT INTO paragraphs VALUES (?, ?)", rows)
                db.execute("INSERT INTO paragraphs(paragraphs) VALUES ('optimize')")
        finally:
            db.close()
        return {"paragraphs": paragraphs, "characters": characters}

    def open(self, workdir: Path, keys: bool = True) -> None:
        self._db = sqlite3.connect(workdir / DB_NAME)

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        terms = query_terms(query)
        if not terms:
            return []
        # Each term quoted (quotes doubled inside): implicit AND of the query's tokens.
        match = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
        return list(self._db.execute(SEARCH_SQL, (match, limit)))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def make_stack() -> Fts5Stack:
    """Return a fresh FTS5 stack."""
    return Fts5Stack()
