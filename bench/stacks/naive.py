"""The naive recipe: Whoosh with jieba's own ChineseAnalyzer on the raw (traditional) text.

Everything is left at its default, as a newcomer following jieba's README would write it: one
writer process, stored text, Whoosh's QueryParser, and ``hit.highlights()``, which re-runs the
analyzer over every hit's stored text to find the fragments.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import jieba
from whoosh import index
from whoosh.fields import ID, TEXT, Schema
from whoosh.qparser import QueryParser

from bench.common import read_paragraphs
from bench.stacks import Hit

with warnings.catch_warnings():
    # jieba.analyse reads its IDF file without closing it (a ResourceWarning under -W error).
    warnings.filterwarnings("ignore", category=ResourceWarning, message="unclosed file")
    from jieba.analyse import ChineseAnalyzer

jieba.setLogLevel(logging.WARNING)


class NaiveStack:
    """Whoosh + ``jieba.analyse.ChineseAnalyzer``, defaults everywhere."""

    def __init__(self) -> None:
        self._index = None
        self._searcher = None
        self._parser = None

    def build(self, sources: Sequence[Path], workdir: Path) -> dict[str, int]:
        schema = Schema(key=ID(stored=True), content=TEXT(stored=True,
                                                          analyzer=ChineseAnalyzer()))
        workdir.mkdir(parents=True, exist_ok=True)
        writer = index.create_in(str(workdir), schema).writer()
        paragraphs = characters = 0
        for para in read_paragraphs(sources):
            writer.add_document(key=para.key, content=para.text)
            paragraphs += 1
            characters += len(para.text)
        writer.commit()
        return {"paragraphs": paragraphs, "characters": characters}

    def open(self, workdir: Path, keys: bool = True) -> None:
        self._index = index.open_dir(str(workdir))
        self._searcher = self._index.searcher()
        self._parser = QueryParser("content", self._index.schema)

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        results = self._searcher.search(self._parser.parse(query), limit=limit)
        return [(hit["key"], hit.highlights("content")) for hit in results]

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        if self._index is not None:
            self._index.close()


def make_stack() -> NaiveStack:
    """Return a fresh naive stack."""
    return NaiveStack()
