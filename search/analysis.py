"""Normalization and segmentation of Chinese text, and the Whoosh analyzers built on them.

Text is normalized (full-width to half-width, lower case, traditional to simplified) into a string
of the same meaning whose every character remembers the span of the original it came from. The
analyzers segment the normalized text but report offsets into the *original* text, so highlights
land on the article's own characters whatever the script.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, TypeVar

import jieba
import jieba.finalseg
from whoosh.analysis import Token, Tokenizer

from search.errors import SearchError
from search.text import HAN, HAN_RUN_RE, WIDTH_TABLE, script_folder

T = TypeVar("T")

# --- normalization ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalized:
    """Normalized text with, for each of its characters, the original span it came from."""

    text: str
    original: str
    # starts[i], ends[i]: the span of ``original`` that produced ``text[i]``; None means the
    # identity map (the common case: same length, character for character).
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text behind ``text[start:end]`` (``end`` > ``start``)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


@lru_cache(maxsize=1)
def _folding_table() -> dict[int, str]:
    """Width folding and OpenCC's character table in one, for a single ``str.translate``."""
    return {**script_folder().table, **WIDTH_TABLE}


@lru_cache(maxsize=4096)
def normalize(text: str) -> Normalized:
    """Normalize text for matching: half-width, lower case, simplified script.

    Cached: the paragraphs of popular hits are normalized again on every query that shows them.

    >>> normalize("ＡＢＣ１９９８年棗莊").text
    'abc1998年枣庄'
    """
    # Width and script folding in one pass; lower-casing after it is the same as before it,
    # since script folding maps Han characters only.
    lower = script_folder().fold(text, _folding_table()).lower()
    if len(lower) == len(text):
        return Normalized(lower, text)
    half = text.translate(WIDTH_TABLE)
    # A few characters lower-case to two (İ -> i̇): map every output character back by hand.
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(half):
        for out in ch.lower():
            chars.append(out)
            starts.append(i)
            ends.append(i + 1)
    return Normalized(script_folder().fold("".join(chars)), text, tuple(starts), tuple(ends))


# --- segmentation -----------------------------------------------------------------------------

# Runs of Han characters (search.text.HAN) go to jieba.
# Latin letters and digits stay whole, with inner dots, hyphens, underscores, apostrophes and
# plus signs: 2023, iphone, 3.6.3, covid-19, c++.
_LATIN_CHAR = "0-9a-z\u00c0-\u024f\u0300-\u036f"
_LATIN = rf"[{_LATIN_CHAR}]+(?:[.\-_'+][{_LATIN_CHAR}]+)*\+*"
SEGMENT_RE = re.compile(f"(?P<han>[{HAN}]+)|(?P<latin>{_LATIN})")
# The parts of a Latin word where letters meet digits or a hyphen joins them, indexed as its
# sub-words: 1xr -> 1, xr; covid-19 -> covid, 19; iphone15 -> iphone, 15 (numbers keep their
# inner dots: 3.6.3 has one part and no sub-words).
_LATIN_PART_RE = re.compile(r"[a-z\u00c0-\u024f\u0300-\u036f]+|[0-9]+(?:\.[0-9]+)*")

# Single-character function words: dropped as words (they still match through the substring
# field, so a reader who searches for one alone finds it).
STOP_WORDS = frozenset("的了着之地得和与及或而并也就都又还把被让给对于在是个这那其以为")

# jieba announces its dictionary loading on stderr at INFO level; our commands print their own.
jieba.setLogLevel(logging.WARNING)


class _WholeFileMarshal:
    """The ``marshal`` module jieba uses, except that ``load`` reads the file in one piece.

    jieba unmarshals its 9 MB dictionary cache straight from the open file, which Python reads
    a few bytes at a time: 1.5 s on the benchmark machine, against 0.5 s from the bytes. The
    dictionary loads at every start of a server or a build, so this is most of the start-up.
    """

    dump = staticmethod(marshal.dump)

    @staticmethod
    def load(file: BinaryIO) -> object:
        return marshal.loads(file.read())


jieba.marshal = _WholeFileMarshal  # jieba's initialize() looks up its module's ``marshal``
_jieba_ready = threading.Lock()


# --- the user dictionary ----------------------------------------------------------------------


class UserDictError(SearchError, ValueError):
    """A user dictionary that cannot be read or has a malformed line; nothing was changed."""

    code = "bad_user_dict"


# One user word as jieba knows it: (word, frequency, tag). A file may leave the frequency out
# (None): jieba then computes one that makes the word come out whole.
UserWord = tuple[str, int | None, str]
_USER_LINE = re.compile(
    r"(?P<word>\S+)(?:[ \t]+(?P<freq>[0-9]{1,12}))?(?:[ \t]+(?P<tag>[A-Za-z]+))?")


@dataclass(frozen=True)
class UserDictionary:
    """A jieba user dictionary as read from its file: its words in the order written, each
    normalized as the text it cuts is (so 臺積電 is the word 台积电), and the SHA-256 of the
    file's bytes ("" when there is no file)."""

    words: tuple[UserWord, ...] = ()
    sha256: str = ""
    path: str = ""

    @classmethod
    def read(cls, path: Path | str | None) -> UserDictionary:
        """Read ``word [frequency] [tag]`` per line (blank lines and ``#`` comments skipped).

        No file (or ``path`` None) is an empty dictionary. Raises :class:`UserDictError` for a
        file that cannot be read, is not UTF-8, or has a line that is not ``word [frequency]
        [tag]``, naming the line: a half-read dictionary would drop words from the index.
        """
        if path is None or not os.path.exists(path):
            return cls(path=os.fspath(path or ""))
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise UserDictError(f"cannot read the user dictionary {path}: "
                                f"{e.strerror or e}") from None
        try:
            text = data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as e:
            line = data[:e.start].count(b"\n") + 1
            raise UserDictError(f"the user dictionary {path} is not UTF-8 (line {line})") from None
        words = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            match = _USER_LINE.fullmatch(line)
            if match is None:
                raise UserDictError(f"{path}, line {number}: {line[:40]!r} is not "
                                    "'word [frequency] [tag]'")
            freq = match["freq"]
            words.append((normalize(match["word"]).text, int(freq) if freq else None,
                          match["tag"] or ""))
        return cls(tuple(words), hashlib.sha256(data).hexdigest(), os.fspath(path))


# What jieba's dictionary held before a user word changed it: key -> frequency (None: absent).
_jieba_base: dict[str, int | None] = {}
_force_split_base: dict[str, bool] = {}
_tags_base: dict[str, str | None] = {}
_user_words_now: tuple[UserWord, ...] = ()
# Caches of segmented text, emptied whenever the user words change (see segmentation_cache).
_segmentation_caches: list[Callable[[], None]] = []


def segmentation_cache(maxsize: int) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """``functools.lru_cache`` for results that depend on how jieba cuts text: emptied when
    :func:`use_user_words` changes the user words."""
    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        cached = lru_cache(maxsize=maxsize)(function)
        _segmentation_caches.append(cached.cache_clear)
        return cached
    return decorate


def use_user_words(words: Sequence[UserWord]) -> tuple[UserWord, ...]:
    """Make jieba cut text with exactly these user words, and none given before; return each
    word as jieba now has it (its frequency computed where ``words`` left it out), in order.

    Done here, not with ``jieba.load_userdict``, for two reasons. Words can be taken away:
    jieba's dictionary is first put back as it was before any user word. And jieba's total
    frequency is left as it is (``load_userdict`` adds every word's frequency to it): then the
    cut of a text that does not contain a user word is exactly what it was without the word, so
    a changed dictionary only changes the paragraphs that contain its changed words (the
    paragraphs ``zhsearch update`` analyses again). The words as returned give jieba the same
    state again, whatever was applied before: searchers apply the words an index records.
    """
    global _user_words_now
    words = tuple(words)
    with _jieba_ready:
        if words is _user_words_now or words == _user_words_now:
            return _user_words_now
        jieba.dt.check_initialized()
        tokenizer, force_split = jieba.dt, jieba.finalseg.Force_Split_Words
        for key, freq in _jieba_base.items():
            if freq is None:
                tokenizer.FREQ.pop(key, None)
            else:
                tokenizer.FREQ[key] = freq
        for word, held in _force_split_base.items():
            (force_split.add if held else force_split.discard)(word)
        for word, tag in _tags_base.items():
            if tag is None:
                tokenizer.user_word_tag_tab.pop(word, None)
            else:
                tokenizer.user_word_tag_tab[word] = tag
        applied = []
        for word, freq, tag in words:
            if freq is None:  # as jieba's add_word computes it, over the words so far
                freq = tokenizer.suggest_freq(word, False)
            for key in (word[:end] for end in range(1, len(word) + 1)):
                _jieba_base.setdefault(key, tokenizer.FREQ.get(key))
                tokenizer.FREQ.setdefault(key, 0)  # the prefixes jieba's cut walks through
            tokenizer.FREQ[word] = freq
            _tags_base.setdefault(word, tokenizer.user_word_tag_tab.get(word))
            if tag:
                tokenizer.user_word_tag_tab[word] = tag
            _force_split_base.setdefault(word, word in force_split)
            if freq == 0:  # jieba's way of saying: never one word, not even by its HMM
                force_split.add(word)
            applied.append((word, freq, tag))
        _user_words_now = tuple(applied)
        for clear in _segmentation_caches:
            clear()
        return _user_words_now


def load_user_dict(path: Path | str | None) -> UserDictionary:
    """Read the user dictionary at ``path`` (see :meth:`UserDictionary.read`) and make jieba
    cut text with its words (:func:`use_user_words`), instead of any given before; return it
    with its words as jieba now has them (every frequency given)."""
    dictionary = UserDictionary.read(path)
    return replace(dictionary, words=use_user_words(dictionary.words))


def _han_words(run: str, with_parts: bool) -> Iterator[tuple[str, int, int, bool]]:
    """Words of a run of Han characters: (word, start, end, is_part).

    With ``with_parts``, each long word is preceded by its dictionary sub-words of two and three
    characters, as jieba's search mode does; they are flagged so that they share the position of
    the word they are part of.
    """
    freq = jieba.dt.FREQ
    for word, start, end in jieba.tokenize(run, HMM=True):
        if with_parts and len(word) > 2:
            for size in (2, 3):
                if len(word) <= size:
                    continue
                for i in range(len(word) - size + 1):
                    part = word[i : i + size]
                    if freq.get(part):
                        yield part, start + i, start + i + size, True
        yield word, start, end, False


@dataclass(frozen=True)
class WordToken:
    """One word of analyzed text: normalized term, word position and original character span."""

    term: str
    position: int
    start: int
    end: int
    part: bool = False
    # The span in the normalized text (equal to start, end unless normalization changed lengths).
    norm_start: int = 0
    norm_end: int = 0


def words(text: str, *, with_parts: bool = True, normalized: Normalized | None = None,
          keep_stops: bool = False) -> Iterator[WordToken]:
    """Segment ``text`` into normalized words with positions and original offsets.

    Positions count words, not characters: sub-words (``with_parts``) share the position of the
    word they belong to, so phrase and proximity queries work.

    >>> [(w.term, w.start, w.end) for w in words("奮力實施工業倍增計劃", with_parts=False)]
    [('奋力', 0, 2), ('实施', 2, 4), ('工业', 4, 6), ('倍增', 6, 8), ('计划', 8, 10)]
    """
    norm = normalized or normalize(text)
    position = 0
    for match in SEGMENT_RE.finditer(norm.text):
        base = match.start()
        if match.lastgroup == "latin":
            start, end = norm.span(base, match.end())
            yield WordToken(match.group(), position, start, end, False, base, match.end())
            parts = list(_LATIN_PART_RE.finditer(match.group())) if with_parts else []
            for part in parts if len(parts) > 1 else ():
                ps, pe = base + part.start(), base + part.end()
                yield WordToken(part.group(), position, *norm.span(ps, pe), True, ps, pe)
            position += 1
            continue
        for word, ws, we, part in _han_words(match.group(), with_parts):
            if not keep_stops and not part and word in STOP_WORDS:
                position += 1
                continue
            start, end = norm.span(base + ws, base + we)
            yield WordToken(word, position, start, end, part, base + ws, base + we)
            if not part:
                position += 1


def han_characters(normalized_text: str, covered: frozenset[tuple[int, int]] = frozenset()
                   ) -> Iterator[tuple[str, int]]:
    """Every Han character with its offset in the normalized text: the substring field's terms.

    Characters whose span is in ``covered`` (single-character word tokens) are left out: the
    word field holds them already, and every posting left out is time saved when Whoosh writes
    the index.

    >>> [g for g, _ in han_characters("强工,兴")]
    ['强', '工', '兴']
    >>> [g for g, _ in han_characters("强工,兴", covered=frozenset({(3, 4)}))]
    ['强', '工']
    """
    for match in HAN_RUN_RE.finditer(normalized_text):
        base = match.start()
        for i, ch in enumerate(match.group()):
            at = base + i
            if (at, at + 1) not in covered:
                yield ch, at


# The pair field's terms: each pair of adjacent Han characters hashed into one of 2**PAIR_BITS
# buckets. A query run's pairs narrow its candidates far more than its characters do (a
# bucket's postings are about a quarter of a common character's), and 16,384 terms keep the
# field's term table small where the 250,000 distinct pairs of the benchmark corpus would
# make it the largest part of the index. Collisions only add candidates: every one is checked.
PAIR_BITS = 14


def pair_term(first: str, second: str) -> str:
    """The pair field's term for two adjacent characters: its bucket, in hexadecimal.

    Multiplicative hashing of the two code points: stable across processes, unlike ``hash()``.

    >>> pair_term("枣", "庄") == pair_term("枣", "庄") != pair_term("庄", "枣")
    True
    """
    mixed = ((ord(first) * 0x110000 + ord(second)) * 0x9E3779B1) & 0xFFFFFFFF
    return format(mixed >> (32 - PAIR_BITS), "04x")


def han_pairs(normalized_text: str) -> Iterator[tuple[str, int]]:
    """Every pair of adjacent Han characters as its pair-field term, with the offset of its
    first character in the normalized text."""
    for match in HAN_RUN_RE.finditer(normalized_text):
        run, base = match.group(), match.start()
        for i in range(len(run) - 1):
            yield pair_term(run[i], run[i + 1]), base + i


def query_pairs(han: str) -> list[str]:
    """The distinct pair-field terms of a run of Han characters (none for one character).

    >>> len(query_pairs("枣庄枣庄"))  # 枣庄, 庄枣
    2
    """
    return list(dict.fromkeys(term for term, _ in han_pairs(han)))


@dataclass(frozen=True)
class IndexAnalysis:
    """One paragraph analyzed for indexing: its normalization and its words, with sub-words."""

    normalized: Normalized
    words: tuple[WordToken, ...]

    def covered(self) -> frozenset[tuple[int, int]]:
        """Spans (in the normalized text) of single characters that are word tokens."""
        return frozenset((w.norm_start, w.norm_end) for w in self.words
                         if w.norm_end - w.norm_start == 1)


@segmentation_cache(maxsize=8)
def index_analysis(text: str) -> IndexAnalysis:
    """Analyze a paragraph for the index, once: the word and substring fields both use it.

    Ingestion has replaced garbled characters (mojibake) by U+FFFD in the text it gives the
    index (``search.documents.Document.masked``); they are neither Han nor Latin, so they make
    no terms.
    """
    norm = normalize(text)
    return IndexAnalysis(norm, tuple(words(text, normalized=norm)))


def query_characters(normalized_text: str) -> list[str]:
    """The distinct Han characters of ``normalized_text``: every paragraph containing the text
    holds each of them in the substring or the word field.

    >>> query_characters("枣庄庄园")
    ['枣', '庄', '园']
    """
    return list(dict.fromkeys("".join(HAN_RUN_RE.findall(normalized_text))))


# --- what the index holds ---------------------------------------------------------------------

# The kinds of index field, each with its own analysis: jieba words with sub-words (the word
# field), Han characters that are not one-character words (the substring field), pairs of
# adjacent Han characters as their buckets (the pair field), every Han character (the filter
# fields: title, author, source).
FIELD_KINDS = ("words", "chars", "pairs", "filters")


# One term a field of the index holds for a text: (term, position, start, end, part,
# normalized). ``position`` is the word position for words (sub-words share their word's) and
# the offset in the normalized text for the other kinds (Whoosh stores no positions for them);
# ``start``, ``end`` the span in the original text; ``part`` marks a sub-word (a shorter
# dictionary word inside a longer one); ``normalized`` is the normalized text the term stands
# for (a pair's two characters). Plain tuples: a build makes one for every term it writes.
IndexTerm = tuple[str, int, int, int, bool, str]


def index_terms(text: str, kind: str) -> Iterator[IndexTerm]:
    """The terms a field of ``kind`` (see FIELD_KINDS) holds for ``text``, in text order.

    The one source of what is indexed: the analyzers of the schema yield exactly these when
    they write (``mode="index"``), and :func:`analyze` shows them.

    >>> [t[0] for t in index_terms("他去棗莊", "chars")]  # 他 and 去 are words
    ['枣', '庄']
    >>> [t[5] for t in index_terms("他去棗莊", "pairs")]
    ['他去', '去枣', '枣庄']
    """
    if kind == "words":
        for w in index_analysis(text).words:
            yield w.term, w.position, w.start, w.end, w.part, w.term
        return
    if kind == "chars":
        analysis = index_analysis(text)
        norm, covered = analysis.normalized, analysis.covered()
    elif kind in ("pairs", "filters"):
        norm, covered = normalize(text), frozenset()
    else:
        raise ValueError(f"unknown field kind {kind!r}; one of {', '.join(FIELD_KINDS)}")
    span = norm.span
    if kind == "pairs":
        for term, offset in han_pairs(norm.text):
            start, end = span(offset, offset + 2)
            yield term, offset, start, end, False, norm.text[offset : offset + 2]
        return
    for char, offset in han_characters(norm.text, covered):
        start, end = span(offset, offset + 1)
        yield char, offset, start, end, False, char


# --- Whoosh tokenizers ------------------------------------------------------------------------


class _OffsetTokenizer(Tokenizer):
    """Whoosh's tokenizer contract, once, for tokenizers that report original offsets.

    Subclasses yield :data:`IndexTerm` tuples from :meth:`spans`, with ``start``/``end`` in the
    original text; this class fills the one reused :class:`Token` the way Whoosh expects
    (``positions``, ``chars``, ``keeporiginal``, ``start_pos``, ``start_char``, ``tokenize``).
    """

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.__dict__.items()))))

    def spans(self, value: str, mode: str, removestops: bool) -> Iterator[IndexTerm]:
        raise NotImplementedError

    def __call__(self, value: str, positions: bool = False, chars: bool = False,
                 keeporiginal: bool = False, removestops: bool = True, start_pos: int = 0,
                 start_char: int = 0, tokenize: bool = True, mode: str = "",
                 **kwargs: object) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        t.boost = 1.0
        if not tokenize:  # the whole value as one token, normalized
            whole = normalize(value).text
            found: Iterator[IndexTerm] = iter([(whole, 0, 0, len(value), False, whole)])
        else:
            found = self.spans(value, mode, removestops)
        for term, position, start, end, _, _ in found:
            t.text = term
            t.stopped = False
            if keeporiginal:
                t.original = value[start:end]
            if positions:
                t.pos = start_pos + position
            if chars:
                t.startchar = start_char + start
                t.endchar = start_char + end
            yield t


class ChineseWordTokenizer(_OffsetTokenizer):
    """Whoosh tokenizer: jieba words over normalized text, offsets into the original.

    In ``mode="index"`` (writing) long words also yield their dictionary sub-words at the same
    position; in any other mode (``"query"``) only the words themselves.

    >>> [t.text for t in ChineseWordTokenizer()("壓實責任")]
    ['压实', '责任']
    """

    def spans(self, value: str, mode: str, removestops: bool) -> Iterator[IndexTerm]:
        if mode == "index" and removestops:
            return index_terms(value, "words")
        return ((w.term, w.position, w.start, w.end, w.part, w.term)
                for w in words(value, with_parts=(mode == "index"), keep_stops=not removestops))


class HanCharacterTokenizer(_OffsetTokenizer):
    """Whoosh tokenizer: every Han character, offsets into the original.

    Positions are the characters' offsets in the normalized text; the substring field does not
    store them (a query's characters find candidates, which are checked on the text instead).
    With ``skip_words``, in ``mode="index"``, characters that are single-character word tokens
    are left to the word field, so a query for a character must look in both fields.

    >>> [t.text for t in HanCharacterTokenizer()("強工")]
    ['强', '工']
    """

    def __init__(self, skip_words: bool = False) -> None:
        self.skip_words = skip_words

    def spans(self, value: str, mode: str, removestops: bool) -> Iterator[IndexTerm]:
        return index_terms(value, "chars" if self.skip_words and mode == "index" else "filters")


class HanPairTokenizer(_OffsetTokenizer):
    """Whoosh tokenizer: every pair of adjacent Han characters, as its pair-field term
    (:func:`pair_term`), offsets into the original.

    >>> [t.text for t in HanPairTokenizer()("強工興")] == [pair_term(*p) for p in ("强工", "工兴")]
    True
    """

    def spans(self, value: str, mode: str, removestops: bool) -> Iterator[IndexTerm]:
        return index_terms(value, "pairs")


def word_analyzer() -> ChineseWordTokenizer:
    """The analyzer of the word field."""
    return ChineseWordTokenizer()


def character_analyzer(skip_words: bool = False) -> HanCharacterTokenizer:
    """The analyzer of the substring field (``skip_words``) and of the filter fields."""
    return HanCharacterTokenizer(skip_words)


def pair_analyzer() -> HanPairTokenizer:
    """The analyzer of the pair field."""
    return HanPairTokenizer()


# --- explanation, for people ------------------------------------------------------------------


def analyze(text: str) -> dict[str, object]:
    """Show how ``text`` is normalized and what the index holds for it, field by field.

    Returns ``{"text", "normalized", "tokens": [{"field", "term", "start", "end", "position",
    "part"}]}``, the terms of :func:`index_terms` for every kind of field (``field`` is the
    kind: words, chars, pairs, filters), spans into the original text, ``position`` the word
    position (words only); a pair also shows the two characters it stands for (``pair``), its
    ``term`` being their bucket.
    """
    tokens: list[dict[str, object]] = []
    for kind in FIELD_KINDS:
        for term, position, start, end, part, normalized in index_terms(text, kind):
            token: dict[str, object] = {
                "field": kind, "term": term, "start": start, "end": end,
                "position": position if kind == "words" else None, "part": part}
            if kind == "pairs":
                token["pair"] = normalized
            tokens.append(token)
    return {"text": text, "normalized": normalize(text).text, "tokens": tokens}
