"""Seeded benchmark queries, sampled from the corpus's own human word segmentation.

Sampling from the People's Daily segmentation (``bench/data/tagged.json``) rather than from
jieba keeps the queries independent of the analyzer most stacks use. Every query is typed twice:
in simplified script as sampled, and converted to traditional with OpenCC ``s2t``.

The traditional form is cut from the traditional copy of the same paragraph at the same offset
(what a reader of the traditional article would type), falling back to converting the span alone
when the conversion changed the paragraph's length.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import opencc

from bench.common import paragraph_key

# Part-of-speech tags of words people search for: nouns, names, verbs, adjectives, idioms,
# abbreviations; not punctuation, numerals, particles, pronouns or function words.
CONTENT_TAGS = frozenset(
    "n nr ns nt nz nx vn v a an j i l s".split()
)
# A known item must be distinctive: its span occurs at most this often in the whole corpus.
MAX_SPAN_OCCURRENCES = 3
# ...and come from prose: a paragraph this long with a full stop, question or exclamation mark,
# not a subtitle, author line or photo caption (which search engines may file with the title).
PROSE_MIN_CHARS = 20
SENTENCE_END = re.compile(r"[。！？]")


@dataclass(frozen=True)
class Query:
    """One sampled query in both scripts."""

    kind: str  # "word" or "two-word"
    simplified: str
    traditional: str


@dataclass(frozen=True)
class KnownItem:
    """A distinctive two-word span and the paragraph it was taken from."""

    key: str
    simplified: str
    traditional: str


Tagged = dict[str, list[list[list[str]]]]  # doc_id -> paragraphs -> [word, tag] pairs


def load_tagged(path: Path, doc_ids: Iterable[str] | None = None) -> Tagged:
    """Read the tagged corpus, keeping only ``doc_ids`` when given."""
    tagged = json.loads(path.read_text(encoding="utf-8"))
    if doc_ids is None:
        return tagged
    return {doc_id: tagged[doc_id] for doc_id in doc_ids}


def _is_content(pair: list[str]) -> bool:
    return pair[1] in CONTENT_TAGS


def _merge_names(pairs: list[list[str]]) -> list[list[str]]:
    # The corpus tags a surname and a given name separately (江/nr 泽民/nr); join them.
    # Only a one-character surname is joined, so two names in a row stay two words.
    merged: list[list[str]] = []
    surname = False
    for word, tag in pairs:
        if tag == "nr" and surname:
            merged[-1] = [merged[-1][0] + word, "nr"]
            surname = False
        else:
            merged.append([word, tag])
            surname = tag == "nr" and len(word) == 1
    return merged


def _body_paragraphs(tagged: Tagged) -> list[tuple[str, int, list[list[str]]]]:
    # Paragraph 0 is the headline; body paragraphs are the ones a known item comes from.
    return [(doc_id, number, _merge_names(pairs)) for doc_id, paragraphs in sorted(tagged.items())
            for number, pairs in enumerate(paragraphs) if number > 0]


class _Traditional:
    """Finds how a simplified span reads in the traditional copy of its paragraph."""

    def __init__(self, traditional: dict[str, str]) -> None:
        self._paragraphs = traditional
        self._convert = opencc.OpenCC("s2t").convert

    def __call__(self, key: str, simplified_paragraph: str, start: int, span: str) -> str:
        paragraph = self._paragraphs.get(key, "")
        if len(paragraph) == len(simplified_paragraph):
            return paragraph[start:start + len(span)]
        return self._convert(span)


def _words(pairs: list[list[str]]) -> list[tuple[int, str]]:
    """(offset, word) of the content words of two characters or more (not "是", "有")."""
    words, offset = [], 0
    for word, tag in pairs:
        if tag in CONTENT_TAGS and len(word) >= 2:
            words.append((offset, word))
        offset += len(word)
    return words


def _two_word_spans(pairs: list[list[str]]) -> list[tuple[int, str]]:
    """(offset, span) of each two adjacent content words written without a space."""
    spans, offset = [], 0
    for a, b in zip(pairs, pairs[1:], strict=False):
        if _is_content(a) and _is_content(b) and min(len(a[0]), len(b[0])) >= 2:
            spans.append((offset, a[0] + b[0]))
        offset += len(a[0])
    return spans


def sample_queries(tagged: Tagged, traditional: dict[str, str], count: int,
                   seed: int) -> list[Query]:
    """Sample ``count`` queries, half single words and half unspaced two-word spans.

    ``traditional`` maps paragraph keys to the traditional copy's text.
    """
    rng = random.Random(f"queries-{seed}")
    paragraphs = _body_paragraphs(tagged)
    to_traditional = _Traditional(traditional)
    queries: list[Query] = []
    seen: set[str] = set()
    while len(queries) < count:
        kind = "word" if len(queries) % 2 == 0 else "two-word"
        doc_id, number, pairs = rng.choice(paragraphs)
        candidates = _words(pairs) if kind == "word" else _two_word_spans(pairs)
        if not candidates:
            continue
        start, text = rng.choice(candidates)
        if text in seen:
            continue
        seen.add(text)
        paragraph = "".join(word for word, _ in pairs)
        key = paragraph_key(doc_id, number)
        queries.append(Query(kind, text, to_traditional(key, paragraph, start, text)))
    return queries


def sample_known_items(tagged: Tagged, traditional: dict[str, str], count: int,
                       seed: int) -> list[KnownItem]:
    """Sample ``count`` distinctive two-word spans, each with its source paragraph's key.

    A span is distinctive when it occurs at most ``MAX_SPAN_OCCURRENCES`` times in the corpus;
    it is taken from a prose paragraph (see ``PROSE_MIN_CHARS``), never a byline or caption.
    """
    rng = random.Random(f"known-items-{seed}")
    paragraphs = _body_paragraphs(tagged)
    corpus = "\n".join("".join(word for word, _ in pairs) for _, _, pairs in paragraphs)
    to_traditional = _Traditional(traditional)
    items: list[KnownItem] = []
    seen: set[str] = set()
    while len(items) < count:
        doc_id, number, pairs = rng.choice(paragraphs)
        paragraph = "".join(word for word, _ in pairs)
        spans = _two_word_spans(pairs)
        if len(paragraph) < PROSE_MIN_CHARS or not SENTENCE_END.search(paragraph) or not spans:
            continue
        start, span = rng.choice(spans)
        if span in seen or corpus.count(span) > MAX_SPAN_OCCURRENCES:
            continue
        seen.add(span)
        key = paragraph_key(doc_id, number)
        items.append(KnownItem(key, span, to_traditional(key, paragraph, start, span)))
    return items


def save(path: Path, queries: list[Query], items: list[KnownItem]) -> None:
    """Write the query set so every worker process answers exactly the same queries."""
    payload = {"queries": [asdict(q) for q in queries], "known_items": [asdict(i) for i in items]}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")


def load(path: Path) -> tuple[list[Query], list[KnownItem]]:
    """Read a query set written by :func:`save`."""
    payload = json.loads(path.read_text(encoding="utf-8"))
    return ([Query(**q) for q in payload["queries"]],
            [KnownItem(**i) for i in payload["known_items"]])
