"""The third stage: which records match a plan, and the raw signals each gets.

A plan's leaves are looked up in the index through :class:`IndexTerms` (each term read once per
query) and combined with set operations; a Han run matches as words (tier 1) or as contiguous
text (tier 2, checked on each candidate's text in memory). What a record earns for each match
goes to the :class:`~search.query.rank.Scorer`, which weighs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from whoosh import query as wq

from search.query import rank
from search.query.plan import (
    AllOf,
    AnyOf,
    Chunk,
    DateIn,
    Exact,
    Expanded,
    FieldHas,
    HanRun,
    PlanNode,
    Words,
)
from search.query.records import Records
from search.whoosh_adapter import read_ids, read_postings

# Another pair's posting list is read only when it is at most this many times as long as the
# candidates left to check: checking a text in memory is about as cheap as reading a posting,
# and reading has a cost of its own per list (measured on the benchmark queries: 1 and 2 beat 4
# and 8).
READ_OR_CHECK = 1


@dataclass
class Matches:
    """The records matching a query (or part of one), with their scores, and which of them
    match as words (tier 1)."""

    scores: dict[int, float]
    words: set[int]
    # Those of ``words`` that match as words only through an alternative of a query word (a
    # regional form, a synonym): they rank just below the records matching as typed.
    alternative: set[int] = field(default_factory=set)


class IndexTerms:
    """The postings source of one query: the index terms of one generation, each read at most
    once; document frequencies are remembered for the generation."""

    def __init__(self, searcher, records: Records) -> None:  # noqa: ANN001 - Whoosh searcher
        self.searcher = searcher
        self.records = records
        self._postings: dict[tuple[str, str], dict[int, float]] = {}
        self._id_sets: dict[tuple[str, str], set[int]] = {}

    def doc_frequency(self, fieldname: str, text: str) -> int:
        """How many records hold a term."""
        known = self.records.doc_frequencies
        frequency = known.get((fieldname, text))
        if frequency is None:
            frequency = known[fieldname, text] = self.searcher.doc_frequency(fieldname, text)
        return frequency

    def ids(self, fieldname: str, text: str) -> set[int]:
        """The records holding a term (none read for an unknown term)."""
        key = (fieldname, text)
        if key not in self._id_sets:
            held = self.doc_frequency(fieldname, text) > 0
            self._id_sets[key] = read_ids(self.searcher, fieldname, text) if held else set()
        return self._id_sets[key]

    def postings(self, fieldname: str, text: str) -> dict[int, float]:
        """Record number -> frequency of a term."""
        key = (fieldname, text)
        if key not in self._postings:
            self._postings[key] = read_postings(self.searcher, fieldname, text)
        return self._postings[key]

    def dates(self, leaf: DateIn) -> set[int]:
        """The records published within the leaf's range (Whoosh's own range query)."""
        return set(self.searcher.docs_for_query(wq.DateRange("date", leaf.start, leaf.end)))


class Execution:
    """Evaluates a plan over one query's :class:`IndexTerms`, scoring with ``scorer``."""

    def __init__(self, terms: IndexTerms, scorer: rank.Scorer) -> None:
        self.terms = terms
        self.records = terms.records
        self.scorer = scorer
        self._characters: dict[str, set[int]] = {}
        self.titles: list[tuple[str, float]] = []  # (Han run, bonus) for the title bonus

    def run(self, root: PlanNode) -> Matches:
        """The records matching the plan: tier 1 and tier 2 together."""
        self.titles = []
        return self._node(root) or Matches({}, set())

    def _node(self, node: PlanNode) -> Matches | None:
        if isinstance(node, AllOf):
            positive = [m for c in node.include if (m := self._node(c))]
            excluded: set[int] = set()
            for c in node.exclude:
                excluded |= self._excluded(c)
            return self._and(positive, excluded)
        if isinstance(node, AnyOf):
            return self._or([m for c in node.children if (m := self._node(c))])
        if isinstance(node, FieldHas):
            return self._field(node)
        if isinstance(node, DateIn):
            return self._filtered(self.terms.dates(node), "date")
        if isinstance(node, Exact):
            return self._exact(node)
        return self._words(node)

    def _excluded(self, node: PlanNode) -> set[int]:
        """Records to exclude for ``-node``: any that match it, in either tier."""
        before = len(self.titles)
        matches = self._node(node)
        del self.titles[before:]  # excluded text is no reason for a title bonus
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
        alternative = set().union(*(p.alternative for p in parts)) & tier1
        return Matches(scores, tier1, alternative)

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
        return Matches(scores, tier1, _alternative_only(parts))

    def _words(self, leaf: Words) -> Matches | None:
        """Unquoted text: every Han run and Latin word in it must match."""
        parts = [self._expanded(chunk) if isinstance(chunk, Expanded) else self._chunk(chunk)
                 for chunk in leaf.chunks]
        return self._and(parts, set()) if parts else None

    def _chunk(self, chunk: Chunk) -> Matches:
        if isinstance(chunk, HanRun):
            return self._han(chunk)
        scores = self.scorer.bm25(rank.WORD, chunk.text, self.terms.postings("words", chunk.text))
        return Matches(scores, set(scores))

    def _expanded(self, chunk: Expanded) -> Matches:
        """A chunk as typed or as any of its alternatives, which score ``rank.ALTERNATIVE``
        times as much; a record matching several forms keeps its best score."""
        parts = [self._chunk(chunk.typed)]
        typed_factor = self.scorer.factor
        self.scorer.factor = typed_factor * rank.ALTERNATIVE
        try:
            parts.extend(m for alternative in chunk.alternatives
                         if (m := self._words(alternative)))
        finally:
            self.scorer.factor = typed_factor
        scores: dict[int, float] = {}
        tier1: set[int] = set()
        for part in parts:
            for d, s in part.scores.items():
                if s > scores.get(d, -1.0):
                    scores[d] = s
            tier1 |= part.words
        alternatives = [Matches(p.scores, p.words, p.words) for p in parts[1:]]
        return Matches(scores, tier1, _alternative_only([parts[0], *alternatives]))

    def _han(self, run: HanRun) -> Matches:
        """A run of Han characters: its words anywhere (tier 1), or the run itself (tier 2)."""
        scorer, content, chunk = self.scorer, run.words, run.text
        contiguous = self._containing(run)
        found = len(contiguous)  # the run's document frequency, for its BM25
        self.titles.append((chunk, scorer.title(chunk, found)))
        if not content:  # only function words: the text itself is the match
            scores = scorer.bm25(rank.TEXT, chunk, self._text_frequencies(chunk, contiguous))
            return Matches(scores, set(scores))
        postings = [self.terms.postings("words", w) for w in content]
        tier1 = _all_of(postings)
        if len(content) == 1:  # (0.0 + a score is the score: no sum to make)
            scores = scorer.bm25(rank.WORD, content[0], postings[0], among=tier1)
        else:
            scores = dict.fromkeys(tier1, 0.0)
            for w, frequencies in zip(content, postings, strict=True):
                for d, s in scorer.bm25(rank.WORD, w, frequencies, among=tier1).items():
                    scores[d] += s
        # The run itself scores where its words stand together, as typed (tier 1, when it has
        # more than one word), and across word boundaries (tier 2): count it only there.
        scored = contiguous if len(content) > 1 else contiguous - tier1
        needle = self._text_frequencies(chunk, scored)
        if len(content) > 1:
            together = [d for d in needle if d in tier1]
            for d, s in scorer.bm25(rank.TOGETHER, chunk, needle, among=together,
                                    found=found).items():
                scores[d] += s
        across = [d for d in needle if d not in tier1]
        scores.update(scorer.bm25(rank.ACROSS, chunk, needle, among=across, found=found))
        return Matches(scores, tier1)

    def _exact(self, leaf: Exact) -> Matches | None:
        """Quoted text: the normalized text, contiguous."""
        if not leaf.chunks:
            return None
        candidates = _all_of(
            [self._candidates(chunk) for chunk in leaf.chunks if isinstance(chunk, HanRun)]
            + [self.terms.postings("words", chunk.text) for chunk in leaf.chunks
               if not isinstance(chunk, HanRun)])
        known = set(self.terms.postings("words", leaf.text)) & candidates
        found = known | self.records.containing(leaf.text, candidates - known)
        scores = self.scorer.bm25(rank.TEXT, leaf.text, self._text_frequencies(leaf.text, found))
        return Matches(scores, set(scores))

    def _field(self, leaf: FieldHas) -> Matches:
        """``title:``, ``author:``, ``source:``: every record of the articles whose field holds
        the value."""
        candidates = _all_of([self.terms.postings(leaf.field, c) for c in leaf.characters])
        doc_ids, articles = self.records.doc_ids, self.records.articles
        held = {doc_id: leaf.value in articles[doc_id][leaf.field] for doc_id in
                {doc_ids[d] for d in candidates}}
        return self._filtered({d for d in candidates if held[doc_ids[d]]},
                              f"{leaf.field}:{leaf.value}")

    def _filtered(self, docs: set[int], term: str) -> Matches:
        docs -= self.records.deleted
        return Matches(self.scorer.constant(rank.FILTER, term, docs), docs)

    def _containing(self, run: HanRun) -> set[int]:
        """Records whose text contains the run.

        Records holding it as a word contain it by construction; the others are among its
        :meth:`_candidates`, checked on their text.
        """
        if len(run.text) == 1:
            return self._character(run.text)
        known = set(self.terms.postings("words", run.text))
        return known | self.records.containing(run.text, self._candidates(run) - known)

    def _candidates(self, run: HanRun) -> set[int]:
        """Records that may contain the run: those holding its rarest character pairs (their
        hash buckets), or its character. Another pair's posting list is read only while that
        is cheaper than checking the candidates left."""
        if len(run.text) == 1:
            return self._character(run.text)
        rarest = sorted((self.terms.doc_frequency("pairs", pair), pair) for pair in run.pairs)
        candidates = self.terms.ids("pairs", rarest[0][1])
        for frequency, pair in rarest[1:]:
            if frequency > READ_OR_CHECK * len(candidates):
                break
            candidates = candidates & self.terms.ids("pairs", pair)
        return candidates

    def _character(self, char: str) -> set[int]:
        """Records containing a Han character: the substring field leaves single-character
        words to the word field."""
        if char not in self._characters:
            self._characters[char] = self.terms.ids("chars", char) | self.terms.ids("words", char)
        return self._characters[char]

    def _text_frequencies(self, needle: str, found: Iterable[int]) -> dict[int, float]:
        return self.records.counts(needle, found)


def _alternative_only(parts: list[Matches]) -> set[int]:
    """The records that match as words in some of ``parts`` (alternatives) but as typed in
    none."""
    alternative = set().union(*(p.alternative for p in parts))
    if alternative:
        alternative -= set().union(*(p.words - p.alternative for p in parts))
    return alternative


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
