"""The search stacks under test, each in its own module behind the same small interface.

A stack builds an index of a folder of articles into a work folder, then answers queries with
the top hits as (paragraph key, highlighted snippet) pairs. Modules are imported lazily so a
stack whose package is missing (zhsearch before it lands) does not stop the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

Hit = tuple[str, str]  # (paragraph key as in bench.common.paragraph_key, snippet HTML)

# name -> (module, one-line description for the report)
STACKS: dict[str, tuple[str, str]] = {
    "zhsearch": ("bench.stacks.zhsearch_stack", "zhsearch (search.index.build, Searcher)"),
    "naive": ("bench.stacks.naive", "Whoosh + jieba ChineseAnalyzer on the raw text"),
    "fts5": ("bench.stacks.fts5", "SQLite FTS5 over jieba search-mode tokens"),
    "tantivy": ("bench.stacks.tantivy_stack", "tantivy over jieba search-mode tokens"),
    "careful": ("bench.stacks.careful", "tantivy over zhsearch's folding: t2s-folded jieba "
                "search-mode tokens OR a phrase of character pairs"),
    "opensearch": ("bench.stacks.opensearch_stack", "zhsearch on OpenSearch "
                   "(ZHSEARCH_ENGINE=opensearch: bulk indexing, alias switch, "
                   "OpenSearchSearcher)"),
}
# Stacks measured only when asked for (``python -m bench --engines opensearch``): they need
# more than this machine's Python (a cluster).
ENGINES = ("opensearch",)


class Stack(Protocol):
    """What the harness needs from a stack."""

    def build(self, sources: Sequence[Path], workdir: Path) -> dict[str, int]:
        """Index every paragraph below ``sources`` into ``workdir``; return what was indexed."""
        ...

    def open(self, workdir: Path, keys: bool = True) -> None:
        """Open a built index for searching; without ``keys`` hits need not carry the
        benchmark's paragraph keys (the scale curve only times searches)."""
        ...

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        """Return the top ``limit`` hits with highlighted snippets."""
        ...

    def close(self) -> None:
        """Release the open index."""
        ...


class StackUnavailable(RuntimeError):
    """A stack cannot run here (its package or command is missing)."""


def load_stack(name: str) -> Stack:
    """Import and instantiate the stack called ``name``."""
    module_name, _ = STACKS[name]
    return importlib.import_module(module_name).make_stack()
