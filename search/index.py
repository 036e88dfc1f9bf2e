"""The Whoosh index: schema, full builds with an atomic switch, incremental updates, opening.

Layout of an index folder::

    index/
      CURRENT            "builds/<name>": the live build, replaced atomically by os.replace
      builds/<name>/     one complete Whoosh index per build, plus build.json
      .lock              held (flock) by the one build or update running

A build writes a whole new index under ``builds/`` and only then points ``CURRENT`` at it, so a
reader never sees a half-built index and an interrupted build leaves the live one as it was. The
previous build is kept, so searchers opened on it keep working until they notice the switch.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index
from whoosh.analysis import Tokenizer
from whoosh.codec.whoosh3 import W3Codec
from whoosh.columns import VarBytesColumn
from whoosh.fields import COLUMN, DATETIME, ID, NUMERIC, STORED, TEXT, Schema
from whoosh.formats import Existence

from search.analysis import (
    UserDictionary,
    character_analyzer,
    load_user_dict,
    normalize,
    pair_analyzer,
    query_pairs,
    word_analyzer,
)
from search.documents import (
    READERS,
    Document,
    DocumentError,
    Repair,
    Skipped,
    SourceFile,
    Unchanged,
    ingest,
    scan_sources,
)
from search.errors import SearchError
from search.segments import WorkerLost, write_index
from search.stories import Signature, Stories, restore_files, signature, stories_files
from search.suggest import VOCABULARY_FILE, Suggester
from search.text import HAN_RUN_RE
from search.whoosh_adapter import ColumnPart, derived_arrays, save_flat_postings

# The article fields on every record (for filters), also kept per article in ``article``.
ARTICLE_FIELDS = ("title", "author", "source")
CURRENT = "CURRENT"
BUILDS = "builds"
BUILD_INFO = "build.json"
# The user dictionary a build was made with, its words as jieba had them (see
# search.analysis.use_user_words): what an update compares the file with, and what searchers
# cut queries with.
USER_DICT_FILE = "user_dict.json"
# Recorded in build.json; raised whenever the schema or the meaning of a field changes, so that
# a searcher or an update refuses a build it would misread.
INDEX_FORMAT = 8
LOCK = ".lock"
# What a folder made by us may hold; anything else means the path is someone else's folder.
_OWN_NAMES = {CURRENT, BUILDS, LOCK, ".gitignore", CURRENT + ".tmp"}
# Whoosh's writer (updates) buffers this many MB before sorting postings to disk.
_WRITER_LIMIT_MB = 128
# A build's worker starts a new segment when its postings pass this many MB (estimated), so
# memory stays flat however large the corpus; see search/segments.py.
_SEGMENT_BUDGET_MB = 96
# Postings per block (Whoosh writes 128): the query engine reads whole posting lists, and each
# block costs a seek and two unpicklings, so few large blocks read several times faster; only
# Whoosh's own matchers skip blocks, and we use them for IDs and dates alone.
_BLOCK_POSTINGS = 8192
# Segments are written as separate files (compound=False in the writers): whoosh3 copies each
# part of a compound segment file into memory when it opens it, which doubled a searcher's
# memory (181 -> 98 MB on a 43 MB index).


class IndexError_(SearchError):
    """Base of the index errors; ``str()`` is a one-line message for people."""

    code = "index_error"


class IndexNotFound(IndexError_):
    """There is no usable index at the path."""

    code = "no_index"


class IndexBusy(IndexError_):
    """Another build or update holds the index."""

    code = "index_busy"


class IndexUnusable(IndexError_):
    """The index folder cannot be used (foreign contents, not writable, nothing to index)."""

    code = "index_unusable"


def make_schema() -> Schema:
    """The schema of one record: a body paragraph, or an article's header (``paragraph`` 0)."""
    return Schema(
        key=ID(unique=True),  # "<doc_id>#<paragraph>"
        doc_id=ID(stored=True, sortable=True),
        paragraph=NUMERIC(stored=True),
        # The original paragraph, shown and highlighted; read into memory by searchers.
        text=COLUMN(VarBytesColumn()),
        # Words without positions: phrases and proximity are checked on ``norm`` instead.
        words=TEXT(analyzer=word_analyzer(), phrase=False),
        # Substrings: every Han character, without positions; a query's characters give the
        # candidates, checked on ``norm``. Single-character words are only in ``words``.
        chars=_existence(character_analyzer(skip_words=True)),
        # Pairs of adjacent Han characters, hashed into buckets: the candidates for a query run
        # of two characters or more (see search.analysis.PAIR_BITS).
        pairs=_existence(pair_analyzer()),
        # The article's title, authors and source on every record, for filters and the title
        # boost.
        title=_existence(character_analyzer()),
        author=_existence(character_analyzer()),
        source=_existence(character_analyzer()),
        date=DATETIME(),
        # Read into memory by searchers: the searchable (normalized) text of every record as
        # UTF-8, on which substring and phrase matches are checked; and, on the header record,
        # the article's title, author and source, normalized, as JSON.
        norm=COLUMN(VarBytesColumn()),
        article=COLUMN(VarBytesColumn()),
        meta=STORED(),  # article metadata, on the header record only
    )


def _existence(analyzer: Tokenizer) -> TEXT:
    """A field whose postings say only which records hold a term: the query engine reads them
    as sets, and without frequencies a posting list is half the size and quicker to decode."""
    field_type = TEXT(analyzer=analyzer, phrase=False)
    field_type.format = Existence()
    return field_type


@dataclass
class BuildReport:
    """What a build or update did."""

    index_dir: Path
    documents: int = 0
    paragraphs: int = 0
    characters: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)
    # Bad fields of articles that were kept (JSON Lines), where and why each was left out.
    dropped: list[Skipped] = field(default_factory=list)
    spam: list[tuple[str, str]] = field(default_factory=list)  # (doc_id, paragraph)
    repairs: list[tuple[str, Repair]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # updates only
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Unchanged articles indexed again for a changed user dictionary.
    resegmented: list[str] = field(default_factory=list)
    # Updates only: what a changed user dictionary made the update do (None: it had not changed).
    dictionary: DictionaryChange | None = None
    # The repost signature of every article read, from which the build's stories are made.
    signatures: list[Signature] = field(default_factory=list, repr=False)

    @property
    def characters_per_second(self) -> float:
        return self.characters / self.seconds if self.seconds else 0.0

    def count(self, doc: Document) -> None:
        self.documents += 1
        self.paragraphs += len(doc.paragraphs)
        self.characters += sum(map(len, doc.paragraphs)) + len(doc.title) + len(doc.subtitle)
        self.spam.extend((doc.doc_id, p) for p in doc.spam)
        self.repairs.extend((doc.doc_id, r) for r in doc.repairs)
        self.dropped.extend(Skipped(doc.path, reason, doc.line) for reason in doc.dropped)

    def merge(self, part: BuildReport) -> None:
        """Add the counts and lists of ``part`` (what a worker did) to this report."""
        self.documents += part.documents
        self.paragraphs += part.paragraphs
        self.characters += part.characters
        self.skipped.extend(part.skipped)
        self.dropped.extend(part.dropped)
        self.spam.extend(part.spam)
        self.repairs.extend(part.repairs)
        self.signatures.extend(part.signatures)


@dataclass
class DictionaryChange:
    """What an update did about a changed user dictionary.

    Only the paragraphs holding a word added, changed (in frequency or tag) or removed are cut
    differently (see :func:`search.analysis.use_user_words`); their articles are indexed again,
    every record of them, since an article's records stay together in the index.
    """

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Records (paragraphs, or an article's header) holding one of the words: cut anew.
    paragraphs: int = 0
    articles: list[str] = field(default_factory=list)  # their articles, indexed again
    records: int = 0  # the records of those articles written again, the other paragraphs too

    @property
    def words(self) -> list[str]:
        return sorted({*self.added, *self.changed, *self.removed})


def records(doc: Document) -> Iterator[dict[str, object]]:
    """The index records of one document: its header, then one per body paragraph.

    The analyzed fields get the texts with their garbled characters masked
    (:meth:`Document.masked`); ``text`` and ``meta`` keep them as they are, to be shown.
    """
    filters = {
        "doc_id": doc.doc_id,
        "title": doc.masked(doc.title),
        "author": " ".join(map(doc.masked, doc.authors)),
        "source": doc.masked(doc.source),
    }
    if doc.published is not None:
        filters["date"] = doc.published
    meta = {
        "title": doc.title,
        "subtitle": doc.subtitle,
        "authors": doc.authors,
        "source": doc.source,
        "published": doc.published.isoformat() if doc.published else None,
        "editors": doc.editors,
        "byline": doc.byline,
        "paragraphs": len(doc.paragraphs),
        "content_hash": doc.content_hash,
        "path": str(doc.path),
        "url": doc.url,
    }
    # Read into memory by searchers: the normalized fields for filters, and the date for
    # sorting and the month facet.
    article: dict[str, str | None] = {name: normalize(filters[name]).text
                                      for name in ARTICLE_FIELDS}
    article["published"] = meta["published"]
    yield {**filters, "key": f"{doc.doc_id}#0", "paragraph": 0, "meta": meta,
           **_body(doc, doc.header), "article": json.dumps(article, ensure_ascii=False).encode()}
    for number, paragraph in enumerate(doc.paragraphs, 1):
        yield {**filters, "key": f"{doc.doc_id}#{number}", "paragraph": number,
               **_body(doc, paragraph)}


def _body(doc: Document, text: str) -> dict[str, object]:
    """The fields of a record that hold its text: as it is to be shown, and masked to be
    analyzed and checked (``norm``, the normalized text substring queries are checked on)."""
    searchable = doc.masked(text)
    return {"text": text.encode("utf-8"), "words": searchable, "chars": searchable,
            "pairs": searchable, "norm": normalize(searchable).text.encode("utf-8")}


# --- locations --------------------------------------------------------------------------------


def current_build(index_dir: Path) -> Path:
    """The folder of the live build; raises :class:`IndexNotFound`."""
    index_dir = Path(index_dir)
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexNotFound(f"no index at {index_dir}: run 'zhsearch build' first") from None
    except OSError as e:
        raise IndexNotFound(f"cannot read the index at {index_dir}: {e.strerror}") from None
    build_dir = index_dir / name
    if not name.startswith(BUILDS + "/") or not whoosh_index.exists_in(build_dir):
        raise IndexNotFound(f"the index at {index_dir} is damaged: {name!r} is not a build; "
                            "run 'zhsearch build' to make a new one")
    return build_dir


def check_format(build_dir: Path) -> None:
    """Raise :class:`IndexNotFound` for a build made by an older zhsearch, which this one
    cannot read or update."""
    if build_info(build_dir).get("format") != INDEX_FORMAT:
        raise IndexNotFound(f"the index at {build_dir.parent.parent} was built by an older "
                            "zhsearch: run 'zhsearch build' to rebuild it")


def build_info(build_dir: Path) -> dict[str, object]:
    """The ``build.json`` of a build (counts, times), or ``{}``."""
    try:
        return json.loads((build_dir / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# --- the suggestion vocabulary of a build ----------------------------------------------------


def save_suggestions(build_dir: Path, ix: whoosh_index.Index) -> None:
    """Make the suggestions of the index as it is now (:meth:`Suggester.from_index`) and save
    them in the build folder, where searchers load them in milliseconds."""
    with ix.searcher() as searcher:
        reader = searcher.reader()
        doc_ids, article_column = reader.column_reader("doc_id"), reader.column_reader("article")
        articles = {doc_ids[d]: json.loads(article_column[d]) for d in reader.all_doc_ids()
                    if article_column[d]}  # only header records carry it
        suggester = Suggester.from_index(reader, articles, save_counts=True)
        suggester.save(Path(build_dir) / VOCABULARY_FILE)


# --- the user dictionary a build was made with -------------------------------------------------


def save_user_dict(build_dir: Path, dictionary: UserDictionary) -> None:
    """Record in the build the user dictionary its text was cut with (atomically)."""
    record = {"path": dictionary.path, "sha256": dictionary.sha256,
              "words": [list(word) for word in dictionary.words]}
    tmp = Path(build_dir) / (USER_DICT_FILE + ".tmp")
    tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, Path(build_dir) / USER_DICT_FILE)


def recorded_user_dict(build_dir: Path) -> UserDictionary | None:
    """The user dictionary the build records (words as jieba had them), or None for a build
    that records none (made by an older zhsearch) or whose record is damaged."""
    try:
        record = json.loads((Path(build_dir) / USER_DICT_FILE).read_text(encoding="utf-8"))
        words = tuple((str(w), int(f), str(t)) for w, f, t in record["words"])
        return UserDictionary(words, str(record["sha256"]), str(record["path"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def user_dict_files(build_dir: Path) -> dict[str, bytes]:
    """The bytes of the build's user dictionary record, to put back with ``restore_files``."""
    path = Path(build_dir) / USER_DICT_FILE
    return {USER_DICT_FILE: path.read_bytes()} if path.exists() else {}


def dictionary_change(recorded: UserDictionary | None,
                      dictionary: UserDictionary) -> DictionaryChange | None:
    """The words added, changed (frequency or tag) or removed from ``recorded`` (None: a build
    that records no dictionary, taken as one without words) to ``dictionary``; None when no word
    changed. Only words of Han characters count: jieba cuts only runs of them here."""
    before = {w: (f, t) for w, f, t in recorded.words} if recorded else {}
    after = {w: (f, t) for w, f, t in dictionary.words}
    han = {w for w in {*before, *after} if HAN_RUN_RE.fullmatch(w)}
    change = DictionaryChange(
        added=sorted(w for w in han if w not in before),
        changed=sorted(w for w in han if w in before and w in after and before[w] != after[w]),
        removed=sorted(w for w in han if w not in after))
    return change if change.words else None


def holding(searcher, words: Sequence[str]) -> Counter[str]:  # noqa: ANN001
    """The articles whose live records hold any of ``words`` (normalized Han text) in their
    searchable text: doc_id -> how many of its records do.

    The candidates of a word are the records holding all of its character pairs (for one
    character: the character, in the character or the word field), read with Whoosh's own
    queries; each is checked on its text.
    """
    from whoosh.query import And, Or, Term

    reader = searcher.reader()
    texts = reader.column_reader("norm")
    found: set[int] = set()
    for word in words:
        query = And([Term("pairs", p) for p in query_pairs(word)]) if len(word) > 1 \
            else Or([Term("chars", word), Term("words", word)])
        needle = word.encode("utf-8")
        found.update(d for d in searcher.docs_for_query(query) if needle in texts[d])
    return Counter(searcher.stored_fields(d)["doc_id"] for d in found)


def _check_folder(index_dir: Path) -> None:
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexUnusable(f"{index_dir} is a file, not an index folder")
    foreign = sorted(p.name for p in index_dir.iterdir() if p.name not in _OWN_NAMES) \
        if index_dir.is_dir() else []
    if foreign:
        raise IndexUnusable(f"{index_dir} holds files that are not a zhsearch index "
                            f"({', '.join(foreign[:3])}); choose an empty or new folder")


def _scan(sources: Sequence[Path]) -> list[SourceFile]:
    """The files under ``sources``; a missing source folder is an :class:`IndexUnusable`."""
    try:
        return scan_sources(sources)
    except DocumentError as e:
        raise IndexUnusable(str(e)) from None


@contextmanager
def _locked(index_dir: Path) -> Iterator[int]:
    """Hold the index's write lock (yields its file descriptor); refuse if another holds it."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = open(index_dir / LOCK, "a+")
    except OSError as e:
        raise IndexUnusable(f"cannot write to the index folder {index_dir}: {e.strerror}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(f"another build or update is running on {index_dir}; "
                            "try again when it has finished") from None
        yield handle.fileno()


def _unwritable(index_dir: Path, error: OSError) -> IndexUnusable:
    reason = error.strerror or str(error)
    return IndexUnusable(f"cannot write to the index folder {index_dir}: {reason}; "
                         "the live index is unchanged")


def _new_build_dir(index_dir: Path) -> Path:
    """Create the folder of a new build, after checking that ``CURRENT`` can be replaced."""
    probe = index_dir / (CURRENT + ".tmp")
    probe.touch()
    probe.unlink()
    # Microseconds and the pid keep names unique: two builds may start within one second.
    name = datetime.now().strftime(f"%Y%m%d-%H%M%S-%f-{os.getpid()}")
    build_dir = index_dir / BUILDS / name
    build_dir.mkdir(parents=True)
    return build_dir


def _switch(index_dir: Path, build_dir: Path) -> None:
    tmp = index_dir / (CURRENT + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{BUILDS}/{build_dir.name}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, index_dir / CURRENT)


def _prune(index_dir: Path, keep: set[str]) -> None:
    """Remove builds other than ``keep``: older ones and those left by interrupted builds."""
    for build_dir in (index_dir / BUILDS).iterdir():
        if build_dir.name not in keep:
            shutil.rmtree(build_dir, ignore_errors=True)


def build_facts(documents: int, paragraphs: int, sources: Sequence[Path],
                built_at: str) -> dict[str, object]:
    """What a build records about itself (``build.json``; an OpenSearch index's ``_meta``)."""
    return {
        "format": INDEX_FORMAT,
        "built_at": built_at,
        "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "documents": documents,
        "paragraphs": paragraphs,
        "sources": [str(Path(s).resolve()) for s in sources],
    }


def _write_info(build_dir: Path, documents: int, paragraphs: int, sources: Sequence[Path],
                built_at: str) -> None:
    info = build_facts(documents, paragraphs, sources, built_at)
    tmp = build_dir / (BUILD_INFO + ".tmp")
    tmp.write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, build_dir / BUILD_INFO)


# --- build and update -------------------------------------------------------------------------


def build(sources: Sequence[Path], index_dir: Path, *, procs: int | None = None,
          progress: bool = False, user_dict: Path | None = None,
          repair: bool = True) -> BuildReport:
    """Index every document under ``sources`` into a new build and switch to it atomically.

    ``procs`` > 1 reads, analyzes and writes in that many worker processes (default: one
    per core), each into segments of its own.
    Raises :class:`IndexUnusable`, :class:`IndexBusy`.
    """
    started = time.perf_counter()
    index_dir = Path(index_dir)
    sources = [Path(s) for s in sources]
    _check_folder(index_dir)
    files = _scan(sources)
    dictionary = load_user_dict(user_dict)  # a bad one stops the build before it starts
    procs = procs or os.cpu_count() or 1
    report = BuildReport(index_dir=index_dir)
    with _locked(index_dir) as lock:
        previous = (index_dir / CURRENT).read_text().strip() if (index_dir / CURRENT).exists() \
            else ""
        try:
            build_dir = _new_build_dir(index_dir)
        except OSError as e:
            raise _unwritable(index_dir, e) from None
        try:
            _write_build(build_dir, sources, files, procs, progress, lock, report, repair)
            save_user_dict(build_dir, dictionary)
        except BaseException as e:
            shutil.rmtree(build_dir, ignore_errors=True)
            if isinstance(e, OSError):
                raise _unwritable(index_dir, e) from None
            raise
        try:
            _switch(index_dir, build_dir)
        except OSError as e:  # CURRENT was not replaced: the new build is of no use
            shutil.rmtree(build_dir, ignore_errors=True)
            raise _unwritable(index_dir, e) from None
        _prune(index_dir, keep={build_dir.name, Path(previous).name})
    report.seconds = time.perf_counter() - started
    return report


def _write_build(build_dir: Path, sources: Sequence[Path], files: list[SourceFile],
                 procs: int, progress: bool, lock: int, report: BuildReport,
                 repair: bool) -> None:
    """Write every document of ``files`` into a new Whoosh index in ``build_dir`` and check
    it is whole.

    Each of ``procs`` workers (forked, see :func:`search.segments.write_index`) reads, analyzes
    and writes its share of the files into segments of its own.
    """
    ix = whoosh_index.create_in(build_dir, make_schema())
    if procs > 1:
        _load_analysis(ix.schema)
    parts: dict[int, BuildReport] = {}
    with _progress_bar(len(files), progress) as advance:
        def collect(position: int, part: BuildReport) -> None:
            parts[position] = part
            advance()

        try:
            added = write_index(ix, files, partial(_index_file, repair=repair),
                                collect, procs=procs, budget_mb=_SEGMENT_BUDGET_MB,
                                close_in_workers=[lock], compound=False,
                                codec=W3Codec(blocklimit=_BLOCK_POSTINGS))
        except WorkerLost as e:
            raise IndexUnusable(f"the build in {build_dir} is incomplete: {e}; "
                                "the live index is unchanged") from None
    for position in sorted(parts):  # the report lists files in order, however workers ran
        report.merge(parts[position])
    if report.documents == 0:
        raise IndexUnusable(
            f"nothing to index: no readable article ({', '.join(READERS)}) under "
            f"{', '.join(map(str, sources))}{_skipped_note(report.skipped)}")
    if ix.doc_count() != added:
        raise IndexUnusable(f"the build in {build_dir} is incomplete ({ix.doc_count()} of "
                            f"{added} records): an indexing worker failed")
    save_segment_arrays(ix)
    Stories.from_signatures(report.signatures).save(build_dir)
    save_suggestions(build_dir, ix)
    built_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _write_info(build_dir, report.documents, report.paragraphs, sources, built_at)


# The per-segment array of each record's searchable (``norm``) length in characters, which
# searchers read instead of every text (see search.query.records).
LENGTHS = "norm_lengths"


def character_lengths(part: ColumnPart) -> np.ndarray:
    """Each record's length in characters, of one segment's part of a text column."""
    data, starts, lengths = part
    return np.array([len(data[s:s + n].decode("utf-8")) for s, n in
                     zip(starts.tolist(), lengths.tolist(), strict=True)], dtype=np.int32)


def save_segment_arrays(ix: whoosh_index.FileIndex) -> None:
    """Write what searchers read beside each segment of ``ix``, where it is missing: the
    records' searchable lengths and the flat postings (see
    :func:`~search.whoosh_adapter.save_flat_postings`)."""
    with ix.searcher() as searcher:
        derived_arrays(searcher.reader(), LENGTHS, character_lengths, "norm", save=True)
        save_flat_postings(searcher.reader())


def _index_file(file: SourceFile, add_document: Callable[..., None], *,
                repair: bool) -> BuildReport:
    """Read one listed file and add its articles' records (in a worker); what it did, for the
    report."""
    part = BuildReport(index_dir=Path())
    for item in ingest(file, repair=repair):
        if isinstance(item, Skipped):
            part.skipped.append(item)
        elif isinstance(item, Document):
            part.count(item)
            part.signatures.append(signature(item))
            for record in records(item):
                add_document(**record)
    return part


def _load_analysis(schema: Schema) -> None:
    """Load jieba's dictionary and OpenCC's tables here, before workers fork and share them."""
    for name in schema.names():
        if isinstance(schema[name], TEXT):
            list(schema[name].index("預熱：工業倍增計劃 warm-up"))


def _skipped_note(skipped: list[Skipped]) -> str:
    if not skipped:
        return ""
    first = skipped[0]
    return f" ({len(skipped)} skipped; {first.path.name}: {first.reason})"


def update(sources: Sequence[Path] | None, index_dir: Path, *, user_dict: Path | None = None,
           repair: bool = True) -> BuildReport:
    """Re-index only the documents added, changed (by content hash) or removed since the build.

    ``sources`` None means the folders the index was built from (an update from other folders
    would remove every article not in them). Whoosh commits atomically, so readers see the
    index before or after the update, never between. Raises :class:`IndexNotFound`,
    :class:`IndexBusy`, :class:`IndexUnusable`.
    """
    started = time.perf_counter()
    index_dir = Path(index_dir)
    if sources is None:
        recorded = build_info(current_build(index_dir)).get("sources")
        if not isinstance(recorded, list) or not recorded:
            raise IndexUnusable(f"the index at {index_dir} does not record its source folders; "
                                "name them with --source")
        sources = [Path(s) for s in recorded]
    sources = [Path(s) for s in sources]
    dictionary = load_user_dict(user_dict)  # a bad one stops the update before it starts
    report = BuildReport(index_dir=index_dir)
    files = _scan(sources)
    current_build(index_dir)  # no index here: say so before creating a lock file in the folder
    with _locked(index_dir):
        try:
            build_dir = current_build(index_dir)
            check_format(build_dir)
            _update_build(build_dir, files, sources, report, repair, dictionary)
        except OSError as e:
            raise _unwritable(index_dir, e) from None
    report.seconds = time.perf_counter() - started
    return report


def _update_build(build_dir: Path, files: list[SourceFile], sources: Sequence[Path],
                  report: BuildReport, repair: bool, dictionary: UserDictionary) -> None:
    """Apply the added, changed and removed documents of ``files`` to the build in place, and
    the changes of the user dictionary to the articles that hold a changed word.

    Files are read as a build reads them (:func:`~search.documents.ingest`), so the index an
    update leaves holds what a build from the same files would: an article whose file is now
    skipped is removed, with the reason among the skipped files.
    """
    ix = whoosh_index.open_dir(build_dir)
    recorded = recorded_user_dict(build_dir)
    change = dictionary_change(recorded, dictionary)
    with ix.searcher() as searcher:
        indexed = {fields["doc_id"]: fields["meta"]["content_hash"]
                   for fields in searcher.documents(paragraph=0)}
        held = holding(searcher, change.words) if change is not None else Counter()
    report.dictionary = change
    writer = ix.writer(limitmb=_WRITER_LIMIT_MB, compound=False,
                       codec=W3Codec(blocklimit=_BLOCK_POSTINGS))
    listed: set[str] = set()
    resegment = set(held)
    try:
        for doc in changed_documents(files, indexed, report, repair, listed, resegment):
            writer.delete_by_term("doc_id", doc.doc_id)
            for record in records(doc):
                writer.add_document(**record)
            if change is not None and doc.doc_id in resegment:
                change.records += len(doc.paragraphs) + 1
        for doc_id in sorted(set(indexed) - listed):
            report.removed.append(doc_id)
            writer.delete_by_term("doc_id", doc_id)
        if change is not None:  # the articles indexed again for it, and not changed anyway
            change.articles = sorted(report.resegmented)
            change.paragraphs = sum(held[d] for d in change.articles)
        if not (report.added or report.changed or report.removed or report.resegmented):
            writer.cancel()
            if recorded != dictionary:  # nothing holds the words: only the record changes
                save_user_dict(build_dir, dictionary)
            return
        stories = Stories.load(build_dir)
        if stories is None:
            raise IndexNotFound(f"the stories of the index at {build_dir.parent.parent} are "
                                "missing or damaged: run 'zhsearch build' to rebuild it")
        stories.remove([*report.changed, *report.removed, *report.resegmented])
        stories.add(report.signatures)
        # Saved before the commit, so that a searcher that sees the new index reads its
        # stories; put back if the commit fails.
        saved = stories_files(build_dir) | user_dict_files(build_dir)
        stories.save(build_dir)
        save_user_dict(build_dir, dictionary)
        try:
            writer.commit()
        except BaseException:
            restore_files(build_dir, saved)
            if USER_DICT_FILE not in saved:
                (build_dir / USER_DICT_FILE).unlink(missing_ok=True)
            raise
    except BaseException:
        with suppress(Exception):  # the first error is the one to report
            writer.cancel()
        raise
    save_segment_arrays(ix)
    save_suggestions(build_dir, ix)
    with ix.searcher() as searcher:
        documents = sum(1 for _ in searcher.document_numbers(paragraph=0))
        paragraphs = searcher.doc_count() - documents
    built_at = str(build_info(build_dir).get("built_at", ""))
    _write_info(build_dir, documents, paragraphs, sources, built_at)


def changed_documents(files: Sequence[SourceFile], indexed: Mapping[str, str],
                      report: BuildReport, repair: bool, listed: set[str],
                      resegment: Set[str] = frozenset()) -> Iterator[Document]:
    """The documents of ``files`` added or changed since they were indexed, and those of
    ``resegment`` (to be cut again with a changed user dictionary), read as a build reads them
    (:func:`~search.documents.ingest`).

    ``indexed`` maps each indexed doc_id to its content hash. The report records what was
    added, changed, cut again (``resegmented``) or skipped (with the reason) and counts what is
    read; ``listed`` receives every doc_id still in the files, so that the caller can remove
    the others.
    """
    reading = {d: h for d, h in indexed.items() if d not in resegment} if resegment else indexed
    for item in (item for file in files for item in ingest(file, repair=repair, indexed=reading)):
        if isinstance(item, Skipped):
            report.skipped.append(item)
            continue
        listed.add(item.doc_id)
        if isinstance(item, Unchanged):
            continue
        if item.doc_id in resegment and indexed[item.doc_id] == item.content_hash:
            report.resegmented.append(item.doc_id)
        else:
            (report.changed if item.doc_id in indexed else report.added).append(item.doc_id)
        report.count(item)
        report.signatures.append(signature(item))
        yield item


@contextmanager
def _progress_bar(total: int, progress: bool) -> Iterator[Callable[[], None]]:
    """Yield a function to call once per file read; it moves a tqdm bar if ``progress``."""
    if not progress:
        yield lambda: None
        return
    from tqdm import tqdm

    class Bar(tqdm):  # type: ignore[type-arg]
        monitor_interval = 0  # no monitor thread: the build forks its workers after this

    with Bar(total=total, unit="doc", desc="indexing", leave=False) as bar:
        yield lambda: bar.update(1)
