"""Property tests (Hypothesis) of the analyzer and the highlighter over arbitrary Unicode, and
builds over source files whose bytes or names are not valid UTF-8.

The text mixes every kind of character the analyzer could meet: common and extension-B Han,
traditional phrases, emoji sequences, combining marks, private-use characters, right-to-left
text and controls, full-width forms, characters whose lower case is longer (İ), lone surrogates,
and paragraphs of 100 KB.
"""

from __future__ import annotations

import bisect
import html
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search.analysis import (
    HAN_RUN_RE,
    ChineseWordTokenizer,
    HanCharacterTokenizer,
    Normalized,
    normalize,
    words,
)
from search.config import load_settings
from search.index import build, make_schema, update
from search.query import Searcher, highlight
from tests.conftest import make_app
from tests.test_analysis import assert_analyze_is_what_the_schema_indexes
from web.searcher import close_searcher

# --- text strategies --------------------------------------------------------------------------


def _chars(low: int, high: int) -> st.SearchStrategy[str]:
    return st.characters(min_codepoint=low, max_codepoint=high)


PIECES = st.one_of(
    _chars(0x4E00, 0x9FFF),  # common Han
    st.sampled_from(["棗莊", "壓實責任", "工業倍增計劃", "於是", "乾隆", "著作", "後來", "劉振江"]),
    _chars(0x20000, 0x2A6DF),  # CJK extension B
    _chars(0x1F300, 0x1FAFF),  # emoji
    st.sampled_from(["👨‍👩‍👧", "🇨🇳", "❤️", "1️⃣"]),  # ZWJ, flag, variation selector
    _chars(0x0300, 0x036F),  # combining marks
    _chars(0xE000, 0xF8FF),  # private use
    _chars(0x0590, 0x06FF),  # Hebrew, Arabic
    st.sampled_from(["\u202e", "\u200f", "\u202d", "\u2066"]),  # bidi controls
    _chars(0x00, 0x1F) | _chars(0x7F, 0x9F),  # C0 and C1 controls
    _chars(0xFF01, 0xFF5E) | st.just("\u3000"),  # full-width forms
    st.sampled_from(list("İẞΣςǅﬁ")),  # case mappings that change length or are odd
    st.sampled_from(["iPhone", "COVID-19", "3.6.3", "c++", "o'neil", "a_b"]),
    st.sampled_from(list("，。！？；：、“”‘’（）《》…—- \n\t<>&\"'")),
    st.characters(categories=["Cs"]),  # lone surrogates
    st.characters(),  # anything else
)


def texts(max_pieces: int = 60) -> st.SearchStrategy[str]:
    return st.lists(PIECES, max_size=max_pieces).map("".join)


MARK_RE = re.compile(r"</?mark>")


def plain(highlighted: str) -> str:
    """The text a reader sees: the highlight without its tags, entities decoded."""
    return html.unescape(MARK_RE.sub("", highlighted))


def all_han(term: str) -> bool:
    return HAN_RUN_RE.fullmatch(term) is not None


def folded_slice(norm: Normalized, start: int, end: int) -> str:
    """What ``original[start:end]`` became in the normalized text (folded in its context).

    OpenCC's phrases fold a character by its neighbours (乾隆 keeps 乾, 乾 alone becomes 干), so
    a slice is compared with its own normalization inside the whole text, not on its own.
    """
    if norm.starts is None or norm.ends is None:
        return norm.text[start:end]
    first = bisect.bisect_left(norm.starts, start)
    last = bisect.bisect_right(norm.ends, end)
    return norm.text[first:last]


def check_normalized_spans(text: str) -> None:
    norm = normalize(text)
    assert norm.original == text
    if norm.starts is None:
        assert len(norm.text) == len(text)
    for i in range(len(norm.text)):
        start, end = norm.span(i, i + 1)
        assert 0 <= start < end <= len(text)


def check_words(text: str, with_parts: bool) -> None:
    norm = normalize(text)
    last_position = -1
    for token in words(text, with_parts=with_parts):
        assert 0 <= token.start < token.end <= len(text), token
        assert token.term
        assert token.position >= last_position
        last_position = token.position
        if all_han(token.term):
            assert folded_slice(norm, token.start, token.end) == token.term, token


TOKENIZERS = [ChineseWordTokenizer(), HanCharacterTokenizer(),
              HanCharacterTokenizer(skip_words=True)]


def check_tokenizer(tokenizer, text: str, mode: str) -> None:  # noqa: ANN001
    offset = 7  # Whoosh passes start_char for multi-valued fields; offsets must shift with it
    norm = normalize(text)
    for token in tokenizer(text, positions=True, chars=True, mode=mode, start_char=offset):
        start, end = token.startchar - offset, token.endchar - offset
        assert 0 <= start < end <= len(text), (token.text, start, end)
        assert token.text and token.pos >= 0
        if all_han(token.text):
            assert folded_slice(norm, start, end) == token.text


def check_highlight(text: str, needles: list[str], length: int | None) -> None:
    out = highlight(text, needles, length)
    # Only <mark> tags, never nested, never empty; everything else escaped.
    tags = re.findall(r"</?mark>", out)
    assert tags == ["<mark>", "</mark>"] * (len(tags) // 2)
    assert "<mark></mark>" not in out
    assert "<" not in MARK_RE.sub("", out) and ">" not in MARK_RE.sub("", out)
    shown = plain(out)
    if length is None or len(text) <= length:
        assert shown == text
        return
    core = shown
    if out.startswith("…"):
        core = core[1:]
    if out.endswith("…"):
        core = core[:-1]
    assert core in text
    assert len(core) <= length
    assert out.startswith("…") or text.startswith(core)
    assert out.endswith("…") or text.endswith(core)


@st.composite
def text_and_needles(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Text and needles as the query code makes them: normalized, often found in the text."""
    text = draw(texts())
    normalized = normalize(text).text
    needles = []
    for _ in range(draw(st.integers(0, 4))):
        if normalized and draw(st.booleans()):
            start = draw(st.integers(0, len(normalized) - 1))
            end = draw(st.integers(start + 1, min(len(normalized), start + 6)))
            needles.append(normalized[start:end])
        else:
            needles.append(normalize(draw(texts(3))).text)
    return text, needles


# --- the analyzer -----------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(texts())
def test_normalization_maps_every_character_back_into_the_text(text: str) -> None:
    check_normalized_spans(text)


@PROPERTY_SETTINGS
@given(texts(), st.booleans())
def test_words_have_offsets_inside_the_text_and_han_words_are_their_slice(
        text: str, with_parts: bool) -> None:
    check_words(text, with_parts)


@PROPERTY_SETTINGS
@given(texts(), st.sampled_from(TOKENIZERS), st.sampled_from(["index", "query"]))
def test_whoosh_tokenizers_keep_offsets_inside_the_text(text: str, tokenizer,  # noqa: ANN001
                                                        mode: str) -> None:
    check_tokenizer(tokenizer, text, mode)
    # tokenize=False (Whoosh's whole-value mode) yields one token for the whole text.
    (whole,) = list(tokenizer(text, tokenize=False, chars=True))
    assert whole.text == normalize(text).text


@PROPERTY_SETTINGS
@given(texts())
def test_every_field_of_the_schema_indexes_any_text(text: str) -> None:
    schema = make_schema()
    for name in ("words", "chars", "title", "author", "source"):
        for term, *_ in schema[name].index(text):
            assert isinstance(term, bytes) and term


@PROPERTY_SETTINGS
@given(texts())
def test_analyze_shows_exactly_the_terms_the_schema_indexes(text: str) -> None:
    assert_analyze_is_what_the_schema_indexes(text)


# --- the highlighter --------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(text_and_needles())
def test_highlight_without_tags_is_the_original_text(case: tuple[str, list[str]]) -> None:
    text, needles = case
    check_highlight(text, needles, None)
    han_needles = [n for n in needles if all_han(n)]
    if any(n in normalize(text).text for n in han_needles):
        assert "<mark>" in highlight(text, needles)


@PROPERTY_SETTINGS
@given(text_and_needles(), st.integers(1, 120))
def test_cropped_highlight_is_one_contiguous_excerpt(case: tuple[str, list[str]],
                                                     length: int) -> None:
    text, needles = case
    check_highlight(text, needles, length)


# --- 100 KB paragraphs ------------------------------------------------------------------------


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text_and_needles().filter(lambda case: case[0].strip()))
def test_paragraphs_of_100_kb(case: tuple[str, list[str]]) -> None:
    chunk, needles = case
    text = (chunk * (100_000 // len(chunk) + 1))[:100_000]
    # Index mode analyzes once for both fields (the words are cached for the substring field).
    check_tokenizer(ChineseWordTokenizer(), text, "index")
    check_tokenizer(HanCharacterTokenizer(skip_words=True), text, "index")
    # Dense Han text with thousands of matches of a frequent character ("的" in a long report):
    # the excerpt is chosen among all of them.
    han = (("工业发展的步伐。" + chunk) * (100_000 // (len(chunk) + 8) + 1))[:100_000]
    check_tokenizer(HanCharacterTokenizer(), han, "query")
    for paragraph in (text, han):
        for length in (None, 180):
            check_highlight(paragraph, [*needles, "的"], length)


# --- source files that are not valid UTF-8 ----------------------------------------------------

ARTICLE = "{title}\n\n{body}\n\n第二段没有什么特别。\n"


def _article_bytes(title: str, body: str) -> bytes:
    return ARTICLE.format(title=title, body=body).encode("utf-8")


@pytest.fixture
def source_with_bad_utf8(tmp_path: Path) -> Path:
    """Articles holding encoded lone surrogates and other invalid UTF-8, next to a good one."""
    source = tmp_path / "articles"
    source.mkdir()
    (source / "good.txt").write_bytes(_article_bytes("好文章", "珊瑚礁监测站今天建成。"))
    body = _article_bytes("坏文章", "正文含有坏字节。")
    bad_bytes = {
        "lone_high_surrogate": b"\xed\xa0\x80",  # U+D800 encoded as if it were a character
        "lone_low_surrogate": b"\xed\xb0\x80",
        "surrogate_pair_cesu8": b"\xed\xa0\xbd\xed\xb8\x80",  # an emoji, CESU-8 style
        "truncated_sequence": b"\xe5\xb7",
        "overlong_slash": b"\xc0\xaf",
    }
    for name, bad in bad_bytes.items():
        (source / f"{name}.txt").write_bytes(body.replace("坏字节".encode(), bad))
    # File and folder names that are not UTF-8 (GBK bytes, an encoded surrogate).
    root = os.fsencode(source)
    for raw_name in (b"gbk-\xb9\xa4\xd2\xb5.txt", b"surrogate-\xed\xa0\x80.txt"):
        with open(os.path.join(root, raw_name), "wb") as f:
            f.write(_article_bytes("名字坏了", "文件名不是UTF-8。"))
    os.mkdir(os.path.join(root, b"folder-\xff"))
    with open(os.path.join(root, b"folder-\xff", b"inside.txt"), "wb") as f:
        f.write(_article_bytes("文件夹坏了", "文件夹名不是UTF-8。"))
    return source


def test_invalid_utf8_in_source_files_is_skipped_or_decoded_and_the_index_works(
        source_with_bad_utf8: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    report = build([source_with_bad_utf8], index_dir, procs=1)
    listed = 1 + 5 + 2 + 1
    assert report.documents + len(report.skipped) == listed
    for skipped in report.skipped:
        assert skipped.reason and "\n" not in skipped.reason
    names = {os.fsencode(s.path.name) for s in report.skipped}
    assert {b"gbk-\xb9\xa4\xd2\xb5.txt", b"surrogate-\xed\xa0\x80.txt", b"inside.txt"} <= names

    searcher = Searcher(index_dir, load_settings({}))
    try:
        assert [h.doc_id for h in searcher.search("珊瑚礁").hits] == ["good"]
        # Whatever was decoded is real text: no surrogates reached the index.
        everything = searcher.search("正文 OR 第二段", per_page=100)
        assert everything.total >= report.documents
        for hit in everything.hits:
            for value in (hit.doc_id, hit.title, hit.text, hit.highlight):
                value.encode("utf-8")
    finally:
        searcher.close()

    app = make_app(index_dir)
    try:
        client = app.test_client()
        assert client.get("/api/search?q=正文").status_code == 200
        for hit in everything.hits:
            assert client.get(f"/doc/{hit.doc_id}").status_code == 200
    finally:
        close_searcher(app)

    # An update over the same folder skips the same files and keeps the index whole.
    (source_with_bad_utf8 / "later.txt").write_bytes(_article_bytes("后来", "沙漠气象站。"))
    updated = update([source_with_bad_utf8], index_dir)
    assert updated.added == ["later"]
    searcher = Searcher(index_dir, load_settings({}))
    try:
        assert searcher.search("沙漠气象站").total == 1
        assert searcher.search("珊瑚礁").total == 1
    finally:
        searcher.close()
