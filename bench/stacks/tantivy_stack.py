"""tantivy (the ``tantivy`` PyPI package) over jieba search-mode tokens joined by spaces.

tantivy's default tokenizer splits on the spaces, so each jieba token is one term; snippets come
from tantivy's SnippetGenerator over the segmented text, like FTS5's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import tantivy

from bench.common import read_paragraphs
from bench.stacks import Hit
from bench.stacks.tokens import query_terms, segment

WRITER_HEAP = 128_000_000


def quote(term: str) -> str:
    """A term as a quoted string of tantivy's query language."""
    return '"' + term.replace("\\", "\\\\").replace('"', '\\"') + '"'


def top_hits(index: tantivy.Index, searcher: tantivy.Searcher, parsed: tantivy.Query,
             field: str, limit: int) -> list[Hit]:
    """The best ``limit`` hits of a parsed query as (key, snippet of ``field`` as HTML)."""
    snippets = tantivy.SnippetGenerator.create(searcher, parsed, index.schema, field)
    hits = []
    for _score, address in searcher.search(parsed, limit).hits:
        doc = searcher.doc(address)
        hits.append((doc["key"][0], snippets.snippet_from_doc(doc).to_html()))
    return hits


class TantivyIndex:
    """What the tantivy stacks share: one index of a key and the fields ``fields`` makes of a
    paragraph's text, built in one writer, opened with one searcher."""

    def __init__(self, schema: tantivy.Schema, fields: Callable[[str], dict[str, str]]) -> None:
        self._schema = schema
        self._fields = fields
        self._index: tantivy.Index | None = None
        self._searcher: tantivy.Searcher | None = None

    def build(self, sources: Sequence[Path], workdir: Path) -> dict[str, int]:
        workdir.mkdir(parents=True, exist_ok=True)
        writer = tantivy.Index(self._schema, path=str(workdir)).writer(WRITER_HEAP)
        paragraphs = characters = 0
        for para in read_paragraphs(sources):
            writer.add_document(tantivy.Document(key=para.key, **self._fields(para.text)))
            paragraphs += 1
            characters += len(para.text)
        writer.commit()
        writer.wait_merging_threads()
        return {"paragraphs": paragraphs, "characters": characters}

    def open(self, workdir: Path, keys: bool = True) -> None:
        self._index = tantivy.Index.open(str(workdir))
        self._searcher = self._index.searcher()

    def close(self) -> None:
        self._searcher = None
        self._index = None


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("key", stored=True, tokenizer_name="raw")
    builder.add_text_field("text", stored=True)
    return builder.build()


class TantivyStack(TantivyIndex):
    """One tantivy index of (key, segmented text), ranked by BM25."""

    def __init__(self) -> None:
        super().__init__(_schema(), lambda text: {"text": segment(text)})

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        terms = query_terms(query)
        if not terms:
            return []
        text = " ".join(quote(term) for term in terms)
        parsed = self._index.parse_query(text, ["text"], conjunction_by_default=True)
        return top_hits(self._index, self._searcher, parsed, "text", limit)


def make_stack() -> TantivyStack:
    """Return a fresh tantivy stack."""
    return TantivyStack()
