"""Find and repair byte-shifted GB18030 mojibake in Chinese text.

Scraped pages sometimes lose one byte of a GB18030 (GBK) stream. The decoder shows the lost byte
as ``?`` and then reads every following byte pair out of step, until a byte in the ASCII range
falls where a pair should start and puts it back in step. The result is a short run of wrong
characters, often with kana, private-use code points and ``?`` marks. From the seed article::

    倍增干勁?!彪\\ue269菔泄ば啪志珠L孟凡軍表示    (what the page shows)
    倍增干勁。”滕州市工信局局長孟凡軍表示          (what it said)

The page was traditional Chinese in GB18030. The lead byte A1 of ``。`` (A1 A3) was lost and shown
as ``?``; the rest (A3 A1 B1 EB F8 D6 ...) was read as ``！彪\\ue269...``, and a later converter
made ``！`` half-width. The trail byte 4C of ``長`` (E9 4C) stood alone as ``L`` and ended the run.

:func:`repair` undoes exactly that: it takes a ``?`` (or U+FFFD) as the lost byte, encodes the
characters after it back to GB18030 (an ASCII mark may stand for its full-width form), decodes
the bytes again one byte earlier, and keeps the result only when it reads as clearly better
Chinese by :func:`text_score`. A byte that is truly lost leaves its character as ``?``.

>>> repair("玩在嶧城?!绷駡@鎮經委主任張百川")[0]
'玩在嶧城。”榴園鎮經委主任張百川'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from search.text import (
    SENTENCE_ENDS,
    character_frequencies,
    full_width,
    is_han,
    merge_spans,
    script_folder,
)

__all__ = ["Fix", "garbled_spans", "repair", "text_score"]

# The fast path: text with none of these characters is never garbled in the way handled here.
_SUSPECT = re.compile(r"[?\ufffd\u3040-\u30ff\ue000-\uf8ff]")
# What a lost byte looks like after decoding: an ASCII '?' or the Unicode replacement character.
_LOST_BYTE = re.compile(r"[?\ufffd]")
_KANA = re.compile(r"[\u3040-\u30ff]")
# Never part of Chinese prose: private-use code points (GB18030's user-defined area) and U+FFFD.
_UNREADABLE = re.compile(r"[\ufffd\ue000-\uf8ff]")
# ASCII symbols that do not stand between Chinese characters in prose; a misread trail byte
# (0x40-0x7E) shows up as one of these or as a Latin letter.
_STRAY_ASCII = frozenset("@[\\]^_`{|}~")
# Marks as common in Chinese news as its commonest characters, and the rest of the punctuation.
_COMMON_PUNCTUATION = frozenset("。，、；：！？“”,;:! \u3000")
_PUNCTUATION = frozenset("（）《》〈〉「」『』【】—…·‘’～.()[]<>\"'-/+%\t")
# Pairs of marks as normal in Chinese prose as a dictionary word: a sentence ends inside a
# quotation, a quotation opens after a mark, a mark follows a quotation. (A '?' here is a lost
# byte more often than a question mark, so it pairs with nothing.)
_QUOTED_ENDS = (SENTENCE_ENDS - {"?"}) | {"…"}
_PUNCTUATION_PAIRS = frozenset(
    [end + close for end in _QUOTED_ENDS for close in "”’」』"]
    + [mark + opening for mark in "。，、；：！？,;:!" for opening in "“‘「『"]
    + [close + mark for close in "”’」』" for mark in "。，、；：！？,;:!"]
)
# Marks after which a '?' cannot be a question mark, and before which it cannot be one either.
_NOT_AFTER_QUESTION = frozenset("。，、；：“‘?\ufffd")
_NOT_BEFORE_QUESTION = frozenset("。，、；：?\ufffd")

# The longest garbled run looked at, in characters after the lost byte.
MAX_RUN = 80
# How many characters after a candidate run take part in its score, so that the repaired text is
# also judged on how it joins the text that follows.
CONTEXT = 4
# Added to a character's score when it forms a dictionary word with the character before it
# (search.text.CharacterFrequencies.word_pairs).
WORD_PAIR_BONUS = 3.0
# A repair must raise the mean score per character by this much (natural-log units): the
# seed's runs gain 3.3 to 6.1, re-aligning correct text after a stray '?' at most about 1 ...
MIN_GAIN = 2.5
# ... and reach at least this mean (prose scores about -6, a rare character about -15).
MIN_SCORE = -10.5
# The character of a lost lead byte is guessed only when the best guess beats every other
# character with the same trail byte by this margin (log units, with its neighbours as context).
LOST_CHAR_MARGIN = math.log(5.0)
# Han characters needed before a run to tell that the text is in simplified script, where a
# repair may not bring in traditional characters.
SCRIPT_EVIDENCE = 10
# Garbage signals closer than this (in characters) make a cluster; see garbled_spans.
SIGNAL_DISTANCE = 8


@dataclass(frozen=True)
class Fix:
    """One repaired run: ``text[start:end]`` was ``before`` and became ``after``."""

    start: int
    end: int
    before: str
    after: str
    score: float  # how much the repair raised text_score, per character


# ---------------------------------------------------------------------------------------------
# Scoring: how much a piece of text reads like Chinese


@dataclass(frozen=True)
class _CharModel:
    """Log-probabilities of simplified Chinese characters and the pairs that form words."""

    logp: dict[str, float]
    pairs: frozenset[str]  # two adjacent characters inside a jieba dictionary word
    common_punctuation: float  # 。 and ，are as common as the commonest character
    punctuation: float
    unknown_han: float  # a Han character the dictionary never uses
    digit: float  # numbers are everywhere in news
    letter: float  # Latin letters: names, units and abbreviations
    garbage: float  # lost bytes, kana, private-use code points, stray ASCII symbols


@lru_cache(maxsize=1)
def _model() -> _CharModel:
    """Build the character model once from jieba's character frequencies (search.text)."""
    frequencies = character_frequencies()
    # Only Han characters: the few digits and letters in words such as "B超" are too rare there.
    han = {char: n for char, n in frequencies.counts.items() if is_han(char)}
    total = sum(han.values())
    logp = {char: math.log(n / total) for char, n in han.items()}
    return _CharModel(
        logp=logp,
        pairs=frequencies.word_pairs | _PUNCTUATION_PAIRS,
        common_punctuation=max(logp.values()),
        punctuation=math.log(1e-4),
        unknown_han=math.log(0.5 / total),
        digit=math.log(5e-3),
        letter=math.log(2e-4),
        garbage=math.log(0.05 / total),
    )


def _char_logp(char: str, model: _CharModel) -> float:
    if is_han(char):
        return model.logp.get(char, model.unknown_han)
    if char in _COMMON_PUNCTUATION:
        return model.common_punctuation
    if char in _PUNCTUATION:
        return model.punctuation
    if char.isascii() and char.isdigit():
        return model.digit
    if char.isascii() and char.isalpha():
        return model.letter
    return model.garbage


def _fold(text: str) -> str:
    """Simplified form of ``text``, character by character, for looking characters up."""
    return script_folder().fold_characters(text)


def _char_scores(folded: str, model: _CharModel) -> Iterator[float]:
    for i, char in enumerate(folded):
        bonus = WORD_PAIR_BONUS if i and folded[i - 1 : i + 1] in model.pairs else 0.0
        yield _char_logp(char, model) + bonus


def text_score(text: str) -> float:
    """Mean score per character of ``text`` as Chinese prose: higher reads more like Chinese.

    A character scores its unigram log-probability (natural log, from jieba's dictionary), plus
    WORD_PAIR_BONUS when it forms a dictionary word with the character before it. Traditional
    characters are folded to simplified first. Lost bytes (``?``), kana, private-use code
    points and ASCII symbols such as ``@`` score far below any real character.

    >>> text_score("滕州市工信局") > text_score("彪\\ue269菔泄ば啪") + 5
    True
    """
    if not text:
        return 0.0
    return sum(_char_scores(_fold(text), _model())) / len(text)


# ---------------------------------------------------------------------------------------------
# Re-aligning the bytes


def _is_trail(byte: int | None) -> bool:
    """True for a second byte of a two-byte GB18030 character (None: a lost byte, unknown)."""
    return byte is None or (0x40 <= byte <= 0xFE and byte != 0x7F)


def _decode(stream: list[int | None]) -> str:
    """Decode GB18030 bytes in which None marks a lost byte; a character missing bytes is '?'."""
    out = []
    i = 0
    while i < len(stream):
        lead = stream[i]
        nxt = stream[i + 1] if i + 1 < len(stream) else -1
        if lead is not None and lead < 0x80:
            out.append(chr(lead))
            i += 1
        elif nxt is not None and 0x30 <= nxt <= 0x39:  # a four-byte sequence
            chunk = stream[i : i + 4]
            known = [byte for byte in chunk if byte is not None]
            good = len(known) == 4 == len(chunk)
            out.append(bytes(known).decode("gb18030", errors="replace") if good else "?")
            i += 4
        elif nxt == -1 or not _is_trail(nxt):
            out.append("?")  # a lead byte whose partner is gone
            i += 1
        elif lead is None or nxt is None:
            out.append("?")
            i += 2
        else:
            out.append(bytes((lead, nxt)).decode("gb18030", errors="replace"))
            i += 2
    return "".join(out).replace("\ufffd", "?")


@lru_cache(maxsize=256)
def _chars_with_trail(trail: int) -> tuple[str, ...]:
    """Every readable two-byte character whose second byte is ``trail``."""
    chars = []
    for lead in range(0x81, 0xFF):
        try:
            char = bytes((lead, trail)).decode("gb18030")
        except UnicodeDecodeError:
            continue
        if not _UNREADABLE.match(char):
            chars.append(char)
    return tuple(chars)


@lru_cache(maxsize=4096)
def _guess_lost_char(trail: int, before: str, after: str) -> str:
    """The punctuation mark whose lead byte was lost, judged with its neighbours, or '?'.

    Only a mark next to another mark (``。”``, ``，“``) is guessed: a wrong mark cannot put a
    wrong word into the index, a wrong Han character would, and a lone mark is too easily
    mistaken for a character. The guess must beat every other character ending in ``trail``.
    """
    model = _model()
    scored = []
    for char in _chars_with_trail(trail):
        window = _fold(before + char + after)
        scored.append((sum(_char_scores(window, model)), char))
    scored.sort(reverse=True)
    (best_score, best), (second_score, _) = scored[0], scored[1]
    beside_mark = before + best in _PUNCTUATION_PAIRS or best + after in _PUNCTUATION_PAIRS
    if beside_mark and best_score - second_score >= LOST_CHAR_MARGIN:
        return best
    return "?"


def _realign(stream: list[int | None], before: str) -> str:
    """Decode ``stream`` (its first byte lost) one byte earlier than it was read."""
    trail = stream[1] if len(stream) > 1 else None
    if trail is None or not _is_trail(trail) or 0x30 <= trail <= 0x39:
        return "?" + _decode(stream[1:]) if trail is not None else _decode(stream)
    rest = _decode(stream[2:])
    return _guess_lost_char(trail, before, rest[:1]) + rest


def _full_width_bytes(char: str) -> list[int | None]:
    """The GB18030 bytes of the full-width form of a printable ASCII character."""
    return list(full_width(char).encode("gb18030"))


def _candidates(text: str, lost: int) -> list[tuple[int, str]]:
    """Every way the run that starts with the lost byte at ``lost`` can end, as (end, repaired).

    The run ends where the misread bytes fall back in step: at an ASCII character that really
    was one byte, at another lost byte, at white space or at the end of the text. Each ASCII
    character before that end is taken as a full-width character that was made half-width.
    """
    before = text[lost - 1 : lost]
    stream: list[int | None] = [None]
    found: list[tuple[int, str]] = []
    for j in range(lost + 1, len(text)):
        if j > lost + MAX_RUN:
            return found  # the run would go on further: too long to judge
        char = text[j]
        if _LOST_BYTE.match(char):
            found.append((j + 1, _realign([*stream, None], before)))
            return found
        if char.isspace():
            found.append((j, _realign(stream, before)))
            return found
        if "!" <= char <= "~":
            found.append((j + 1, _realign([*stream, ord(char)], before)))
            stream.extend(_full_width_bytes(char))
        else:
            try:
                stream.extend(char.encode("gb18030"))
            except UnicodeEncodeError:  # a lone surrogate: no GB18030 text reads like this
                return found
    found.append((len(text), _realign(stream, before)))
    return found


@dataclass(frozen=True)
class _Attempt:
    """The best re-alignment of one run, whether or not it is good enough to keep."""

    start: int
    end: int
    repaired: str
    gain: float
    score: float

    @property
    def accepted(self) -> bool:
        return self.gain >= MIN_GAIN and self.score >= MIN_SCORE


def _attempt(text: str, lost: int) -> _Attempt | None:
    """Score every readable way to re-align the run at ``lost`` and return the best one."""
    best = None
    simplified = _reads_simplified(text[:lost])
    for end, repaired in _candidates(text, lost):
        if _UNREADABLE.search(repaired) or _KANA.search(repaired) or _STRAY_ASCII & set(repaired):
            continue  # a true re-alignment gives back readable Chinese
        if not _LOST_BYTE.sub("", repaired):
            continue  # nothing but lost bytes: nothing to gain
        if simplified and _fold(repaired) != repaired:
            continue  # traditional characters in the middle of simplified text
        context = text[end : end + CONTEXT]
        score = text_score(repaired + context)
        gain = score - text_score(text[lost:end] + context)
        if best is None or gain > best.gain:
            best = _Attempt(lost, end, repaired, gain, score)
    return best


def _reads_simplified(text: str) -> bool:
    """True when ``text`` has SCRIPT_EVIDENCE Han characters or more, none of them traditional."""
    han = "".join(char for char in text if is_han(char))
    return len(han) >= SCRIPT_EVIDENCE and _fold(han) == han


def _attempts(text: str) -> Iterator[_Attempt]:
    """The best re-alignment at each lost byte, skipping those inside an accepted repair."""
    pos = 0
    while match := _LOST_BYTE.search(text, pos):
        attempt = _attempt(text, match.start())
        if attempt is None:
            pos = match.end()
            continue
        yield attempt
        pos = attempt.end if attempt.accepted else match.end()


def repair(text: str) -> tuple[str, list[Fix]]:
    """Return text with every confidently repairable GB18030 byte-shifted run repaired, and fixes.

    A run is repaired when its best re-alignment raises :func:`text_score` by MIN_GAIN or more
    and scores MIN_SCORE or more; text with no ``?``, U+FFFD, kana or private-use character is
    returned as it is, after a single regular-expression search.
    """
    if not _SUSPECT.search(text):
        return text, []
    fixes = [
        Fix(a.start, a.end, text[a.start : a.end], a.repaired, round(a.gain, 2))
        for a in _attempts(text)
        if a.accepted and a.repaired != text[a.start : a.end]
    ]
    if not fixes:
        return text, []
    parts = []
    done = 0
    for fix in fixes:
        parts += [text[done : fix.start], fix.after]
        done = fix.end
    parts.append(text[done:])
    return "".join(parts), fixes


# ---------------------------------------------------------------------------------------------
# Flagging garbled runs


def _is_signal(text: str, i: int) -> bool:
    """True if ``text[i]`` is a sign of garbling: see garbled_spans."""
    char = text[i]
    if _UNREADABLE.match(char) or char in _STRAY_ASCII:
        return True
    prev, nxt = text[i - 1 : i], text[i + 1 : i + 2]
    if _KANA.match(char):
        return not _KANA.match(prev) and not _KANA.match(nxt)
    if _LOST_BYTE.match(char):
        return prev in _NOT_AFTER_QUESTION or nxt in _NOT_BEFORE_QUESTION
    return False


def garbled_spans(text: str) -> list[tuple[int, int]]:
    """Spans of runs that look garbled (repaired or not); used to keep garbage out of index terms.

    Signals of garbling are private-use code points, U+FFFD, ASCII symbols such as ``@``, kana
    with no kana beside them, and ``?`` marks that cannot be question marks (next to ``。`` or
    ``，``, as in ``?。?``). Flagged are: every run that :func:`repair` repairs; a run after a
    lost byte that holds an unreadable character or two signals; and clusters of signals no
    more than SIGNAL_DISTANCE characters apart, when a cluster is a lone private-use code point
    or U+FFFD, or has two signals or more of which one is not kana (Japanese writes kana
    between kanji).

    >>> garbled_spans("趙健?。?")
    [(2, 5)]
    """
    if not _SUSPECT.search(text):
        return []
    spans = []
    for attempt in _attempts(text):
        signals = [i for i in range(attempt.start + 1, attempt.end) if _is_signal(text, i)]
        unreadable = any(_UNREADABLE.match(text[i]) for i in signals)
        if attempt.accepted or unreadable or len(signals) > 1:
            spans.append((attempt.start, attempt.end))
    signals = [i for i in range(len(text)) if _is_signal(text, i)]
    cluster: list[int] = []
    for i in [*signals, len(text) + SIGNAL_DISTANCE]:
        if cluster and i - cluster[-1] > SIGNAL_DISTANCE:
            if _is_garbled_cluster(text, cluster):
                spans.append((cluster[0], cluster[-1] + 1))
            cluster = []
        cluster.append(i)
    return merge_spans(spans)


def _is_garbled_cluster(text: str, cluster: list[int]) -> bool:
    """A lone unreadable character, or two signals or more of which one is not kana."""
    if len(cluster) == 1:
        return bool(_UNREADABLE.match(text[cluster[0]]))
    return any(not _KANA.match(text[i]) for i in cluster)

