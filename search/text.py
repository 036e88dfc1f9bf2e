"""The rules of Chinese text, in one place: what a Han character is, width and script folding,
character frequencies, sentence ends and span merging.

Ingestion (decoding, cleaning, mojibake repair), analysis and the highlighter all read these
definitions; none of them keeps a copy of its own.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import opencc

# --- Han characters ---------------------------------------------------------------------------

# Han ideographs: extension A, the unified ideographs, the compatibility ideographs, and the
# supplementary and tertiary ideographic planes, which Unicode sets aside for them (extensions
# B to I and the compatibility supplement). Not the Yijing hexagram symbols (U+4DC0-4DFF), which
# sit between extension A and the unified block.
HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))
# The ranges as the inside of a regular expression's character class: f"[{HAN}]".
HAN = "".join(f"{chr(low)}-{chr(high)}" for low, high in HAN_RANGES)
HAN_RUN_RE = re.compile(f"[{HAN}]+")
_HAN_CHAR_RE = re.compile(f"[{HAN}]")


def is_han(char: str) -> bool:
    """Tell whether ``char`` (one character) is a Han ideograph.

    >>> is_han("棗"), is_han("\\U00020000"), is_han("。"), is_han("\\u4dc0")
    (True, True, False, False)
    """
    return _HAN_CHAR_RE.match(char) is not None


# --- width ------------------------------------------------------------------------------------

# Full-width ASCII forms (U+FF01-U+FF5E) lie this far above their ASCII characters.
FULL_WIDTH_OFFSET = 0xFEE0
FULL_WIDTH_ASCII = {code: code - FULL_WIDTH_OFFSET for code in range(0xFF01, 0xFF5F)}
# Width folding for matching: full-width ASCII to ASCII, and the ideographic space to a space.
WIDTH_TABLE = {**FULL_WIDTH_ASCII, 0x3000: 0x20}


def full_width(char: str) -> str:
    """The full-width form of a printable ASCII character (``!`` to ``~``).

    >>> full_width("!")
    '！'
    """
    return chr(ord(char) + FULL_WIDTH_OFFSET)


# --- script -----------------------------------------------------------------------------------


class ScriptFolder:
    """Conversion between the scripts with OpenCC's own dictionaries, fast.

    opencc-python-reimplemented converts about 200,000 characters a second, slower than jieba;
    this applies the same two dictionaries (``TSPhrases`` first, then ``TSCharacters`` for
    traditional to simplified; ``STPhrases`` and ``STCharacters`` the other way; first candidate
    of each entry) with one compiled regex and ``str.translate``, which is what makes
    normalizing every hit at query time cheap enough to skip storing the normalized text.

    >>> ScriptFolder().fold("棗莊市委")
    '枣庄市委'
    >>> ScriptFolder(phrases="STPhrases", characters="STCharacters").fold("枣庄")
    '棗莊'
    """

    def __init__(self, dictionary_dir: Path | None = None, *, phrases: str = "TSPhrases",
                 characters: str = "TSCharacters") -> None:
        if dictionary_dir is None:
            dictionary_dir = Path(opencc.__file__).parent / "dictionary"
        phrase_entries = _read_opencc_dict(dictionary_dir / f"{phrases}.txt")
        character_entries = _read_opencc_dict(dictionary_dir / f"{characters}.txt")
        # Every entry maps to a string of the same length (checked in the tests against the
        # installed dictionaries); one that did not would break the offset map, so skip it.
        self.table = str.maketrans({k: v for k, v in character_entries.items()
                                    if len(k) == 1 == len(v)})
        self._phrases = {k: v for k, v in phrase_entries.items() if len(k) == len(v) and len(k) > 1}
        alternatives = sorted(self._phrases, key=len, reverse=True)
        self._phrase_re = (re.compile("|".join(map(re.escape, alternatives)))
                           if alternatives else None)

    def fold(self, text: str, table: dict[int, str] | None = None) -> str:
        """Convert ``text`` to the other script; the result has the same length.

        ``table`` replaces the character table (a superset of it, e.g. with width folding).
        """
        folded = text.translate(table or self.table)
        if self._phrase_re is None or not self._phrase_re.search(text):
            return folded
        # Phrase matches are made on the original text, as OpenCC does.
        pieces = []
        last = 0
        for match in self._phrase_re.finditer(text):
            pieces.append(folded[last : match.start()])
            pieces.append(self._phrases[match.group()])
            last = match.end()
        pieces.append(folded[last:])
        return "".join(pieces)

    def fold_characters(self, text: str) -> str:
        """Convert ``text`` character by character, without phrases: to look characters up."""
        return text.translate(self.table)


def read_opencc_file(path: Path) -> list[tuple[str, list[str]]]:
    """The entries of one of OpenCC's text dictionaries: (key, its candidates, best first)."""
    entries = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            key, _, values = line.rstrip("\n").partition("\t")
            if key and values:
                entries.append((key, values.split(" ")))
    return entries


def _read_opencc_dict(path: Path) -> dict[str, str]:
    """Each key of an OpenCC dictionary with its first candidate."""
    return {key: values[0] for key, values in read_opencc_file(path)}


@lru_cache(maxsize=1)
def script_folder() -> ScriptFolder:
    """The process-wide traditional-to-simplified :class:`ScriptFolder` (read once)."""
    return ScriptFolder()


@lru_cache(maxsize=1)
def traditional_folder() -> ScriptFolder:
    """The process-wide simplified-to-traditional :class:`ScriptFolder` (read once)."""
    return ScriptFolder(phrases="STPhrases", characters="STCharacters")


# --- character frequencies --------------------------------------------------------------------

# Adjacent characters count as a word pair only inside words at least this frequent: the
# rarest entries of jieba's dictionary pair almost anything.
MIN_PAIR_WORD_FREQ = 5


@dataclass(frozen=True)
class CharacterFrequencies:
    """How common each character is in Chinese, from jieba's dictionary."""

    counts: dict[str, int]  # the summed frequency of the words each character occurs in
    word_pairs: frozenset[str]  # two adjacent characters inside a word (MIN_PAIR_WORD_FREQ)


@lru_cache(maxsize=1)
def character_frequencies() -> CharacterFrequencies:
    """Read jieba's dictionary (word, frequency, tag a line) once per process.

    Decoding (which reading of a file has the commoner characters) and the mojibake repair
    (how much a text reads like Chinese) both use it; it is read only when one of them needs it.
    """
    import jieba

    path = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    counts: Counter[str] = Counter()
    pairs: set[str] = set()
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            word, freq, *_ = line.split(" ")
            weight = int(freq)
            for char in word:
                counts[char] += weight
            if weight >= MIN_PAIR_WORD_FREQ:
                pairs.update(word[i : i + 2] for i in range(len(word) - 1))
    return CharacterFrequencies(dict(counts), frozenset(pairs))


# --- sentences and spans ----------------------------------------------------------------------

# Marks that end a sentence, full-width and half-width (｡ is the half-width ideographic stop).
SENTENCE_ENDS = frozenset("。｡！？!?")
# Marks that end a clause: a sentence end or a semicolon, where an excerpt may be cut.
CLAUSE_ENDS = SENTENCE_ENDS | frozenset("；;")


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort ``(start, end)`` spans and merge those that overlap or touch.

    >>> merge_spans([(5, 7), (0, 2), (1, 3), (3, 4)])
    [(0, 4), (5, 7)]
    """
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged



# Stands for a character that must make no index term and match no query (garbled text).
MASK = "\ufffd"


def mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with the characters of ``spans`` replaced by U+FFFD: same length, same offsets.

    >>> mask("趙健?。?", [(2, 5)]) == "趙健" + MASK * 3
    True
    """
    chars = list(text)
    for start, end in spans:
        chars[start:end] = MASK * (end - start)
    return "".join(chars)
