"""The fourth stage: scores and order. Tiers, the signals' weights, BM25, the title window, and
an explanation of how a hit's score was made.

Every score is a sum of signals, each BM25 of one term in one record times the signal's weight
(see "Ranking" in the README): the execution stage decides which signals a record gets, a
:class:`Scorer` here turns their raw counts into numbers. Records matching as words (tier 1)
rank above those matching only as text (tier 2); within a tier the score decides, with a bonus
for a title holding the query's text added to the best records of each tier only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from search.query.execute import Matches
    from search.query.records import Records
    from search.whoosh_adapter import Postings

# BM25's usual parameters: term frequency saturation and length normalization.
K1 = 1.2
B = 0.75

# The signals and their weights (BM25 boosts): see "Ranking" in the README.
WORD = "word"  # one of the query's words, its frequency from the word field
TEXT = "text"  # a run of function words only, or a phrase: its count in the paragraph's text
TOGETHER = "together"  # a run's words standing together, as typed (tier 1)
ACROSS = "across"  # a run found across word boundaries (tier 2)
TITLE = "title"  # the article's title holds a run (times the run's idf, no BM25)
FILTER = "filter"  # a field filter matched: a constant, filters select
WEIGHTS = {WORD: 1.0, TEXT: 1.0, TOGETHER: 1.5, ACROSS: 0.4, TITLE: 0.6, FILTER: 0.01}
# What a match of a query word's alternative (a regional word, a synonym) weighs against a
# match of the word as typed: every signal it gets, times this, so it ranks just below.
ALTERNATIVE = 0.8
# The title bonus is added to this many more records than the page shows, best first.
TITLE_WINDOW = 50


class Scorer:
    """Turns the raw signals of one index generation's records into BM25 scores."""

    def __init__(self, records: Records) -> None:
        self.records = records
        # What every signal is multiplied by: ALTERNATIVE while scoring a word's alternatives.
        self.factor = 1.0

    def idf(self, matches: int) -> float:
        """BM25's inverse document frequency of a term found in ``matches`` records."""
        n = self.records.live_count
        return math.log(1 + (n - matches + 0.5) / (matches + 0.5))

    def bm25(self, signal: str, term: str, frequencies: Postings,
             among: np.ndarray | None = None, found: int | None = None) -> np.ndarray:
        """The weighted BM25 of ``term`` in each record of ``frequencies`` (records ascending,
        each one's frequency), or of ``among`` (some of them, ascending); ``found``: how many
        records hold the term, when ``frequencies`` is not all."""
        holding, tf = frequencies
        weight = self.weight(signal) \
            * self.idf(len(holding) if found is None else found) * (K1 + 1)
        if among is not None:
            holding, tf = among, tf[np.searchsorted(holding, among)]
        # (the same float operations as one record at a time, so the same scores)
        return weight * tf / (tf + self.records.length_norm[holding])

    def weight(self, signal: str) -> float:
        """The signal's weight, times the factor in force (see ``ALTERNATIVE``)."""
        return WEIGHTS[signal] * self.factor

    def constant(self, signal: str, term: str, records: np.ndarray) -> np.ndarray:
        """The signal's weight, the same in every record (a filter)."""
        return np.full(len(records), self.weight(signal))

    def title(self, term: str, found: int) -> float:
        """The bonus for a title holding ``term``, found in ``found`` records."""
        return self.weight(TITLE) * self.idf(found)


def rank(matches: Matches, records: Records, titles: list[tuple[str, float]],
         count: int) -> list[tuple[float, int]]:
    """The best ``count`` matches as (score, record number): tier 1 first (records matching as
    typed, then those matching only through a word's alternatives), then tier 2.

    Within a tier the score decides; the title bonus (``titles``: text, bonus) is added to the
    best of each tier only (``TITLE_WINDOW`` beyond the page), which saves checking every
    record's title. Ties keep record order.
    """
    values = matches.scores.astype(np.float64)
    tiers = np.where(matches.words, 1.0, 2.0)
    alternative = bool(matches.alternative.any())
    if alternative:  # (matching as words, through an alternative only)
        tiers[matches.alternative] = 1.5
    ranked: list[tuple[float, int]] = []
    for tier in (1, 1.5, 2) if alternative else (1, 2):
        wanted = count - len(ranked)
        if wanted <= 0:
            break
        mine = np.flatnonzero(tiers == tier)
        best = _largest(values[mine], matches.records[mine], wanted + TITLE_WINDOW)
        if titles:
            best = sorted(((with_title(s, records, d, titles), d) for s, d in best),
                          reverse=True)
        ranked.extend(best[:wanted])
    return ranked


def _largest(values: np.ndarray, records: np.ndarray, count: int) -> list[tuple[float, int]]:
    """The ``count`` largest (value, record) pairs, largest first: ``heapq.nlargest`` over
    arrays, partitioning first so that only what can make the list is sorted."""
    if len(values) > count:
        threshold = np.partition(values, len(values) - count)[len(values) - count]
        keep = values >= threshold
        values, records = values[keep], records[keep]
    order = np.lexsort((records, values))[::-1][:count]
    return list(zip(values[order].tolist(), records[order].tolist(), strict=True))


def with_title(score: float, records: Records, record: int,
               titles: list[tuple[str, float]]) -> float:
    """``score`` plus the bonus of every run the record's article title holds."""
    title = records.title(record)
    return score + sum(bonus for text, bonus in titles if text in title)


# --- explain ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signal:
    """One part of a hit's score: which signal, for which query text, its weight and value, and
    what BM25 saw (none of it for a filter; only the idf for the title bonus)."""

    name: str  # one of WEIGHTS
    term: str  # the query text it is about
    weight: float
    value: float  # what it adds to the score
    tf: float | None = None  # its frequency in the paragraph
    df: int | None = None  # how many records hold it
    idf: float | None = None
    length: int | None = None  # the paragraph's searchable length, in characters
    average_length: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Explanation:
    """How a hit's score was made: its tier and the signals it sums (``score`` is their sum,
    up to rounding), with BM25's parameters."""

    tier: int
    score: float
    signals: tuple[Signal, ...]
    k1: float = K1
    b: float = B
    # Matched as words only through a query word's alternative: ranked below tier 1 as typed.
    alternative: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"tier": self.tier, "score": self.score, "k1": self.k1, "b": self.b,
                **({"alternative": True} if self.alternative else {}),
                "signals": [s.to_dict() for s in self.signals]}


class _Explained(float):
    """A score that carries the signals it is the sum of (only while explaining).

    Adding two keeps both lists; the value is the plain float sum, in the same order as
    without explaining, so an explained score equals the ranked one exactly.
    """

    __slots__ = ("signals",)
    signals: tuple[Signal, ...]

    def __new__(cls, value: float, signals: tuple[Signal, ...]) -> _Explained:
        made = super().__new__(cls, value)
        made.signals = signals
        return made

    def __add__(self, other: float) -> _Explained:  # type: ignore[override]
        return _Explained(float(self) + float(other), self.signals + _signals(other))

    def __radd__(self, other: float) -> _Explained:  # type: ignore[override]
        return _Explained(float(other) + float(self), _signals(other) + self.signals)


def _signals(value: float) -> tuple[Signal, ...]:
    return value.signals if isinstance(value, _Explained) else ()


class ExplainingScorer(Scorer):
    """A :class:`Scorer` whose scores for ``targets`` carry their signals (see
    :func:`explain`); the numbers are the same."""

    def __init__(self, records: Records, targets: Iterable[int]) -> None:
        super().__init__(records)
        self.targets = np.array(sorted(set(targets)), dtype=np.int64)

    def bm25(self, signal: str, term: str, frequencies: Postings,
             among: np.ndarray | None = None, found: int | None = None) -> np.ndarray:
        scores = super().bm25(signal, term, frequencies, among, found)
        holding, tf = frequencies
        df = len(holding) if found is None else found
        idf = self.idf(df)
        lengths, average = self.records.lengths, self.records.average_length
        scored = holding if among is None else among
        return self._carry(scored, scores, lambda d, value: (Signal(
            signal, term, self.weight(signal), value,
            tf=float(tf[np.searchsorted(holding, d)]), df=df, idf=idf, length=int(lengths[d]),
            average_length=average),))

    def constant(self, signal: str, term: str, records: np.ndarray) -> np.ndarray:
        scores = super().constant(signal, term, records)
        return self._carry(records, scores, lambda d, value: (Signal(
            signal, term, self.weight(signal), value),))

    def _carry(self, records: np.ndarray, scores: np.ndarray,
               signals: Callable[[int, float], tuple[Signal, ...]]) -> np.ndarray:
        """``scores`` (of ``records``), the targets' as scores that carry their signals."""
        at = np.flatnonzero(np.isin(records, self.targets))
        if not len(at):
            return scores
        carried = scores.astype(object)
        for i in at.tolist():
            value = float(scores[i])
            carried[i] = _Explained(value, signals(int(records[i]), value))
        return carried

    def title(self, term: str, found: int) -> float:
        bonus = super().title(term, found)
        return _Explained(bonus, (Signal(TITLE, term, self.weight(TITLE), bonus, df=found,
                                         idf=self.idf(found)),))


def explain(matches: Matches, records: Records, titles: list[tuple[str, float]],
            record: int) -> Explanation:
    """How the score :func:`rank` gave ``record`` was made, from matches an
    :class:`ExplainingScorer` scored (``record`` among its targets)."""
    score = matches.score(record)
    if titles:  # every ranked record is within the title window
        score = with_title(score, records, record, titles)
    return Explanation(tier=1 if matches.is_word(record) else 2,
                       alternative=matches.is_alternative(record),
                       score=round(float(score), 4), signals=_signals(score))
