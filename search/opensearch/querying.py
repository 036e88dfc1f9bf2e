"""Searching on OpenSearch: the parsed query compiled to the query DSL, results as on Whoosh.

The same parser, planner and checks (:func:`search.query.plan_query`) turn a query into a plan
of analysed terms; each node of the plan compiles to two DSL queries, mirroring
:class:`search.query.execute.Execution`:

- ``match``: the records it matches, scored;
- ``tier1``: those of them that match as words (a filter, unscored).

A run of Han characters matches where all its content words are in ``words`` (tier 1, scored
by BM25 on ``words``, plus the run as a phrase where it stands together) or where it is a
substring of the text: a ``match_phrase`` over the one-token-per-character field ``chars``,
which is exact, so nothing is checked afterwards. ``AND``/``OR``/``NOT`` are ``bool``
queries, filters are constant-score clauses, dates a ``range``. The final query adds
``TIER_OFFSET`` to every tier-1 record's score, so tier 1 always ranks first, and sorts by
score, then doc_id and paragraph descending (one order from every shard copy, and Whoosh's
for a fresh build: the record indexed later first). Highlights are made
by :func:`search.query.snippet` over the original text, as on Whoosh.

Grouping, date order and facets follow :mod:`search.query.arrange`: ``collapse`` on the
article's or the story's key (``doc_id``, ``story``) makes one hit per unit, ordered by its best
record, and its ``inner_hits`` bring the shown article's other matching paragraphs (in story
grouping, the shown article is the earliest published matching one); dates sort with undated
articles last in either order; facets are terms aggregations on ``source_key`` and ``month``,
each bucket counting units with a ``cardinality`` of the group key, and ``total`` is the
cardinality of the group key. OpenSearch's cardinality is exact below its
``precision_threshold``, set to its maximum, 40,000 units (beyond that, within a few percent).

What differs from Whoosh (see "Scaling out" in the README): Lucene's BM25 (OpenSearch's
``BM25`` keeps the ``k1 + 1`` factor, as ours does) stores each record's length in one byte, so
nearly equal lengths score alike (the ``words`` field is padded to count characters, as ours
does: :func:`search.opensearch.indexing.word_tokens`); a phrase's frequency counts
overlapping occurrences (哈哈 twice in 哈哈哈); document frequencies are counted live, where
Lucene's include deleted records until segments merge; and the title bonus is added to every
match rather than to the best 50 of each tier.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from opensearchpy import OpenSearch, helpers
from opensearchpy import exceptions as os_errors

from search.analysis import normalize
from search.config import Settings, load_settings
from search.index import ARTICLE_FIELDS
from search.opensearch.client import ClusterUnavailable, connect, translated
from search.opensearch.indexing import (
    char_tokens,
    chars_text,
    check_format,
    index_info,
    live_index,
)
from search.query import Article, Hit, IndexStats, QueryError, ResultPage, snippet
from search.query.plan import (
    AllOf,
    AnyOf,
    DateIn,
    Exact,
    Expanded,
    FieldHas,
    HanRun,
    LatinWord,
    PlanNode,
    Words,
)
from search.query.rank import ACROSS, ALTERNATIVE, FILTER, TEXT, TITLE, TOGETHER, WEIGHTS, WORD
from search.query.results import Copy, ParagraphMatch
from search.query.searcher import MORE_MATCHES, Planner, _empty_page, _ms
from search.suggest import Suggester, SuggestionList
from search.text import HAN_RUN_RE

# Added to the score once for tier 1.5 (records matching as words only through a word's
# alternatives) and twice for tier 1: far above any BM25 sum a query of at most
# max_query_terms terms reaches, and small enough that float32 scores keep 0.002.
TIER_OFFSET = 10_000.0
DSL = dict[str, object]
# Exact counts up to here (OpenSearch's largest precision threshold), then within a few percent.
CARDINALITY_PRECISION = 40_000
# The most sources and months a facet lists (Whoosh lists them all).
FACET_VALUES = 10_000
# The key each grouping collapses on (paragraphs need none).
GROUP_KEYS = {"article": "doc_id", "story": "story"}
# The fields a hit is made of.
HIT_SOURCE = ["doc_id", "paragraph", "text", "meta"]


def _term(field: str, value: str, boost: float = 1.0) -> DSL:
    return {"term": {field: {"value": value, "boost": boost}}}


def _contains(field: str, text: str, boost: float = 1.0) -> DSL:
    """Records whose ``field`` (one token per character) holds ``text`` contiguously."""
    if len(text) == 1 and not text.isspace():
        return _term(field, text, boost)
    return {"match_phrase": {field: {"query": char_tokens(text), "boost": boost}}}


def _all(queries: list[DSL]) -> DSL:
    return queries[0] if len(queries) == 1 else {"bool": {"filter": queries}}


def _any(queries: list[DSL]) -> DSL:
    return queries[0] if len(queries) == 1 else \
        {"bool": {"should": queries, "minimum_should_match": 1}}


def _but(query: DSL, excluded: list[DSL]) -> DSL:
    return {"bool": {"filter": [query], "must_not": excluded}} if excluded else query


@dataclass(frozen=True)
class Clause:
    """What one node of a plan compiles to: the records it matches (``match``, scored), those
    that match as words (``words``, tier 1 and 1.5) and those of them that match as words only
    through a word's alternatives (``alternative``, tier 1.5; None for none)."""

    match: DSL
    words: DSL
    alternative: DSL | None = None


class Compiler:
    """Compiles a plan to DSL, mirroring :class:`search.query.execute.Execution`.

    Two of Whoosh's signals need document frequencies the DSL cannot name: a run of characters
    scores as one term whose idf is that of the run (how many records contain it), where
    Lucene scores a phrase with the sum of its tokens' idfs; and the title bonus is the run's
    weight times that idf. The compiler collects both, and :meth:`query` weighs them from
    counts asked in one request: each phrase's boost is scaled by the run's idf over the sum.
    """

    def __init__(self) -> None:
        self.titles: list[tuple[str, float]] = []  # (Han run, weight) for the title bonus
        # (the match_phrase body whose boost to scale, the query that counts the run's records)
        self.phrases: list[tuple[dict[str, object], DSL]] = []
        self.factor = 1.0  # rank.ALTERNATIVE while compiling a word's alternatives
        self.bonuses: list[tuple[str, float]] = []  # (Han run, title bonus), once compiled

    def query(self, root: PlanNode, count: Callable[[list[DSL]], list[int]],
              ranked: bool = True) -> DSL:
        """The whole search: the plan's matches, lifted by tier, with the title bonus of each
        run; ``count`` answers how many records each of a list of queries matches.

        ``ranked`` off (a date order, whose ties go by relevance as
        :meth:`search.query.arrange.Arranger._relevance` has it): tier 1 and tier 1.5 alike,
        and no title bonus in the score (:attr:`bonuses` has them, for the hits shown).
        """
        clause = self.node(root, positive=True)
        if clause is None:
            return {"match_none": {}}
        typed = clause.words if clause.alternative is None else \
            _but(clause.words, [clause.alternative])
        idf = self._idfs(count)
        self.bonuses = [(run, weight * idf(_contains("chars", run)))
                        for run, weight in self.titles]
        should: list[DSL] = [
            {"constant_score": {"filter": clause.words, "boost": TIER_OFFSET}}]
        if ranked:
            should += [{"constant_score": {"filter": typed, "boost": TIER_OFFSET}},
                       *({"constant_score": {"filter": _contains("title", run), "boost": bonus}}
                         for run, bonus in self.bonuses)]
        for body, counted in self.phrases:
            tokens = str(body["query"]).split(" ")
            body["boost"] = float(body["boost"]) * idf(counted) / \
                sum(idf(_term("chars", t)) for t in tokens)  # type: ignore[arg-type]
        return {"bool": {"must": [clause.match], "should": should}}

    def _idfs(self, count: Callable[[list[DSL]], list[int]]) -> Callable[[DSL], float]:
        """BM25's idf (as :meth:`search.query.rank.Scorer.idf` has it) of the records each
        count query of the title bonuses and phrases matches, counted in one request."""
        queries: dict[str, DSL] = {}
        for run, _ in self.titles:
            queries.setdefault(repr(_contains("chars", run)), _contains("chars", run))
        for body, counted in self.phrases:
            queries.setdefault(repr(counted), counted)
            for token in str(body["query"]).split(" "):
                queries.setdefault(repr(_term("chars", token)), _term("chars", token))
        if not queries:
            return lambda query: 0.0
        records, *found = count([{"match_all": {}}, *queries.values()])
        idfs = {key: math.log(1 + (records - f + 0.5) / (f + 0.5))
                for key, f in zip(queries, found, strict=True)}
        return lambda query: idfs[repr(query)]

    def _phrase(self, text: str, signal: str, counted: DSL | None = None) -> DSL:
        """``text`` contiguous in a record, scored by ``signal`` as one term of the run's idf
        (``counted`` counts the records it is found in: by default, those containing it)."""
        query = _contains("chars", text, self._weight(signal))
        if "match_phrase" in query:
            body = query["match_phrase"]["chars"]  # type: ignore[index]
            self.phrases.append((body, counted or _contains("chars", text)))
        return query

    def _weight(self, signal: str) -> float:
        return WEIGHTS[signal] * self.factor

    def node(self, node: PlanNode, positive: bool) -> Clause | None:
        if isinstance(node, AllOf):
            parts = [c for child in node.include if (c := self.node(child, positive))]
            excluded = [c.match for child in node.exclude
                        if (c := self.node(child, positive=False))]
            return self._and(parts, excluded)
        if isinstance(node, AnyOf):
            return self._or([c for child in node.children if (c := self.node(child, positive))])
        if isinstance(node, FieldHas):
            return self._filtered(_contains(node.field, node.value))
        if isinstance(node, DateIn):
            bounds = {}
            if node.start is not None:
                bounds["gte"] = node.start.isoformat()
            if node.end is not None:
                bounds["lte"] = node.end.isoformat()
            return self._filtered({"range": {"date": bounds}})
        if isinstance(node, Exact):
            return self._exact(node)
        return self._words(node, positive)

    @staticmethod
    def _and(parts: list[Clause], excluded: list[DSL]) -> Clause:
        if len(parts) == 1 and not excluded:
            return parts[0]
        if not parts:
            everything = _but({"match_all": {"boost": 0.0}}, excluded)
            return Clause(everything, everything)
        match: DSL = {"bool": {"must": [c.match for c in parts]}}
        if excluded:
            match["bool"]["must_not"] = excluded  # type: ignore[index]
        words = _but(_all([c.words for c in parts]), excluded)
        alternatives = [c.alternative for c in parts if c.alternative is not None]
        return Clause(match, words, _all([_any(alternatives), words]) if alternatives else None)

    @staticmethod
    def _or(parts: list[Clause]) -> Clause | None:
        if not parts:
            return None
        alternatives = [c.alternative for c in parts if c.alternative is not None]
        alternative = None
        if alternatives:  # through an alternative in some part, and as typed in none
            alternative = _but(_any(alternatives), [
                c.words if c.alternative is None else _but(c.words, [c.alternative])
                for c in parts])
        return Clause(_any([c.match for c in parts]), _any([c.words for c in parts]),
                      alternative)

    def _words(self, leaf: Words, positive: bool) -> Clause | None:
        parts = [self._expanded(chunk, positive) if isinstance(chunk, Expanded)
                 else self._chunk(chunk, positive) for chunk in leaf.chunks]
        return self._and(parts, []) if parts else None

    def _chunk(self, chunk: HanRun | LatinWord, positive: bool) -> Clause:
        if isinstance(chunk, HanRun):
            return self._han(chunk, positive)
        return Clause(_term("words", chunk.text, self._weight(WORD)), _term("words", chunk.text))

    def _expanded(self, chunk: Expanded, positive: bool) -> Clause:
        """A chunk as typed or as any of its alternatives, which score ``ALTERNATIVE`` times as
        much; a record matching several forms keeps its best score (``dis_max``)."""
        typed = self._chunk(chunk.typed, positive)
        outer, self.factor = self.factor, self.factor * ALTERNATIVE
        try:
            alternatives = [c for a in chunk.alternatives if (c := self._words(a, positive))]
        finally:
            self.factor = outer
        if not alternatives:
            return typed
        match = {"dis_max": {"queries": [typed.match, *(c.match for c in alternatives)],
                             "tie_breaker": 0.0}}
        through = _but(_any([c.words for c in alternatives]), [typed.words])
        return Clause(match, _any([typed.words, *(c.words for c in alternatives)]), through)

    def _han(self, run: HanRun, positive: bool) -> Clause:
        """A run of Han characters: its words anywhere (tier 1), or the run itself (tier 2)."""
        if positive:
            self.titles.append((run.text, self._weight(TITLE)))
        if not run.words:  # only function words: the text itself is the match
            return Clause(self._phrase(run.text, TEXT), _contains("chars", run.text))
        tier1 = _all([_term("words", w) for w in run.words])
        together: DSL = {"bool": {"must": [_term("words", w, self._weight(WORD))
                                           for w in run.words]}}
        if len(run.words) > 1:
            together["bool"]["should"] = [self._phrase(run.text, TOGETHER)]  # type: ignore[index]
        across: DSL = {"bool": {"must": [self._phrase(run.text, ACROSS)], "must_not": [tier1]}}
        return Clause(_any([together, across]), tier1)

    def _exact(self, leaf: Exact) -> Clause | None:
        if not leaf.chunks:
            return None
        # Latin words must be whole words (or their parts) too; only the phrase scores.
        latin = [_term("words", c.text) for c in leaf.chunks if isinstance(c, LatinWord)]
        found = _contains("chars", leaf.text)
        if latin:
            found = {"bool": {"filter": [found, *latin]}}
        match = self._phrase(leaf.text, TEXT, counted=found)
        if latin:
            match = {"bool": {"must": [match], "filter": latin}}
        return Clause(match, match)

    def _filtered(self, selected: DSL) -> Clause:
        """A filter: it selects, and adds only its constant."""
        return Clause({"constant_score": {"filter": selected, "boost": self._weight(FILTER)}},
                      selected)


class OpenSearchSearcher(Planner):
    """Searches the alias ``settings.opensearch_index`` on a cluster; the same interface and
    results as :class:`search.query.Searcher`.

    A rebuild moves the alias, so every search reads the live index without a reopen. Raises
    :class:`~search.index.IndexNotFound` (or its
    :class:`~search.opensearch.client.ClusterUnavailable`) when there is no usable index.
    """

    def __init__(self, settings: Settings | None = None,
                 client: OpenSearch | None = None) -> None:
        self.settings = settings or load_settings()
        self.alias = self.settings.opensearch_index
        self.client = client or connect(self.settings)
        check_format(index_info(self.client, live_index(self.client, self.alias)), self.alias)
        super().__init__(self.settings)

    def close(self) -> None:
        self.client.close()

    def suggest(self, query: str, limit: int = 10) -> SuggestionList:
        """Completions of what was typed, as on Whoosh (:meth:`search.query.Searcher.suggest`).

        The suggestions are made from one scan of every record's words on the first call of
        each index generation (the live index and its last update), as Whoosh reads its term
        table: seconds per million records, then well under a millisecond per call.
        """
        name = live_index(self.client, self.alias)
        generation = (name, index_info(self.client, name).get("updated_at"))
        return self.suggester_of(generation, lambda: self._read_suggester(name)).suggest(
            query, limit)

    def _read_suggester(self, name: str) -> Suggester:
        words: Counter[str] = Counter()
        articles: dict[str, dict[str, str]] = {}
        with translated("reading the words for suggestions"):
            for hit in helpers.scan(self.client, index=name, query={
                    "_source": ["doc_id", "paragraph", "words", *ARTICLE_FIELDS]}):
                source = hit["_source"]
                words.update(set(source["words"].split(" ")))
                if source["paragraph"] == 0:
                    articles[source["doc_id"]] = {field: chars_text(source[field])
                                                  for field in ARTICLE_FIELDS}
        return Suggester.from_counts(words.items(), articles)

    def search(self, query: str, page: int = 1, per_page: int | None = None,
               explain: bool = False, regional: bool = True, group: str = "paragraph",
               sort: str = "relevance", facets: Sequence[str] = ()) -> ResultPage:
        """One page of results for ``query``, with highlights: paragraphs, articles or stories
        (``group``), best first or by date (``sort``), with counts by source and month over
        every result (``facets``), as :meth:`search.query.Searcher.search` gives them; with
        ``regional``, a word also matches its other regions' forms.

        ``explain`` is accepted and ignored: OpenSearch's scores are not made of our signals
        (its own explanation is the search API's ``explain``). A page outside the limits of
        ``Settings``, or an unknown group, sort or facet, is a ``ParameterError``; a refused
        query a :class:`QueryError`.
        """
        started = time.perf_counter()
        per_page, facets, plan = self._begin(query, page, per_page, group, sort, facets, regional)
        if plan is None:
            return _empty_page(query, page, per_page, group, sort, facets, started)
        compiler = Compiler()
        ranked = sort == "relevance"
        key = GROUP_KEYS.get(group)
        body: DSL = {
            "query": compiler.query(plan.root, self._count, ranked=ranked),
            "from": (page - 1) * per_page,
            "size": per_page,
            "sort": _order(sort, group),
            "track_total_hits": True,
            "_source": HIT_SOURCE,
        }
        if key is not None:
            body["collapse"] = {"field": key, "inner_hits": {
                "name": "shown", "size": 1 + MORE_MATCHES, "_source": HIT_SOURCE,
                "sort": _shown_order(group)}}
        aggregations = _aggregations(key, facets)
        if aggregations:
            body["aggs"] = aggregations
        if group == "story" and sort == "newest":
            found = self._stories_newest(body)
        else:
            found = self._search(body)
        needles = plan.needles()
        bonuses = [] if ranked else compiler.bonuses
        if key is None:
            hits = [self._hit(hit, needles, bonuses) for hit in found["hits"]["hits"]]
            total = found["hits"]["total"]["value"]
        else:
            hits = [self._unit(hit, needles, bonuses) for hit in found["hits"]["hits"]]
            total = found["aggregations"]["total"]["value"]
        if group == "story":
            hits = self._with_copies(hits, [hit["fields"]["story"][0]
                                            for hit in found["hits"]["hits"]])
        facet_counts = None
        if facets:
            facet_counts = {name: self._facet(name, found["aggregations"][name], key,
                                              body["query"]) for name in facets}
        return ResultPage(query, total, page, per_page, _ms(started), hits,
                          expanded=[e.to_dict() for e in plan.expansions], group=group,
                          sort=sort, facets=facet_counts)

    def _search(self, body: DSL) -> dict[str, object]:
        with translated("searching", QueryError):
            return _whole(lambda: self.client.search(index=self.alias, body=body,
                                                     search_type="dfs_query_then_fetch"))

    def _stories_newest(self, body: DSL) -> dict[str, object]:
        """The answer to ``body`` (stories, newest first) as :meth:`_search` would give it.

        A story's date is its earliest matching article's: collapsing oldest first picks that
        article's record in each story, so the stories newest first are the dated ones of a
        list oldest and least relevant first read backwards, then the undated ones (the end of
        the oldest-first list, best first). One search counts the dated stories (and the
        aggregations), one or two more read the page's stretches of those lists. Stories of
        one date are ordered by the record collapsing picks, the least relevant matching record
        of their earliest article, where Whoosh takes each story's best.
        """
        first, size = int(body["from"]), int(body["size"])  # type: ignore[call-overload]
        counted = {**body, "size": 0, "from": 0, "aggs": {
            **body.get("aggs", {}),  # type: ignore[dict-item]
            "dated": {"filter": {"exists": {"field": "date"}},
                      "aggs": {"units": _cardinality("story")}}}}
        del counted["collapse"]
        found = self._search(counted)
        dated = found["aggregations"]["dated"]["units"]["value"]  # type: ignore[index]
        oldest = {**body, "sort": _order("oldest", "story")}
        backwards = {**body, "sort": [{"date": {"order": "asc", "missing": "_last"}},
                                      {"_score": {"order": "asc"}}, {"doc_id": "desc"},
                                      {"paragraph": "desc"}]}
        hits: list[object] = []
        last = first + size
        if first < dated:  # positions first.. of the newest are dated - 1 - first.. backwards
            start = max(0, dated - last)
            part = self._search({**backwards, "from": start, "size": dated - first - start})
            hits += reversed(part["hits"]["hits"])  # type: ignore[index]
        if last > dated:
            start = max(first, dated)
            part = self._search({**oldest, "from": start, "size": last - start})
            hits += part["hits"]["hits"]  # type: ignore[index]
        found["hits"]["hits"] = hits  # type: ignore[index]
        return found

    def _unit(self, hit: dict[str, object], needles: tuple[str, ...],
              bonuses: list[tuple[str, float]]) -> Hit:
        """The hit of an article or story: the shown article's best record, with its other
        matching paragraphs (the inner hits of that article)."""
        inner = hit["inner_hits"]["shown"]["hits"]["hits"]  # type: ignore[index]
        shown = inner[0]["_source"]["doc_id"]
        mine = [h for h in inner if h["_source"]["doc_id"] == shown]
        more = tuple(ParagraphMatch(h["_source"]["paragraph"], snippet(
            h["_source"]["text"], needles, self.settings.snippet_length)) for h in mine[1:])
        return replace(self._hit(mine[0], needles, bonuses), matches=more)

    def _with_copies(self, hits: list[Hit], stories: list[str]) -> list[Hit]:
        """The hits of stories with the story's other articles, earliest published first (as
        :meth:`search.stories.Stories.story` lists them)."""
        if not hits:
            return hits
        with translated("reading the copies of stories", QueryError):
            found = self.client.search(index=self.alias, body={
                "query": {"bool": {"filter": [{"terms": {"story": stories}},
                                              {"term": {"paragraph": 0}}]}},
                "size": 10_000, "_source": ["doc_id", "story", "meta.source", "meta.published"]})
        members: dict[str, list[Copy]] = {}
        for record in found["hits"]["hits"]:
            source = record["_source"]
            members.setdefault(source["story"], []).append(
                Copy(source["doc_id"], source["meta"]["source"], source["meta"]["published"]))
        for copies in members.values():
            copies.sort(key=lambda c: (c.published is None, c.published or "", c.doc_id))
        return [replace(hit, copies=tuple(c for c in members.get(story, [])
                                          if c.doc_id != hit.doc_id))
                for hit, story in zip(hits, stories, strict=True)]

    def _facet(self, name: str, counted: dict[str, object], key: str | None,
               query: DSL) -> list[tuple[str, int]]:
        """(value, count) of one facet from its aggregation: months in order; sources by
        count, each counting the units of every source that contains it, as
        :meth:`search.query.arrange.Arranger._source_counts` counts them."""
        buckets = {b["key"]: (b["units"]["value"] if key else b["doc_count"], b)
                   for b in counted["buckets"]}  # type: ignore[index]
        if name == "month":
            return sorted((month, count) for month, (count, _) in buckets.items())
        values = [v for v in buckets if v and HAN_RUN_RE.search(v)]
        within = {v: [s for s in buckets if v in s] for v in values}
        if key == "story":
            # A story can hold articles of several sources: a source's units are counted by
            # the source filter itself where another source contains it.
            counts = {v: buckets[v][0] for v in values}
            nested = [v for v in values if len(within[v]) > 1]
            if nested:
                counts.update(self._containing_counts(query, nested))
        else:  # a unit has one source: the counts add up
            counts = {v: sum(buckets[s][0] for s in within[v]) for v in values}
        shown = {v: buckets[v][1]["shown"]["hits"]["hits"][0]["_source"]["meta"]["source"]
                 for v in values}
        return sorted(((shown[v], counts[v]) for v in values), key=lambda p: (-p[1], p[0]))

    def _containing_counts(self, query: DSL, values: list[str]) -> dict[str, int]:
        """How many stories have a matching article whose source contains each value."""
        body = {"query": query, "size": 0, "aggs": {"sources": {"filters": {"filters": {
            value: _contains("source", value) for value in values}}, "aggs": {
                "units": _cardinality("story")}}}}
        with translated("counting sources", QueryError):
            found = _whole(lambda: self.client.search(index=self.alias, body=body))
        buckets = found["aggregations"]["sources"]["buckets"]
        return {value: buckets[value]["units"]["value"] for value in values}

    def _count(self, queries: list[DSL]) -> list[int]:
        """How many records each query matches, in one request."""
        body: list[DSL] = []
        for query in queries:
            body += [{}, {"query": query, "size": 0, "track_total_hits": True}]
        with translated("counting", QueryError):
            responses = _whole(lambda: self.client.msearch(index=self.alias, body=body)
                               )["responses"]
        failed = [r["error"] for r in responses if "error" in r]
        if failed:
            raise QueryError(f"counting: OpenSearch answered {failed[0]}")
        return [r["hits"]["total"]["value"] for r in responses]

    def _hit(self, hit: dict[str, object], needles: tuple[str, ...],
             bonuses: Sequence[tuple[str, float]] = ()) -> Hit:
        """A hit of one record; ``bonuses``: the title bonuses its score is still without."""
        source = hit["_source"]
        meta = source["meta"]
        score = float(hit["_score"]) % TIER_OFFSET  # the tiers' offsets taken off
        if bonuses:
            title = normalize(meta["title"]).text
            score += sum(bonus for run, bonus in bonuses if run in title)
        return Hit(doc_id=source["doc_id"], paragraph=source["paragraph"], title=meta["title"],
                   text=source["text"],
                   snippet=snippet(source["text"], needles, self.settings.snippet_length),
                   score=round(score, 4), subtitle=meta["subtitle"], authors=meta["authors"],
                   source=meta["source"], published=meta["published"], editors=meta["editors"])

    def article(self, doc_id: str) -> Article | None:
        """The whole article, or ``None`` for an unknown ``doc_id``."""
        if not doc_id or len(doc_id) > 1000 or "\x00" in doc_id:
            return None
        with translated("reading an article"):
            header = self.client.search(index=self.alias, body={
                "query": {"bool": {"filter": [{"term": {"doc_id": doc_id}},
                                              {"term": {"paragraph": 0}}]}},
                "size": 1, "_source": ["meta"]})["hits"]["hits"]
            if not header:
                return None
            meta = header[0]["_source"]["meta"]
            found = self.client.search(index=self.alias, body={
                "query": {"bool": {"filter": [{"term": {"doc_id": doc_id}},
                                              {"range": {"paragraph": {"gte": 1}}}]}},
                "sort": [{"paragraph": "asc"}], "size": max(1, int(meta["paragraphs"])),
                "_source": ["text"]})
        return Article(doc_id=doc_id, title=meta["title"], subtitle=meta["subtitle"],
                       authors=meta["authors"], source=meta["source"],
                       published=meta["published"], editors=meta["editors"],
                       byline=meta["byline"],
                       paragraphs=[hit["_source"]["text"] for hit in found["hits"]["hits"]])

    def stats(self) -> IndexStats:
        """Counts and times of the live index."""
        info = index_info(self.client, live_index(self.client, self.alias))
        return IndexStats(documents=int(info.get("documents", 0)),
                          paragraphs=int(info.get("paragraphs", 0)),
                          built_at=str(info.get("built_at", "")),
                          updated_at=str(info.get("updated_at", "")))


def _order(sort: str, group: str) -> list[object]:
    """The order of records (and so of the units they collapse into).

    By relevance, ties go as on a fresh Whoosh build (the record indexed later first), but
    within an article the earlier paragraph first, as an article's shown record is; by date,
    undated articles last in either order, ties by relevance, then the earlier record first
    (:meth:`search.query.arrange.Arranger._order`).
    """
    if sort == "relevance":
        within = "asc" if group != "paragraph" else "desc"
        return ["_score", {"doc_id": "desc"}, {"paragraph": within}]
    return [{"date": {"order": "desc" if sort == "newest" else "asc", "missing": "_last"}},
            "_score", {"doc_id": "asc"}, {"paragraph": "asc"}]


def _shown_order(group: str) -> list[object]:
    """The order of a unit's records whose first is the hit shown: its best, or in story
    grouping the best of its earliest published matching article (the others after it)."""
    best = ["_score", {"paragraph": "asc"}]
    if group == "story":
        return [{"date": {"order": "asc", "missing": "_last"}}, {"doc_id": "asc"}, *best]
    return best


def _cardinality(field: str) -> DSL:
    return {"cardinality": {"field": field, "precision_threshold": CARDINALITY_PRECISION}}


def _aggregations(key: str | None, facets: Sequence[str]) -> DSL:
    """The total of units (when grouped) and the facets asked for, each bucket counting units
    (the cardinality of ``key``; records when not grouped)."""
    aggregations: DSL = {"total": _cardinality(key)} if key else {}
    units = {"units": _cardinality(key)} if key else {}
    for name in facets:
        field = "source_key" if name == "source" else "month"
        more: DSL = {"shown": {"top_hits": {"size": 1, "sort": [{"doc_id": "asc"}],
                                            "_source": ["meta.source"]}}} \
            if name == "source" else {}
        aggregations[name] = {"terms": {"field": field, "size": FACET_VALUES},
                              "aggs": {**units, **more}}
    return aggregations


# A node that dies while a search runs can leave a shard's answer out (OpenSearch returns the
# other shards' as a partial result), or fail the whole search when it dies between the
# search's phases (500, search_phase_execution_exception); asked again, the replica answers.
PARTIAL_RETRIES = 3


def _whole(ask: Callable[[], dict[str, object]]) -> dict[str, object]:
    """The answer of ``ask`` (a search or msearch) with every shard in it, asking again while a
    shard failed; :class:`ClusterUnavailable` when shards stay missing."""
    for attempt in range(PARTIAL_RETRIES):
        try:
            answer = ask()
        except os_errors.TransportError as error:
            server_side = isinstance(error.status_code, int) and error.status_code >= 500
            if not server_side or attempt == PARTIAL_RETRIES - 1:
                raise
            time.sleep(0.2)
            continue
        parts = answer.get("responses", [answer])  # type: ignore[union-attr]
        if not any(part.get("_shards", {}).get("failed") for part in parts):  # type: ignore[union-attr]
            return answer
        time.sleep(0.2)
    raise ClusterUnavailable("searching: some shards of the index did not answer, even from "
                             "their replicas")
