"""Suggestions as the reader types: titles, frequent words and named entities of the index, by
prefix, in either script, and by pinyin (full or initials) for readers without an input method.

The vocabulary is the index's own: its articles' titles and authors, and the words of its word
field held by two records or more, each a person, place or organization when jieba's dictionary
tags it so (``nr``, ``ns``, ``nt``), a word otherwise. Pinyin comes from pypinyin, every reading
of a polyphonic character (重庆 is ``zhongqing`` and ``chongqing``), over this vocabulary only,
never over article bodies. Matching is on normalized text, so 枣 and 棗 find the same.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import json
import os
import re
import sys
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from search.analysis import normalize
from search.errors import ParameterError
from search.text import is_han, script_folder
from search.vocabulary import shown_in
from search.whoosh_adapter import term_counts

KINDS = {"nr": "person", "nrfg": "person", "nrt": "person", "ns": "place", "nt": "organization"}
# A word is suggested when this many records hold it: once is often a segmentation accident.
MIN_RECORDS = 2
MAX_LIMIT = 20
# A word with more pinyin readings than this (polyphonic characters multiply) keeps only the
# first ones: its common readings come first in pypinyin.
MAX_READINGS = 16
# Titles are matched by pinyin on their first characters only.
TITLE_PINYIN_CHARS = 12
# Prefixes this long or shorter have their best entries ranked in advance.
SHORT_TEXT, SHORT_PINYIN = 2, 3
PINYIN_QUERY = re.compile(r"[a-z][a-z ']*")
# The suggestions of a build, made with it (see Suggester.save): beside the index in its folder.
VOCABULARY_FILE = "suggestions.bin"
_VOCABULARY_MAGIC = b"zhsearch suggestions 1\n"
_KIND_CODES = {"title": "t", "person": "p", "place": "l", "organization": "o", "word": "w"}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


@dataclass(frozen=True)
class Suggestion:
    """One completion: its text (in the script the query was typed in), what it is, and in how
    many records (titles: articles) it occurs."""

    text: str
    kind: str  # title | person | place | organization | word
    count: int

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "kind": self.kind, "count": self.count}


@dataclass(frozen=True)
class SuggestionList:
    """What :meth:`Suggester.suggest` returns."""

    query: str
    suggestions: list[Suggestion]

    def to_dict(self) -> dict[str, object]:
        return {"query": self.query, "suggestions": [s.to_dict() for s in self.suggestions]}


def check_limit(limit: int) -> None:
    """Raise ``ParameterError`` unless ``limit`` is from 1 to ``MAX_LIMIT``: the one place for
    the rule (the API's parameter model calls it too)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ParameterError(f"limit must be from 1 to {MAX_LIMIT}, not {limit}")


@lru_cache(maxsize=1)
def word_kinds() -> dict[str, str]:
    """The kind of every word jieba's dictionary tags a person, place or organization."""
    import jieba

    kinds = {}
    path = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            parts = line.split()
            if len(parts) == 3 and parts[2] in KINDS:
                kinds[parts[0]] = KINDS[parts[2]]  # the dictionary is in simplified script
    return kinds


@lru_cache(maxsize=8192)
def _readings(char: str) -> tuple[str, ...]:
    """Every pinyin reading of a Han character, without tones."""
    # (imported here: its dictionaries took a third of a second of every searcher's start)
    import pypinyin

    return tuple(pypinyin.pinyin(char, style=pypinyin.Style.NORMAL, heteronym=True)[0])


@lru_cache(maxsize=1)
def _syllables() -> frozenset[str]:
    """Every pinyin syllable without tones (ü written v, as pypinyin's plain style does)."""
    import unicodedata

    from pypinyin.pinyin_dict import pinyin_dict

    syllables = set()
    for readings in pinyin_dict.values():
        for reading in readings.replace("ü", "v").split(","):
            syllables.add("".join(c for c in unicodedata.normalize("NFD", reading)
                                  if not unicodedata.combining(c)))
    return frozenset(syllables)


def is_pinyin(text: str) -> bool:
    """Whether ``text`` is pure pinyin: letters that split into syllables (spaces and
    apostrophes may separate them), at least two of them.

    >>> is_pinyin("zaozhuang"), is_pinyin("Zao Zhuang"), is_pinyin("iphone"), is_pinyin("zao")
    (True, True, False, False)
    """
    spelled = text.strip().lower()
    if not PINYIN_QUERY.fullmatch(spelled):
        return False
    syllables = _syllables()
    # Fewest syllables that spell each prefix (None: it cannot be spelled).
    fewest: list[int | None] = [0] + [None] * len(spelled)
    for end in range(1, len(spelled) + 1):
        for start in range(max(0, end - 6), end):
            piece = spelled[start:end]
            if fewest[start] is not None and piece in syllables:
                count = fewest[start] + 1  # type: ignore[operator]
                fewest[end] = count if fewest[end] is None else min(fewest[end], count)
        if spelled[end - 1] in " '" and fewest[end - 1] is not None:
            fewest[end] = fewest[end - 1]
    return fewest[-1] is not None and fewest[-1] >= 2


def pinyin_keys(text: str) -> set[str]:
    """The full pinyin and the initials of ``text`` under every reading of its characters.

    >>> {"chongqing", "cq", "zhongqing", "zq"} <= pinyin_keys("重庆")
    True
    """
    syllables = [_readings(c) if is_han(c) else (c,) for c in text if not c.isspace()]
    keys = set()
    for reading in itertools.islice(itertools.product(*syllables), MAX_READINGS):
        keys.add("".join(reading))
        keys.add("".join(s[0] for s in reading))
    return keys


def _full_keys(text: str) -> set[str]:
    """The full pinyin of ``text`` (not its initials)."""
    syllables = [_readings(c) if is_han(c) else (c,) for c in text if not c.isspace()]
    return {"".join(r) for r in itertools.islice(itertools.product(*syllables), MAX_READINGS)}


class Suggester:
    """Completions by prefix of normalized text and of pinyin, most frequent first."""

    def __init__(self, entries: Iterable[tuple[str, str, int]]) -> None:
        """``entries``: (normalized text, kind, count); a text given twice keeps the more
        specific kind (a title, then an entity, then a word) and the larger count."""
        rank = {"title": 0, "person": 1, "place": 1, "organization": 1, "word": 2}
        best: dict[str, tuple[str, int]] = {}
        for text, kind, count in entries:
            held = best.get(text)
            if held is None or (rank[kind], -count) < (rank[held[0]], -held[1]):
                best[text] = (kind, max(count, held[1] if held else 0))
        self._texts = sorted(best)
        self._kinds = [best[t][0] for t in self._texts]
        self._counts = [best[t][1] for t in self._texts]
        # Each entry's place in the order suggestions are offered: most frequent first; at equal
        # counts entities and titles before words, then shorter, then by text.
        texts, kinds, counts = self._texts, self._kinds, self._counts
        order = sorted(range(len(texts)), key=lambda i: (
            -counts[i], kinds[i] == "word", len(texts[i]), texts[i]))
        self._rank = [0] * len(texts)
        for place, i in enumerate(order):
            self._rank[i] = place
        pinyin = []
        for i, text in enumerate(self._texts):
            head = text[:TITLE_PINYIN_CHARS] if self._kinds[i] == "title" else text
            if any(is_han(c) for c in head):
                pinyin.extend((key, i) for key in pinyin_keys(head))
        pinyin.sort()
        self._pinyin = [k for k, _ in pinyin]
        self._pinyin_entry = [i for _, i in pinyin]
        # The best entries of every short prefix, so that the first keystrokes do not rank
        # thousands of candidates each (pinyin prefixes are long before they are narrow).
        self._first: dict[tuple[bool, str], list[int]] = {}
        for pinyin_index, keys in ((False, self._texts), (True, self._pinyin)):
            for size in range(1, (SHORT_PINYIN if pinyin_index else SHORT_TEXT) + 1):
                # The keys are sorted, so their prefixes are too: one prefix is one range.
                prefixes = [k[:size] for k in keys]
                start = 0
                while start < len(prefixes):
                    prefix = prefixes[start]
                    end = bisect.bisect_right(prefixes, prefix, lo=start)
                    if end - start > MAX_LIMIT and len(prefix) == size:
                        entries = (dict.fromkeys(self._pinyin_entry[start:end]) if pinyin_index
                                   else range(start, end))
                        self._first[pinyin_index, prefix] = self._best(entries, MAX_LIMIT)
                    start = end

    def __len__(self) -> int:
        return len(self._texts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Suggester) and self._state() == other._state()

    __hash__ = None  # type: ignore[assignment]  # mutable contents

    def _state(self) -> tuple[object, ...]:
        return (self._texts, self._kinds, self._counts, self._rank, self._pinyin,
                self._pinyin_entry, self._first)

    def save(self, path: Path) -> None:
        """Write the vocabulary, ranked and with its pinyin, to ``path`` (atomically), so that
        :meth:`load` gives it back in milliseconds instead of making it again (seconds).

        The file: a magic line, a JSON line (lengths, the prefixes ranked in advance), then the
        texts and the pinyin keys as newline-separated UTF-8, the kinds as letters, and the
        counts, ranks and pinyin entries as machine integers (index terms and titles hold no
        newline).
        """
        path = Path(path)
        sections = ["\n".join(self._texts).encode("utf-8"),
                    "".join(_KIND_CODES[k] for k in self._kinds).encode("ascii"),
                    array("q", self._counts).tobytes(),
                    array("q", self._rank).tobytes(),
                    "\n".join(self._pinyin).encode("utf-8"),
                    array("q", self._pinyin_entry).tobytes()]
        header = {"byteorder": sys.byteorder, "entries": len(self._texts),
                  "pinyin": len(self._pinyin), "sizes": [len(b) for b in sections],
                  "first": [[int(p), prefix, best] for (p, prefix), best in self._first.items()]}
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as out:
            out.write(_VOCABULARY_MAGIC)
            out.write(json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n")
            for section in sections:
                out.write(section)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Suggester:
        """The vocabulary :meth:`save` wrote to ``path``; raises ``OSError`` or ``ValueError``
        for a file that is missing, damaged or of another version."""
        data = Path(path).read_bytes()
        if not data.startswith(_VOCABULARY_MAGIC):
            raise ValueError(f"{path} is not a zhsearch suggestion vocabulary")
        at = data.index(b"\n", len(_VOCABULARY_MAGIC)) + 1
        header = json.loads(data[len(_VOCABULARY_MAGIC):at])
        sections, start = [], at
        for size in header["sizes"]:
            sections.append(data[start:start + size])
            start += size
        if start != len(data):
            raise ValueError(f"{path} is damaged")
        texts_, kinds_, counts_, rank_, pinyin_, entries_ = sections
        counts, rank, pinyin_entry = array("q", counts_), array("q", rank_), array("q", entries_)
        if header["byteorder"] != sys.byteorder:
            for numbers in (counts, rank, pinyin_entry):
                numbers.byteswap()
        self = cls.__new__(cls)
        self._texts = texts_.decode("utf-8").split("\n") if header["entries"] else []
        self._kinds = [_CODE_KINDS[c] for c in kinds_.decode("ascii")]
        self._counts = counts.tolist()
        self._rank = rank.tolist()
        self._pinyin = pinyin_.decode("utf-8").split("\n") if header["pinyin"] else []
        self._pinyin_entry = pinyin_entry.tolist()
        self._first = {(bool(p), prefix): best for p, prefix, best in header["first"]}
        if not (len(self._texts) == len(self._kinds) == len(self._counts) == len(self._rank)
                == header["entries"]
                and len(self._pinyin) == len(self._pinyin_entry) == header["pinyin"]):
            raise ValueError(f"{path} is damaged")
        return self

    @classmethod
    def from_index(cls, reader, articles: dict[str, dict[str, str]],  # noqa: ANN001
                   save_counts: bool = False) -> Suggester:
        """The suggestions of one index: ``reader`` a Whoosh reader, ``articles`` each
        article's normalized title, author and source (:class:`~search.query.records.Records`).

        The word counts are each segment's, kept beside it (``save_counts``: by build and
        update), so an update reads only its new segment's term table.
        """
        counts = term_counts(reader, "words", save=save_counts)
        return cls.from_counts(counts.items(), articles)

    @classmethod
    def from_counts(cls, words: Iterable[tuple[str, int]],
                    articles: dict[str, dict[str, str]]) -> Suggester:
        """The suggestions of an index whose word field holds ``words`` (each with how many
        records hold it), ``articles`` as in :meth:`from_index`."""
        kinds = word_kinds()
        entries: list[tuple[str, str, int]] = []
        for word, count in words:
            if count < MIN_RECORDS or len(word) < 2 or not any(c.isalpha() for c in word):
                continue
            entries.append((word, kinds.get(word, "word"), count))
        titles = Counter(a["title"] for a in articles.values() if a["title"].strip())
        authors = Counter(name for a in articles.values() for name in set(a["author"].split()))
        entries += [(t, "title", n) for t, n in titles.items()]
        entries += [(name, "person", n) for name, n in authors.items()]
        return cls(entries)

    def suggest(self, query: str, limit: int = 10) -> SuggestionList:
        """The ``limit`` most frequent completions of ``query`` (at most ``MAX_LIMIT``), in the
        script it was typed in; pinyin (``zaozhuang``, ``zao zhuang``, ``zz``) too.

        Raises ``ParameterError`` for a ``limit`` outside 1 to ``MAX_LIMIT``.
        """
        check_limit(limit)
        prefix = normalize(query.strip()).text
        if not prefix:
            return SuggestionList(query, [])
        found = self._prefixed(False, prefix, limit)
        spelled = prefix.replace(" ", "").replace("'", "")
        if PINYIN_QUERY.fullmatch(prefix) and spelled:
            found = dict.fromkeys([*found, *self._prefixed(True, spelled, limit)])
        chosen = self._best(found, limit)
        traditional = script_folder().fold_characters(query) != query
        return SuggestionList(query, [Suggestion(shown_in(self._texts[i], traditional),
                                                 self._kinds[i], self._counts[i])
                                      for i in chosen])

    def characters(self, pinyin: str) -> str | None:
        """The most frequent entry of Chinese characters whose full pinyin is exactly
        ``pinyin`` (spaces and apostrophes ignored, any case): what pinyin typed means.

        >>> Suggester([("枣庄", "place", 3), ("早装", "word", 1)]).characters("Zao Zhuang")
        '枣庄'
        """
        spelled = re.sub(r"[\s']+", "", pinyin.lower())
        # Two letters are initials as often as a syllable: not enough to go on.
        if not spelled.isascii() or not spelled.isalpha() or len(spelled) < 3:
            return None
        start = bisect.bisect_left(self._pinyin, spelled)
        end = bisect.bisect_right(self._pinyin, spelled, lo=start)
        entries = [i for i in self._pinyin_entry[start:end]
                   if spelled in _full_keys(self._texts[i][:TITLE_PINYIN_CHARS])]
        best = self._best(entries, 1)
        return self._texts[best[0]] if best else None

    def _prefixed(self, pinyin: bool, prefix: str, limit: int) -> dict[int, None]:
        """The entries whose text (or a pinyin key) starts with ``prefix``, the best ``limit``
        of them."""
        if (pinyin, prefix) in self._first:
            return dict.fromkeys(self._first[pinyin, prefix][:limit])
        keys = self._pinyin if pinyin else self._texts
        start = bisect.bisect_left(keys, prefix)
        end = bisect.bisect_left(keys, prefix + "\U0010ffff", lo=start)
        if pinyin:
            entries = dict.fromkeys(self._pinyin_entry[start:end])
        else:
            entries = dict.fromkeys(range(start, end))
        return dict.fromkeys(self._best(entries, limit))

    def _best(self, entries: Iterable[int], limit: int) -> list[int]:
        return heapq.nsmallest(limit, entries, key=self._rank.__getitem__)
