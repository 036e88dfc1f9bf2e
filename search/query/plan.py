"""The second stage of a query: a logical plan of analysed terms, checked before anything is read.

Each leaf of the syntax tree is analysed once here: its text normalized (full-width, case,
script) and cut into Latin words and Han runs, each run into the words that must match for tier 1
and the character pairs that find it as a substring; a field filter gets its canonical field and
normalized value, a date filter its resolved range. :meth:`Plan.terms` lists every index term the
engine looks up for the query (what the term limit counts); :meth:`Plan.needles` the strings the
highlighter marks. ``工业倍增计划`` reads nine terms: its three words, the run itself as a
word, and the pair-field buckets of its five character pairs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from search.analysis import (
    SEGMENT_RE,
    STOP_WORDS,
    Normalized,
    normalize,
    query_characters,
    query_pairs,
    segmentation_cache,
    words,
)
from search.config import Settings
from search.errors import SearchError
from search.query import syntax
from search.text import script_folder
from search.vocabulary import Thesaurus, shown_in


class QueryError(SearchError, ValueError):
    """A query that is refused; ``str()`` is a one-line message for the person who typed it."""

    code = "bad_query"


FIELDS = {
    "title": "title", "标题": "title", "標題": "title",
    "author": "author", "作者": "author",
    "source": "source", "来源": "source", "來源": "source",
    "date": "date", "日期": "date",
}


@dataclass(frozen=True)
class Term:
    """One index term: a field and its text (a pair field's text is its hash bucket)."""

    field: str
    text: str


# --- analysed leaves --------------------------------------------------------------------------


@dataclass(frozen=True)
class LatinWord:
    """A Latin word (letters, digits, ``covid-19``), matched whole in the word field."""

    text: str


# The longest run whose candidates its characters narrow (see HanRun.narrowing).
NARROWED_RUN = 4


@dataclass(frozen=True)
class HanRun:
    """A run of Han characters, normalized, with what finds it."""

    text: str
    words: tuple[str, ...]  # jieba's words of it that must all match (tier 1), no function words
    pairs: tuple[str, ...]  # its character pairs' pair-field terms; none for one character

    def candidate_terms(self) -> tuple[Term, ...]:
        """The terms read for the records that may contain the run: its character (in the
        character field, or in the word field where it is a one-character word) or its pairs,
        and the characters that narrow them."""
        if len(self.text) == 1:
            return Term("chars", self.text), Term("words", self.text)
        return (*(Term("pairs", p) for p in self.pairs),
                *(t for c in self.narrowing() for t in (Term("chars", c), Term("words", c))))

    def narrowing(self) -> tuple[str, ...]:
        """The characters whose records narrow the run's candidates (a pair's posting list is
        a hash bucket other pairs share): those of a run of up to ``NARROWED_RUN`` characters,
        where such strangers are most of the candidates; a longer run's several pairs leave
        few, and its characters would count against the term limit."""
        return tuple(dict.fromkeys(self.text)) if 1 < len(self.text) <= NARROWED_RUN else ()


Chunk = LatinWord | HanRun


@dataclass(frozen=True)
class Words:
    """Unquoted text: every chunk must match, a Han run as words (tier 1) or as text (tier 2)."""

    chunks: tuple[Chunk | Expanded, ...]


@dataclass(frozen=True)
class Expanded:
    """A chunk of unquoted text that also matches as any of its alternatives (regional words,
    synonyms): the chunk with a word replaced, each alternative a :class:`Words` of its own,
    all of whose chunks must match. Alternatives rank just below the form typed."""

    typed: Chunk
    alternatives: tuple[Words, ...]


@dataclass(frozen=True)
class Expansion:
    """What a query also searched for: ``to`` instead of ``typed`` (as typed; ``to`` in the
    script the reader typed)."""

    typed: str
    to: str

    def to_dict(self) -> dict[str, str]:
        return {"from": self.typed, "to": self.to}


# At most this many alternatives of one chunk (its words' alternatives combined): each adds
# the terms of its text to the query.
MAX_ALTERNATIVES = 8


@dataclass(frozen=True)
class Exact:
    """Quoted text: ``text`` (normalized) contiguous in the paragraph."""

    text: str
    chunks: tuple[Chunk, ...]


@dataclass(frozen=True)
class FieldHas:
    """``title:``, ``author:``, ``source:``: the article's field holds ``value`` contiguously."""

    field: str
    value: str  # normalized
    characters: tuple[str, ...]  # its distinct Han characters, read from the field


@dataclass(frozen=True)
class DateIn:
    """``date:``: published within the inclusive range (either end may be open)."""

    start: datetime | None
    end: datetime | None

    def term(self) -> Term:
        """The range as one term: Whoosh's own range query reads it."""
        return Term("date", f"{self.start}..{self.end}")


@dataclass(frozen=True)
class AllOf:
    """Every one of ``include`` and none of ``exclude`` (an exclusion alone: all records but)."""

    include: tuple[PlanNode, ...]
    exclude: tuple[PlanNode, ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple[PlanNode, ...]


PlanNode = Words | Exact | FieldHas | DateIn | AllOf | AnyOf


class Plan:
    """A checked query: its tree of analysed leaves, the index terms it reads, what it marks."""

    def __init__(self, root: PlanNode, terms: tuple[Term, ...], needles: tuple[str, ...],
                 expansions: tuple[Expansion, ...] = ()) -> None:
        self.root = root
        self._terms = terms
        self._needles = needles
        self.expansions = expansions  # what the query also searched for, in the order typed

    def terms(self) -> tuple[Term, ...]:
        """Every index term the engine looks up for this query, once each (it reads each term
        at most once per query): the count the term limit uses. A candidate pair whose posting
        list is not worth reading is still looked up (its document frequency); a date range
        counts as one term."""
        return self._terms

    def needles(self) -> tuple[str, ...]:
        """The normalized strings the highlighter marks, longest first: each run and Latin word
        the query looks for, a run's words when it has several, each phrase; none from
        exclusions."""
        return self._needles


def plan_query(query: str, settings: Settings,
               thesaurus: Thesaurus | None = None) -> Plan | None:
    """Check a query string and plan it; ``None`` when there is nothing to search for.

    With a ``thesaurus``, each word of unquoted text that is not excluded also matches its
    alternatives (an OR within its clause); the term limit counts their terms too.

    Raises :class:`QueryError` for a query that is too long, too broad, names an unknown field,
    has no searchable characters, or only excludes.
    """
    if len(query) > settings.max_query_length:
        raise QueryError(f"the query is too long ({len(query)} characters; "
                         f"the limit is {settings.max_query_length})")
    if not query.strip():
        return None
    tree = syntax.parse(query)
    if tree is None:
        return None
    planner = _Planner(thesaurus)
    planner.traditional = script_folder().fold_characters(query) != query
    root, searchable = planner.node(tree, negated=False)
    if not searchable:
        raise QueryError("nothing to search for: the query has no letters, digits or "
                         "Chinese characters")
    terms = tuple(planner.terms)
    if len(terms) > settings.max_query_terms:
        raise QueryError(f"the query is too broad ({len(terms)} index terms; the limit is "
                         f"{settings.max_query_terms}): use fewer or shorter words")
    if not _has_positive(tree):
        raise QueryError("the query only excludes: add a word to search for")
    needles = tuple(sorted(dict.fromkeys(planner.needles), key=len, reverse=True))
    return Plan(root, terms, needles, tuple(dict.fromkeys(planner.expansions)))


def _has_positive(node: syntax.Node) -> bool:
    if isinstance(node, syntax.Negation):
        return False
    if isinstance(node, syntax.Bool):
        return any(_has_positive(c) for c in node.children)
    return True


class _Planner:
    """Builds the plan tree, collecting the terms and needles of its leaves as it goes."""

    def __init__(self, thesaurus: Thesaurus | None = None) -> None:
        self.terms: dict[Term, None] = {}  # an ordered set
        self.needles: list[str] = []
        self.thesaurus = thesaurus
        self.expansions: list[Expansion] = []
        # Whether the query is in traditional script: alternatives are shown in it too.
        self.traditional = False

    def node(self, node: syntax.Node, negated: bool) -> tuple[PlanNode, bool]:
        """The plan of ``node`` and whether it has anything to search for."""
        if isinstance(node, syntax.Bool):
            if node.op == "or":
                planned = [self.node(c, negated) for c in node.children]
                return AnyOf(tuple(p for p, _ in planned)), any(s for _, s in planned)
            include: list[PlanNode] = []
            exclude: list[PlanNode] = []
            searchable = False
            for c in node.children:
                if isinstance(c, syntax.Negation):
                    planned_child, found = self.node(c.child, not negated)
                    exclude.append(planned_child)
                else:
                    planned_child, found = self.node(c, negated)
                    include.append(planned_child)
                searchable = searchable or found
            return AllOf(tuple(include), tuple(exclude)), searchable
        if isinstance(node, syntax.Negation):
            child, searchable = self.node(node.child, not negated)
            return AllOf((), (child,)), searchable
        if isinstance(node, syntax.FieldFilter):
            return self._filter(node), True
        norm = normalize(node.value).text
        if isinstance(node, syntax.Phrase):
            norm = norm.strip()
        chunks = _chunks(norm)
        if isinstance(node, syntax.Phrase):
            for chunk in chunks:
                self._add(*(chunk.candidate_terms() if isinstance(chunk, HanRun)
                            else (Term("words", chunk.text),)))
            self._add(Term("words", norm))
            if chunks and not negated:
                self.needles.append(norm)
            return Exact(norm, chunks), bool(chunks)
        for chunk in chunks:
            self._add_chunk(chunk, negated)
        if self.thesaurus is None or negated:
            return Words(chunks), bool(chunks)
        starts = [m.start() for m in SEGMENT_RE.finditer(norm)]
        expanded = tuple(self._expanded(chunk, normalize(node.value), start)
                         for chunk, start in zip(chunks, starts, strict=True))
        return Words(expanded), bool(chunks)

    def _add_chunk(self, chunk: Chunk, negated: bool) -> None:
        if isinstance(chunk, HanRun):
            # Its words (tier 1); the run itself, as a word and from its candidates.
            self._add(*(Term("words", w) for w in chunk.words), Term("words", chunk.text),
                      *chunk.candidate_terms())
            if not negated and len(chunk.words) > 1:
                self.needles.extend(chunk.words)
        else:
            self._add(Term("words", chunk.text))
        if not negated:
            self.needles.append(chunk.text)

    def _expanded(self, chunk: Chunk, typed: Normalized, start: int) -> Chunk | Expanded:
        """``chunk`` (at ``start`` in the normalized text ``typed``) with the alternatives of
        its words, if it has any."""
        assert self.thesaurus is not None
        found = _replaceable(chunk, self.thesaurus)
        if not found:
            return chunk
        for begin, end, alternatives in found:
            begin, end = typed.span(start + begin, start + end)
            as_typed = typed.original[begin:end]
            self.expansions.extend(
                Expansion(as_typed, shown_in(a, self.traditional))
                for a in alternatives)
        alternatives = []
        for variant in _variants(chunk.text, found):
            alternative = _chunks(variant)
            for part in alternative:
                self._add_chunk(part, negated=False)
            alternatives.append(Words(alternative))
        return Expanded(chunk, tuple(alternatives))

    def _add(self, *terms: Term) -> None:
        for term in terms:
            self.terms[term] = None

    def _filter(self, node: syntax.FieldFilter) -> FieldHas | DateIn:
        name = FIELDS.get(node.name.lower()) or FIELDS.get(node.name)
        if name is None:
            raise QueryError(f"unknown field '{node.name}': use title:, author:, source: or date:")
        if name == "date":
            leaf = DateIn(*_date_range(node.value))
            self._add(leaf.term())
            return leaf
        value = normalize(node.value).text.strip()
        characters = tuple(query_characters(value))
        if not characters:
            raise QueryError(f"{node.name}: needs Chinese text to look for")
        self._add(*(Term(name, c) for c in characters))
        return FieldHas(name, value, characters)


def _replaceable(chunk: Chunk, thesaurus: Thesaurus) -> list[tuple[int, int, tuple[str, ...]]]:
    """The spans of ``chunk`` that the thesaurus holds, as (start, end, alternatives): the
    longest run of whole jieba words, else the dictionary sub-words of a word (软件 in
    软件开发), never text across word boundaries (that is how tables mis-convert: 少数组织 is
    not 少 + 数组 + 织)."""
    if isinstance(chunk, LatinWord):
        alternatives = thesaurus.alternatives(chunk.text)
        return [(0, len(chunk.text), alternatives)] if alternatives else []
    tokens = list(words(chunk.text, keep_stops=True))
    whole = [(t.norm_start, t.norm_end) for t in tokens if not t.part]
    found = []
    i = 0
    while i < len(whole):
        for j in range(len(whole), i, -1):
            begin, end = whole[i][0], whole[j - 1][1]
            if end - begin <= thesaurus.longest and chunk.text[begin:end] in thesaurus:
                found.append((begin, end, thesaurus.alternatives(chunk.text[begin:end])))
                i = j
                break
        else:
            begin, end = whole[i]
            # Its sub-words, longest first, left to right, not overlapping.
            taken = begin
            parts = sorted((t for t in tokens if t.part and begin <= t.norm_start
                            and t.norm_end <= end), key=lambda t: (t.norm_start, -len(t.term)))
            for part in parts:
                if part.norm_start >= taken and part.term in thesaurus:
                    found.append((part.norm_start, part.norm_end,
                                  thesaurus.alternatives(part.term)))
                    taken = part.norm_end
            i += 1
    return found


def _variants(text: str, replaceable: list[tuple[int, int, tuple[str, ...]]]) -> list[str]:
    """``text`` with the spans of ``replaceable`` (start, end, alternatives) replaced: first
    with every span's first alternative (the text as the other region writes it), then with
    every combination of kept and replaced spans, fewest replacements first; at most
    ``MAX_ALTERNATIVES``, never the text itself."""
    variants = [("", 0)]  # (text so far, replacements)
    last = 0
    for begin, end, alternatives in replaceable:
        between = text[last:begin]
        variants = sorted(((done + between + choice, count + (n > 0)) for done, count in variants
                           for n, choice in enumerate((text[begin:end], *alternatives))),
                          key=lambda item: item[1])[:MAX_ALTERNATIVES + 1]  # +1: as typed
        last = end
    rest = text[last:]
    everywhere = []
    last = 0
    for begin, end, alternatives in replaceable:
        everywhere.append(text[last:begin] + alternatives[0])
        last = end
    ordered = ["".join(everywhere) + rest, *(done + rest for done, count in variants if count)]
    return list(dict.fromkeys(ordered))[:MAX_ALTERNATIVES]


def _chunks(normalized_text: str) -> tuple[Chunk, ...]:
    """The Han runs and Latin words of normalized text, analysed."""
    return tuple(_han_run(m.group()) if m.lastgroup == "han" else LatinWord(m.group())
                 for m in SEGMENT_RE.finditer(normalized_text))


@segmentation_cache(maxsize=4096)
def _han_run(han: str) -> HanRun:
    content = tuple(w for w in _run_words(han) if w not in STOP_WORDS)
    return HanRun(han, content, tuple(query_pairs(han)) if len(han) > 1 else ())


@segmentation_cache(maxsize=4096)
def _run_words(han: str) -> tuple[str, ...]:
    """jieba's words of a run, function words included: they cover the run end to end."""
    return tuple(w.term for w in words(han, with_parts=False, keep_stops=True))


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
