"""Stories: an article and its reposts, found by MinHash with LSH over script-folded text.

Reposting (转载) copies an article with small changes: a banner or source line added, the title
prefixed or suffixed, an editor line appended, a paragraph dropped, a few characters changed,
often converted to the other script. Each article's title and paragraphs are normalized
(:func:`search.analysis.normalize`: half-width, lower case, simplified), reduced to their Han
characters, letters and digits, and cut into overlapping character shingles; a MinHash
signature of the shingle set (``datasketch``) estimates the Jaccard similarity of two articles,
and an LSH index over the signatures finds the candidates without comparing every pair.

Two articles are linked when one's title is found in the other's title or first paragraphs (a
repost keeps the title, perhaps under a banner or with a prefix; a templated text such as one
decree of many does not) and their estimated *containment* (the shared shingles over the smaller
set's) reaches :attr:`StoryParams.containment`: containment rather than Jaccard, because a
repost that adds a banner and an editor line to a short article, or drops a paragraph, shares
almost all of the smaller text but a much smaller part of the union. Articles too short for
shingles to tell a repost from a quotation are linked only when their texts are the same.

A story is an earliest published article (its representative) and the later articles linked to
it; an article linked to no representative starts a story of its own. Links are not followed
from copy to copy: chains of templated texts (a law, its decree, the next decree, the next law)
would otherwise join distinct articles. ``bench/reposts.py`` measured the parameters.

The signatures and links are kept in the build folder (``stories.json``, ``stories.npy``), so
that ``update`` places a new or changed article into its story by querying the LSH index rebuilt
from them, without reading any other article again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from search.analysis import normalize
from search.documents import Document
from search.text import HAN

# datasketch is imported where it is used: it imports SciPy, which took half a second of every
# searcher's start (a search that does not group by story never needs it).
if TYPE_CHECKING:
    from datasketch import LeanMinHash, MinHashLSH

# In a build folder: the signatures (an array, one row per article) and what goes with them.
SIGNATURES_FILE = "stories.npy"
STORIES_FILE = "stories.json"
# Recorded in the file; raised when the shingles, signatures or rules change meaning.
STORIES_FORMAT = 1
# datasketch 2 hashes with 32-bit affine permutations unless told otherwise; named here so that
# signatures kept in a build are read back with the scheme that made them.
_SCHEME = "affine32"
# What a shingle is made of: Han characters, Latin letters and digits. Punctuation and spaces
# are what reposting changes most (full-width/half-width, quotes, line breaks) and say little.
_KEPT = re.compile(f"[0-9a-z\u00c0-\u024f{HAN}]+")
# A title is looked for in the other article's first three parts (title, subtitle or a banner,
# first paragraph), each cut to this many characters.
_HEADS = 3
_HEAD_CHARS = 200


@dataclass(frozen=True)
class StoryParams:
    """How articles are compared (chosen with ``bench/reposts.py``; see docs/benchmarks.md)."""

    # Characters per shingle: at 5 a changed character touches only five shingles, and
    # unrelated articles share few 5-grams (3- and 4-grams did as well on the measurement, but
    # a larger archive shares more of them).
    shingle: int = 5
    # Permutations of the MinHash: the Jaccard estimate's standard error is about 0.04.
    num_perm: int = 128
    # The LSH index's Jaccard threshold for candidates: low, because a short repost with a
    # banner, or one missing a paragraph, has a low Jaccard similarity but a high containment.
    candidates: float = 0.2
    # Estimated containment that links two articles.
    containment: float = 0.7
    # Articles with fewer shingles than this are linked only to the same text: a brief of a
    # line or two is contained in every longer article that quotes it.
    min_shingles: int = 10


DEFAULT_PARAMS = StoryParams()


@dataclass(frozen=True)
class Signature:
    """What stories need of one article: its MinHash, shingle count, first parts and date."""

    doc_id: str
    published: datetime | None
    shingles: int
    heads: tuple[str, ...]  # title, then the next parts of story_text, cut to _HEAD_CHARS
    hashvalues: np.ndarray  # num_perm uint32 values


def story_text(doc: Document) -> list[str]:
    """The comparable text of an article: title, subtitle and paragraphs, normalized, reduced
    to Han characters, letters and digits (one string per part, empty ones left out).

    Bylines (source, editors, dates) are metadata and not part of it.
    """
    parts = (doc.title, doc.subtitle, *doc.paragraphs)
    runs = ("".join(_KEPT.findall(normalize(part).text)) for part in parts if part)
    return [run for run in runs if run]


def shingles(paragraphs: Iterable[str], size: int) -> set[str]:
    """The distinct character shingles of ``size`` in each paragraph (a shorter paragraph is
    one shingle); none cross a paragraph boundary.

    >>> sorted(shingles(["abcd", "xy"], 3))
    ['abc', 'bcd', 'xy']
    """
    found: set[str] = set()
    for text in paragraphs:
        if len(text) <= size:
            found.add(text)
        else:
            found.update(text[i:i + size] for i in range(len(text) - size + 1))
    return found


def signature(doc: Document, params: StoryParams = DEFAULT_PARAMS) -> Signature:
    """The :class:`Signature` of one document."""
    parts = story_text(doc)
    found = shingles(parts, params.shingle)
    from datasketch import MinHash

    minhash = MinHash(num_perm=params.num_perm, scheme=_SCHEME)
    minhash.update_batch([s.encode("utf-8") for s in found])
    heads = tuple(part[:_HEAD_CHARS] for part in parts[:_HEADS]) or ("",)
    return Signature(doc.doc_id, doc.published, len(found), heads, minhash.hashvalues.copy())


def _order_key(sig: Signature) -> tuple[bool, datetime, str]:
    """Earliest published first; articles without a date after every dated one."""
    return (sig.published is None, sig.published or datetime.min, sig.doc_id)


def _titles_agree(a: Signature, b: Signature) -> bool:
    """Tell whether one article's title stands in the other's first parts."""
    return any(a.heads[0] in head for head in b.heads) or \
        any(b.heads[0] in head for head in a.heads)


@dataclass
class Stories:
    """The stories of one build: every article's signature, the links between reposts, and the
    stories they make (each earliest published first)."""

    params: StoryParams = DEFAULT_PARAMS
    signatures: dict[str, Signature] = field(default_factory=dict)
    links: dict[str, set[str]] = field(default_factory=dict)  # symmetric, only linked articles
    _lsh: MinHashLSH | None = field(default=None, repr=False)
    _groups: dict[str, list[str]] | None = field(default=None, repr=False)

    @classmethod
    def from_signatures(cls, signatures: Iterable[Signature],
                        params: StoryParams = DEFAULT_PARAMS) -> Stories:
        """The stories of a full build."""
        stories = cls(params=params)
        stories.add(signatures)
        return stories

    # --- changes ----------------------------------------------------------------------------

    def add(self, signatures: Iterable[Signature]) -> None:
        """Add articles (a doc_id already here is replaced) and link each to its reposts."""
        for sig in signatures:
            if sig.doc_id in self.signatures:
                self.remove([sig.doc_id])
            lsh = self._index()
            minhash = self._minhash(sig)
            for other_id in lsh.query(minhash):
                if self.linked(sig, self.signatures[other_id]):
                    self.links.setdefault(sig.doc_id, set()).add(other_id)
                    self.links.setdefault(other_id, set()).add(sig.doc_id)
            lsh.insert(sig.doc_id, minhash, check_duplication=False)
            self.signatures[sig.doc_id] = sig
        self._groups = None

    def remove(self, doc_ids: Iterable[str]) -> None:
        """Take articles out (unknown ids are ignored); their stories are formed anew."""
        lsh = self._index()
        for doc_id in doc_ids:
            if self.signatures.pop(doc_id, None) is None:
                continue
            lsh.remove(doc_id)
            for other_id in self.links.pop(doc_id, set()):
                others = self.links[other_id]
                others.discard(doc_id)
                if not others:
                    del self.links[other_id]
        self._groups = None

    def linked(self, a: Signature, b: Signature) -> bool:
        """Tell whether two articles are copies of one story."""
        if not _titles_agree(a, b):
            return False
        same = np.count_nonzero(a.hashvalues == b.hashvalues)
        if min(a.shingles, b.shingles) < self.params.min_shingles:
            return a.shingles == b.shingles and same == self.params.num_perm
        jaccard = same / self.params.num_perm
        # |A & B| = J * (|A| + |B|) / (1 + J), from J = |A & B| / |A | B|.
        shared = jaccard * (a.shingles + b.shingles) / (1 + jaccard)
        return shared / min(a.shingles, b.shingles) >= self.params.containment

    def _minhash(self, sig: Signature) -> LeanMinHash:
        # Lean: the LSH reads only the hash values, and a full MinHash made from them would
        # draw its permutations again for every article (most of an update's story time).
        from datasketch import LeanMinHash

        return LeanMinHash(seed=1, hashvalues=sig.hashvalues, scheme=_SCHEME)

    def _index(self) -> MinHashLSH:
        """The LSH index of the signatures, built on first use (after loading from a file)."""
        if self._lsh is None:
            from datasketch import MinHashLSH

            self._lsh = MinHashLSH(threshold=self.params.candidates,
                                   num_perm=self.params.num_perm)
            with self._lsh.insertion_session() as session:
                for sig in self.signatures.values():
                    session.insert(sig.doc_id, self._minhash(sig), check_duplication=False)
        return self._lsh

    # --- reading ----------------------------------------------------------------------------

    def _story_groups(self) -> dict[str, list[str]]:
        """doc_id -> its story's doc_ids, earliest first (linked articles only).

        In publication order, an article joins the story of the earliest representative it is
        linked to, or else represents a story of its own.
        """
        if self._groups is None:
            members: dict[str, list[str]] = {}
            story_of: dict[str, str] = {}
            for doc_id in sorted(self.links, key=lambda d: _order_key(self.signatures[d])):
                representatives = [other for other in self.links[doc_id] if other in members]
                key = min(representatives, key=lambda d: _order_key(self.signatures[d]),
                          default=doc_id)
                members.setdefault(key, []).append(doc_id)
                story_of[doc_id] = key
            self._groups = {doc_id: members[key] for doc_id, key in story_of.items()}
        return self._groups

    def story(self, doc_id: str) -> list[str]:
        """The doc_ids of the story holding ``doc_id``, its earliest published copy first."""
        return self._story_groups().get(doc_id, [doc_id])

    def story_id(self, doc_id: str) -> str:
        """The story's key: the doc_id of its earliest published copy."""
        return self.story(doc_id)[0]

    def groups(self) -> list[list[str]]:
        """Every story of two articles or more, each earliest first, in order of first copy."""
        seen = {members[0]: members for members in self._story_groups().values()
                if len(members) > 1}
        return [seen[key] for key in sorted(seen, key=lambda d: _order_key(self.signatures[d]))]

    # --- the files in a build ---------------------------------------------------------------

    def save(self, build_dir: Path) -> None:
        """Write the signatures and links into the build folder (each file atomically)."""
        build_dir = Path(build_dir)
        doc_ids = sorted(self.signatures)
        sigs = [self.signatures[d] for d in doc_ids]
        values = np.array([s.hashvalues for s in sigs], dtype=np.uint32
                          ).reshape(len(sigs), self.params.num_perm)
        tmp = build_dir / (SIGNATURES_FILE + ".tmp")
        with open(tmp, "wb") as f:
            np.save(f, values, allow_pickle=False)
        tmp.replace(build_dir / SIGNATURES_FILE)
        position = {doc_id: i for i, doc_id in enumerate(doc_ids)}
        info = {
            "format": STORIES_FORMAT,
            "params": asdict(self.params),
            "articles": [[s.doc_id, s.published.isoformat() if s.published else None,
                          s.shingles, list(s.heads)] for s in sigs],
            "links": sorted([position[a], position[b]] for a, others in self.links.items()
                            for b in others if a < b),
            "stories": self.groups(),  # for people reading the file; not read back
        }
        tmp = build_dir / (STORIES_FILE + ".tmp")
        tmp.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
        tmp.replace(build_dir / STORIES_FILE)

    @classmethod
    def load(cls, build_dir: Path) -> Stories | None:
        """The stories saved in a build, or None when it has none (of this format)."""
        build_dir = Path(build_dir)
        try:
            info = json.loads((build_dir / STORIES_FILE).read_text(encoding="utf-8"))
            values = np.load(build_dir / SIGNATURES_FILE, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if info.get("format") != STORIES_FORMAT or len(values) != len(info["articles"]):
            return None
        params = StoryParams(**info["params"])
        signatures = {
            doc_id: Signature(doc_id, datetime.fromisoformat(date) if date else None, count,
                              tuple(heads), row)
            for (doc_id, date, count, heads), row in zip(info["articles"], values, strict=True)
        }
        doc_ids = [article[0] for article in info["articles"]]
        links: dict[str, set[str]] = {}
        for a, b in info["links"]:
            links.setdefault(doc_ids[a], set()).add(doc_ids[b])
            links.setdefault(doc_ids[b], set()).add(doc_ids[a])
        return cls(params=params, signatures=signatures, links=links)


def stories_files(build_dir: Path) -> dict[str, bytes]:
    """The bytes of a build's story files, to put back with :func:`restore_files`."""
    return {name: (Path(build_dir) / name).read_bytes()
            for name in (SIGNATURES_FILE, STORIES_FILE) if (Path(build_dir) / name).exists()}


def restore_files(build_dir: Path, saved: dict[str, bytes]) -> None:
    """Write back the story files read by :func:`stories_files`."""
    for name, data in saved.items():
        (Path(build_dir) / name).write_bytes(data)

