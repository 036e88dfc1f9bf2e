"""The rules of Chinese text (search/text.py): Han characters, script folding, sentence ends."""

from __future__ import annotations

import doctest
import re

import opencc
import pytest

from search import text
from search.text import (
    HAN_RANGES,
    HAN_RUN_RE,
    SENTENCE_ENDS,
    ScriptFolder,
    character_frequencies,
    is_han,
    merge_spans,
    script_folder,
    traditional_folder,
)
from tests.conftest import SEED


def test_doctests() -> None:
    result = doctest.testmod(text)
    assert result.attempted > 0 and result.failed == 0


def test_script_folder_matches_opencc_t2s_on_the_seed() -> None:
    seed = SEED.read_text(encoding="utf-8")
    assert ScriptFolder().fold(seed) == opencc.OpenCC("t2s").convert(seed)


def test_traditional_folder_matches_opencc_s2t_on_the_seed_in_simplified() -> None:
    simplified = script_folder().fold(SEED.read_text(encoding="utf-8"))
    assert traditional_folder().fold(simplified) == opencc.OpenCC("s2t").convert(simplified)


@pytest.mark.parametrize(("folder", "config"), [(script_folder, "t2s"),
                                                (traditional_folder, "s2t")])
def test_character_folding_is_opencc_one_character_at_a_time(folder, config: str) -> None:  # noqa: ANN001
    # What the mojibake repair and the decoder look characters up with.
    converter = opencc.OpenCC(config)
    keys = [chr(code) for code in folder().table]
    assert len(keys) > 3000
    for char in [*keys, "a", "。", "中", "\U00020000"]:
        expected = converter.convert(char)
        assert folder().fold_characters(char) == (expected if len(expected) == 1 else char)


@pytest.mark.parametrize("folder", [script_folder, traditional_folder])
def test_opencc_dictionaries_map_every_entry_to_the_same_length(folder) -> None:  # noqa: ANN001
    # The offset map relies on it; ScriptFolder skips any entry that would break it.
    phrases = folder()._phrases
    assert phrases  # the phrase table was read
    assert all(len(k) == len(v) for k, v in phrases.items())


def test_han_ranges_are_one_definition() -> None:
    samples = [chr(low) for low, _ in HAN_RANGES] + [chr(high) for _, high in HAN_RANGES]
    assert all(is_han(char) for char in samples)
    assert all(HAN_RUN_RE.fullmatch(char) for char in samples)
    # Extension H (Unicode 15) is Han; the Yijing hexagrams beside extension A are not.
    assert is_han("\U00031350") and not is_han("\u4dc0")
    for char in "a1。，、ｱ\u3000\ufffd\U0001f600":
        assert not is_han(char) and not HAN_RUN_RE.fullmatch(char)


def test_character_frequencies_from_jiebas_dictionary() -> None:
    frequencies = character_frequencies()
    assert frequencies is character_frequencies()  # read once
    counts = frequencies.counts
    assert counts["的"] > counts["枣"] > 0
    assert "工业" in frequencies.word_pairs and "们我" not in frequencies.word_pairs


def test_sentence_ends_hold_both_widths() -> None:
    assert {"。", "！", "？", "!", "?"} <= SENTENCE_ENDS
    assert not re.search(f"[{''.join(SENTENCE_ENDS)}]", "，、；：")


def test_merge_spans_merges_overlapping_and_touching_spans() -> None:
    assert merge_spans([]) == []
    assert merge_spans([(4, 6), (0, 2), (2, 3), (5, 9), (11, 12)]) == [(0, 3), (4, 9), (11, 12)]
