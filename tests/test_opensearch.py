"""zhsearch on a real three-node OpenSearch cluster: builds, alias switches, updates, queries,
and the same results as on Whoosh (the cluster is started once per run by conftest)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import SEED, SEED_ID, make_app, zhsearch_command, zhsearch_env
from opensearchpy import OpenSearch
from test_arrange import QUERIES as ARCHIVE_QUERIES
from test_arrange import _articles as archive_articles
from test_synonyms import ARTICLES as SYNONYM_ARTICLES
from test_synonyms import SYNONYMS
from test_vocabulary import ARTICLES as REGIONAL_ARTICLES

from search import engines
from search.analysis import normalize, words
from search.config import Settings, load_settings
from search.errors import ConfigError, ParameterError
from search.index import IndexNotFound, IndexUnusable
from search.opensearch import ClusterUnavailable, OpenSearchSearcher
from search.opensearch.indexing import char_tokens, live_index, word_tokens
from search.query import FACETS, GROUPS, SORTS, ResultPage, Searcher
from web import create_app
from web.searcher import close_searcher

# Queries over every rule of the query language (README "Query language"), in both scripts.
QUERIES = [
    "工业倍增计划", "工業倍增計劃", "強工", "强工", "鎮", "镇", '"招商引资"', '"招商 引资"',
    "工业 -锂电", "工业 NOT 锂电", "锂电 OR 新能源", "(孙枝鸡 OR 马克思) 孵化", "施工", "的",
    "枣庄", "棗莊", "ＩＰＨＯＮＥ", "iphone", "covid", '"iPhone 15"', "3.6.3", "xr", "iphon",
    "孟庄镇", "现代农业", "孵化中心", "title:工业倍增", "标题:锂电", "author:刘振江", "作者:王明",
    "source:枣庄新闻网", "来源:人民网", "date:2023-04-19", "date:2023-04", "date:2022..",
    "date:..2022-12", "date:2023-04..2023-05", "工业 date:2023", "锂电 source:人民网",
    "-工业 枣庄", "(工业 OR 农业) -锂电", '"强工兴产"', "强工兴产", "驻枣", "兴产 倍增",
]
# Within a tier, Lucene keeps each record's length in one byte (exact to 24 or so, then to a
# sixteenth), where Whoosh uses the exact length: two records whose Whoosh scores are this
# close may come in the other order on OpenSearch (the README's "what differs").
CLOSE_SCORES = 0.04


def _settings(urls: list[str], alias: str, sources: tuple[Path, ...], **more: object
              ) -> Settings:
    return load_settings({}, engine="opensearch", opensearch_url=tuple(urls),
                         opensearch_index=alias, sources=sources, **more)


@pytest.fixture(scope="session")
def cluster(opensearch_urls: list[str]) -> OpenSearch:
    client = OpenSearch(opensearch_urls)
    yield client
    client.close()


@pytest.fixture
def fresh_alias(cluster: OpenSearch, request: pytest.FixtureRequest) -> Iterator[str]:
    """An alias name of this test's own; its indexes are deleted afterwards."""
    alias = "t-" + request.node.name.lower().replace("[", "-").replace("]", "")[:60]
    yield alias
    cluster.indices.delete(index=f"{alias}-*", ignore_unavailable=True)


@pytest.fixture(scope="session")
def os_settings(opensearch_urls: list[str], corpus_dir: Path) -> Settings:
    settings = _settings(opensearch_urls, "zhsearch-test-corpus", (corpus_dir,))
    engines.build(settings, procs=2)
    return settings


@pytest.fixture(scope="session")
def os_searcher(os_settings: Settings) -> Iterator[OpenSearchSearcher]:
    searcher = OpenSearchSearcher(os_settings)
    yield searcher
    searcher.close()


@pytest.fixture(scope="session", params=["whoosh", "opensearch"])
def any_searcher(request: pytest.FixtureRequest) -> Searcher | OpenSearchSearcher:
    """The corpus searched on either engine: tests that take it run on both."""
    name = "searcher" if request.param == "whoosh" else "os_searcher"
    return request.getfixturevalue(name)


# --- the tokens sent ---------------------------------------------------------------------------


def test_tokens_are_ours_one_per_character_and_words_padded_to_the_length() -> None:
    assert char_tokens("枣庄 iPhone") == "枣 庄 _s i P h o n e"
    words = word_tokens("奮力實施工業倍增計劃", 10).split(" ")
    assert words[:5] == ["奋力", "实施", "工业", "倍增", "计划"]
    assert words[5:] == ["_"] * 5


# --- parity with Whoosh -------------------------------------------------------------------------


def _assert_same_results(query: str, whoosh: Searcher, opensearch: OpenSearchSearcher,
                         **options: object) -> None:
    """The same total, hits, highlights, metadata and expansions on both engines; the same
    order but for records whose Whoosh scores are within CLOSE_SCORES."""
    expected = whoosh.search(query, per_page=50, explain=True, **options)
    got = opensearch.search(query, per_page=50, **options)
    assert got.total == expected.total
    assert got.expanded == expected.expanded

    def shown(page: object) -> dict[tuple[str, int], tuple[object, ...]]:
        return {(h.doc_id, h.paragraph): (h.highlight, h.title, h.text, h.authors, h.published,
                                          h.source) for h in page.hits}  # type: ignore[attr-defined]

    assert shown(got) == shown(expected)
    # Whoosh's rank of each record: its tier (1, 1.5 through an alternative, 2), then score.
    ranks = {(h.doc_id, h.paragraph): (-h.explanation.tier - 0.5 * h.explanation.alternative,
                                       h.score) for h in expected.hits if h.explanation}
    for before, after in zip(got.hits, got.hits[1:], strict=False):
        (tier_a, a), (tier_b, b) = (ranks[h.doc_id, h.paragraph] for h in (before, after))
        assert tier_a > tier_b or tier_a == tier_b and (
            a >= b or (b - a) <= CLOSE_SCORES * max(a, b)), (query, before, after)


@pytest.mark.parametrize("query", QUERIES)
def test_same_hits_order_and_highlights_as_whoosh(query: str, searcher: Searcher,
                                                  os_searcher: OpenSearchSearcher) -> None:
    _assert_same_results(query, searcher, os_searcher)


# The articles of tests/test_vocabulary.py and tests/test_synonyms.py (with its synonyms file),
# and queries whose words have alternatives there.
ALTERNATIVES = {
    "regional": (REGIONAL_ARTICLES, None, [
        "软件开发", "軟體開發", "文件", "打印机驱动程序", "软件企业", "信息网络", "软件", '"软件"',
        "-软件 企业", "软件 OR 档案", "(软件 OR 文件) 企业", "程序 -打印机"]),
    "synonyms": (SYNONYM_ARTICLES, SYNONYMS, [
        "番茄", "西红柿", "西紅柿", "ai", "人工智能", "手机 价格", "手机价格", "手机",
        "番茄 OR 手机", "价格 -手机", "(ai OR 番茄) 市"]),
}


@pytest.fixture(scope="module")
def alternative_searchers(opensearch_urls: list[str], tmp_path_factory: pytest.TempPathFactory
                          ) -> Iterator[Callable[[str], tuple[Searcher, OpenSearchSearcher]]]:
    """The searchers of one of ALTERNATIVES on both engines, built on first use."""
    opened: dict[str, tuple[Searcher, OpenSearchSearcher]] = {}

    def searchers(corpus: str) -> tuple[Searcher, OpenSearchSearcher]:
        if corpus not in opened:
            articles, synonyms, _ = ALTERNATIVES[corpus]
            source = tmp_path_factory.mktemp(f"{corpus}-articles")
            for name, text in articles.items():
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                (source / name).write_text(text, encoding="utf-8")
            extra: dict[str, object] = {}
            if synonyms:
                extra["synonyms"] = source.parent / f"{corpus}-synonyms.txt"
                extra["synonyms"].write_text(synonyms, encoding="utf-8")  # type: ignore[union-attr]
            whoosh = load_settings({}, index_dir=tmp_path_factory.mktemp(f"{corpus}-index"),
                                   sources=(source,), **extra)
            opensearch = _settings(opensearch_urls, f"zhsearch-test-{corpus}", (source,), **extra)
            engines.build(whoosh, procs=1)
            engines.build(opensearch, procs=1)
            opened[corpus] = (engines.open_searcher(whoosh), OpenSearchSearcher(opensearch))
        return opened[corpus]

    yield searchers
    for pair in opened.values():
        for searcher in pair:
            searcher.close()


@pytest.mark.parametrize("corpus, query", [(corpus, query) for corpus, (_, _, queries)
                                           in ALTERNATIVES.items() for query in queries])
@pytest.mark.parametrize("regional", [True, False])
def test_alternatives_rank_as_on_whoosh(corpus: str, query: str, regional: bool,
                                        alternative_searchers) -> None:  # noqa: ANN001
    _assert_same_results(query, *alternative_searchers(corpus), regional=regional)


def test_most_queries_give_exactly_whoosh_order(searcher: Searcher,
                                                os_searcher: OpenSearchSearcher) -> None:
    keys = lambda page: [(h.doc_id, h.paragraph) for h in page.hits]  # noqa: E731
    same = [q for q in QUERIES if keys(searcher.search(q, per_page=50))
            == keys(os_searcher.search(q, per_page=50))]
    assert len(same) >= 0.85 * len(QUERIES), sorted(set(QUERIES) - set(same))


def test_scores_are_whoosh_scores_up_to_lucenes_rounding_of_lengths(
        searcher: Searcher, os_searcher: OpenSearchSearcher) -> None:
    # Every signal weighs as on Whoosh (k1 + 1, lengths in characters, a run's idf for its
    # phrase, the title bonus): what is left is Lucene's one-byte record lengths.
    assert {h.score for h in os_searcher.search("date:2023-04").hits} == {0.01}
    for query in QUERIES:
        whoosh = {(h.doc_id, h.paragraph): h.score for h in searcher.search(query).hits}
        got = {(h.doc_id, h.paragraph): h.score for h in os_searcher.search(query).hits}
        for record, score in got.items():
            if record in whoosh:
                assert score == pytest.approx(whoosh[record], rel=0.06, abs=0.003), query


@pytest.mark.parametrize("typed", ["枣", "棗莊", "工业", "zz", "zao zhuang", "刘", "锂", "x"])
def test_the_same_suggestions_as_whoosh(typed: str, searcher: Searcher,
                                        os_searcher: OpenSearchSearcher) -> None:
    expected = searcher.suggest(typed).to_dict()
    assert os_searcher.suggest(typed).to_dict() == expected


def test_paging_splits_the_same_list(os_searcher: OpenSearchSearcher) -> None:
    whole = os_searcher.search("的", per_page=20)
    pages = [os_searcher.search("的", page=n, per_page=3) for n in (1, 2, 3, 4)]
    assert [h.doc_id + str(h.paragraph) for p in pages for h in p.hits] == \
        [h.doc_id + str(h.paragraph) for h in whole.hits][:12]


# --- the query rules, on both engines ---------------------------------------------------------


def test_both_scripts_give_the_same_results(any_searcher) -> None:  # noqa: ANN001
    traditional = any_searcher.search("工業倍增計劃")
    simplified = any_searcher.search("工业倍增计划")
    assert traditional.total == simplified.total > 0
    assert [h.highlight for h in traditional.hits] == [h.highlight for h in simplified.hits]


def test_words_rank_above_text_across_word_boundaries(any_searcher) -> None:  # noqa: ANN001
    # 施工 is a word in some paragraphs and only text inside 實施工業 in others (tier 2).
    hits = any_searcher.search("施工", per_page=50).hits
    as_word = [i for i, h in enumerate(hits) if "施工" in {w.term for w in words(h.text)}]
    across = [i for i in range(len(hits)) if i not in as_word]
    assert as_word and across
    assert max(as_word) < min(across)


def test_a_quoted_phrase_is_exact_and_a_substring_is_found(any_searcher) -> None:  # noqa: ANN001
    assert any_searcher.search('"招商 引资"').total == 0
    assert any_searcher.search('"招商引资"').total == 1
    found = any_searcher.search("強工").hits
    assert found and all("強工" in h.text or "强工" in h.text for h in found)


def test_exclusion_and_fields(any_searcher) -> None:  # noqa: ANN001
    with_lidian = any_searcher.search("枣庄 锂电").total
    assert with_lidian > 0
    assert any_searcher.search("枣庄 -锂电").total == any_searcher.search("枣庄").total \
        - with_lidian
    assert {h.doc_id for h in any_searcher.search("author:王明").hits} == {"news/lidian"}
    assert {h.doc_id for h in any_searcher.search("date:2022").hits} == {"news/lidian"}


def test_refused_queries_are_refused_alike(os_searcher: OpenSearchSearcher) -> None:
    from search.query import QueryError

    for query in ("foo:bar", "！？", "-锂电", "字" * 201):
        with pytest.raises(QueryError):
            os_searcher.search(query)
    assert os_searcher.search("   ").total == 0


def test_a_bad_group_sort_or_facet_is_refused_plainly(os_searcher: OpenSearchSearcher,
                                                      os_settings: Settings) -> None:
    for options in ({"group": "nonsense"}, {"sort": "latest"}, {"facets": ("author",)}):
        with pytest.raises(ParameterError, match=next(iter(options))[:5]):
            os_searcher.search("枣庄", **options)
    app = create_app(os_settings)
    try:
        response = app.test_client().get("/api/search?q=%E6%9E%A3&group=nonsense")
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "bad_parameter"
        grouped = app.test_client().get("/api/search?q=%E6%9E%A3&group=story&facets=source")
        assert grouped.status_code == 200 and grouped.get_json()["facets"]["source"]
    finally:
        close_searcher(app)


# --- grouping, date order and facets, on both engines ------------------------------------------


def _facets(page: ResultPage) -> dict[str, dict[str, int]]:
    """The facets with sources normalized: a source written in two forms (新華網, 新华网) is
    shown in the form of whichever of its articles each engine meets first."""
    assert page.facets is not None
    return {name: {normalize(value).text if name == "source" else value: count
                   for value, count in pairs} for name, pairs in page.facets.items()}


def _unit(page: ResultPage) -> dict[object, tuple[object, ...]]:
    """Each hit by its unit, with what it shows: the shown article's date and source, how many
    more matching paragraphs, and the story's other articles."""
    return {(h.doc_id, h.paragraph) if page.group == "paragraph" else h.doc_id: (
        h.published, h.source, len(h.matches or ()), [c.to_dict() for c in h.copies or ()])
        for h in page.hits}


def _assert_same_paragraphs(got: ResultPage, expected: ResultPage,
                            records: dict[tuple[str, int], tuple[float, str]]) -> None:
    """Each unit shows paragraphs of the same Whoosh scores (``records``: score and highlight
    of each matching record), but for those within CLOSE_SCORES, with the same highlights."""
    shown = {h.doc_id: h for h in expected.hits}
    for hit in got.hits:
        mine = [(hit.paragraph, hit.highlight), *((m.paragraph, m.highlight)
                                                  for m in hit.matches or ())]
        other = shown[hit.doc_id]
        theirs = [other.paragraph, *(m.paragraph for m in other.matches or ())]
        for (paragraph, highlight), their in zip(mine, theirs, strict=True):
            a, b = records[hit.doc_id, paragraph][0], records[hit.doc_id, their][0]
            assert abs(a - b) <= CLOSE_SCORES * max(a, b), (hit.doc_id, paragraph, their)
            assert highlight == records[hit.doc_id, paragraph][1]


def _date_key(hit: object) -> tuple[bool, str]:
    published = hit.published  # type: ignore[attr-defined]
    return (published is None, published or "")


def _ordering_score(hit: object, sort: str) -> float:
    """What orders a Whoosh hit among others of its tier (and date): its score, without the
    title bonus in a date order (search.query.arrange.Arranger._relevance)."""
    score = hit.score  # type: ignore[attr-defined]
    if sort == "relevance":
        return score
    return score - sum(s.value for s in hit.explanation.signals  # type: ignore[attr-defined]
                       if s.name == "title")


def _assert_same_arrangement(query: str, whoosh: Searcher, opensearch: OpenSearchSearcher,
                             group: str, sort: str) -> None:
    """The same total, facet counts and units (with what each shows) on both engines, in the
    same order but for units whose Whoosh scores are within CLOSE_SCORES (in a date order:
    of the same date; stories newest first of one date in any order, see
    OpenSearchSearcher._stories_newest)."""
    options = {"group": group, "sort": sort, "facets": FACETS, "per_page": 100}
    expected = whoosh.search(query, explain=True, **options)
    got = opensearch.search(query, **options)
    where = (query, group, sort)
    assert got.total == expected.total, where
    assert _facets(got) == _facets(expected), where
    assert _unit(got) == _unit(expected), where
    if group != "paragraph":
        records = whoosh.search(query, per_page=whoosh.settings.max_per_page)
        assert records.total <= whoosh.settings.max_per_page
        _assert_same_paragraphs(got, expected, {(h.doc_id, h.paragraph): (h.score, h.highlight)
                                                for h in records.hits})
    key = (lambda h: h.doc_id) if group != "paragraph" else (lambda h: (h.doc_id, h.paragraph))
    rank = {key(h): (i, h) for i, h in enumerate(expected.hits)}
    for before, after in zip(got.hits, got.hits[1:], strict=False):
        (i, a), (j, b) = rank[key(before)], rank[key(after)]
        if i > j:  # the other order on Whoosh: allowed only where the scores are as close
            assert sort == "relevance" or _date_key(a) == _date_key(b), where
            if (group, sort) == ("story", "newest"):
                continue
            assert a.explanation.tier == b.explanation.tier, where
            a, b = _ordering_score(a, sort), _ordering_score(b, sort)
            assert abs(a - b) <= CLOSE_SCORES * max(a, b), where


@pytest.mark.parametrize("group, sort", [(g, s) for g in GROUPS for s in SORTS])
def test_the_same_units_order_and_facets_as_whoosh(group: str, sort: str, searcher: Searcher,
                                                   os_searcher: OpenSearchSearcher) -> None:
    for query in QUERIES:
        _assert_same_arrangement(query, searcher, os_searcher, group, sort)


@pytest.fixture(scope="module")
def archive_searchers(opensearch_urls: list[str], tmp_path_factory: pytest.TempPathFactory
                      ) -> Iterator[tuple[Searcher, OpenSearchSearcher]]:
    """The articles and reposts of tests/test_arrange.py (sources, months, undated articles,
    stories) on both engines."""
    source = tmp_path_factory.mktemp("archive-articles")
    for name, text in archive_articles(random.Random(15)):
        (source / name).write_text(text, encoding="utf-8")
    more = {"max_per_page": 1000}
    whoosh = load_settings({}, index_dir=tmp_path_factory.mktemp("archive-index"),
                           sources=(source,), **more)
    opensearch = _settings(opensearch_urls, "zhsearch-test-archive", (source,), **more)
    engines.build(whoosh, procs=1)
    engines.build(opensearch, procs=2)
    pair = (engines.open_searcher(whoosh), OpenSearchSearcher(opensearch))
    yield pair
    for searcher in pair:
        searcher.close()


@pytest.mark.parametrize("group, sort", [(g, s) for g in GROUPS for s in SORTS])
def test_stories_and_facets_as_on_whoosh(group: str, sort: str, archive_searchers) -> None:  # noqa: ANN001
    for query in [*ARCHIVE_QUERIES, "产业", "发展 source:人民网"]:
        _assert_same_arrangement(query, *archive_searchers, group, sort)


def test_stories_newest_first_go_by_their_earliest_matching_copy(archive_searchers) -> None:  # noqa: ANN001
    # Collapsing keeps each story's first record in the search's order; newest first, that
    # would be its newest matching copy: the stories are read oldest first, backwards.
    whoosh, opensearch = archive_searchers
    dates = {h.doc_id: h.published for h in whoosh.search(
        '"发展"', group="article", per_page=1000).hits}  # the matching articles
    pages = [opensearch.search('"发展"', group="story", sort="newest", page=n, per_page=4)
             for n in range(1, 8)]
    hits = [h for page in pages for h in page.hits]
    assert len(hits) == pages[0].total > 8

    def earliest(hit: object) -> tuple[bool, str]:
        found = [dates[d] for d in [hit.doc_id, *(c.doc_id for c in hit.copies)]  # type: ignore[attr-defined]
                 if d in dates and dates[d]]
        assert hit.published == (min(found) if found else None)  # type: ignore[attr-defined]
        return (bool(found), min(found) if found else "")

    assert [earliest(h) for h in hits] == sorted(map(earliest, hits), reverse=True)
    assert [h.doc_id for h in hits] == [h.doc_id for h in whoosh.search(
        '"发展"', group="story", sort="newest", per_page=1000).hits]


def test_an_update_moves_articles_into_their_stories(opensearch_urls: list[str],
                                                     fresh_alias: str, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    story = "\n\n".join(["枣庄锂电产业加快集聚", "来源：人民网 2023-03-01 08:00",
                          *["枣庄锂电产业加快发展，一批新能源项目落地投产，带动就业增长。" * 3,
                            "市委市政府出台扶持政策，园区配套设施不断完善，企业集聚发展。" * 3]])
    (source / "a.txt").write_text(story, encoding="utf-8")
    settings = _settings(opensearch_urls, fresh_alias, (source,))
    whoosh = load_settings({}, index_dir=tmp_path / "index", sources=(source,))
    for each in (settings, whoosh):
        engines.build(each, procs=1)
    # An earlier copy of the article, then a later one: the story's key moves to the earlier.
    (source / "b.txt").write_text(story.replace("2023-03-01", "2023-02-01")
                                  .replace("人民网", "新华网"), encoding="utf-8")
    (source / "c.txt").write_text("转载｜" + story.replace("2023-03-01", "2023-04-01"),
                                  encoding="utf-8")
    for each in (settings, whoosh):
        assert engines.update(each).added == ["b", "c"]
    searchers = (engines.open_searcher(whoosh), OpenSearchSearcher(settings))
    try:
        for query in ("锂电", "扶持政策"):
            pages = [s.search(query, group="story", facets=FACETS) for s in searchers]
            assert [(h.doc_id, [c.doc_id for c in h.copies or ()]) for h in pages[1].hits] == \
                [("b", ["a", "c"])]
            assert _unit(pages[1]) == _unit(pages[0]) and _facets(pages[1]) == _facets(pages[0])
        (source / "b.txt").unlink()
        for each in (settings, whoosh):
            assert engines.update(each).removed == ["b"]
        pages = [s.search("锂电", group="story") for s in searchers]
        assert [(h.doc_id, [c.doc_id for c in h.copies or ()]) for h in pages[1].hits] == \
            [("a", ["c"])]
        assert _unit(pages[1]) == _unit(pages[0])
    finally:
        for searcher in searchers:
            searcher.close()


def test_article_and_stats(os_searcher: OpenSearchSearcher, searcher: Searcher) -> None:
    assert os_searcher.article(SEED_ID) == searcher.article(SEED_ID)
    assert os_searcher.article("nothing-here") is None
    stats = os_searcher.stats()
    assert (stats.documents, stats.paragraphs) == (3, searcher.stats().paragraphs)


# --- builds: a new index, an atomic alias switch ------------------------------------------------


def _indexes(cluster: OpenSearch, alias: str) -> list[str]:
    return sorted(cluster.indices.get(index=f"{alias}-*", allow_no_indices=True))


def test_a_build_switches_the_alias_and_removes_the_old_index(
        cluster: OpenSearch, opensearch_urls: list[str], fresh_alias: str,
        seed_copy: Path) -> None:
    settings = _settings(opensearch_urls, fresh_alias, (seed_copy,))
    report = engines.build(settings, procs=1)
    assert (report.documents, report.paragraphs) == (1, 8)
    first = live_index(cluster, fresh_alias)
    settings_of = cluster.indices.get_settings(index=first)[first]["settings"]["index"]
    assert (settings_of["number_of_shards"], settings_of["number_of_replicas"]) == ("3", "1")
    searcher = OpenSearchSearcher(settings)
    before = searcher.search("枣庄").total
    engines.build(settings, procs=2)
    second = live_index(cluster, fresh_alias)
    assert second != first and _indexes(cluster, fresh_alias) == [second]
    # The open searcher reads through the alias: the new index, without a reopen.
    assert searcher.search("枣庄").total == before > 0
    searcher.close()


def _cluster_env(urls: list[str], alias: str) -> dict[str, str]:
    """The environment of a ``zhsearch`` subprocess on the test cluster's ``alias``."""
    return {**zhsearch_env(), "ZHSEARCH_ENGINE": "opensearch",
            "ZHSEARCH_OPENSEARCH_URL": ",".join(urls), "ZHSEARCH_OPENSEARCH_INDEX": alias}


def _build_under_way(cluster: OpenSearch, urls: list[str], alias: str,
                     source: Path) -> subprocess.Popen[str]:
    """A ``zhsearch build`` of ``source`` in a subprocess, once its new index exists."""
    build = subprocess.Popen(zhsearch_command("build", "--source", str(source), "--procs", "1"),
                             env=_cluster_env(urls, alias), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_indexes(cluster, alias)) < 2 and build.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert build.poll() is None, "the build ended before it could be stopped"
    return build


def test_a_killed_build_leaves_the_alias_and_the_next_build_cleans_up(
        cluster: OpenSearch, opensearch_urls: list[str], fresh_alias: str, seed_copy: Path,
        seed_copies: Path) -> None:
    settings = _settings(opensearch_urls, fresh_alias, (seed_copy,))
    engines.build(settings, procs=1)
    live = live_index(cluster, fresh_alias)
    build = _build_under_way(cluster, opensearch_urls, fresh_alias, seed_copies)
    build.send_signal(signal.SIGKILL)
    build.communicate()
    assert build.returncode == -signal.SIGKILL
    assert live_index(cluster, fresh_alias) == live
    assert len(_indexes(cluster, fresh_alias)) == 2  # the unfinished one, left by the kill
    searcher = OpenSearchSearcher(settings)
    assert searcher.search("枣庄").total > 0
    searcher.close()
    engines.build(settings, procs=1)
    assert _indexes(cluster, fresh_alias) == [live_index(cluster, fresh_alias)]


def test_an_interrupted_build_removes_its_index(cluster: OpenSearch, opensearch_urls: list[str],
                                                fresh_alias: str, seed_copy: Path,
                                                seed_copies: Path) -> None:
    settings = _settings(opensearch_urls, fresh_alias, (seed_copy,))
    engines.build(settings, procs=1)
    live = live_index(cluster, fresh_alias)
    build = _build_under_way(cluster, opensearch_urls, fresh_alias, seed_copies)
    build.send_signal(signal.SIGINT)
    _, stderr = build.communicate(timeout=60)
    assert build.returncode == 1
    assert stderr == "Error: interrupted; the live index is unchanged\n"
    assert live_index(cluster, fresh_alias) == live
    assert _indexes(cluster, fresh_alias) == [live]


def test_nothing_to_index_is_refused_and_the_alias_stays(
        cluster: OpenSearch, opensearch_urls: list[str], fresh_alias: str, seed_copy: Path,
        tmp_path: Path) -> None:
    settings = _settings(opensearch_urls, fresh_alias, (seed_copy,))
    engines.build(settings, procs=1)
    live = live_index(cluster, fresh_alias)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IndexUnusable, match="nothing to index"):
        engines.build(_settings(opensearch_urls, fresh_alias, (empty,)))
    assert _indexes(cluster, fresh_alias) == [live] == [live_index(cluster, fresh_alias)]


# --- updates: only what changed ------------------------------------------------------------------


def test_update_changes_only_the_changed_articles(cluster: OpenSearch,
                                                  opensearch_urls: list[str], fresh_alias: str,
                                                  tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    shutil.copyfile(SEED, source / SEED.name)
    (source / "a.txt").write_text("标题甲\n\n鄂尔多斯的工业园区开工。\n", encoding="utf-8")
    (source / "b.txt").write_text("标题乙\n\n乌兰察布的风电项目。\n\n第二段。\n", encoding="utf-8")
    settings = _settings(opensearch_urls, fresh_alias, (source,))
    engines.build(settings, procs=1)
    name = live_index(cluster, fresh_alias)
    seed_version = cluster.get(index=name, id=f"{SEED_ID}#1")["_seq_no"]

    (source / "a.txt").write_text("标题甲\n\n呼和浩特的工业园区开工。\n", encoding="utf-8")
    (source / "b.txt").unlink()
    (source / "c.txt").write_text("标题丙\n\n包头的稀土产业。\n", encoding="utf-8")
    report = engines.update(settings)
    assert (report.added, report.changed, report.removed) == (["c"], ["a"], ["b"])
    assert live_index(cluster, fresh_alias) == name  # in place, no new index
    assert cluster.get(index=name, id=f"{SEED_ID}#1")["_seq_no"] == seed_version
    searcher = OpenSearchSearcher(settings)
    assert searcher.search("鄂尔多斯").total == 0
    assert searcher.search("呼和浩特").total == 1
    assert searcher.search("乌兰察布").total == 0
    assert searcher.search("第二段").total == 0
    assert searcher.search("稀土").total == 1
    assert (searcher.stats().documents, searcher.stats().paragraphs) == (3, 8 + 1 + 1)
    searcher.close()
    nothing = engines.update(settings)
    assert (nothing.added, nothing.changed, nothing.removed) == ([], [], [])


def test_update_without_an_index_says_to_build(opensearch_urls: list[str], fresh_alias: str,
                                               seed_copy: Path) -> None:
    with pytest.raises(IndexNotFound, match="zhsearch build"):
        engines.update(_settings(opensearch_urls, fresh_alias, (seed_copy,)))


# --- the command, the API, an unreachable cluster ------------------------------------------------


def test_the_command_builds_and_queries_on_the_cluster(opensearch_urls: list[str],
                                                       fresh_alias: str, seed_copy: Path,
                                                       tmp_path: Path) -> None:
    env = _cluster_env(opensearch_urls, fresh_alias)
    run: Callable[..., subprocess.CompletedProcess[str]] = lambda *args: subprocess.run(  # noqa: E731
        zhsearch_command(*args), env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False)
    built = run("build", "--source", str(seed_copy))
    assert built.returncode == 0, built.stderr
    assert "1 documents, 8 paragraphs" in built.stdout + built.stderr
    found = run("query", "工業倍增計劃", "--json")
    assert found.returncode == 0, found.stderr
    assert '"total": 4' in found.stdout and "<mark>工業倍增計劃</mark>" in found.stdout
    assert not (tmp_path / "index").exists()  # nothing written where Whoosh's index would go


def test_the_api_answers_the_same_on_both_engines(os_settings: Settings,
                                                  index_dir: Path) -> None:
    on_cluster = create_app(os_settings)
    on_cluster.testing = True
    on_disk = make_app(index_dir)
    try:
        for url in ("/api/search?q=%E5%B7%A5%E4%B8%9A&per_page=5", f"/api/doc/{SEED_ID}",
                    "/api/suggest?q=%E6%9E%A3"):
            a = on_cluster.test_client().get(url).get_json()
            b = on_disk.test_client().get(url).get_json()
            a.pop("took_ms", None)
            b.pop("took_ms", None)
            for hits in (a.get("hits", []), b.get("hits", [])):
                for hit in hits:
                    hit.pop("score")
            assert a == b, url
        health = on_cluster.test_client().get("/healthz")
        assert health.status_code == 200 and health.get_json()["documents"] == 3
    finally:
        close_searcher(on_cluster)
        close_searcher(on_disk)


def test_an_unreachable_cluster_is_a_503_with_the_reason() -> None:
    settings = load_settings({}, engine="opensearch", opensearch_url=("http://127.0.0.1:9",),
                             opensearch_timeout=2.0)
    with pytest.raises(ClusterUnavailable, match="cannot reach the OpenSearch cluster"):
        OpenSearchSearcher(settings)
    app = create_app(load_settings({"ZHSEARCH_ENGINE": "opensearch",
                                    "ZHSEARCH_OPENSEARCH_URL": "http://127.0.0.1:9",
                                    "ZHSEARCH_OPENSEARCH_TIMEOUT": "2"}))
    app.testing = True
    client = app.test_client()
    for url in ("/healthz", "/api/search?q=枣庄"):
        response = client.get(url)
        assert response.status_code == 503, url
        error = response.get_json()["error"]
        assert error["code"] == "cluster_unavailable" and "cannot reach" in error["message"]
        assert response.headers["Retry-After"]


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="ZHSEARCH_ENGINE must be one of whoosh, opensearch"):
        load_settings({"ZHSEARCH_ENGINE": "solr"})
    with pytest.raises(ConfigError, match="not an http"):
        load_settings({"ZHSEARCH_ENGINE": "opensearch", "ZHSEARCH_OPENSEARCH_URL": "node:9200"})
    settings = load_settings({"ZHSEARCH_OPENSEARCH_URL": "http://a:9200, https://b:9200/",
                              "ZHSEARCH_OPENSEARCH_VERIFY_CERTS": "0",
                              "ZHSEARCH_OPENSEARCH_TIMEOUT": "2.5",
                              "ZHSEARCH_OPENSEARCH_PASSWORD": "secret"})
    assert settings.opensearch_url == ("http://a:9200", "https://b:9200")
    assert settings.opensearch_verify_certs is False and settings.opensearch_timeout == 2.5
    assert "secret" not in repr(settings)
    assert os.environ.get("ZHSEARCH_ENGINE", "whoosh") == load_settings().engine
