"""The searcher: one index folder's lifecycle (open, follow rebuilds and updates, close) and
its caches, running each query through the stages of this package.

    syntax.parse -> plan.plan_query -> execute.Execution -> rank.rank -> highlight.snippet
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jieba
from whoosh import index as whoosh_index

from search.analysis import UserWord, load_user_dict, normalize, use_user_words
from search.config import Settings, load_settings
from search.errors import ParameterError
from search.index import (
    IndexNotFound,
    build_info,
    check_format,
    current_build,
    recorded_user_dict,
)
from search.query import rank
from search.query.arrange import FACETS, GROUPS, SORTS, Arranger, Layout
from search.query.execute import Execution, IndexTerms
from search.query.highlight import highlight, snippet
from search.query.plan import Expanded, HanRun, Plan, QueryError, Words, plan_query
from search.query.records import Records
from search.query.results import Article, Copy, Hit, IndexStats, ParagraphMatch, ResultPage
from search.stories import Stories
from search.suggest import VOCABULARY_FILE, Suggester, SuggestionList, is_pinyin
from search.vocabulary import SynonymFile, Thesaurus, regional_vocabulary
from search.whoosh_adapter import next_commit_path

# How often a searcher looks for a rebuilt or updated index, in seconds.
REFRESH_SECONDS = 0.5
# An article or story hit shows its best paragraph and up to this many more.
MORE_MATCHES = 2


class Planner:
    """What a searcher of either engine plans queries with: the settings, the synonyms file
    (re-read when it changes) and the regional words; and the highlights of a whole article,
    which need only the plan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._settings_words: tuple[UserWord, ...] | None = None
        jieba.initialize()  # load the dictionary now, not on the first query
        use_user_words(self.user_words())
        regional_vocabulary()  # the regional words, read once per process
        # The synonyms file, re-read when it changes; ``synonyms.problems`` says what was not.
        self.synonyms = SynonymFile(self.settings.synonyms)
        self._merged: tuple[Thesaurus, Thesaurus] | None = None  # synonyms, with regional
        self._suggester: tuple[object, Suggester] | None = None  # of one index generation
        self._suggester_lock = threading.Lock()

    def suggester_of(self, generation: object, make: Callable[[], Suggester]) -> Suggester:
        """The suggestions of index ``generation``, made by ``make`` on its first use."""
        made = self._suggester
        if made is None or made[0] != generation:
            with self._suggester_lock:
                made = self._suggester
                if made is None or made[0] != generation:
                    made = self._suggester = (generation, make())
        return made[1]

    def user_words(self) -> tuple[UserWord, ...]:
        """The user dictionary's words that queries are cut with, as the index's text was:
        here those of the settings' file, read once (a searcher whose index records the words
        it was cut with overrides this)."""
        if self._settings_words is None:
            self._settings_words = load_user_dict(self.settings.user_dict).words
        return self._settings_words

    def plan(self, query: str, regional: bool = True) -> Plan | None:
        """The checked plan of ``query`` (see :func:`~search.query.plan.plan_query`), its
        words expanded with their synonyms, and their regional forms unless ``regional`` is
        off."""
        # A no-op unless the words changed (an update) or another searcher changed them.
        use_user_words(self.user_words())
        return plan_query(query, self.settings, self.thesaurus(regional))

    def thesaurus(self, regional: bool = True) -> Thesaurus | None:
        """The alternatives a query word also matches: the synonyms file's (as it is now),
        then, with ``regional``, the regional words; None when there are none."""
        synonyms = self.synonyms.current()
        if not regional:
            return synonyms if len(synonyms) else None
        if not len(synonyms):
            return regional_vocabulary()
        merged = self._merged
        if merged is None or merged[0] is not synonyms:
            merged = self._merged = (synonyms, synonyms.merged(regional_vocabulary()))
        return merged[1]

    def highlight_article(self, article: Article, query: str,
                          regional: bool = True) -> list[str]:
        """Each body paragraph as escaped HTML with the query's matches marked (those of the
        words' alternatives too, unless ``regional`` is off)."""
        try:
            plan = self.plan(query, regional)
        except QueryError:
            plan = None
        needles = plan.needles() if plan else ()
        return [highlight(p, needles) for p in article.paragraphs]

    def _begin(self, query: str, page: int, per_page: int | None, group: str, sort: str,
               facets: Sequence[str], regional: bool
               ) -> tuple[int, tuple[str, ...], Plan | None]:
        """What a search of either engine starts with, once its parameters are checked: the
        page size (the settings' when None), the facets asked for (each once) and the query's
        plan (None when it plans to nothing).

        Raises :class:`ParameterError` for a page or page size outside the limits of the
        settings, or an unknown group, sort or facet; :class:`QueryError` for a refused query.
        """
        per_page = self.settings.per_page if per_page is None else per_page
        self.settings.check_page(page, per_page)
        _check_choice("group", group, GROUPS)
        _check_choice("sort", sort, SORTS)
        for name in facets:
            _check_choice("facet", name, FACETS)
        return per_page, tuple(dict.fromkeys(facets)), self.plan(query, regional)


class Searcher(Planner):
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
        self._stories_key: object = None
        self._stories_cache = Stories()
        self._layouts: dict[object, Layout] = {}  # by index generation
        # Every thread's Whoosh searcher, so that close() can close them all.
        self._open_searchers: set[object] = set()
        self._words: tuple[object, tuple[UserWord, ...]] | None = None  # of one generation
        self._open()
        super().__init__(self.settings)

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

    def user_words(self) -> tuple[UserWord, ...]:
        """The user words the live index generation was cut with (as its build records them;
        the settings' file for a build that records none): queries are cut alike, whatever
        the file says now, until ``zhsearch update`` applies it to the index."""
        if getattr(self._local, "searcher", None) is None:  # not searched yet: open none
            key: tuple[object, object] = (self._build_dir, None)
        else:
            key = (self._local.build_dir, self._whoosh().reader().generation())
        words = self._words
        if words is None or words[0] != key:
            recorded = recorded_user_dict(key[0])
            words = self._words = (key, recorded.words if recorded is not None
                                   else super().user_words())
        return words[1]

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
        # A commit writes the table of contents of the next generation: one stat a query.
        local.next_commit = next_commit_path(self._index, fresh)
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

    def search(self, query: str, page: int = 1, per_page: int | None = None,
               explain: bool = False, regional: bool = True, group: str = "paragraph",
               sort: str = "relevance", facets: Sequence[str] = ()) -> ResultPage:
        """One page of results for ``query``, with highlights: paragraphs, articles or stories
        (``group``), best first or by date (``sort``), with counts by source and month over
        every result (``facets``); with ``explain``, each hit says how its score was made. A
        word also matches its synonyms and, with ``regional``, its other regions' forms (软件,
        軟體), listed in the page's ``expanded``.

        Raises :class:`QueryError` for a refused query, :class:`ParameterError` for a page or
        page size outside the limits of the settings, or an unknown group, sort or facet.
        """
        started = time.perf_counter()
        per_page, facets, plan = self._begin(query, page, per_page, group, sort, facets, regional)
        if plan is None:
            return _empty_page(query, page, per_page, group, sort, facets, started)
        searcher = self._whoosh()
        records = self._records(searcher)
        execution = Execution(IndexTerms(searcher, records), rank.Scorer(records))
        matches = execution.run(plan.root)
        first, last = (page - 1) * per_page, page * per_page
        stories = self._stories(records) if group == "story" else None
        arranger = Arranger(matches, records, execution.titles, self._layout_of(records),
                            stories)
        arranged = arranger.page(group, sort, first, last, facets)
        shown = [unit.records[0] for unit in arranged.units]
        explanations: dict[int, rank.Explanation] = {}
        if explain and shown:
            # Again, with scores that carry their signals for the page's records (the terms
            # are read already).
            execution.scorer = rank.ExplainingScorer(records, shown)
            explained = execution.run(plan.root)
            explanations = {d: rank.explain(explained, records, execution.titles, d)
                            for d in shown}
        needles = plan.needles()
        hits = []
        for unit in arranged.units:
            d = unit.records[0]
            score = rank.with_title(matches.score(d), records, d, execution.titles) \
                if execution.titles else matches.score(d)
            more = None if group == "paragraph" else tuple(
                ParagraphMatch(records.paragraph(m), snippet(
                    records.originals[m], needles, self.settings.snippet_length))
                for m in unit.records[1:1 + MORE_MATCHES])
            copies = None if stories is None else tuple(
                self._copy(searcher, records, doc_id)
                for doc_id in stories.story(unit.doc_id) if doc_id != unit.doc_id)
            hits.append(self._hit(searcher, records, d, score, needles, explanations.get(d),
                                  more, copies))
        facet_counts = None
        if arranged.facets is not None:
            facet_counts = dict(arranged.facets)
            if "source" in facet_counts:
                facet_counts["source"] = [
                    (self._article_meta(searcher, records, arranger.examples[value])["source"],
                     count) for value, count in facet_counts["source"]]
        return ResultPage(query, arranged.total, page, per_page, _ms(started), hits,
                          expanded=[e.to_dict() for e in plan.expansions], group=group,
                          sort=sort, facets=facet_counts,
                          did_you_mean=self.did_you_mean(query, regional, arranged.total))

    def did_you_mean(self, query: str, regional: bool = True, total: int = 0) -> str | None:
        """A query to offer instead of ``query`` (which found ``total``), or None: for pinyin,
        the characters it spells (枣庄 for ``zaozhuang``); when nothing was found, the query
        with a word's regional form (only with ``regional`` off: on, they were searched), or
        the query without its rarest word. Only a query that finds something is offered; no
        edit distance over Han characters (a one-character change is another word)."""
        if is_pinyin(query):
            characters = self._suggester_now().characters(query)
            if characters and self._total(characters, regional):
                return characters
        if total:
            return None
        candidates = []
        if not regional:
            plan = self._plan_or_none(query, True)
            candidates += [query.replace(e.typed, e.to, 1) for e in plan.expansions] \
                if plan else []
        candidates += self._without_rarest(query, regional)
        return next((c for c in candidates if c.strip() and self._total(c, regional)), None)

    def _without_rarest(self, query: str, regional: bool) -> list[str]:
        """``query`` without the part that finds the fewest paragraphs: a space-separated part,
        or, in one run of Chinese, one of its words."""
        parts = query.split()
        if len(parts) > 1:
            rarest = min(range(len(parts)), key=lambda i: self._total(parts[i], regional))
            return [" ".join(parts[:rarest] + parts[rarest + 1:])]
        plan = self._plan_or_none(query, regional)
        run = plan.root.chunks[0] if plan and isinstance(plan.root, Words) and \
            len(plan.root.chunks) == 1 else None
        run = run.typed if isinstance(run, Expanded) else run
        if not isinstance(run, HanRun) or len(run.words) < 2 or \
                normalize(query).text != run.text:  # the same characters as typed, in place
            return []
        rarest = min(run.words, key=lambda w: self._total(w, regional))
        at = run.text.index(rarest)
        return [query[:at] + query[at + len(rarest):]]

    def _plan_or_none(self, query: str, regional: bool) -> Plan | None:
        try:
            return self.plan(query, regional)
        except QueryError:
            return None

    def _total(self, query: str, regional: bool) -> int:
        """How many paragraphs ``query`` finds (0 for a refused one)."""
        plan = self._plan_or_none(query, regional)
        if plan is None:
            return 0
        searcher = self._whoosh()
        records = self._records(searcher)
        return len(Execution(IndexTerms(searcher, records), rank.Scorer(records))
                   .run(plan.root).records)

    def _suggester_now(self) -> Suggester:
        """The suggestions of the current index generation: the vocabulary its build or
        update saved beside it (loaded again when that file changes: an update saves it just
        after its commit), or, for a build that has none, made from the index on first use."""
        searcher = self._whoosh()
        records = self._records(searcher)
        path = Path(records.generation[0]) / VOCABULARY_FILE  # type: ignore[index]
        try:
            saved = path.stat()
            key: object = (records.generation, saved.st_mtime_ns, saved.st_size, saved.st_ino)
        except OSError:
            key = (records.generation, None)

        def make() -> Suggester:
            try:
                return Suggester.load(path)
            except (OSError, ValueError):
                return Suggester.from_index(searcher.reader(), records.articles)

        return self.suggester_of(key, make)

    def suggest(self, query: str, limit: int = 10) -> SuggestionList:
        """Completions of what was typed (titles, people, places, organizations, frequent
        words; pinyin too), most frequent first, in the script typed.

        The vocabulary is the one the build (or the last update) saved beside the index,
        loaded in milliseconds on the first call (see "Suggestions" in the README).
        """
        return self._suggester_now().suggest(query, limit)

    def _hit(self, searcher, records: Records, docnum: int, score: float,  # noqa: ANN001
             needles: tuple[str, ...], explanation: rank.Explanation | None,
             matches: tuple[ParagraphMatch, ...] | None = None,
             copies: tuple[Copy, ...] | None = None) -> Hit:
        doc_id, text = records.doc_ids[docnum], records.originals[docnum]
        meta = self._article_meta(searcher, records, doc_id)
        return Hit(
            doc_id=doc_id, paragraph=records.paragraph(docnum), title=meta["title"], text=text,
            snippet=snippet(text, needles, self.settings.snippet_length),
            score=round(float(score), 4), subtitle=meta["subtitle"], authors=meta["authors"],
            source=meta["source"], published=meta["published"], editors=meta["editors"],
            explanation=explanation, original_url=meta.get("url") or "", matches=matches,
            copies=copies)

    def _copy(self, searcher, records: Records, doc_id: str) -> Copy:  # noqa: ANN001
        meta = self._article_meta(searcher, records, doc_id)
        return Copy(doc_id, meta["source"], meta["published"])

    def _stories(self, records: Records) -> Stories:
        """The stories of the records' index generation, read once (an article missing from
        them, or a build without them, is a story of its own)."""
        key = records.generation  # (build folder, Whoosh generation)
        with self._records_lock:
            if self._stories_key != key:
                self._stories_cache = Stories.load(key[0]) or Stories()  # type: ignore[index]
                self._stories_key = key
            return self._stories_cache

    def _layout_of(self, records: Records) -> Layout:
        """The arrays that group, sort and count the records' index generation, made once."""
        layout = self._layouts.get(records.generation)
        if layout is None:
            with self._records_lock:
                layout = self._layouts.get(records.generation)
                if layout is None:
                    layout = Layout(records)
                    # Keep the previous generation's too: threads switch over one by one.
                    self._layouts = dict(list(self._layouts.items())[-1:]) | {
                        records.generation: layout}
        return layout

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

    def stats(self) -> IndexStats:
        """Counts and times of the live index."""
        self._whoosh()
        assert self._build_dir is not None
        info = build_info(self._build_dir)
        return IndexStats(documents=int(info.get("documents", 0)),
                          paragraphs=int(info.get("paragraphs", 0)),
                          built_at=str(info.get("built_at", "")),
                          updated_at=str(info.get("updated_at", "")))


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _empty_page(query: str, page: int, per_page: int, group: str, sort: str,
                facets: tuple[str, ...], started: float) -> ResultPage:
    """The page of a query that plans to nothing (only function words, say)."""
    return ResultPage(query, 0, page, per_page, _ms(started), [], group=group, sort=sort,
                      facets={name: [] for name in facets} if facets else None)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
