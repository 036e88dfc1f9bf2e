"""Query semantics, ranking and highlighting on the seed article and simplified articles."""

from __future__ import annotations

import html
import random
import re
from pathlib import Path

import numpy as np
import pytest
from whoosh import index as whoosh_index

from search.analysis import HAN_RUN_RE, normalize
from search.config import load_settings
from search.documents import read_document
from search.errors import ParameterError
from search.index import build, current_build
from search.query import (
    QueryError,
    Searcher,
    Term,
    highlight,
    parse,
    plan_query,
    snippet,
)
from search.query.execute import Execution, IndexTerms
from search.query.plan import DateIn
from search.query.rank import K1, Scorer
from search.query.records import Records
from search.whoosh_adapter import Postings
from tests.conftest import SEED_ID

MARK_RE = re.compile(r"<mark>(.*?)</mark>")


def marks(hit_html: str) -> list[str]:
    return [html.unescape(m) for m in MARK_RE.findall(hit_html)]


def plain(hit_html: str) -> str:
    return html.unescape(hit_html.replace("<mark>", "").replace("</mark>", ""))


def keys(page) -> list[tuple[str, int]]:  # noqa: ANN001
    return [(h.doc_id, h.paragraph) for h in page.hits]


@pytest.mark.parametrize(("simplified", "traditional"), [
    ("枣庄", "棗莊"), ("工业", "工業"), ("强工", "強工"), ("锂电", "鋰電"), ("镇", "鎮"),
    ("刘振江", "劉振江"), ('"招商引资"', '"招商引資"'), ("工业 -锂电", "工業 -鋰電"),
])
def test_either_script_gives_the_same_hits_in_the_same_order(searcher: Searcher, simplified: str,
                                                             traditional: str) -> None:
    s, t = searcher.search(simplified, per_page=50), searcher.search(traditional, per_page=50)
    assert s.total > 0
    assert keys(s) == keys(t)


def test_simplified_query_finds_traditional_text_marked_in_its_own_script(
        searcher: Searcher) -> None:
    page = searcher.search("枣庄", per_page=50)
    seed_hits = [h for h in page.hits if h.doc_id == SEED_ID]
    assert seed_hits and all("棗莊" in marks(h.highlight) for h in seed_hits)
    # ...and a traditional query finds the simplified article, marked in simplified.
    page = searcher.search("棗莊鋰電")
    assert keys(page)[0] == ("news/lidian", 1)  # the words together rank first
    assert marks(page.hits[0].highlight) == ["枣庄锂电"]


def test_unspaced_words_must_all_match_and_standing_together_ranks_first(
        searcher: Searcher) -> None:
    page = searcher.search("工业倍增计划", per_page=50)
    assert page.total > 0
    for hit in page.hits:
        norm = plain(hit.text)
        assert all(w in norm for w in ("工業", "倍增", "計劃"))
    top = page.hits[0]
    assert "工業倍增計劃" in marks(top.highlight)


def test_substring_that_jieba_cuts_differently_is_found(searcher: Searcher) -> None:
    page = searcher.search("强工", per_page=50)
    assert page.total >= 4
    assert all("強工" in marks(h.highlight) for h in page.hits)


def test_every_sampled_substring_finds_exactly_the_paragraphs_containing_it(
        corpus_dir: Path, searcher: Searcher) -> None:
    # The pair field's hash buckets only narrow the candidates: what is found must be exactly
    # the paragraphs (and headers) whose searchable text holds the run, in either script.
    texts = []
    for path in sorted(corpus_dir.rglob("*.txt")):
        doc = read_document(path, path.stem)
        texts += [normalize(doc.masked(t)).text for t in (doc.header, *doc.paragraphs)]
    runs = [run for t in texts for run in HAN_RUN_RE.findall(t) if len(run) >= 2]
    rng = random.Random(8)
    checked = 0
    for run in rng.sample(runs, 60):
        start = rng.randrange(len(run) - 1)
        needle = run[start:start + rng.randint(2, 6)]
        expected = sum(needle in t for t in texts)
        assert searcher.search(f'"{needle}"').total == expected, needle
        assert searcher.search(needle).total >= expected, needle  # or its words anywhere
        checked += 1
    assert checked == 60


def test_single_character_is_found(searcher: Searcher) -> None:
    page = searcher.search("鎮", per_page=50)
    texts = [h.text for h in page.hits]
    assert any("榴園鎮" in t for t in texts)
    assert any(h.doc_id == "news/nongye" for h in page.hits)  # simplified 镇
    assert all("鎮" in t or "镇" in t for t in texts)


def test_whole_words_rank_above_matches_across_a_word_boundary(searcher: Searcher) -> None:
    page = searcher.search("施工", per_page=50)
    assert "施工圖" in page.hits[0].text
    across = [i for i, h in enumerate(page.hits) if "施工圖" not in h.text]
    assert across, "paragraphs with 施工 only inside 實施工業 are found too"
    assert all("實施工業" in page.hits[i].text for i in across)
    assert min(across) > 0


def test_phrase_is_exact_contiguous_text(searcher: Searcher) -> None:
    page = searcher.search('"招商引资"')
    assert keys(page) == [(SEED_ID, 7)]
    assert marks(page.hits[0].highlight) == ["招商引資"]
    # The same characters out of order are not the phrase.
    assert searcher.search('"引资招商"').total == 0
    assert searcher.search('"工业倍增计划"').total == 3


def test_byline_names_find_the_article(searcher: Searcher) -> None:
    for name in ("劉振江", "刘振江"):
        page = searcher.search(name)
        assert (SEED_ID, 0) in keys(page)


def test_title_only_query_finds_the_article(searcher: Searcher) -> None:
    page = searcher.search("夯實舉措")
    assert keys(page) == [(SEED_ID, 0)]
    assert page.hits[0].title == "壓實責任 夯實舉措 奮力實施工業倍增計劃"


def test_field_filters(searcher: Searcher) -> None:
    titled = searcher.search("title:工业倍增", per_page=100)
    assert titled.total == 9 and {h.doc_id for h in titled.hits} == {SEED_ID}
    assert {h.doc_id for h in searcher.search("author:王明 枣庄").hits} == {"news/lidian"}
    assert {h.doc_id for h in searcher.search("source:棗莊新聞網 锂电").hits} == {SEED_ID}
    assert searcher.search("date:2023-04-19 枣庄").total > 0
    in_range = searcher.search("date:2023-04..2023-05 枣庄", per_page=50)
    assert {h.doc_id for h in in_range.hits} == {SEED_ID}
    earlier = searcher.search("date:2022-01..2022-12 枣庄", per_page=50)
    assert {h.doc_id for h in earlier.hits} == {"news/lidian"}
    assert searcher.search("date:2023 枣庄").total == in_range.total


def test_exclusion_or_and_parentheses(searcher: Searcher) -> None:
    with_lidian = {h.paragraph for h in searcher.search("工业", per_page=50).hits
                   if h.doc_id == SEED_ID}
    without = searcher.search("工业 -锂电", per_page=50)
    assert without.total > 0
    assert all("鋰電" not in h.text for h in without.hits)
    assert {h.paragraph for h in without.hits} < with_lidian
    assert keys(searcher.search("工业 NOT 锂电", per_page=50)) == keys(without)
    either = searcher.search("孙枝鸡 OR 马克思", per_page=50)
    assert {h.doc_id for h in either.hits} == {SEED_ID, "news/nongye", "news/lidian"}
    grouped = searcher.search("(孙枝鸡 OR 马克思) 孵化", per_page=50)
    assert keys(grouped) == [(SEED_ID, 5)]  # paragraphs match, not whole articles


def test_latin_words_and_versions(searcher: Searcher) -> None:
    for q in ("iphone", "IPHONE", "ｉＰｈｏｎｅ", "covid-19", "3.6.3"):
        assert keys(searcher.search(q)) == [("news/lidian", 3)], q
    assert searcher.search("iphon").total == 0  # no stemming, no Latin substrings


def test_part_of_a_latin_word_finds_it_and_is_marked(searcher: Searcher, tmp_path: Path) -> None:
    page = searcher.search("covid")  # a part of COVID-19
    assert keys(page) == [("news/lidian", 3)]
    assert marks(page.hits[0].highlight) == ["COVID"]
    assert marks(searcher.search("covid-19").hits[0].highlight) == ["COVID-19"]
    # Full-width letters run straight into digits in real text: １ＸＲ原水.
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("測試文章\n\n新建１ＸＲ原水處理站投產。\n", encoding="utf-8")
    build([source], tmp_path / "index", procs=1)
    own = Searcher(tmp_path / "index", load_settings({}))
    try:
        for query in ("ＸＲ原水", "xr原水", '"XR原水"', "1xr"):
            page = own.search(query)
            assert page.total == 1, query
        assert marks(own.search("ＸＲ原水").hits[0].highlight) == ["ＸＲ原水"]
        assert own.search("x").total == own.search("r原水").total == 0  # parts, not substrings
    finally:
        own.close()


# Each odd input and what it must mean: the same hits as a well-formed query, nothing at all
# (None), or a refusal (QueryError).
MALFORMED = [
    ('"工业', "工业"),  # an unclosed quote is plain text
    ("(工业", "工业"),  # an unclosed parenthesis closes at the end
    ("工业)", "工业"),  # a stray ")" is skipped
    ("工业))((", "工业"),
    ("OR", "or"),  # a lone OR is the word "or"
    ("工业 OR", "工业 or"),
    ("OR 工业", "or 工业"),
    ("NOT", "not"),
    ("title:", "title"),  # a field name with no value is plain text
    ('""', None),  # an empty phrase: nothing to search for, not an error
    ("-", QueryError),  # no letters, digits or Chinese characters
    ("a:b:c 工业", QueryError),  # an unknown field
]


@pytest.mark.parametrize(("query", "meaning"), MALFORMED)
def test_malformed_input_is_read_leniently(searcher: Searcher, query: str,
                                           meaning: str | type | None) -> None:
    if meaning is QueryError:
        with pytest.raises(QueryError) as refused:
            searcher.search(query)
        assert "\n" not in str(refused.value) and str(refused.value)
        return
    page = searcher.search(query)
    if meaning is None:
        assert page.total == 0 and page.hits == []
        return
    expected = searcher.search(meaning)
    assert page.total == expected.total
    assert keys(page) == keys(expected)


@pytest.mark.parametrize(("query", "message"), [
    ("foo:bar", "unknown field 'foo'"),
    ("，。！？", "nothing to search for"),
    ("工" * 10_000, "too long"),
    ("date:2023-13-45", "not a real date"),
    ("date:yesterday", "not a date"),
    ("-工业", "only excludes"),
])
def test_refused_queries_say_why_in_one_line(searcher: Searcher, query: str,
                                             message: str) -> None:
    with pytest.raises(QueryError, match=message) as info:
        searcher.search(query)
    assert "\n" not in str(info.value)


def test_too_many_terms_is_refused(index_dir) -> None:  # noqa: ANN001
    searcher = Searcher(index_dir, load_settings({}, max_query_terms=20, max_query_length=1000))
    with pytest.raises(QueryError, match="too broad"):
        searcher.search("中华人民共和国国务院办公厅关于进一步加强工业经济运行的通知")
    searcher.close()


class RecordingTerms(IndexTerms):
    """The real postings source, noting every term it looks up in the index."""

    def __init__(self, searcher, records: Records) -> None:  # noqa: ANN001
        super().__init__(searcher, records)
        self.looked_up: set[Term] = set()

    def doc_frequency(self, fieldname: str, text: str) -> int:
        self.looked_up.add(Term(fieldname, text))
        return super().doc_frequency(fieldname, text)

    def ids(self, fieldname: str, text: str) -> np.ndarray:
        self.looked_up.add(Term(fieldname, text))
        return super().ids(fieldname, text)

    def postings(self, fieldname: str, text: str) -> Postings:
        self.looked_up.add(Term(fieldname, text))
        return super().postings(fieldname, text)

    def dates(self, leaf: DateIn) -> np.ndarray:
        self.looked_up.add(leaf.term())
        return super().dates(leaf)


@pytest.mark.parametrize("query", [
    "工业倍增计划", "中华人民共和国国务院办公厅", "镇", "的", "的了", "强工", "iphone 枣庄",
    '"招商引资"', '"XR原水"', '"工业 倍增"', "title:工业倍增 锂电", "author:王明 date:2022",
    "工业 -锂电", "孙枝鸡 OR 马克思 OR -镇", "工业 工业 工业倍增", "工业 NOT NOT 锂电",
])
def test_the_term_count_is_exactly_the_terms_the_engine_looks_up(index_dir: Path,
                                                                 query: str) -> None:
    settings = load_settings({})
    plan = plan_query(query, settings)
    assert plan is not None
    with whoosh_index.open_dir(current_build(index_dir)).searcher() as whoosh_searcher:
        terms = RecordingTerms(whoosh_searcher, Records.load(whoosh_searcher, "test"))
        Execution(terms, Scorer(terms.records)).run(plan.root)
    assert len(set(plan.terms())) == len(plan.terms())
    assert terms.looked_up == set(plan.terms())


def test_a_run_counts_its_words_itself_and_its_pairs() -> None:
    settings = load_settings({})
    # 3 words, the run as a word, 5 character pairs: never the 15 (two per character plus
    # the words) counted before.
    assert len(plan_query("工业倍增计划", settings).terms()) == 9
    assert len(plan_query("工业倍增计划 工业倍增计划", settings).terms()) == 9
    assert len(plan_query("中华人民共和国国务院办公厅", settings).terms()) == 2 + 1 + 12
    assert len(plan_query("镇", settings).terms()) == 2  # its character and word fields


def test_empty_query_returns_nothing(searcher: Searcher) -> None:
    for q in ("", "   "):
        page = searcher.search(q)
        assert page.total == 0 and page.hits == []


def test_paging_is_consistent_across_tiers(searcher: Searcher) -> None:
    everything = keys(searcher.search("施工", per_page=50))
    paged = []
    for number in range(1, 5):
        page = searcher.search("施工", page=number, per_page=2)
        assert page.total == len(everything)
        paged.extend(keys(page))
    assert paged == everything[: len(paged)] and len(paged) == min(8, len(everything))


def test_bad_page_arguments(searcher: Searcher) -> None:
    # The limits of the settings (Settings.check_page, which the API's parameter model calls).
    for kwargs in ({"page": 0}, {"page": -1}, {"page": 10_001}, {"per_page": 0},
                   {"per_page": 101}, {"per_page": 100_000}):
        with pytest.raises(ParameterError, match=r"^(page|per_page) must be from 1 to "):
            searcher.search("工业", **kwargs)
    assert searcher.search("工业", page=10_000, per_page=100).hits == []


def test_results_carry_metadata(searcher: Searcher) -> None:
    hit = searcher.search('"招商引资"').hits[0]
    assert hit.title.startswith("壓實責任")
    assert hit.source == "棗莊新聞網"
    assert hit.published == "2023-04-19T09:39:36"
    assert "劉振江" in hit.authors
    assert hit.to_dict()["paragraph"] == 7


# --- highlighting -----------------------------------------------------------------------------


def test_adjacent_matches_merge_into_one_mark(searcher: Searcher) -> None:
    page = searcher.search("工业倍增计划", per_page=50)
    assert any("工業倍增計劃" in marks(h.highlight) for h in page.hits)
    lidian = searcher.search("马克思").hits[0]
    assert marks(lidian.highlight) == ["马克思"]


def test_whole_match_is_marked_not_a_prefix() -> None:
    assert marks(highlight("馬克思主義", ["马克思"])) == ["馬克思"]


def test_highlight_escapes_everything_and_round_trips() -> None:
    text = '<script>alert("棗莊")</script> & 棗莊 "x"'
    out = highlight(text, ["枣庄"])
    assert "<script>" not in out
    assert plain(out) == text
    assert marks(out) == ["棗莊", "棗莊"]


def test_long_paragraph_is_cropped_around_the_densest_matches_at_sentence_ends() -> None:
    sentences = [f"這是第{i}句沒有關鍵詞的話。" for i in range(30)]
    sentences[20] = "棗莊的石榴很甜，棗莊人喜歡。"
    text = "".join(sentences)
    out = highlight(text, ["枣庄"], length=60)
    excerpt = plain(out)
    assert out.startswith("…") and out.endswith("…")
    core = excerpt.strip("…")
    assert core in text and len(core) <= 60
    assert marks(out) == ["棗莊", "棗莊"]
    assert core.endswith("。")  # cut at a sentence end
    assert text[text.index(core) - 1] == "。"


def test_snippet_spans_are_of_the_original_text_and_render_for_html_and_terminals() -> None:
    text = "棗莊<b>石榴\x1b[2J棗莊。"
    found = snippet(text, ["枣庄"])
    assert found.marked() == ["棗莊", "棗莊"]
    assert [text[s:e] for s, e in found.spans] == found.marked()
    assert found.html() == highlight(text, ["枣庄"])
    assert found.terminal() == \
        "\x1b[1;31m棗莊\x1b[0m<b>石榴\ufffd[2J\x1b[1;31m棗莊\x1b[0m。"
    assert found.terminal(color=False) == "棗莊<b>石榴\ufffd[2J棗莊。"
    cropped = snippet("甲" * 300 + "棗莊" + "乙" * 300, ["枣庄"], length=60)
    assert cropped.terminal(color=False).startswith("…")
    assert cropped.terminal(color=False).endswith("…")
    assert cropped.marked() == ["棗莊"]


def test_article_highlighting(searcher: Searcher) -> None:
    article = searcher.article(SEED_ID)
    assert article is not None and len(article.paragraphs) == 8
    marked = searcher.highlight_article(article, "枣庄")
    assert len(marked) == 8
    assert [plain(m) for m in marked] == article.paragraphs
    assert "棗莊" in marks(marked[0])


@pytest.mark.parametrize("doc_id", ["../etc/passwd", "/etc/passwd", "%2e%2e", "a\x00b",
                                    "x" * 5000, "", "000_0c4e82e9c0ffe15d/../x"])
def test_unknown_or_hostile_doc_ids_are_none(searcher: Searcher, doc_id: str) -> None:
    assert searcher.article(doc_id) is None


def test_parse_tree() -> None:
    tree = parse('工业 -锂电 OR "招商 引资" title:枣庄')
    assert repr(tree).startswith("Bool(op='or'")


# --- explain ----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["工业倍增计划", "施工", "枣庄 锂电", '"招商引资"', "的",
                                   "title:工业倍增 枣庄", "孙枝鸡 OR 马克思", "工业 -锂电",
                                   "covid"])
def test_explain_signals_sum_to_the_score_and_change_nothing(searcher: Searcher,
                                                             query: str) -> None:
    plain_page = searcher.search(query, per_page=20)
    page = searcher.search(query, per_page=20, explain=True)
    assert [(h.doc_id, h.paragraph, h.score) for h in page.hits] == \
        [(h.doc_id, h.paragraph, h.score) for h in plain_page.hits]
    assert page.hits and all(h.explanation is None for h in plain_page.hits)
    tiers = [h.explanation.tier for h in page.hits]
    assert tiers == sorted(tiers)  # tier 1 first
    for hit in page.hits:
        explanation = hit.explanation
        assert explanation.score == hit.score
        assert sum(s.value for s in explanation.signals) == pytest.approx(hit.score, abs=1e-3)
        for signal in explanation.signals:
            if signal.tf is None:
                continue
            # What BM25 saw gives the value again.
            norm = K1 * (1 - explanation.b + explanation.b * signal.length
                         / signal.average_length)
            expected = signal.weight * signal.idf * (K1 + 1) * signal.tf / (signal.tf + norm)
            assert signal.value == pytest.approx(expected)
            assert signal.length == len(normalize(hit.text).text) or hit.paragraph == 0
        assert hit.to_dict()["explain"]["tier"] == explanation.tier


def test_explain_names_the_signals_of_each_tier(searcher: Searcher) -> None:
    page = searcher.search("工业倍增计划", explain=True)
    top = page.hits[0].explanation
    names = {(s.name, s.term) for s in top.signals}
    assert top.tier == 1
    assert {("word", "工业"), ("word", "倍增"), ("word", "计划"),
            ("together", "工业倍增计划")} <= names
    assert ("title", "工业倍增计划") in names  # the seed's title holds it
    across = [h.explanation for h in searcher.search("施工", per_page=50, explain=True).hits
              if h.explanation.tier == 2]
    assert across and all([s.name for s in e.signals if s.name != "title"] == ["across"]
                          for e in across)
    filtered = searcher.search("title:工业倍增 枣庄", explain=True).hits[0].explanation
    assert ("filter", "title:工业倍增") in {(s.name, s.term) for s in filtered.signals}
