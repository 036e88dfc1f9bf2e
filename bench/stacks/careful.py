"""The careful peer: tantivy over the same analysis zhsearch uses, as a careful engineer would
set up Elasticsearch with IK, STConvert and an n-gram sub-field.

Text is normalized the way zhsearch does it (``search.analysis.normalize``: width, case, OpenCC
t2s), then indexed twice: jieba words of the folded text, and the folded text's Han characters
as single characters and adjacent pairs (with positions, so a run of pairs is a phrase). A query
chunk matches as its words (all of them) or as a phrase of its pairs (contiguous text), so both
scripts and substrings across word boundaries are found. Snippets come from tantivy's
SnippetGenerator over the folded, segmented text, not over the original.
"""

from __future__ import annotations

import tantivy

from bench.stacks import Hit
from bench.stacks.tantivy_stack import TantivyIndex, quote, top_hits
from bench.stacks.tokens import query_terms, segment
from search.analysis import SEGMENT_RE, normalize


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("key", stored=True, tokenizer_name="raw")
    builder.add_text_field("words", stored=True)
    builder.add_text_field("grams", stored=False)
    return builder.build()


def _grams(folded: str) -> str:
    """Each Han run of folded text as its pairs (one run's pairs at adjacent positions), or
    the character itself for a run of one."""
    out = []
    for match in SEGMENT_RE.finditer(folded):
        run = match.group()
        if match.lastgroup != "han":
            continue
        out.append(run if len(run) == 1 else " ".join(run[i:i + 2] for i in range(len(run) - 1)))
    return " ".join(out)


def _fields(text: str) -> dict[str, str]:
    folded = normalize(text).text
    return {"words": segment(folded), "grams": _grams(folded)}


class CarefulStack(TantivyIndex):
    """tantivy, with folded jieba words and character pairs, ranked by BM25."""

    def __init__(self) -> None:
        super().__init__(_schema(), _fields)

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        clauses = []
        for match in SEGMENT_RE.finditer(normalize(query).text):
            chunk = match.group()
            words = " AND ".join(f"words:{quote(t)}" for t in query_terms(chunk))
            if match.lastgroup != "han":
                clauses.append(f"({words})")
                continue
            clauses.append(f"(({words}) OR grams:{quote(_grams(chunk))})")
        if not clauses:
            return []
        parsed = self._index.parse_query(" AND ".join(clauses), ["words"])
        return top_hits(self._index, self._searcher, parsed, "words", limit)


def make_stack() -> CarefulStack:
    """Return a fresh careful-peer stack."""
    return CarefulStack()
