"""The fifth stage: matching records arranged into units (paragraphs, articles or stories),
put in order (relevance, newest or oldest first) and counted by source and month.

A unit's relevance is its best record's (tier, then score, then the title bonus, as
:func:`search.query.rank.rank` orders records). In ``story`` grouping a story is shown as its
earliest published *matching* article, and its date is that article's, so a filter (a click on
a facet) that leaves other copies shows one of them. Articles without a date come after every
dated one, in every order. Facets count every unit, not only the page's: a unit counts once
under each source and month among its matching articles, which is exactly how many units the
query returns with ``source:`` or ``date:`` added.

Every match is counted and every unit ordered, over numbers: :class:`Layout` numbers each
record's article and each article's story, source, month and date once per index generation,
so that a query groups and counts list items (:class:`_Few`), or, when it matches many records,
sorts and counts arrays with NumPy (:class:`_Many`); only the page's units become objects.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from search.query import rank
from search.query.execute import Matches, distinct, distinct_first, distinct_inverse
from search.query.records import Records
from search.stories import Stories
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


@dataclass(frozen=True)
class Column:
    """A number for each record or article: an array for NumPy, the same as a list for Python
    (an array's items are slow to read one by one)."""

    array: np.ndarray
    items: list[int]
    values: int  # one more than the largest number

    @classmethod
    def of(cls, numbers: Iterable[int], count: int) -> Column:
        array = np.fromiter(numbers, dtype=np.int64, count=count)
        return cls(array, array.tolist(), int(array.max()) + 1 if count else 0)


class Layout:
    """What arranging needs of every record of one index generation, as numbers: record ->
    article, and article -> story, source, month and date.

    Made once per index generation (a pass over the articles' fields); the stories' numbers
    once per set of stories.
    """

    def __init__(self, records: Records) -> None:
        self.doc_ids: list[str] = list(records.headers)  # article number -> doc_id
        count = len(self.doc_ids)
        number = {doc_id: i for i, doc_id in enumerate(self.doc_ids)}
        # Only live records match, and each has its article.
        self.article_of = Column.of((number.get(doc_id, -1) for doc_id in records.doc_ids),
                                    len(records.doc_ids))
        self.articles = Column.of(range(count), count)  # article grouping: its own unit
        fields = [records.articles[doc_id] for doc_id in self.doc_ids]
        self.sources, self.source_of = _numbered([f["source"] for f in fields])
        published = [f.get("published") for f in fields]
        # A month of "" (no date) is counted like the others and left out of the facet.
        self.months, self.month_of = _numbered([(p or "")[:7] for p in published])
        # Dates as ranks among the dated (ISO dates of one form sort as the times do); -1: none.
        dates, date_of = _numbered([p or "" for p in published])
        undated = 1 if "" in dates else 0
        self.date_of = Column.of((-1 if p is None else n - undated
                                  for p, n in zip(published, date_of.items, strict=True)), count)
        # Articles in the order a story picks the one it shows: earliest published first,
        # the undated after every dated one, then by doc_id.
        self.by_shown = np.array(sorted(range(count), key=lambda i: (
            published[i] is None, published[i] or "", self.doc_ids[i])), dtype=np.int64)
        shown_rank = np.empty(count, dtype=np.int64)
        shown_rank[self.by_shown] = np.arange(count)
        self.shown_rank = Column.of(shown_rank, count)
        self.filterable = [bool(source and HAN_RUN_RE.search(source)) for source in self.sources]
        self.any_filterable = any(self.filterable)
        self._wider: dict[int, list[int]] = {}
        self._stories: tuple[Stories, Column] | None = None
        self._lock = threading.Lock()

    def story_of(self, stories: Stories) -> Column:
        """Article number -> its story's number, for ``stories``."""
        made = self._stories
        if made is None or made[0] is not stories:
            with self._lock:
                made = self._stories
                if made is None or made[0] is not stories:
                    numbers: dict[str, int] = {}
                    made = self._stories = (stories, Column.of(
                        (numbers.setdefault(stories.story_id(doc_id), len(numbers))
                         for doc_id in self.doc_ids), len(self.doc_ids)))
        return made[1]

    def containing(self, source: int) -> list[int]:
        """The numbers of the sources that contain source number ``source`` (itself too):
        those that ``source:`` with its value keeps."""
        wider = self._wider.get(source)
        if wider is None:
            value = self.sources[source]
            wider = self._wider[source] = [i for i, other in enumerate(self.sources)
                                           if value in other]
        return wider


class Arranger:
    """Arranges one query's matches, with the generation's :class:`Layout`; ``stories`` for
    story grouping."""

    def __init__(self, matches: Matches, records: Records, titles: list[tuple[str, float]],
                 layout: Layout, stories: Stories | None = None) -> None:
        self.matches, self.records, self.titles = matches, records, titles
        self.layout, self.stories = layout, stories
        # A normalized source counted in a facet -> a matching article that has it, whose
        # source as written is what a reader sees and clicks.
        self.examples: dict[str, str] = {}

    def page(self, group: str, sort: str, first: int, last: int,
             facets: Iterable[str] = ()) -> Arranged:
        """Units ``first`` to ``last`` (0-based, end excluded) in ``sort`` order, the total,
        and the counts of the ``facets`` asked for (None if none)."""
        matches, records = self.matches, self.records
        wanted = tuple(facets)
        if group == "paragraph" and sort == "relevance" and not wanted:
            # The common case, as fast as before: records ranked directly.
            ranked = rank.rank(matches, records, self.titles, last)[first:last]
            return Arranged(len(matches.records), [self._record_unit(d) for _, d in ranked], None)
        kind = _Few if len(matches.records) <= VECTORIZE_ABOVE else _Many
        found = kind(self.matches, self.layout, self._unit_numbers(group))
        counts = self._facets(found, wanted) if wanted else None
        ordered = self._order(found, sort, last)[first:last]
        return Arranged(found.total, [self._unit(found, u) for u in ordered], counts)

    def _unit_numbers(self, group: str) -> Column | None:
        """Article number -> unit number (None: every record is a unit)."""
        if group == "paragraph":
            return None
        if group == "article":
            return self.layout.articles
        assert self.stories is not None, "story grouping needs the stories"
        return self.layout.story_of(self.stories)

    def _order(self, found: _Few | _Many, sort: str, count: int) -> list[int]:
        """The first ``count`` units (their numbers) in ``sort`` order."""
        if sort != "relevance":
            return found.by_date(sort == "newest", count)
        # rank.rank orders the units' best records, title bonus and tiers included (but not
        # the tier of alternatives: a unit is as good as its best record as typed or not).
        unit_of = {d: u for u, d in enumerate(found.best)}
        matches = self.matches
        best = matches.only(np.isin(matches.records, found.best)) \
            if len(unit_of) < len(matches.records) else matches
        # (without the tier of alternatives)
        only = Matches.of(best.records, best.scores, best.words)
        return [unit_of[d] for _, d in rank.rank(only, self.records, self.titles, count)]

    def _record_unit(self, d: int) -> Unit:
        doc_id = self.records.doc_ids[d]
        return Unit((d,), doc_id, (doc_id,))

    def _unit(self, found: _Few | _Many, unit: int) -> Unit:
        members, article_of = found.members(unit), self.layout.article_of.items
        shown, doc_ids = found.shown(unit), self.layout.doc_ids
        return Unit(tuple(d for d in members if article_of[d] == shown), doc_ids[shown],
                    tuple(sorted({doc_ids[article_of[d]] for d in members})))

    # --- facets -----------------------------------------------------------------------------

    def _facets(self, found: _Few | _Many, wanted: tuple[str, ...]
                ) -> dict[str, list[tuple[str, int]]]:
        """(value, count) of each facet asked for: sources by count, months in order."""
        layout = self.layout
        counts: dict[str, list[tuple[str, int]]] = {}
        if "source" in wanted:
            counts["source"] = self._source_counts(found)
        if "month" in wanted:
            tally = found.tally(layout.month_of)
            counts["month"] = sorted((layout.months[m], n) for m, n in tally.items()
                                     if layout.months[m])
        return counts

    def _source_counts(self, found: _Few | _Many) -> list[tuple[str, int]]:
        """How many units ``source:value`` keeps, for each source of a matching article.

        The filter keeps an article whose normalized source *contains* the value, so a value
        counts the units of every source that contains it (人民网 counts 人民网客户端 too).
        Sources without a Han character are left out: the filter needs one to look for.
        """
        layout = self.layout
        if not layout.any_filterable:
            return []
        tally = {source: count for source, count in found.tally(layout.source_of).items()
                 if layout.filterable[source]}
        example = found.first_articles(layout.source_of) if tally else {}
        counts = []
        for source, count in tally.items():
            wider = layout.containing(source)
            if len(wider) > 1:
                count = found.units_with(layout.source_of, wider)
            value = layout.sources[source]
            self.examples[value] = layout.doc_ids[example[source]]
            counts.append((value, count))
        return sorted(counts, key=lambda item: (-item[1], item[0]))


# Above this many matching records, grouping and counting run in NumPy; below, NumPy's cost per
# call (some microseconds, for some thirty calls) is more than the whole work in Python lists
# (the median benchmark query matches 13 records; the two cost the same at 200 to 400).
VECTORIZE_ABOVE = 300


class _Few:
    """One query's matching records grouped into units, in Python lists: the units are
    numbered 0 .. total - 1 in the order of their first records."""

    def __init__(self, matches: Matches, layout: Layout, unit_of: Column | None) -> None:
        matched = matches.records.tolist()
        scores = dict(zip(matched, matches.scores.tolist(), strict=True))
        words = set(matches.records[matches.words].tolist())
        self.layout = layout
        article_of = layout.article_of.items
        groups: dict[int, list[int]] = {}
        if unit_of is None:
            groups = {d: [d] for d in matched}
        else:
            units = unit_of.items
            for d in matched:
                unit = units[article_of[d]]
                found = groups.get(unit)
                if found is None:
                    groups[unit] = [d]
                else:
                    found.append(d)

        def relevance(d: int) -> tuple[bool, float, int]:  # tier 1 first, the score, earlier
            return (d in words, scores[d], -d)

        # Each unit's records, best first: the order of search.query.rank within a unit.
        self._members = [found if len(found) == 1 else sorted(found, key=relevance,
                                                               reverse=True)
                         for found in groups.values()]
        self.total = len(self._members)
        self.best = [found[0] for found in self._members]
        self._relevance = relevance
        self._matched = matched
        # Each unit's matching articles.
        self._articles = [(article_of[found[0]],) if len(found) == 1 else
                          tuple({article_of[d] for d in found}) for found in self._members]

    def members(self, unit: int) -> list[int]:
        """A unit's records, best first."""
        return self._members[unit]

    def shown(self, unit: int) -> int:
        """The article a unit shows: its earliest published matching article."""
        articles = self._articles[unit]
        return articles[0] if len(articles) == 1 else \
            min(articles, key=self.layout.shown_rank.items.__getitem__)

    def by_date(self, newest: bool, count: int) -> list[int]:
        """The first ``count`` units by their shown article's date (the undated last), then
        the most relevant first."""
        date_of, relevance = self.layout.date_of.items, self._relevance

        def key(unit: int) -> tuple:
            date = date_of[self.shown(unit)]
            tier1, score, earlier = relevance(self.best[unit])
            return (date < 0, -date if newest else date, not tier1, -score, -earlier)

        return sorted(range(self.total), key=key)[:count]

    def tally(self, value_of: Column) -> dict[int, int]:
        """Value -> how many units have a matching article with it (``value_of``: article
        number -> value number)."""
        of, counts = value_of.items, Counter[int]()
        for articles in self._articles:
            if len(articles) == 1:
                counts[of[articles[0]]] += 1
            else:
                counts.update({of[a] for a in articles})
        return counts

    def units_with(self, value_of: Column, values: list[int]) -> int:
        """How many units have a matching article whose value is one of ``values``."""
        of, wanted = value_of.items, set(values)
        return sum(any(of[a] in wanted for a in articles) for articles in self._articles)

    def first_articles(self, value_of: Column) -> dict[int, int]:
        """Value -> the first matching article with it."""
        article_of, of = self.layout.article_of.items, value_of.items
        first: dict[int, int] = {}
        for d in self._matched:
            first.setdefault(of[article_of[d]], article_of[d])
        return first


class _Many:
    """One query's matching records grouped into units, in NumPy arrays: the units are
    numbered 0 .. total - 1 in the order of their keys."""

    def __init__(self, matches: Matches, layout: Layout, unit_of: Column | None) -> None:
        self.layout = layout
        self.records = matches.records
        self.scores = matches.scores.astype(np.float64)
        self.tier1 = matches.words
        self.articles = layout.article_of.array[self.records]
        keys = self.records if unit_of is None else unit_of.array[self.articles]
        self.unit = distinct_inverse(keys)[1]
        # The records by unit, then by relevance (tier 1 first, the score, the earlier
        # record), each unit's best last: the order of search.query.rank within a unit.
        self.by_unit = np.lexsort((-self.records, self.scores, self.tier1, self.unit))
        grouped = self.unit[self.by_unit]
        ends = np.flatnonzero(np.append(grouped[1:] != grouped[:-1], True))
        self.total = len(ends)
        self._ends = ends + 1
        self._starts = np.concatenate(([0], self._ends[:-1])).astype(np.int64)
        self._best = self.by_unit[ends]  # positions of each unit's best record
        self.best = self.records[self._best].tolist()
        # The article each unit shows: its earliest published matching article.
        ranks = layout.shown_rank.array[self.articles[self.by_unit]]
        self._shown = layout.by_shown[np.minimum.reduceat(ranks, self._starts)]

    def members(self, unit: int) -> list[int]:
        """A unit's records, best first."""
        return self.records[self.by_unit[self._starts[unit]:self._ends[unit]][::-1]].tolist()

    def shown(self, unit: int) -> int:
        """The article a unit shows: its earliest published matching article."""
        return int(self._shown[unit])

    def by_date(self, newest: bool, count: int) -> list[int]:
        """The first ``count`` units by their shown article's date (the undated last), then
        the most relevant first."""
        dates = self.layout.date_of.array[self._shown]
        best = self._best
        relevance = (self.records[best], -self.scores[best], ~self.tier1[best])
        order = np.lexsort((*relevance, -dates if newest else dates, dates < 0))
        return order[:count].tolist()

    def _pairs(self, value_of: Column) -> tuple[np.ndarray, np.ndarray]:
        """(value, unit) of each distinct pair of a unit and a value of its articles."""
        values = max(value_of.values, 1)
        pairs = distinct(self.unit * values + value_of.array[self.articles])
        return pairs % values, pairs // values

    def tally(self, value_of: Column) -> dict[int, int]:
        """Value -> how many units have a matching article with it (``value_of``: article
        number -> value number)."""
        found, _ = self._pairs(value_of)
        tally = np.bincount(found, minlength=value_of.values)
        present = np.flatnonzero(tally)
        return dict(zip(present.tolist(), tally[present].tolist(), strict=True))

    def units_with(self, value_of: Column, values: list[int]) -> int:
        """How many units have a matching article whose value is one of ``values``."""
        found, units = self._pairs(value_of)
        return len(distinct(units[np.isin(found, values)]))

    def first_articles(self, value_of: Column) -> dict[int, int]:
        """Value -> the first matching article with it."""
        numbers, first = distinct_first(value_of.array[self.articles])
        return dict(zip(numbers.tolist(), self.articles[first].tolist(), strict=True))


def _numbered(values: list[str]) -> tuple[list[str], Column]:
    """The distinct values, sorted, and each value's number among them."""
    distinct = sorted(set(values))
    number = {value: i for i, value in enumerate(distinct)}
    return distinct, Column.of((number[v] for v in values), len(values))
