"""The fifth stage: matching records arranged into units (paragraphs, articles or stories),
put in order (relevance, newest or oldest first) and counted by source and month.

A unit's relevance is its best record's (tier, then score, then the title bonus, as
:func:`search.query.rank.rank` orders records). In ``story`` grouping a story is shown as its
earliest published *matching* article, and its date is that article's, so a filter (a click on
a facet) that leaves other copies shows one of them. Articles without a date come after every
dated one, in every order. Facets count every unit, not only the page's: a unit counts once
under each source and month among its matching articles, which is exactly how many units the
query returns with ``source:`` or ``date:`` added.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from search.query import rank
from search.query.execute import Matches
from search.query.records import Records
from search.text import HAN_RUN_RE

GROUPS = ("paragraph", "article", "story")
SORTS = ("relevance", "newest", "oldest")
FACETS = ("source", "month")


@dataclass(frozen=True)
class Unit:
    """One result: the records it matched with, best first, and the article it shows."""

    records: tuple[int, ...]  # in story grouping, only those of the shown article
    doc_id: str  # the article shown
    articles: tuple[str, ...]  # its matching articles (one, but for a story)


@dataclass(frozen=True)
class Arranged:
    """The units of one page and what is counted over all of them."""

    total: int
    units: list[Unit]
    # Facet -> (value, count); a source's value is normalized (see Arranger.examples).
    facets: dict[str, list[tuple[str, int]]] | None


class Arranger:
    """Arranges one query's matches; ``story_of`` maps a doc_id to its story's key."""

    def __init__(self, matches: Matches, records: Records, titles: list[tuple[str, float]],
                 story_of: Callable[[str], str]) -> None:
        self.matches, self.records, self.titles = matches, records, titles
        self.story_of = story_of
        # A normalized source counted in a facet -> an article that has it, whose source as
        # written is what a reader sees and clicks.
        self.examples: dict[str, str] = {}

    def page(self, group: str, sort: str, first: int, last: int,
             facets: Iterable[str] = ()) -> Arranged:
        """Units ``first`` to ``last`` (0-based, end excluded) in ``sort`` order, the total,
        and the counts of the ``facets`` asked for (None if none)."""
        scores, records = self.matches.scores, self.records
        wanted = tuple(facets)
        if group == "paragraph" and sort == "relevance" and not wanted:
            # The common case, as fast as before: records ranked directly.
            ranked = rank.rank(self.matches, records, self.titles, last)[first:last]
            return Arranged(len(scores), [self._record_unit(d) for _, d in ranked], None)
        units = self._units(group)
        ordered = self._order(units, sort, last)[first:last]
        counts = self._facets(units, wanted) if wanted else None
        return Arranged(len(units), [self._unit(units[key]) for key in ordered], counts)

    # --- units ------------------------------------------------------------------------------

    def _units(self, group: str) -> dict[object, list[int]]:
        """The matching records of each unit, by the unit's key."""
        doc_ids = self.records.doc_ids
        if group == "paragraph":
            return {d: [d] for d in self.matches.scores}
        units: dict[object, list[int]] = {}
        if group == "article":
            for d in self.matches.scores:
                units.setdefault(doc_ids[d], []).append(d)
            return units
        story_of: dict[str, str] = {}
        for d in self.matches.scores:
            doc_id = doc_ids[d]
            key = story_of.get(doc_id)
            if key is None:
                key = story_of[doc_id] = self.story_of(doc_id)
            units.setdefault(key, []).append(d)
        return units

    def _relevance(self, d: int) -> tuple[bool, float, int]:
        """A record's place by relevance (larger is better; ties: the earlier record)."""
        return (d in self.matches.words, self.matches.scores[d], -d)

    def _date(self, doc_id: str) -> tuple[bool, str]:
        """(dated, ISO date) of an article: ISO dates of one form sort as the times do."""
        published = self.records.articles[doc_id].get("published")
        return (published is not None, published or "")

    def _shown(self, records: list[int]) -> str:
        """The article a unit shows: its earliest published matching article."""
        doc_ids = {self.records.doc_ids[d] for d in records}
        return min(doc_ids, key=lambda doc_id: (not self._date(doc_id)[0],
                                                self._date(doc_id)[1], doc_id))

    def _order(self, units: dict[object, list[int]], sort: str, count: int) -> list[object]:
        """The keys of the first ``count`` units in ``sort`` order."""
        best = {key: max(found, key=self._relevance) for key, found in units.items()}
        if sort == "relevance":
            # rank.rank orders the units' best records, title bonus and tiers included.
            bests = {d: key for key, d in best.items()}
            scores = self.matches.scores
            only = Matches({d: scores[d] for d in bests}, self.matches.words & bests.keys())
            return [bests[d] for _, d in rank.rank(only, self.records, self.titles, count)]
        dates = {key: self._date(self._shown(found)) for key, found in units.items()}
        if sort == "newest":
            return heapq.nlargest(count, units, key=lambda key: (
                dates[key], self._relevance(best[key])))
        # Oldest: dated first, then the earliest; within a date the more relevant first.
        return heapq.nsmallest(count, units, key=lambda key: (
            not dates[key][0], dates[key][1], _negated(self._relevance(best[key]))))

    def _record_unit(self, d: int) -> Unit:
        doc_id = self.records.doc_ids[d]
        return Unit((d,), doc_id, (doc_id,))

    def _unit(self, found: list[int]) -> Unit:
        doc_ids = self.records.doc_ids
        shown = self._shown(found)
        mine = sorted((d for d in found if doc_ids[d] == shown), key=self._relevance,
                      reverse=True)
        articles = tuple(sorted({doc_ids[d] for d in found}))
        return Unit(tuple(mine), shown, articles)

    # --- facets -----------------------------------------------------------------------------

    def _facets(self, units: dict[object, list[int]], wanted: tuple[str, ...]
                ) -> dict[str, list[tuple[str, int]]]:
        """(value, count) of each facet asked for: sources by count, months in order."""
        doc_ids, articles = self.records.doc_ids, self.records.articles
        unit_articles = [{doc_ids[d] for d in found} for found in units.values()]
        counts: dict[str, list[tuple[str, int]]] = {}
        if "source" in wanted:
            counts["source"] = self._source_counts(unit_articles)
        if "month" in wanted:
            months: dict[str, int] = {}
            for found in unit_articles:
                for month in {(articles[doc_id].get("published") or "")[:7]
                              for doc_id in found} - {""}:
                    months[month] = months.get(month, 0) + 1
            counts["month"] = sorted(months.items())
        return counts

    def _source_counts(self, unit_articles: list[set[str]]) -> list[tuple[str, int]]:
        """How many units ``source:value`` keeps, for each source of a matching article.

        The filter keeps an article whose normalized source *contains* the value, so a value
        counts the units of every source that contains it (人民网 counts 人民网客户端 too).
        Sources without a Han character are left out: the filter needs one to look for.
        """
        articles = self.records.articles
        # Units with the same sources count alike: count each set of sources once.
        sets: dict[frozenset[str], int] = {}
        for found in unit_articles:
            key = frozenset(articles[doc_id]["source"] for doc_id in found)
            sets[key] = sets.get(key, 0) + 1
            for doc_id in found:
                self.examples.setdefault(articles[doc_id]["source"], doc_id)
        values = {source for sources in sets for source in sources
                  if source and HAN_RUN_RE.search(source)}
        counts = {value: sum(n for sources, n in sets.items()
                             if any(value in source for source in sources))
                  for value in values}
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

def _negated(relevance: tuple[bool, float, int]) -> tuple[bool, float, int]:
    """A relevance key that sorts the best first in ascending order."""
    tier1, score, record = relevance
    return (not tier1, -score, -record)
