"""zhsearch itself, through the same library calls as ``zhsearch build`` and the web app.

zhsearch numbers only body paragraphs (title, subtitle and bylines form its paragraph 0), while
the benchmark numbers every paragraph of the file; hits are translated to the benchmark's keys
through their text, so the known-item test compares the same paragraphs across stacks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from bench.common import paragraph_key, read_paragraphs
from bench.stacks import Hit, StackUnavailable

try:
    from search.index import build
    from search.query import QueryError, Searcher
except ImportError as error:  # the library is not there yet, or broken
    raise StackUnavailable(f"zhsearch library not importable: {error}") from error


def _sources_file(workdir: Path) -> Path:
    # Beside the index folder, not in it: the index folder belongs to zhsearch.
    return workdir.with_name(workdir.name + ".sources.json")


class ZhsearchStack:
    """``search.index.build`` and ``search.query.Searcher``, defaults everywhere."""

    def __init__(self) -> None:
        self._searcher: Searcher | None = None
        self._numbers: dict[tuple[str, str], int] = {}
        self._keys = True

    def build(self, sources: Sequence[Path], workdir: Path) -> dict[str, int]:
        report = build(list(sources), workdir)
        _sources_file(workdir).write_text(json.dumps([str(s) for s in sources]))
        return {"paragraphs": report.paragraphs, "characters": report.characters}

    def open(self, workdir: Path, keys: bool = True) -> None:
        self._searcher = self._open_searcher(workdir)
        self._keys = keys
        if keys:  # the whole corpus's text in a dict: not part of a searcher's memory
            sources = [Path(s) for s in json.loads(_sources_file(workdir).read_text())]
            self._numbers = {(p.doc_id, p.text): p.number for p in read_paragraphs(sources)}

    def _open_searcher(self, workdir: Path) -> Searcher:
        return Searcher(workdir)

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        try:
            page = self._searcher.search(query, page=1, per_page=limit)
        except QueryError:  # refused, as the user would see it: no results
            return []
        return [(self._key(hit.doc_id, hit.paragraph, hit.text), hit.highlight)
                for hit in page.hits]

    def _key(self, doc_id: str, paragraph: int, text: str) -> str:
        if not self._keys:
            return paragraph_key(doc_id, paragraph)
        number = self._numbers.get((doc_id, text))
        if number is None:
            # The header (title and bylines) is the file's first paragraph; anything else
            # unmatched gets a key no other stack produces, so it never counts as found.
            return paragraph_key(doc_id, 0) if paragraph == 0 else f"{doc_id}#zhsearch{paragraph}"
        return paragraph_key(doc_id, number)

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()


def make_stack() -> ZhsearchStack:
    """Return a fresh zhsearch stack."""
    return ZhsearchStack()
