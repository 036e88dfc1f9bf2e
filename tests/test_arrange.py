"""Grouping (paragraph, article, story), sorting and facets, against brute force over the files."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import opencc
import pytest

from search.analysis import normalize
from search.config import load_settings
from search.documents import Document, iter_documents
from search.index import build, current_build
from search.query import Searcher, arrange
from search.stories import Stories

SENTENCES = [
    "枣庄锂电产业加快发展，一批新能源项目落地投产。",
    "现代农业孵化中心今年建成，带动周边农户增收。",
    "全市深化强工兴产，实施工业倍增计划。", "新能源汽车产业链不断延伸，配套企业集聚发展。",
    "招商引资成效明显，重点项目开工建设。", "乡村振兴稳步推进，特色产业发展壮大。",
    "科技创新平台建设提速，研发投入持续增长。", "文化旅游融合发展，游客数量创下新高。",
    "生态环境持续改善，空气质量优良天数增加。", "民生实事全面落实，群众满意度不断提升。",
]
SOURCES = ["人民网", "人民网客户端", "新华网", "澎湃新闻", "Reuters", ""]
MONTHS = ["2023-01", "2023-02", "2023-03", "2023-04"]
QUERIES = ['"发展"', '"产业"', '"新能源"', '"项目"', '"增"', '"发展" source:人民网',
           '"产业" date:2023-02', '"工业倍增"', '"没有这段话"']


def _articles(rng: random.Random) -> Iterator[tuple[str, str]]:
    """(file name, text) of 24 articles and 10 reposts, dated, undated, from several sources."""
    to_traditional = opencc.OpenCC("s2t").convert
    originals = []
    for n in range(24):
        paragraphs = ["".join(rng.sample(SENTENCES, rng.randint(1, 3)))
                      for _ in range(rng.randint(2, 4))]
        source = rng.choice(SOURCES)
        date = f"{rng.choice(MONTHS)}-{rng.randint(10, 28)} 08:00" if n % 5 else ""
        byline = " ".join(part for part in (source and f"来源：{source}", date) if part)
        title = f"第{n}号报道：{rng.choice(['产业', '民生', '科技', '农业'])}观察"
        originals.append((title, paragraphs))
        yield f"a{n:02d}.txt", "\n\n".join([title, *([byline] if byline else []), *paragraphs])
    for n, (title, paragraphs) in enumerate(rng.sample(originals, 10)):
        later = f"2023-05-{n + 1:02d} 09:00"
        text = "\n\n".join([f"转载｜{title}", f"来源：{rng.choice(SOURCES[:4])} {later}",
                            *paragraphs, "（责任编辑：张伟）"])
        yield f"r{n:02d}.txt", to_traditional(text)


@pytest.fixture(scope="module")
def archive_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("archive")
    for name, text in _articles(random.Random(15)):
        (source / name).write_text(text, encoding="utf-8")
    return source


@pytest.fixture(scope="module")
def archive(archive_source: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Searcher, Path]]:
    index = tmp_path_factory.mktemp("archive-index")
    build([archive_source], index, procs=1)
    searcher = Searcher(index, load_settings({"ZHSEARCH_MAX_PER_PAGE": "1000"}))
    yield searcher, index
    searcher.close()


@pytest.fixture(params=["lists", "arrays"])
def arranging(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test of the arrangement twice: in Python lists (what this corpus's few matches take)
    and in NumPy arrays (what a query matching hundreds of records takes)."""
    if request.param == "arrays":
        monkeypatch.setattr(arrange, "VECTORIZE_ABOVE", 0)


class Truth:
    """What a query must return, found by reading every file and checking every record."""

    def __init__(self, index: Path, source: Path) -> None:
        self.docs = {d.doc_id: d for d in iter_documents([source]) if isinstance(d, Document)}
        stories = Stories.load(current_build(index))
        assert stories is not None
        self.story_id = stories.story_id

    def matching(self, phrase: str, *sources: str | None, month: str | None = None
                 ) -> dict[str, list[int]]:
        """doc_id -> the numbers of its records (0: header) holding the quoted phrase, of the
        articles whose source holds each of ``sources`` and published in ``month``."""
        needle = normalize(phrase).text
        found: dict[str, list[int]] = {}
        for doc_id, doc in self.docs.items():
            if any(normalize(source).text not in normalize(doc.source).text
                   for source in sources if source is not None):
                continue
            if month is not None and (doc.published is None
                                      or doc.published.strftime("%Y-%m") != month):
                continue
            texts = [doc.header, *doc.paragraphs]
            numbers = [i for i, text in enumerate(texts)
                       if needle in normalize(doc.masked(text)).text]
            if numbers:
                found[doc_id] = numbers
        return found

    def units(self, found: dict[str, list[int]], group: str) -> set[object]:
        if group == "paragraph":
            return {(doc_id, n) for doc_id, numbers in found.items() for n in numbers}
        if group == "article":
            return set(found)
        return {self.story_id(doc_id) for doc_id in found}


@pytest.fixture(scope="module")
def truth(archive: tuple[Searcher, Path], archive_source: Path) -> Truth:
    return Truth(archive[1], archive_source)


def _parse(query: str) -> tuple[str, str | None, str | None]:
    phrase, source, month = "", None, None
    for part in query.split():
        if part.startswith("source:"):
            source = part.removeprefix("source:")
        elif part.startswith("date:"):
            month = part.removeprefix("date:")
        else:
            phrase = part.strip('"')
    return phrase, source, month


def _all_pages(searcher: Searcher, query: str, per_page: int = 3, **options: object
               ) -> list[list[dict]]:
    pages, page = [], 1
    while True:
        result = searcher.search(query, page=page, per_page=per_page, **options).to_dict()
        if not result["hits"]:
            return pages
        pages.append(result["hits"])
        page += 1


@pytest.mark.parametrize("group", ["paragraph", "article", "story"])
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.usefixtures("arranging")
def test_totals_and_facets_equal_brute_force(archive: tuple[Searcher, Path], truth: Truth,
                                            group: str, query: str) -> None:
    searcher, _ = archive
    phrase, source, month = _parse(query)
    found = truth.matching(phrase, source, month=month)

    result = searcher.search(query, per_page=1000, group=group, facets=["source", "month"])

    assert result.total == len(truth.units(found, group)) == len(result.hits)
    assert result.facets is not None
    months = {d.published.strftime("%Y-%m") for d in truth.docs.values() if d.published}
    expected_months = {value: len(truth.units(truth.matching(phrase, source, month=value),
                                              group))
                       for value in months if month in (None, value)}
    assert dict(result.facets["month"]) == {k: v for k, v in expected_months.items() if v}
    # Every source of a matching article that has a Han character (source: needs one).
    written = {truth.docs[doc_id].source for doc_id in found}
    expected_sources = {
        normalize(value).text: len(truth.units(truth.matching(phrase, source, value,
                                                              month=month), group))
        for value in written if any("\u4e00" <= ch <= "\u9fff" for ch in value)}
    assert {normalize(v).text: c for v, c in result.facets["source"]} == expected_sources


@pytest.mark.parametrize("group", ["paragraph", "article", "story"])
@pytest.mark.usefixtures("arranging")
def test_a_facet_count_is_what_its_clause_returns(archive: tuple[Searcher, Path],
                                                  group: str) -> None:
    searcher, _ = archive
    result = searcher.search('"发展"', group=group, facets=["source", "month"])
    assert result.facets and result.facets["source"] and result.facets["month"]
    for value, count in result.facets["source"]:
        assert searcher.search(f'"发展" source:"{value}"', group=group).total == count
    for value, count in result.facets["month"]:
        assert searcher.search(f'"发展" date:{value}', group=group).total == count


@pytest.mark.parametrize("group", ["paragraph", "article", "story"])
@pytest.mark.parametrize("sort", ["newest", "oldest"])
@pytest.mark.usefixtures("arranging")
def test_date_order_holds_across_pages_and_undated_come_last(
        archive: tuple[Searcher, Path], group: str, sort: str) -> None:
    searcher, _ = archive
    pages = _all_pages(searcher, '"发展"', group=group, sort=sort)
    dates = [hit["published"] for hits in pages for hit in hits]
    dated = [datetime.fromisoformat(d) for d in dates if d is not None]
    assert len(pages) > 2 and dated and None in dates
    assert dates[len(dated):] == [None] * (len(dates) - len(dated))  # undated after dated
    assert dated == sorted(dated, reverse=sort == "newest")


@pytest.mark.parametrize("sort", ["relevance", "newest", "oldest"])
@pytest.mark.usefixtures("arranging")
def test_no_unit_twice_across_pages(archive: tuple[Searcher, Path], truth: Truth,
                                    sort: str) -> None:
    searcher, _ = archive
    articles = [hit["doc_id"] for hits in _all_pages(searcher, '"发展"', group="article",
                                                      sort=sort) for hit in hits]
    assert len(articles) == len(set(articles)) == len(truth.matching("发展"))
    stories = [truth.story_id(hit["doc_id"]) for hits in _all_pages(
        searcher, '"发展"', group="story", sort=sort) for hit in hits]
    assert len(stories) == len(set(stories)) == len(truth.units(truth.matching("发展"),
                                                               "story"))
    paragraphs = [(hit["doc_id"], hit["paragraph"]) for hits in _all_pages(
        searcher, '"发展"', sort=sort) for hit in hits]
    assert len(paragraphs) == len(set(paragraphs)) == len(truth.units(truth.matching("发展"),
                                                                     "paragraph"))


def test_article_hits_carry_their_other_matching_paragraphs(archive: tuple[Searcher, Path],
                                                            truth: Truth) -> None:
    searcher, _ = archive
    found = truth.matching("发展")
    for hit in searcher.search('"发展"', per_page=1000, group="article").hits:
        numbers = [hit.paragraph, *(m.paragraph for m in hit.matches or ())]
        assert len(numbers) == min(3, len(found[hit.doc_id]))
        assert set(numbers) <= set(found[hit.doc_id])
        assert all("<mark>" in m.to_dict()["highlight"] for m in hit.matches or ())


@pytest.mark.usefixtures("arranging")
def test_a_story_shows_its_earliest_matching_copy_and_lists_the_others(
        archive: tuple[Searcher, Path], truth: Truth) -> None:
    searcher, index = archive
    stories = Stories.load(current_build(index))
    assert stories is not None and len(stories.groups()) >= 5
    result = searcher.search('"发展"', per_page=1000, group="story")
    with_copies = [hit for hit in result.hits if hit.copies]
    assert with_copies
    found = truth.matching("发展")
    for hit in result.hits:
        members = stories.story(hit.doc_id)
        assert [c.doc_id for c in hit.copies or ()] == [d for d in members if d != hit.doc_id]
        matching = [d for d in members if d in found]
        earliest = min(matching, key=lambda d: (truth.docs[d].published is None,
                                                truth.docs[d].published or datetime.min, d))
        assert hit.doc_id == earliest
        for copy in hit.copies or ():
            assert copy.source == truth.docs[copy.doc_id].source


def test_bad_group_sort_or_facet_is_refused(archive: tuple[Searcher, Path]) -> None:
    searcher, _ = archive
    with pytest.raises(ValueError, match="group must be one of paragraph, article, story"):
        searcher.search("发展", group="site")
    with pytest.raises(ValueError, match="sort must be one of relevance, newest, oldest"):
        searcher.search("发展", sort="best")
    with pytest.raises(ValueError, match="facet must be one of source, month"):
        searcher.search("发展", facets=["author"])


def test_an_empty_query_has_empty_facets(archive: tuple[Searcher, Path]) -> None:
    searcher, _ = archive
    result = searcher.search("", group="story", facets=["source", "month"]).to_dict()
    assert result["total"] == 0 and result["facets"] == {"source": [], "month": []}
    assert result["group"] == "story"
