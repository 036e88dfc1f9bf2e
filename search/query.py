"""Queries: parsing, matching in two tiers, ranking, highlighting, and typed result pages.

A query matches a paragraph when each unquoted piece of Chinese is found either as words (jieba's
segmentation, all of them, anywhere in the paragraph) or as contiguous text (through the n-gram
field, verified on the paragraph). Paragraphs that match as words (tier 1) always rank above those
that match only as text across word boundaries (tier 2); within a tier, BM25F decides, with a
boost for words standing together and for matches in the title.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import jieba
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.matching.wrappers import FilterMatcher
from whoosh.scoring import BM25F

from search.analysis import SEGMENT_RE, STOP_WORDS, load_user_dict, normalize, query_ngrams, words
from search.config import Settings, load_settings
from search.index import IndexNotFound, build_info, current_build

# Field weights (query boosts under BM25F): see "Ranking" in the README.
WORD_BOOST = 1.0
NGRAM_BOOST = 0.4
TITLE_BOOST = 0.6
PROXIMITY_BOOST = 1.5
PROXIMITY_SLOP = 2
FILTER_BOOST = 0.01
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
        return asdict(self)


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
        return asdict(self)


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
        return asdict(self)


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


# --- compiling to Whoosh queries --------------------------------------------------------------


class Contains(wq.WrappingQuery):
    """Documents of ``child`` (n-gram candidates) whose text really contains ``needle``.

    Documents that have ``needle`` as a word token (``known``) contain it by construction and
    are not read; the others are read and checked once per segment, however often Whoosh asks.
    """

    def __init__(self, child: wq.Query, needle: str, known: wq.Query | None = None) -> None:
        super().__init__(child)
        self.needle = needle
        self.known = known
        self._verified: dict[int, frozenset[int]] = {}

    def __repr__(self) -> str:
        return f"Contains({self.child!r}, {self.needle!r})"

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and self.child == other.child
                and self.needle == other.needle)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.child, self.needle))

    def _rewrap(self, child: wq.Query) -> Contains:
        return Contains(child, self.needle, self.known)

    def matcher(self, searcher, context=None):  # noqa: ANN001 - Whoosh's signature
        verified = self._verified.get(id(searcher))
        if verified is None:
            verified = frozenset(self._verify(searcher))
            self._verified[id(searcher)] = verified
        return FilterMatcher(self.child.matcher(searcher, context), verified)

    def _verify(self, searcher) -> Iterator[int]:  # noqa: ANN001
        known = set(self.known.docs(searcher)) if self.known is not None else set()
        for docnum in self.child.docs(searcher):
            if docnum in known or self.holds(searcher.stored_fields(docnum).get("text", "")):
                yield docnum

    def holds(self, text: str) -> bool:
        """True when ``text`` contains the needle after normalization."""
        # Simplified text often holds the needle as it is; only the rest needs folding.
        return self.needle in text or self.needle in normalize(text).text


@dataclass
class Plan:
    """A parsed query ready to run: the full match, the words-only tier, boosts, highlights."""

    match: wq.Query
    words: wq.Query
    boost: list[wq.Query]
    needles: list[str]
    terms: int


def compile_query(query: str, settings: Settings) -> Plan | None:
    """Turn a query string into a :class:`Plan`; ``None`` when there is nothing to search for.

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
    plan = Plan(wq.NullQuery, wq.NullQuery, [], [], 0)
    compiled = _compile(tree, plan, negated=False)
    if compiled is None:
        raise QueryError("nothing to search for: the query has no letters, digits or "
                         "Chinese characters")
    if plan.terms > settings.max_query_terms:
        raise QueryError(f"the query is too broad ({plan.terms} index terms; the limit is "
                         f"{settings.max_query_terms}): use fewer or shorter words")
    plan.match, plan.words = compiled
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


def _compile(node: Node, plan: Plan, negated: bool) -> tuple[wq.Query, wq.Query] | None:
    """(full match, words-tier match) for a node, or None when it has nothing to search."""
    if isinstance(node, Bool):
        parts = [p for c in node.children if (p := _compile(c, plan, negated)) is not None]
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        kind = wq.And if node.op == "and" else wq.Or
        return kind([p[0] for p in parts]), kind([p[1] for p in parts])
    if isinstance(node, Negation):
        part = _compile(node.child, plan, negated=not negated)
        if part is None:
            return None
        # Excluding uses the broadest reading (any paragraph containing the text).
        return wq.Not(part[0]), wq.Not(part[0])
    if isinstance(node, FieldFilter):
        q = _field_filter(node, plan)
        return q, q
    if isinstance(node, Phrase):
        return _phrase(node.value, plan, negated)
    return _text(node.value, plan, negated)


def _text(value: str, plan: Plan, negated: bool) -> tuple[wq.Query, wq.Query] | None:
    """Unquoted text: every Han run and Latin word in it must match."""
    norm = normalize(value).text
    fulls: list[wq.Query] = []
    tiers: list[wq.Query] = []
    for is_han, chunk in _chunks(norm):
        if not is_han:
            term = wq.Term("words", chunk, boost=WORD_BOOST)
            plan.terms += 1
            fulls.append(term)
            tiers.append(term)
            if not negated:
                plan.needles.append(chunk)
            continue
        substring = _substring(chunk, plan)
        chunk_words = [w.term for w in words(chunk, with_parts=False, keep_stops=True)]
        content = [w for w in chunk_words if w not in STOP_WORDS] or []
        if content:
            word_query = _and([wq.Term("words", w, boost=WORD_BOOST) for w in content])
            plan.terms += len(content)
            fulls.append(wq.Or([word_query, substring]))
            tiers.append(word_query)
        else:
            fulls.append(substring)
            tiers.append(substring)
        if not negated:
            plan.needles.append(chunk)
            plan.needles.extend(w for w in content if len(content) > 1)
            if len(content) > 1:
                plan.boost.append(wq.Phrase("words", content, slop=PROXIMITY_SLOP,
                                            boost=PROXIMITY_BOOST))
            plan.boost.append(_and([wq.Term("title", g, boost=TITLE_BOOST)
                                    for g in query_ngrams(chunk)]))
    if not fulls:
        return None
    return _and(fulls), _and(tiers)


def _phrase(value: str, plan: Plan, negated: bool) -> tuple[wq.Query, wq.Query] | None:
    """Quoted text: candidates from its n-grams and Latin words, verified as contiguous text."""
    norm = normalize(value).text.strip()
    parts: list[wq.Query] = []
    for is_han, chunk in _chunks(norm):
        if is_han:
            grams = query_ngrams(chunk)
            plan.terms += 2 * len(grams)
            parts.extend(_gram(g) for g in grams)
        else:
            plan.terms += 1
            parts.append(wq.Term("words", chunk, boost=WORD_BOOST))
    if not parts:
        return None
    if not negated:
        plan.needles.append(norm)
    q = Contains(_and(parts), norm, known=wq.Term("words", norm))
    return q, q


def _substring(chunk: str, plan: Plan) -> wq.Query:
    """Paragraphs containing the Han text ``chunk``: exact from the n-grams up to two
    characters, verified on the paragraph's text beyond."""
    grams = query_ngrams(chunk)
    plan.terms += 2 * len(grams)
    candidates = _and([_gram(g) for g in grams])
    if len(chunk) <= 2:
        return candidates
    return Contains(candidates, chunk, known=wq.Term("words", chunk))


def _gram(gram: str) -> wq.Query:
    """Paragraphs containing a Han gram: the n-gram field leaves grams that are words to the
    word field."""
    return wq.Or([wq.Term("ngrams", gram, boost=NGRAM_BOOST),
                  wq.Term("words", gram, boost=NGRAM_BOOST)])


def _field_filter(node: FieldFilter, plan: Plan) -> wq.Query:
    name = FIELDS.get(node.name.lower()) or FIELDS.get(node.name)
    if name is None:
        raise QueryError(f"unknown field '{node.name}': use title:, author:, source: or date:")
    if name == "date":
        start, end = _date_range(node.value)
        return wq.DateRange("date", start, end, boost=FILTER_BOOST)
    grams = query_ngrams(normalize(node.value).text)
    if not grams:
        raise QueryError(f"{node.name}: needs Chinese text to look for")
    plan.terms += len(grams)
    return _and([wq.Term(name, g, boost=FILTER_BOOST) for g in grams])


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


def _and(queries: list[wq.Query]) -> wq.Query:
    return queries[0] if len(queries) == 1 else wq.And(queries)


# --- highlighting -----------------------------------------------------------------------------

_SENTENCE_END = "。！？；!?;"


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
            # Latin words match whole words only: "cat" is not marked inside "concatenate".
            if not latin or (_boundary(haystack, start - 1) and _boundary(haystack, end)):
                spans.append((start, end))
            start = haystack.find(needle, start + 1)
    return spans


def _boundary(text: str, i: int) -> bool:
    return i < 0 or i >= len(text) or not text[i].isascii() or not text[i].isalnum()


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


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
        # Every thread's Whoosh searcher, so that close() can close them all.
        self._open_searchers: set[object] = set()
        self._open()
        load_user_dict(self.settings.user_dict)
        jieba.initialize()  # load the dictionary now, not on the first query

    def _open(self) -> None:
        build_dir = current_build(self.index_dir)
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
            assert self._index is not None
            fresh = self._index.searcher(weighting=BM25F())
            local.searcher, local.generation = fresh, self._generation
            self._replace(searcher, fresh)
            searcher = fresh
        elif not searcher.up_to_date():
            # An update committed: open afresh (Searcher.refresh() would reuse segment readers
            # that still see the documents the update deleted).
            fresh = self._index.searcher(weighting=BM25F())
            local.searcher = fresh
            self._replace(searcher, fresh)
            searcher = fresh
            self._meta = {}
        return searcher

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
        first, last = (page - 1) * per_page, page * per_page
        # Tier 1 (the query's words) first, then tier 2 (the rest of the matches); each tier
        # is ranked by Whoosh only when the page reaches into it.
        sets = DocSets(searcher)
        tier1 = sets.of(plan.words)
        tier2 = sets.of(plan.match) - tier1
        hits = []
        if first < len(tier1):
            ranked = searcher.search(_optional(plan.words, plan.boost), limit=last)
            hits = list(ranked[first:last])
        if len(hits) < per_page and tier2:
            skip = max(0, first - len(tier1))
            ranked = searcher.search(_optional(plan.match, plan.boost), filter=tier2,
                                     limit=skip + per_page - len(hits))
            hits.extend(list(ranked[skip:]))
        total = len(tier1) + len(tier2)
        results = [self._hit(searcher, h.docnum, h.score, plan.needles) for h in hits]
        return ResultPage(query, total, page, per_page, _ms(started), results)

    def _hit(self, searcher, docnum: int, score: float, needles: list[str]) -> Hit:  # noqa: ANN001
        fields = searcher.stored_fields(docnum)
        meta = self._article_meta(searcher, fields["doc_id"])
        return Hit(
            doc_id=fields["doc_id"], paragraph=fields["paragraph"], title=meta["title"],
            text=fields["text"], highlight=highlight(fields["text"], needles,
                                                     self.settings.snippet_length),
            score=round(float(score), 4), subtitle=meta["subtitle"], authors=meta["authors"],
            source=meta["source"], published=meta["published"], editors=meta["editors"])

    def _article_meta(self, searcher, doc_id: str) -> dict[str, object]:  # noqa: ANN001
        meta = self._meta.get(doc_id)
        if meta is None:
            header = searcher.document(key=f"{doc_id}#0") or {}
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
        records = sorted(searcher.documents(doc_id=doc_id), key=lambda r: r["paragraph"])
        if not records or records[0]["paragraph"] != 0:
            return None
        meta = records[0]["meta"]
        return Article(doc_id=doc_id, title=meta["title"], subtitle=meta["subtitle"],
                       authors=meta["authors"], source=meta["source"],
                       published=meta["published"], editors=meta["editors"],
                       byline=meta["byline"], paragraphs=[r["text"] for r in records[1:]])

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


class DocSets:
    """Matching document numbers of a query, computed with Python sets over posting lists.

    Whoosh's matcher trees walk postings one document at a time in Python; for counting every
    match of a query, reading each term's posting list once and combining sets is several times
    faster. Handles the query types :func:`compile_query` builds; others fall back to Whoosh.
    """

    def __init__(self, searcher) -> None:  # noqa: ANN001 - a whoosh.searching.Searcher
        self.searcher = searcher
        self._terms: dict[tuple[str, str], frozenset[int]] = {}
        self._all: frozenset[int] | None = None

    def of(self, q: wq.Query) -> set[int]:
        """The document numbers matching ``q``."""
        if isinstance(q, wq.Term):
            return set(self._term(q.fieldname, q.text))
        if isinstance(q, wq.And):
            parts = sorted((self.of(c) for c in q.subqueries if not isinstance(c, wq.Not)),
                           key=len)
            result = parts[0] if parts else set(self._everything())
            for part in parts[1:]:
                result &= part
            for c in q.subqueries:
                if isinstance(c, wq.Not):
                    result -= self.of(c.query)
            return result
        if isinstance(q, wq.Or):
            result: set[int] = set()
            for c in q.subqueries:
                result |= self.of(c)
            return result
        if isinstance(q, wq.Not):
            return set(self._everything()) - self.of(q.query)
        if isinstance(q, Contains):
            return self._contains(q)
        return set(self.searcher.docs_for_query(q))

    def _contains(self, q: Contains) -> set[int]:
        candidates = self.of(q.child)
        verified = candidates & self.of(q.known) if q.known is not None else set()
        for docnum in candidates - verified:
            if q.holds(self.searcher.stored_fields(docnum).get("text", "")):
                verified.add(docnum)
        # Hand the result to the query's own matchers, so that ranking does not verify again.
        for leaf, offset in self._leaves():
            end = offset + leaf.doc_count_all()
            q._verified[id(leaf)] = frozenset(d - offset for d in verified if offset <= d < end)
        return verified

    def _term(self, fieldname: str, text: str) -> frozenset[int]:
        key = (fieldname, text)
        if key not in self._terms:
            docs: set[int] = set()
            for leaf, offset in self._leaves():
                reader = leaf.reader()
                if (fieldname, text) in reader:
                    ids = reader.postings(fieldname, text).all_ids()
                    docs.update(ids if offset == 0 else (d + offset for d in ids))
            self._terms[key] = frozenset(docs)
        return self._terms[key]

    def _leaves(self) -> list[tuple[object, int]]:
        return self.searcher.subsearchers or [(self.searcher, 0)]

    def _everything(self) -> frozenset[int]:
        if self._all is None:
            self._all = frozenset(self.searcher.reader().all_doc_ids())
        return self._all


def _optional(required: wq.Query, boosts: list[wq.Query]) -> wq.Query:
    return wq.AndMaybe(required, wq.Or(boosts)) if boosts else required


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)

