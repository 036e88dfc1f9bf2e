"""Queries: parsing, matching in two tiers, ranking, highlighting, and typed result pages.

A query matches a paragraph when each unquoted piece of Chinese is found either as words (jieba's
segmentation, all of them, anywhere in the paragraph) or as contiguous text (through the n-gram
field, verified on the paragraph). Paragraphs that match as words (tier 1) always rank above those
that match only as text across word boundaries (tier 2); within a tier, BM25F decides, with a
boost for words standing together and for matches in the title.
"""

from __future__ import annotations

import heapq
import html
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import jieba
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.index import TOC

from search.analysis import (
    SEGMENT_RE,
    STOP_WORDS,
    load_user_dict,
    normalize,
    query_characters,
    query_pairs,
    words,
)
from search.config import Settings, load_settings
from search.index import IndexNotFound, build_info, check_format, current_build
from search.postings import Records, read_ids, read_postings
from search.text import CLAUSE_ENDS as _SENTENCE_END
from search.text import merge_spans as _merge

# Field weights (query boosts under BM25F): see "Ranking" in the README.
WORD_BOOST = 1.0
NGRAM_BOOST = 0.4
TITLE_BOOST = 0.6
PROXIMITY_BOOST = 1.5
FILTER_BOOST = 0.01
# The title boost is added to this many more records than the page shows, best first.
TITLE_WINDOW = 50
# Another pair's posting list is read only when it is at most this many times as long as the
# candidates left to check: checking a text in memory is about as cheap as reading a posting,
# and reading has a cost of its own per list (measured on the benchmark queries: 1 and 2 beat 4
# and 8).
READ_OR_CHECK = 1
# How often a searcher looks for a rebuilt or updated index, in seconds.
REFRESH_SECONDS = 0.5


class QueryError(ValueError):
    """A query that is refused; ``str()`` is a one-line message for the person who typed it."""


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One matching paragraph (``paragraph`` 0 is the article's header: title and byline)."""

    doc_id: str
    paragraph: int
    title: str
    text: str
    highlight: str
    score: float
    subtitle: str = ""
    authors: list[str] = field(default_factory=list)
    source: str = ""
    published: str | None = None
    editors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        # The fields in order, as they are: no deep copy (dataclasses.asdict took 0.3 ms of
        # every API search), since the lists are only read.
        return dict(vars(self))


@dataclass(frozen=True)
class ResultPage:
    """One page of results."""

    query: str
    total: int
    page: int
    per_page: int
    took_ms: float
    hits: list[Hit]

    def to_dict(self) -> dict[str, object]:
        return {**vars(self), "hits": [hit.to_dict() for hit in self.hits]}


@dataclass(frozen=True)
class Article:
    """A whole article with its metadata and body paragraphs."""

    doc_id: str
    title: str
    subtitle: str
    authors: list[str]
    source: str
    published: str | None
    editors: list[str]
    byline: list[str]
    paragraphs: list[str]

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))


@dataclass(frozen=True)
class IndexStats:
    """What the live index holds."""

    documents: int
    paragraphs: int
    built_at: str
    updated_at: str


# --- parsing ----------------------------------------------------------------------------------

FIELDS = {
    "title": "title", "标题": "title", "標題": "title",
    "author": "author", "作者": "author",
    "source": "source", "来源": "source", "來源": "source",
    "date": "date", "日期": "date",
}
# Quote and bracket forms people type, folded to the ASCII syntax before parsing.
_SYNTAX_TABLE = str.maketrans({"“": '"', "”": '"', "「": '"', "」": '"', "＂": '"',
                               "（": "(", "）": ")", "：": ":", "－": "-"})
_LEXEME_RE = re.compile(r'\s+|\(|\)|"[^"]*"?|[^\s()"]+')
_FIELD_RE = re.compile(r"^([A-Za-z\u4e00-\u9fff]+):(.*)$", re.S)


@dataclass(frozen=True)
class Text:
    """Unquoted text: words that must all match, or the same text contiguously."""

    value: str


@dataclass(frozen=True)
class Phrase:
    """Quoted text: must appear contiguously after normalization."""

    value: str


@dataclass(frozen=True)
class FieldFilter:
    name: str
    value: str


@dataclass(frozen=True)
class Bool:
    op: str  # "and" | "or"
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Negation:
    child: Node


Node = Text | Phrase | FieldFilter | Bool | Negation


def parse(query: str) -> Node | None:
    """Parse a query into a tree; never raises for odd syntax (it is read leniently).

    ``OR`` (upper case), ``-word`` / ``NOT word``, parentheses, ``"exact phrase"`` and
    ``field:value`` are understood; an unclosed quote or parenthesis, a lone ``OR`` or a stray
    ``)`` are read as plain text. Unknown fields are refused by :func:`compile_query`, not here.

    >>> parse('工业 -锂电')
    Bool(op='and', children=(Text(value='工业'), Negation(child=Text(value='锂电'))))
    """
    lexemes = [m.group() for m in _LEXEME_RE.finditer(query.translate(_SYNTAX_TABLE))]
    lexemes = [lx for lx in lexemes if not lx.isspace()]
    parser = _Parser(lexemes)
    node = parser.expression()
    while parser.pos < len(lexemes):  # stray ")": skip it and go on
        parser.pos += 1
        rest = parser.expression()
        node = _join("and", [n for n in (node, rest) if n is not None])
    return node


class _Parser:
    def __init__(self, lexemes: list[str]) -> None:
        self.lexemes = lexemes
        self.pos = 0

    def peek(self) -> str | None:
        return self.lexemes[self.pos] if self.pos < len(self.lexemes) else None

    def expression(self) -> Node | None:
        alternatives = []
        current: list[Node] = []
        while (lx := self.peek()) is not None and lx != ")":
            if lx == "OR" and current and self._has_operand_after():
                alternatives.append(_join("and", current))
                current = []
                self.pos += 1
                continue
            node = self.unary()
            if node is not None:
                current.append(node)
        if current:
            alternatives.append(_join("and", current))
        return _join("or", alternatives) if alternatives else None

    def _has_operand_after(self) -> bool:
        nxt = self.lexemes[self.pos + 1] if self.pos + 1 < len(self.lexemes) else None
        return nxt is not None and nxt not in (")", "OR")

    def unary(self) -> Node | None:
        lx = self.lexemes[self.pos]
        if lx == "NOT" and self.pos + 1 < len(self.lexemes) and \
                self.lexemes[self.pos + 1] not in (")", "OR"):
            self.pos += 1
            child = self.unary()
            return Negation(child) if child is not None else None
        if lx.startswith("-") and len(lx) > 1:
            self.lexemes[self.pos] = lx[1:]
            child = self.unary()
            return Negation(child) if child is not None else None
        return self.primary()

    def primary(self) -> Node | None:
        lx = self.lexemes[self.pos]
        self.pos += 1
        if lx == "(":
            node = self.expression()
            if self.peek() == ")":
                self.pos += 1
            return node
        if lx.startswith('"'):
            if len(lx) > 1 and lx.endswith('"'):
                return Phrase(lx[1:-1]) if lx[1:-1].strip() else None
            return Text(lx[1:]) if lx[1:] else None  # unclosed quote: plain text
        match = _FIELD_RE.match(lx)
        if match and match.group(2):
            value = match.group(2)
            if value.startswith('"'):
                value = value.strip('"')
            return FieldFilter(match.group(1), value)
        if lx in ("OR", "NOT"):
            return Text(lx.lower())
        return Text(lx)


def _join(op: str, nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else Bool(op, tuple(nodes))


# --- planning ---------------------------------------------------------------------------------


@dataclass
class Plan:
    """A parsed, checked query: its tree, the strings to highlight, how many terms it reads."""

    tree: Node
    needles: list[str]
    terms: int


def compile_query(query: str, settings: Settings) -> Plan | None:
    """Check a query string and turn it into a :class:`Plan`; ``None`` when there is nothing to
    search for.

    Raises :class:`QueryError` for a query that is too long, too broad, names an unknown field,
    has no searchable characters, or only excludes.
    """
    if len(query) > settings.max_query_length:
        raise QueryError(f"the query is too long ({len(query)} characters; "
                         f"the limit is {settings.max_query_length})")
    if not query.strip():
        return None
    tree = parse(query)
    if tree is None:
        return None
    plan = Plan(tree, [], 0)
    if not _check(tree, plan, negated=False):
        raise QueryError("nothing to search for: the query has no letters, digits or "
                         "Chinese characters")
    if plan.terms > settings.max_query_terms:
        raise QueryError(f"the query is too broad ({plan.terms} index terms; the limit is "
                         f"{settings.max_query_terms}): use fewer or shorter words")
    if not _has_positive(tree):
        raise QueryError("the query only excludes: add a word to search for")
    plan.needles = sorted(set(plan.needles), key=len, reverse=True)
    return plan


def _has_positive(node: Node) -> bool:
    if isinstance(node, Negation):
        return False
    if isinstance(node, Bool):
        return any(_has_positive(c) for c in node.children)
    return True


def _check(node: Node, plan: Plan, negated: bool) -> bool:
    """Validate ``node``, count its index terms and collect its needles; False when it has
    nothing to search for."""
    if isinstance(node, Bool):
        return any([_check(c, plan, negated) for c in node.children])
    if isinstance(node, Negation):
        return _check(node.child, plan, not negated)
    if isinstance(node, FieldFilter):
        name, value = _field(node)
        if name == "date":
            _date_range(value)
        else:
            plan.terms += len(query_characters(value))
        return True
    norm = normalize(node.value).text
    if isinstance(node, Phrase):
        norm = norm.strip()
    chunks = _chunks(norm)
    for is_han, chunk in chunks:
        if not is_han:
            plan.terms += 1
        else:
            # Each character is read from the substring and the word field.
            plan.terms += 2 * len(query_characters(chunk))
            if isinstance(node, Text):
                content = _content_words(chunk)
                plan.terms += len(content)
                if not negated and len(content) > 1:
                    plan.needles.extend(content)
        if not negated and isinstance(node, Text):
            plan.needles.append(chunk)
    if chunks and not negated and isinstance(node, Phrase):
        plan.needles.append(norm)
    return bool(chunks)


@lru_cache(maxsize=4096)
def _content_words(han: str) -> tuple[str, ...]:
    """The words of a Han run that must all match for tier 1 (function words left out)."""
    return tuple(w.term for w in words(han, with_parts=False, keep_stops=True)
                 if w.term not in STOP_WORDS)


def _field(node: FieldFilter) -> tuple[str, str]:
    """The canonical field name and the normalized value of a filter; refuses bad ones."""
    name = FIELDS.get(node.name.lower()) or FIELDS.get(node.name)
    if name is None:
        raise QueryError(f"unknown field '{node.name}': use title:, author:, source: or date:")
    if name == "date":
        return name, node.value
    value = normalize(node.value).text.strip()
    if not query_characters(value):
        raise QueryError(f"{node.name}: needs Chinese text to look for")
    return name, value


_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?$")


def _date_range(value: str) -> tuple[datetime | None, datetime | None]:
    """``2023-04-19``, ``2023-04``, ``2023``, or a range ``A..B`` (either end may be open)."""
    if ".." in value:
        low, _, high = value.partition("..")
        start = _date_bounds(low)[0] if low else None
        end = _date_bounds(high)[1] if high else None
        if start is None and end is None:
            raise QueryError("date: needs a date, e.g. date:2023-04-19 or date:2023-04..2023-05")
        return start, end
    return _date_bounds(value)


def _date_bounds(value: str) -> tuple[datetime, datetime]:
    match = _DATE_RE.match(value.strip())
    if not match:
        raise QueryError(f"date:{value} is not a date; use YYYY, YYYY-MM, YYYY-MM-DD or A..B")
    year, month, day = (int(g) if g else None for g in match.groups())
    try:
        start = datetime(year, month or 1, day or 1)
    except ValueError:
        raise QueryError(f"date:{value} is not a real date") from None
    if day:
        after = start + timedelta(days=1)
    elif month:
        after = datetime(year + (month == 12), month % 12 + 1, 1)
    else:
        after = datetime(year + 1, 1, 1)
    return start, after - timedelta(microseconds=1)


def _chunks(normalized_text: str) -> list[tuple[bool, str]]:
    """The Han runs and Latin words of normalized text: (is_han, text)."""
    return [(m.lastgroup == "han", m.group()) for m in SEGMENT_RE.finditer(normalized_text)]


# --- matching and scoring ---------------------------------------------------------------------


@dataclass
class Matches:
    """The records matching a query (or part of one), with their scores, and which of them
    match as words (tier 1)."""

    scores: dict[int, float]
    words: set[int]


class Evaluation:
    """Evaluates a query tree against one index generation, reading each term once."""

    def __init__(self, searcher, records: Records) -> None:  # noqa: ANN001 - Whoosh searcher
        self.searcher = searcher
        self.records = records
        self._postings: dict[tuple[str, str], dict[int, float]] = {}
        self._id_sets: dict[tuple[str, str], set[int]] = {}
        self._characters: dict[str, set[int]] = {}
        self.titles: list[tuple[str, float]] = []  # (Han text, bonus) for the title boost

    def run(self, node: Node) -> Matches:
        """The records matching ``node``: tier 1 and tier 2 together."""
        return self._node(node) or Matches({}, set())

    def _node(self, node: Node) -> Matches | None:
        if isinstance(node, Bool):
            if node.op == "or":
                return self._or([m for c in node.children if (m := self._node(c))])
            positive = [m for c in node.children
                        if not isinstance(c, Negation) and (m := self._node(c))]
            excluded = set()
            for c in node.children:
                if isinstance(c, Negation):
                    excluded |= self._excluded(c.child)
            return self._and(positive, excluded)
        if isinstance(node, Negation):
            return self._and([], self._excluded(node.child))
        if isinstance(node, FieldFilter):
            return self._filter(node)
        if isinstance(node, Phrase):
            return self._phrase(node.value)
        return self._text(node.value)

    def _excluded(self, node: Node) -> set[int]:
        """Records to exclude for ``-node``: any that match it, in either tier."""
        before = len(self.titles)
        matches = self._node(node)
        del self.titles[before:]  # excluded text is no reason for a title boost
        return set(matches.scores) if matches else set()

    def _and(self, parts: list[Matches], excluded: set[int]) -> Matches:
        if len(parts) == 1 and not excluded:
            return parts[0]
        if not parts:
            scores = dict.fromkeys(self.records.live - excluded, 0.0)
            return Matches(scores, set(scores))
        parts = sorted(parts, key=lambda m: len(m.scores))
        keys = set(parts[0].scores).difference(excluded)
        for part in parts[1:]:
            keys.intersection_update(part.scores)
        scores = {d: sum(p.scores[d] for p in parts) for d in keys}
        tier1 = set(keys)
        for part in parts:
            tier1 &= part.words
        return Matches(scores, tier1)

    @staticmethod
    def _or(parts: list[Matches]) -> Matches | None:
        if not parts:
            return None
        scores: dict[int, float] = {}
        tier1: set[int] = set()
        for part in parts:
            for d, s in part.scores.items():
                scores[d] = scores.get(d, 0.0) + s
            tier1 |= part.words
        return Matches(scores, tier1)

    def _text(self, value: str) -> Matches | None:
        """Unquoted text: every Han run and Latin word in it must match."""
        parts = []
        for is_han, chunk in _chunks(normalize(value).text):
            if is_han:
                parts.append(self._han(chunk))
            else:
                frequencies = self._term("words", chunk)
                scores = self.records.bm25(frequencies, WORD_BOOST)
                parts.append(Matches(scores, set(scores)))
        return self._and(parts, set()) if parts else None

    def _han(self, chunk: str) -> Matches:
        """A run of Han characters: its words anywhere (tier 1), or the run itself (tier 2)."""
        records = self.records
        content = _content_words(chunk)
        contiguous = self._containing(chunk)
        found = len(contiguous)  # the run's document frequency, for its BM25
        self.titles.append((chunk, TITLE_BOOST * records.idf(found)))
        if not content:  # only function words: the text itself is the match
            scores = records.bm25(self._needle_frequencies(chunk, contiguous), WORD_BOOST)
            return Matches(scores, set(scores))
        tier1 = self._all_of([self._term("words", w) for w in content])
        scores = dict.fromkeys(tier1, 0.0)
        for w in content:
            for d, s in records.bm25(self._term("words", w), WORD_BOOST, among=tier1).items():
                scores[d] += s
        # The run itself scores where its words stand together, as typed (tier 1, when it has
        # more than one word), and across word boundaries (tier 2): count it only there.
        scored = contiguous if len(content) > 1 else contiguous - tier1
        needle = self._needle_frequencies(chunk, scored)
        if len(content) > 1:
            together = [d for d in needle if d in tier1]
            for d, s in records.bm25(needle, PROXIMITY_BOOST, among=together,
                                     found=found).items():
                scores[d] += s
        across = [d for d in needle if d not in tier1]
        scores.update(records.bm25(needle, NGRAM_BOOST, among=across, found=found))
        return Matches(scores, tier1)

    def _phrase(self, value: str) -> Matches | None:
        """Quoted text: the normalized text, contiguous."""
        norm = normalize(value).text.strip()
        chunks = _chunks(norm)
        if not chunks:
            return None
        candidates = self._all_of(
            [self._candidates(chunk) for is_han, chunk in chunks if is_han]
            + [self._term("words", chunk) for is_han, chunk in chunks if not is_han])
        known = set(self._term("words", norm)) & candidates
        found = known | self.records.containing(norm, candidates - known)
        scores = self.records.bm25(self._needle_frequencies(norm, found), WORD_BOOST)
        return Matches(scores, set(scores))

    def _filter(self, node: FieldFilter) -> Matches:
        """``title:``, ``author:``, ``source:`` and ``date:``: every record of the articles."""
        name, value = _field(node)
        if name == "date":
            start, end = _date_range(value)
            docs = set(self.searcher.docs_for_query(wq.DateRange("date", start, end)))
        else:
            candidates = self._all_of([self._term(name, c) for c in query_characters(value)])
            docs = self._verify_field(name, value, candidates)
        docs &= self.records.live
        return Matches(dict.fromkeys(docs, FILTER_BOOST), docs)

    def _verify_field(self, name: str, value: str, candidates: set[int]) -> set[int]:
        """The candidates whose article's ``name`` holds ``value`` contiguously."""
        doc_ids, articles = self.records.doc_ids, self.records.articles
        held = {doc_id: value in articles[doc_id][name] for doc_id in
                {doc_ids[d] for d in candidates}}
        return {d for d in candidates if held[doc_ids[d]]}

    def _containing(self, han: str) -> set[int]:
        """Records whose text contains the Han run ``han``.

        Records holding it as a word contain it by construction; the others are among its
        :meth:`_candidates`, checked on their text.
        """
        if len(han) == 1:
            return self._character(han)
        known = set(self._term("words", han))
        return known | self.records.containing(han, self._candidates(han) - known)

    def _candidates(self, han: str) -> set[int]:
        """Records that may contain the Han run ``han``: those holding its rarest character
        pairs (their hash buckets), or its character. Another pair's posting list is read only
        while that is cheaper than checking the candidates left."""
        if len(han) == 1:
            return self._character(han)
        rarest = sorted((self._doc_frequency("pairs", pair), pair) for pair in query_pairs(han))
        candidates = self._ids("pairs", rarest[0][1])
        for frequency, pair in rarest[1:]:
            if frequency > READ_OR_CHECK * len(candidates):
                break
            candidates = candidates & self._ids("pairs", pair)
        return candidates

    def _doc_frequency(self, fieldname: str, text: str) -> int:
        """How many records hold a term, remembered for the index generation."""
        known = self.records.doc_frequencies
        frequency = known.get((fieldname, text))
        if frequency is None:
            frequency = known[fieldname, text] = self.searcher.doc_frequency(fieldname, text)
        return frequency

    def _needle_frequencies(self, needle: str, found: Iterable[int]) -> dict[int, float]:
        texts = self.records.texts
        return {d: float(texts[d].count(needle)) for d in found}

    def _character(self, char: str) -> set[int]:
        """Records containing a Han character: the substring field leaves single-character
        words to the word field."""
        if char not in self._characters:
            self._characters[char] = self._ids("chars", char) | self._ids("words", char)
        return self._characters[char]

    def _ids(self, fieldname: str, text: str) -> set[int]:
        """The records holding a term, read once per query (none read for an unknown term)."""
        key = (fieldname, text)
        if key not in self._id_sets:
            held = self._doc_frequency(fieldname, text) > 0
            self._id_sets[key] = read_ids(self.searcher, fieldname, text) if held else set()
        return self._id_sets[key]

    def _term(self, fieldname: str, text: str) -> dict[int, float]:
        key = (fieldname, text)
        if key not in self._postings:
            self._postings[key] = read_postings(self.searcher, fieldname, text)
        return self._postings[key]

    @staticmethod
    def _all_of(sets: list) -> set[int]:  # of sets or dicts keyed by record number
        if not sets:
            return set()
        sets = sorted(sets, key=len)
        result = set(sets[0])
        for s in sets[1:]:
            result.intersection_update(s)
            if not result:
                break
        return result


# --- highlighting -----------------------------------------------------------------------------


def highlight(text: str, needles: list[str], length: int | None = None) -> str:
    """Escape ``text`` and wrap each match of ``needles`` in ``<mark>``; crop long text.

    Needles are normalized strings; they are found in the normalized text and marked on the
    original characters. Overlapping or adjacent matches merge into one mark. With ``length``,
    text longer than that is cut to the densest run of matches, at sentence ends where possible,
    with ``…`` where text was left out.

    >>> highlight("棗莊<b>", ["枣庄"])
    '<mark>棗莊</mark>&lt;b&gt;'
    """
    norm = normalize(text)
    spans = _merge(_find(norm.text, needles))
    spans = [norm.span(s, e) for s, e in spans]
    begin, end = 0, len(text)
    if length is not None and len(text) > length:
        begin, end = _crop(text, spans, length)
    out = ["…"] if begin > 0 else []
    cursor = begin
    for s, e in spans:
        s, e = max(s, begin), min(e, end)
        if s >= e:
            continue
        out.append(html.escape(text[cursor:s], quote=False))
        out.append("<mark>" + html.escape(text[s:e], quote=False) + "</mark>")
        cursor = e
    out.append(html.escape(text[cursor:end], quote=False))
    if end < len(text):
        out.append("…")
    return "".join(out)


def _find(haystack: str, needles: list[str]) -> list[tuple[int, int]]:
    spans = []
    for needle in needles:
        if not needle:
            continue
        latin = needle[0].isascii() and needle[-1].isascii()
        start = haystack.find(needle)
        while start != -1:
            end = start + len(needle)
            # Latin words match whole words or their parts only: "cat" is not marked inside
            # "concatenate", "xr" is inside "1xr" (see search.analysis._LATIN_PART_RE).
            if not latin or (_boundary(haystack, start - 1, needle[0])
                             and _boundary(haystack, end, needle[-1])):
                spans.append((start, end))
            start = haystack.find(needle, start + 1)
    return spans


def _boundary(text: str, i: int, edge: str) -> bool:
    """Whether a Latin match whose edge character is ``edge`` may end next to ``text[i]``:
    anything but an ASCII letter or digit, or a digit next to a letter and the other way."""
    if i < 0 or i >= len(text) or not text[i].isascii() or not text[i].isalnum():
        return True
    return text[i].isdigit() != edge.isdigit()


def _crop(text: str, spans: list[tuple[int, int]], length: int) -> tuple[int, int]:
    """The excerpt of at most ``length`` characters holding the most matches."""
    if spans:
        # The spans are sorted and disjoint, so their ends rise too: slide a window over them
        # (linear, where counting afresh from each span took seconds on a long paragraph).
        best, best_count = 0, 0
        after = 0  # one past the last span ending within reach of the current one
        for i, (s, _) in enumerate(spans):
            after = max(after, i)
            while after < len(spans) and spans[after][1] <= s + length:
                after += 1
            if after - i > best_count:
                best, best_count = i, after - i
        first = spans[best][0]
        last = max(e for _, e in spans[best:best + best_count]) if best_count else spans[best][1]
        last = min(last, first + length)
    else:
        first = last = 0
    slack = length - (last - first)
    # Start at the paragraph's start or just after the last sentence end before the matches,
    # if either is within reach; otherwise cut mid-sentence, leaving context on both sides.
    begin = 0 if first <= slack else max(0, first - slack // 2)
    for i in range(first - 1, max(-1, first - slack - 1), -1):
        if begin == 0:
            break
        if text[i] in _SENTENCE_END:
            begin = i + 1
            break
    end = min(len(text), begin + length)
    # End at the last sentence end that keeps the matches, if there is one.
    for i in range(end - 1, last - 1, -1):
        if text[i] in _SENTENCE_END:
            end = i + 1
            break
    return begin, max(end, min(len(text), last))


# --- the searcher -----------------------------------------------------------------------------


class Searcher:
    """Searches one index folder; opened once, shared by threads, follows rebuilds by itself.

    Raises :class:`~search.index.IndexNotFound` when the folder has no usable index.
    """

    def __init__(self, index_dir: Path | str, settings: Settings | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.settings = settings or load_settings()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._generation = 0
        self._checked = 0.0
        self._build_dir: Path | None = None
        self._index: whoosh_index.Index | None = None
        self._meta: dict[str, dict[str, object]] = {}
        self._records_lock = threading.Lock()
        self._loaded: dict[object, Records] = {}
        self._newest: object = None
        # Every thread's Whoosh searcher, so that close() can close them all.
        self._open_searchers: set[object] = set()
        self._open()
        load_user_dict(self.settings.user_dict)
        jieba.initialize()  # load the dictionary now, not on the first query

    def _open(self) -> None:
        build_dir = current_build(self.index_dir)
        check_format(build_dir)
        try:
            index = whoosh_index.open_dir(build_dir)
        except Exception as e:  # noqa: BLE001 - any Whoosh failure means the same to a reader
            raise IndexNotFound(f"cannot open the index at {self.index_dir}: {e}") from None
        with self._lock:
            self._build_dir, self._index = build_dir, index
            self._meta = {}
            self._generation += 1
            self._checked = time.monotonic()

    def _whoosh(self):  # noqa: ANN202 - a whoosh.searching.Searcher
        """This thread's Whoosh searcher, refreshed when the index has changed."""
        now = time.monotonic()
        if now - self._checked > REFRESH_SECONDS:
            self._checked = now
            try:
                if current_build(self.index_dir) != self._build_dir:
                    self._open()
            except IndexNotFound:
                pass  # keep serving the index we have
        local = self._local
        searcher = getattr(local, "searcher", None)
        if searcher is None or local.generation != self._generation:
            local.generation, local.build_dir = self._generation, self._build_dir
            searcher = self._fresh_searcher(searcher)
        elif os.path.exists(local.next_commit):
            # An update committed: open afresh (Searcher.refresh() would reuse segment readers
            # that still see the documents the update deleted).
            searcher = self._fresh_searcher(searcher)
            self._meta = {}
        return searcher

    def _fresh_searcher(self, old):  # noqa: ANN001, ANN202 - whoosh searchers
        """A new Whoosh searcher for this thread, replacing ``old``."""
        assert self._index is not None
        local, fresh = self._local, self._index.searcher()
        local.searcher = fresh
        # A commit writes the table of contents of the next generation: looking for that file
        # is one stat, where Whoosh's up_to_date() lists the folder (0.1 ms on every query).
        local.next_commit = os.path.join(local.build_dir, TOC._filename(
            self._index.indexname, fresh.reader().generation() + 1))
        self._replace(old, fresh)
        return fresh

    def _records(self, searcher) -> Records:  # noqa: ANN001 - a whoosh.searching.Searcher
        """The in-memory records of the searcher's index generation, read once and shared."""
        key = (self._local.build_dir, searcher.reader().generation())
        records = self._loaded.get(key)
        if records is None:
            with self._records_lock:
                records = self._loaded.get(key)
                if records is None:
                    records = Records.load(searcher, key)
                    # Keep the previous generation too: threads switch over one by one.
                    self._loaded = {k: v for k, v in self._loaded.items()
                                    if k == self._newest} | {key: records}
                    self._newest = key
        return records

    def _replace(self, old, new) -> None:  # noqa: ANN001 - whoosh searchers
        with self._lock:
            if old is not None and old is not new:
                self._open_searchers.discard(old)
                old.close()
            self._open_searchers.add(new)

    def close(self) -> None:
        """Close the Whoosh searchers of every thread (their open index files)."""
        with self._lock:
            for searcher in self._open_searchers:
                searcher.close()
            self._open_searchers.clear()
            self._generation += 1  # a thread that searches again opens a new searcher

    def search(self, query: str, page: int = 1, per_page: int | None = None) -> ResultPage:
        """One page of paragraphs matching ``query``, best first, with highlights.

        Raises :class:`QueryError` for a refused query, ``ValueError`` for a bad page.
        """
        started = time.perf_counter()
        per_page = self.settings.per_page if per_page is None else per_page
        if page < 1:
            raise ValueError("page must be 1 or more")
        if not 1 <= per_page <= self.settings.max_per_page:
            raise ValueError(f"per_page must be between 1 and {self.settings.max_per_page}")
        plan = compile_query(query, self.settings)
        if plan is None:
            return ResultPage(query, 0, page, per_page, _ms(started), [])
        searcher = self._whoosh()
        records = self._records(searcher)
        evaluation = Evaluation(searcher, records)
        matches = evaluation.run(plan.tree)
        first, last = (page - 1) * per_page, page * per_page
        ranked = self._rank(matches, records, evaluation.titles, last)[first:last]
        results = [self._hit(searcher, records, docnum, score, plan.needles)
                   for score, docnum in ranked]
        return ResultPage(query, len(matches.scores), page, per_page, _ms(started), results)

    @staticmethod
    def _rank(matches: Matches, records: Records, titles: list[tuple[str, float]],
              count: int) -> list[tuple[float, int]]:
        """The best ``count`` matches as (score, record number): tier 1 first, then tier 2.

        Within a tier BM25 decides; the title boost is added to the best of each tier only
        (``TITLE_WINDOW`` beyond the page), which saves checking every record's title.
        """
        scores, tier1 = matches.scores, matches.words
        ranked: list[tuple[float, int]] = []
        for in_tier1 in (True, False):
            wanted = count - len(ranked)
            if wanted <= 0:
                break
            best = heapq.nlargest(wanted + TITLE_WINDOW, (
                (s, d) for d, s in scores.items() if (d in tier1) is in_tier1))
            if titles:
                best = sorted(((s + _title_bonus(records, d, titles), d) for s, d in best),
                              reverse=True)
            ranked.extend(best[:wanted])
        return ranked

    def _hit(self, searcher, records: Records, docnum: int, score: float,  # noqa: ANN001
             needles: list[str]) -> Hit:
        doc_id, text = records.doc_ids[docnum], records.originals[docnum]
        meta = self._article_meta(searcher, records, doc_id)
        return Hit(
            doc_id=doc_id, paragraph=records.paragraph(docnum), title=meta["title"], text=text,
            highlight=highlight(text, needles, self.settings.snippet_length),
            score=round(float(score), 4), subtitle=meta["subtitle"], authors=meta["authors"],
            source=meta["source"], published=meta["published"], editors=meta["editors"])

    def _article_meta(self, searcher, records: Records,  # noqa: ANN001
                      doc_id: str) -> dict[str, object]:
        meta = self._meta.get(doc_id)
        if meta is None:
            number = records.headers.get(doc_id)
            header = searcher.stored_fields(number) if number is not None else {}
            meta = header.get("meta") or {"title": "", "subtitle": "", "authors": [],
                                          "source": "", "published": None, "editors": [],
                                          "byline": []}
            self._meta[doc_id] = meta
        return meta

    def article(self, doc_id: str) -> Article | None:
        """The whole article, or ``None`` for an unknown ``doc_id``."""
        if not doc_id or len(doc_id) > 1000 or "\x00" in doc_id:
            return None
        searcher = self._whoosh()
        records = self._records(searcher)
        header = records.headers.get(doc_id)
        if header is None:
            return None
        meta = searcher.stored_fields(header)["meta"]
        return Article(doc_id=doc_id, title=meta["title"], subtitle=meta["subtitle"],
                       authors=meta["authors"], source=meta["source"],
                       published=meta["published"], editors=meta["editors"],
                       byline=meta["byline"],
                       paragraphs=[records.originals[d] for d in records.body(header)])

    def highlight_article(self, article: Article, query: str) -> list[str]:
        """Each body paragraph as escaped HTML with the query's matches marked."""
        try:
            plan = compile_query(query, self.settings)
        except QueryError:
            plan = None
        needles = plan.needles if plan else []
        return [highlight(p, needles) for p in article.paragraphs]

    def stats(self) -> IndexStats:
        """Counts and times of the live index."""
        self._whoosh()
        assert self._build_dir is not None
        info = build_info(self._build_dir)
        return IndexStats(documents=int(info.get("documents", 0)),
                          paragraphs=int(info.get("paragraphs", 0)),
                          built_at=str(info.get("built_at", "")),
                          updated_at=str(info.get("updated_at", "")))


def _title_bonus(records: Records, record: int, titles: list[tuple[str, float]]) -> float:
    title = records.articles[records.doc_ids[record]]["title"]
    return sum(bonus for text, bonus in titles if text in title)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)

