"""The third stage: which records match a plan, and the raw signals each gets.

A plan's leaves are looked up in the index through :class:`IndexTerms` (each term read once per
query) and combined with set operations on sorted arrays of record numbers; a Han run matches as
words (tier 1) or as contiguous text (tier 2, checked on each candidate's text). What a record
earns for each match goes to the :class:`~search.query.rank.Scorer`, which weighs it.

Record numbers are NumPy arrays throughout, never a Python object per match: a common word of a
large archive matches hundreds of thousands of records, and a set or dict of them costs a
hundred times what the array does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
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
from search.whoosh_adapter import Postings, read_postings

# Another pair's posting list is read only when it is at most this many times as long as the
# candidates left to check: checking a text is about as cheap as reading a posting, and reading
# has a cost of its own per list (measured on the benchmark queries: 1 and 2 beat 4 and 8).
READ_OR_CHECK = 1
# A character's posting list narrows the candidates left (records a pair's hash bucket holds
# that may lack the run) when it is at most this many times as long as they are: checking a
# text costs about 1.4 us, reading a posting a few ns plus a fixed cost per list and segment
# (16 was fastest of 1, 8, 16 and 32 at 16 copies: p50 3.7 -> 2.6 ms).
NARROW_OR_CHECK = 16

NO_RECORDS = np.zeros(0, dtype=np.int64)


@dataclass
class Matches:
    """The records matching a query (or part of one), ascending, with their scores (floats;
    scores that carry their signals while explaining), which of them match as words (tier 1),
    and which of those match as words only through an alternative of a query word (a regional
    form, a synonym: they rank just below the records matching as typed)."""

    records: np.ndarray
    scores: np.ndarray
    words: np.ndarray  # bool, one per record
    alternative: np.ndarray  # bool, one per record

    @classmethod
    def of(cls, records: np.ndarray, scores: np.ndarray, words: np.ndarray | None = None,
           alternative: np.ndarray | None = None) -> Matches:
        """Matches all as words unless ``words`` says which; none through an alternative unless
        ``alternative`` says which."""
        n = len(records)
        return cls(records, scores, np.ones(n, dtype=bool) if words is None else words,
                   np.zeros(n, dtype=bool) if alternative is None else alternative)

    def score(self, record: int) -> float:
        """The score of one of the records."""
        value = self.scores[np.searchsorted(self.records, record)]
        return value if self.scores.dtype == object else float(value)

    def is_word(self, record: int) -> bool:
        return bool(self.words[np.searchsorted(self.records, record)])

    def is_alternative(self, record: int) -> bool:
        return bool(self.alternative[np.searchsorted(self.records, record)])

    def only(self, keep: np.ndarray) -> Matches:
        """The matches of the records ``keep`` (a bool per record) selects."""
        return Matches(self.records[keep], self.scores[keep], self.words[keep],
                       self.alternative[keep])


class IndexTerms:
    """The postings source of one query: the index terms of one generation, each read at most
    once; document frequencies are remembered for the generation."""

    def __init__(self, searcher, records: Records) -> None:  # noqa: ANN001 - Whoosh searcher
        self.searcher = searcher
        self.records = records
        self._postings: dict[tuple[str, str], Postings] = {}

    def doc_frequency(self, fieldname: str, text: str) -> int:
        """How many records hold a term."""
        known = self.records.doc_frequencies
        frequency = known.get((fieldname, text))
        if frequency is None:
            frequency = known[fieldname, text] = self.searcher.doc_frequency(fieldname, text)
        return frequency

    def ids(self, fieldname: str, text: str) -> np.ndarray:
        """The records holding a term, ascending (none read for an unknown term)."""
        if (fieldname, text) not in self._postings and not self.doc_frequency(fieldname, text):
            return NO_RECORDS
        return self.postings(fieldname, text)[0]

    def postings(self, fieldname: str, text: str) -> Postings:
        """The records holding a term, ascending, and its frequency in each."""
        key = (fieldname, text)
        if key not in self._postings:
            self._postings[key] = read_postings(self.searcher, fieldname, text)
        return self._postings[key]

    def dates(self, leaf: DateIn) -> np.ndarray:
        """The records published within the leaf's range (Whoosh's own range query)."""
        found = self.searcher.docs_for_query(wq.DateRange("date", leaf.start, leaf.end))
        return np.array(sorted(found), dtype=np.int64)


class Execution:
    """Evaluates a plan over one query's :class:`IndexTerms`, scoring with ``scorer``."""

    def __init__(self, terms: IndexTerms, scorer: rank.Scorer) -> None:
        self.terms = terms
        self.records = terms.records
        self.scorer = scorer
        self._characters: dict[str, np.ndarray] = {}
        self.titles: list[tuple[str, float]] = []  # (Han run, bonus) for the title bonus

    def run(self, root: PlanNode) -> Matches:
        """The records matching the plan: tier 1 and tier 2 together."""
        self.titles = []
        return self._node(root) or _none()

    def _node(self, node: PlanNode) -> Matches | None:
        if isinstance(node, AllOf):
            positive = [m for c in node.include if (m := self._node(c))]
            excluded = [self._excluded(c) for c in node.exclude]
            return self._and(positive, union(*excluded) if excluded else NO_RECORDS)
        if isinstance(node, AnyOf):
            return self._or([m for c in node.children if (m := self._node(c))])
        if isinstance(node, FieldHas):
            return self._field(node)
        if isinstance(node, DateIn):
            return self._filtered(self.terms.dates(node), "date")
        if isinstance(node, Exact):
            return self._exact(node)
        return self._words(node)

    def _excluded(self, node: PlanNode) -> np.ndarray:
        """Records to exclude for ``-node``: any that match it, in either tier."""
        before = len(self.titles)
        matches = self._node(node)
        del self.titles[before:]  # excluded text is no reason for a title bonus
        return matches.records if matches else NO_RECORDS

    def _and(self, parts: list[Matches], excluded: np.ndarray) -> Matches:
        if len(parts) == 1 and not len(excluded):
            return parts[0]
        if not parts:
            live = minus(self.records.live_records, excluded)
            return Matches.of(live, np.zeros(len(live)))
        parts = sorted(parts, key=lambda m: len(m.records))
        keys = minus(parts[0].records, excluded)
        for part in parts[1:]:
            keys = intersect(keys, part.records)
        at = [np.searchsorted(part.records, keys) for part in parts]
        scores: np.ndarray = np.zeros(len(keys))  # (0.0 + each part's, as sum() adds them)
        tier1 = np.ones(len(keys), dtype=bool)
        alternative = np.zeros(len(keys), dtype=bool)
        for part, positions in zip(parts, at, strict=True):
            scores = scores + part.scores[positions]
            tier1 &= part.words[positions]
            alternative |= part.alternative[positions]
        return Matches(keys, scores, tier1, alternative & tier1)

    @staticmethod
    def _or(parts: list[Matches]) -> Matches | None:
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        records, at = distinct_inverse(np.concatenate([p.records for p in parts]))
        scores = _sum_at(len(records), at, np.concatenate([p.scores for p in parts]))
        tier1 = _any_at(len(records), at, np.concatenate([p.words for p in parts]))
        return Matches(records, scores, tier1, _alternative_only(len(records), at, parts))

    def _words(self, leaf: Words) -> Matches | None:
        """Unquoted text: every Han run and Latin word in it must match."""
        parts = [self._expanded(chunk) if isinstance(chunk, Expanded) else self._chunk(chunk)
                 for chunk in leaf.chunks]
        return self._and(parts, NO_RECORDS) if parts else None

    def _chunk(self, chunk: Chunk) -> Matches:
        if isinstance(chunk, HanRun):
            return self._han(chunk)
        postings = self.terms.postings("words", chunk.text)
        return Matches.of(postings[0], self.scorer.bm25(rank.WORD, chunk.text, postings))

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
        records, at = distinct_inverse(np.concatenate([p.records for p in parts]))
        scores = _best_at(len(records), at, np.concatenate([p.scores for p in parts]))
        tier1 = _any_at(len(records), at, np.concatenate([p.words for p in parts]))
        alternatives = [parts[0], *(Matches(p.records, p.scores, p.words, p.words)
                                    for p in parts[1:])]
        return Matches(records, scores, tier1, _alternative_only(len(records), at, alternatives))

    def _han(self, run: HanRun) -> Matches:
        """A run of Han characters: its words anywhere (tier 1), or the run itself (tier 2)."""
        scorer, content, chunk = self.scorer, run.words, run.text
        contiguous = self._containing(run)
        found = len(contiguous)  # the run's document frequency, for its BM25
        self.titles.append((chunk, scorer.title(chunk, found)))
        if not content:  # only function words: the text itself is the match
            needle = self._text_frequencies(chunk, contiguous)
            return Matches.of(contiguous, scorer.bm25(rank.TEXT, chunk, needle))
        postings = [self.terms.postings("words", w) for w in content]
        tier1 = intersect(*(ids for ids, _ in postings))
        if len(content) == 1:  # (0.0 + a score is the score: no sum to make)
            scores = scorer.bm25(rank.WORD, content[0], postings[0], among=tier1)
        else:
            scores = np.zeros(len(tier1))
            for w, frequencies in zip(content, postings, strict=True):
                scores = scores + scorer.bm25(rank.WORD, w, frequencies, among=tier1)
        # The run itself scores where its words stand together, as typed (tier 1, when it has
        # more than one word), and across word boundaries (tier 2): count it only there.
        scored = contiguous if len(content) > 1 else minus(contiguous, tier1)
        needle = self._text_frequencies(chunk, scored)
        if len(content) > 1:
            together = intersect(scored, tier1)
            if len(together):
                bonus = scorer.bm25(rank.TOGETHER, chunk, needle, among=together, found=found)
                at = np.searchsorted(tier1, together)
                scores = scores.astype(np.result_type(scores, bonus))  # (objects: explaining)
                scores[at] = scores[at] + bonus
        across = minus(scored, tier1)
        if not len(across):
            return Matches.of(tier1, scores)
        records = np.concatenate([tier1, across])
        order = np.argsort(records, kind="stable")
        words = np.concatenate([np.ones(len(tier1), dtype=bool),
                                np.zeros(len(across), dtype=bool)])
        across_scores = scorer.bm25(rank.ACROSS, chunk, needle, among=across, found=found)
        return Matches.of(records[order], np.concatenate([scores, across_scores])[order],
                          words[order])

    def _exact(self, leaf: Exact) -> Matches | None:
        """Quoted text: the normalized text, contiguous."""
        if not leaf.chunks:
            return None
        candidates = intersect(
            *[self._candidates(chunk) for chunk in leaf.chunks if isinstance(chunk, HanRun)],
            *[self.terms.postings("words", chunk.text)[0] for chunk in leaf.chunks
              if not isinstance(chunk, HanRun)])
        known = intersect(self.terms.postings("words", leaf.text)[0], candidates)
        narrowing = [c for chunk in leaf.chunks if isinstance(chunk, HanRun)
                     for c in chunk.narrowing()]
        unknown = self._narrowed(narrowing, minus(candidates, known))
        found = union(known, self.records.containing(leaf.text, unknown))
        needle = self._text_frequencies(leaf.text, found)
        return Matches.of(found, self.scorer.bm25(rank.TEXT, leaf.text, needle))

    def _field(self, leaf: FieldHas) -> Matches:
        """``title:``, ``author:``, ``source:``: every record of the articles whose field holds
        the value."""
        candidates = intersect(*[self.terms.postings(leaf.field, c)[0]
                                 for c in leaf.characters])
        doc_ids, articles = self.records.doc_ids, self.records.articles
        of = [doc_ids[d] for d in candidates.tolist()]
        held = {doc_id: leaf.value in articles[doc_id][leaf.field] for doc_id in set(of)}
        keep = np.fromiter((held[doc_id] for doc_id in of), dtype=bool, count=len(of))
        return self._filtered(candidates[keep], f"{leaf.field}:{leaf.value}")

    def _filtered(self, docs: np.ndarray, term: str) -> Matches:
        docs = minus(docs, self.records.deleted_records)
        return Matches.of(docs, self.scorer.constant(rank.FILTER, term, docs))

    def _containing(self, run: HanRun) -> np.ndarray:
        """Records whose text contains the run.

        Records holding it as a word contain it by construction; the others are among its
        :meth:`_candidates`, checked on their text.
        """
        if len(run.text) == 1:
            return self._character(run.text)
        known = self.terms.postings("words", run.text)[0]
        unknown = self._narrowed(run.narrowing(), minus(self._candidates(run), known))
        return union(known, self.records.containing(run.text, unknown))

    def _candidates(self, run: HanRun) -> np.ndarray:
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
            candidates = intersect(candidates, self.terms.ids("pairs", pair))
        return candidates

    def _narrowed(self, characters: Sequence[str], candidates: np.ndarray) -> np.ndarray:
        """The candidates that hold each of ``characters`` (Han), from the characters' posting
        lists, rarest first, while a list is short enough to beat checking the texts."""
        rarest = sorted((self._character_frequency(c), c) for c in set(characters))
        for frequency, char in rarest:
            if not len(candidates) or frequency > NARROW_OR_CHECK * len(candidates):
                break
            candidates = intersect(candidates, self._character(char))
        return candidates

    def _character_frequency(self, char: str) -> int:
        """How many records hold a Han character (as a character, or as a one-character word:
        a record may count twice, which only makes narrowing with it less eager)."""
        return self.terms.doc_frequency("chars", char) + self.terms.doc_frequency("words", char)

    def _character(self, char: str) -> np.ndarray:
        """Records containing a Han character: the substring field leaves single-character
        words to the word field."""
        if char not in self._characters:
            self._characters[char] = union(self.terms.ids("chars", char),
                                           self.terms.ids("words", char))
        return self._characters[char]

    def _text_frequencies(self, needle: str, found: np.ndarray) -> Postings:
        return found, self.records.counts(needle, found)


# --- sets of records: sorted arrays of distinct record numbers ------------------------------


def intersect(*sets: np.ndarray) -> np.ndarray:
    """The records in all of ``sets`` (none for no sets), smallest first: each step looks the
    smaller set up in the larger one."""
    if not sets:
        return NO_RECORDS
    ordered = sorted(sets, key=len)
    result = ordered[0]
    for other in ordered[1:]:
        if not len(result):
            break
        at = np.searchsorted(other, result)
        at[at == len(other)] = 0
        result = result[other[at] == result] if len(other) else NO_RECORDS
    return result


def minus(records: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """The records not in ``excluded``."""
    if not len(excluded) or not len(records):
        return records
    at = np.searchsorted(excluded, records)
    at[at == len(excluded)] = 0
    return records[excluded[at] != records]


def union(*sets: np.ndarray) -> np.ndarray:
    """The records in any of ``sets``."""
    present = [s for s in sets if len(s)]
    if len(present) <= 1:
        return present[0] if present else NO_RECORDS
    return distinct(np.concatenate(present), runs=True)


# NumPy 2.4's np.unique is 5 to 100 times slower than a sort on these arrays (it hashes
# integers); the three below are what the engine used it for, by sorting.


def distinct(values: np.ndarray, runs: bool = False) -> np.ndarray:
    """The distinct values, ascending (``runs``: ``values`` is sorted runs back to back, which
    a stable sort merges in one pass)."""
    ordered = np.sort(values, kind="stable" if runs else None)
    return ordered[_firsts(ordered)]


def distinct_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values, ascending, and where each value is among them."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    firsts = _firsts(ordered)
    inverse = np.empty(len(values), dtype=np.intp)
    inverse[order] = np.cumsum(firsts) - 1
    return ordered[firsts], inverse


def distinct_first(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values, ascending, and the position of each one's first occurrence."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    firsts = _firsts(ordered)
    return ordered[firsts], order[firsts]


def _firsts(ordered: np.ndarray) -> np.ndarray:
    """Which of the sorted values differ from the one before."""
    firsts = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=firsts[1:])
    return firsts


def _none() -> Matches:
    return Matches.of(NO_RECORDS, np.zeros(0))


def _sum_at(n: int, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each of ``n`` records' sum of the ``values`` at it, added in order (0.0 + the first +
    the next, as a dict of sums adds them); scores that carry signals keep them."""
    if values.dtype != object:
        return np.bincount(at, weights=values, minlength=n)
    sums = np.zeros(n, dtype=object)
    np.add.at(sums, at, values)
    return sums


def _best_at(n: int, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each of ``n`` records' largest of the ``values`` at it (the first of equals)."""
    if values.dtype != object:
        best = np.full(n, -np.inf)
        np.maximum.at(best, at, values)
        return best
    chosen = np.full(n, None, dtype=object)
    for i, value in zip(at.tolist(), values, strict=True):
        if chosen[i] is None or value > chosen[i]:
            chosen[i] = value
    return chosen


def _any_at(n: int, at: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Whether any of the ``flags`` at each of ``n`` records is set."""
    return np.bincount(at[flags], minlength=n) > 0


def _alternative_only(n: int, at: np.ndarray, parts: list[Matches]) -> np.ndarray:
    """Which of ``n`` records (``at``: where each of the concatenated parts' records is) match
    as words in some of ``parts`` through alternatives but as typed in none."""
    alternative = np.concatenate([p.alternative for p in parts])
    if not alternative.any():
        return np.zeros(n, dtype=bool)
    typed = np.concatenate([p.words & ~p.alternative for p in parts])
    return _any_at(n, at, alternative) & ~_any_at(n, at, typed)
