"""The analyzer contract: normalized terms, word positions, offsets into the original text."""

from __future__ import annotations

import ast
import marshal
import tempfile
from collections import Counter
from pathlib import Path

import jieba
import pytest
from whoosh.analysis import Token
from whoosh.fields import TEXT

from search import analysis
from search.analysis import (
    ChineseWordTokenizer,
    HanCharacterTokenizer,
    analyze,
    han_characters,
    index_analysis,
    normalize,
    pair_term,
    words,
)
from search.documents import read_document
from search.index import make_schema
from tests.conftest import SEED, SEED_ID


def spans(text: str, **kwargs: object) -> list[tuple[str, str]]:
    """(term, original text under the token's offsets) for each word."""
    return [(w.term, text[w.start : w.end]) for w in words(text, **kwargs)]


def test_seed_examples_segment_after_folding_to_simplified() -> None:
    text = "奮力實施工業倍增計劃"
    assert spans(text) == [("奋力", "奮力"), ("实施", "實施"), ("工业", "工業"),
                           ("倍增", "倍增"), ("计划", "計劃")]
    assert "施工" not in [w.term for w in words(text)]
    assert spans("壓實責任") == [("压实", "壓實"), ("责任", "責任")]
    assert spans("棗莊") == [("枣庄", "棗莊")]


def test_normalization_width_case_and_script() -> None:
    assert normalize("１９９８").text == "1998"
    assert normalize("ＡＢＣ").text == "abc"
    assert normalize("棗莊新聞網，ＯＫ！。").text == "枣庄新闻网,ok!。"


def test_offsets_survive_a_length_changing_normalization() -> None:
    # "İ" lower-cases to two characters: later offsets must still point at the original.
    text = "İstanbul棗莊"
    norm = normalize(text)
    assert len(norm.text) == len(text) + 1
    assert ("枣庄", "棗莊") in spans(text)
    assert [text[w.start : w.end] for w in words(text) if w.term.startswith("i")] == ["İstanbul"]


def test_latin_and_digits_stay_whole_without_stemming() -> None:
    terms = [w.term for w in words("iPhone 2023 3.6.3 COVID-19 running", with_parts=False)]
    assert terms == ["iphone", "2023", "3.6.3", "covid-19", "running"]


def test_latin_words_mixing_letters_digits_or_hyphens_also_index_their_parts() -> None:
    text = "１ＸＲ原水 iPhone15 COVID-19 3.6.3 running"
    found = [(w.term, text[w.start:w.end], w.position, w.part) for w in words(text)]
    assert found == [
        ("1xr", "１ＸＲ", 0, False), ("1", "１", 0, True), ("xr", "ＸＲ", 0, True),
        ("原水", "原水", 1, False),
        ("iphone15", "iPhone15", 2, False), ("iphone", "iPhone", 2, True), ("15", "15", 2, True),
        ("covid-19", "COVID-19", 3, False), ("covid", "COVID", 3, True), ("19", "19", 3, True),
        ("3.6.3", "3.6.3", 4, False), ("running", "running", 5, False),
    ]


def test_punctuation_and_spaces_are_not_tokens() -> None:
    assert [w.term for w in words("，。、！？ ,.!? “”")] == []


def test_positions_count_words_and_parts_share_their_word_position() -> None:
    tokens = list(words("中華人民共和國成立了"))
    whole = [t for t in tokens if not t.part]
    assert [t.position for t in whole] == list(range(len(whole)))
    parts = [t for t in tokens if t.part]
    assert {"人民", "共和国"} <= {t.term for t in parts}
    word = next(t for t in whole if t.term == "中华人民共和国")
    assert all(t.position == word.position for t in parts)


def test_tokenizer_contract_positions_chars_mode_and_tokenize_false() -> None:
    tokenizer = ChineseWordTokenizer()
    text = "今天棗莊召開大會"
    tokens = [(t.text, t.pos, t.startchar, t.endchar)
              for t in tokenizer(text, positions=True, chars=True, start_pos=10, start_char=100)]
    for term, _, start, end in tokens:
        assert normalize(text[start - 100 : end - 100]).text == term
    assert [pos for _, pos, _, _ in tokens] == list(range(10, 10 + len(tokens)))
    # One Token object is reused, as Whoosh expects.
    assert len({id(t) for t in tokenizer(text)}) == 1
    whole = list(tokenizer("棗莊", tokenize=False))
    assert [t.text for t in whole] == ["枣庄"]
    indexed = [t.text for t in tokenizer("中華人民共和國", mode="index")]
    queried = [t.text for t in tokenizer("中華人民共和國", mode="query")]
    assert "人民" in indexed and queried == ["中华人民共和国"]
    kept = [t.text for t in tokenizer("我的書", removestops=False)]
    dropped = [t.text for t in tokenizer("我的書")]
    assert "的" in kept and "的" not in dropped


@pytest.mark.parametrize("tokenizer", [ChineseWordTokenizer(), HanCharacterTokenizer()])
def test_tokens_are_whoosh_tokens_with_original_offsets(tokenizer) -> None:  # noqa: ANN001
    text = "強工興產"
    for token in tokenizer(text, chars=True, keeporiginal=True):
        assert isinstance(token, Token)
        assert token.original == text[token.startchar : token.endchar]


def test_the_substring_field_holds_every_han_character_but_single_character_words() -> None:
    assert [c for c, _ in han_characters(normalize("強工興產").text)] == ["强", "工", "兴", "产"]
    analysis = index_analysis("他去省城")  # 他 and 去 are words of one character
    kept = list(han_characters(analysis.normalized.text, analysis.covered()))
    assert kept == [("省", 2), ("城", 3)]


def test_analyze_explains_both_fields_with_original_spans() -> None:
    result = analyze("棗莊")
    assert result["normalized"] == "枣庄"
    fields = {(t["field"], t["term"], t["start"], t["end"]) for t in result["tokens"]}
    assert ("words", "枣庄", 0, 2) in fields
    assert ("chars", "枣", 0, 1) in fields and ("chars", "庄", 1, 2) in fields


def test_jieba_loads_its_whole_dictionary_cache_unchanged() -> None:
    tokenizer = jieba.Tokenizer()  # fresh: no user dictionary added
    tokenizer.initialize()  # through search.analysis._WholeFileMarshal
    cache = Path(tempfile.gettempdir()) / "jieba.cache"
    with cache.open("rb") as file:
        freq, total = marshal.load(file)  # as jieba itself reads it
    assert len(freq) > 300_000
    assert (tokenizer.FREQ, tokenizer.total) == (freq, total)


def test_analysis_does_not_import_ingestion() -> None:
    # Mojibake is found once, at ingestion; the analyzers only see its characters masked.
    tree = ast.parse(Path(analysis.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert "search.text" in imported
    assert not imported & {"search.mojibake", "search.documents", "search.index"}


# --- analyze() is what the index holds ---------------------------------------------------------

# The fields of the schema each kind of analysis that analyze() reports is written into.
FIELDS_BY_KIND = {"words": ("words",), "chars": ("chars",), "pairs": ("pairs",),
                  "filters": ("title", "author", "source")}


def assert_analyze_is_what_the_schema_indexes(text: str) -> None:
    """The terms analyze() reports for each field are the terms Whoosh writes for it: the
    schema's own analyzers, through the field's ``index()`` (what a writer calls)."""
    schema = make_schema()
    analyzed = {n for n in schema.names() if isinstance(schema[n], TEXT)}
    assert analyzed == {name for names in FIELDS_BY_KIND.values() for name in names}
    result = analyze(text)
    tokens = result["tokens"]
    assert {t["field"] for t in tokens} <= set(FIELDS_BY_KIND)
    for kind, names in FIELDS_BY_KIND.items():
        reported = Counter(t["term"] for t in tokens if t["field"] == kind)
        for name in names:
            written = {term.decode("utf-8"): freq for term, freq, _, _ in schema[name].index(text)}
            if name == "words":  # the only field with frequencies
                assert written == dict(reported), name
            else:
                assert set(written) == set(reported), name
    norm = normalize(text)
    for t in tokens:
        assert 0 <= t["start"] < t["end"] <= len(text)
        if t["field"] == "pairs":
            assert pair_term(*t["pair"]) == t["term"] and len(t["pair"]) == 2
            assert t["pair"] in norm.text


def test_analyze_shows_the_seeds_records_as_the_index_holds_them() -> None:
    doc = read_document(SEED, SEED_ID, repair=False)  # with garbled runs, masked as indexed
    texts = [doc.header, *doc.paragraphs, doc.title, " ".join(doc.authors), doc.source]
    assert any(doc.masked(text) != text for text in texts)
    for text in texts:
        assert_analyze_is_what_the_schema_indexes(doc.masked(text))


def test_analyze_leaves_out_characters_that_are_words_and_shows_pairs_as_characters() -> None:
    tokens = analyze("他去棗莊")["tokens"]
    by_field = {kind: [t["term"] for t in tokens if t["field"] == kind] for kind in FIELDS_BY_KIND}
    assert by_field["words"] == ["他", "去", "枣庄"]
    assert by_field["chars"] == ["枣", "庄"]  # 他 and 去 are in the word field only
    assert [t["pair"] for t in tokens if t["field"] == "pairs"] == ["他去", "去枣", "枣庄"]
    assert by_field["pairs"] == [pair_term(*p) for p in ("他去", "去枣", "枣庄")]
    assert by_field["filters"] == ["他", "去", "枣", "庄"]
    pair = next(t for t in tokens if t.get("pair") == "枣庄")
    assert (pair["start"], pair["end"], pair["position"]) == (2, 4, None)
