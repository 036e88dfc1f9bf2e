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
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.fields import DATETIME, ID, NUMERIC, STORED, TEXT, Schema

from search.analysis import load_user_dict, ngram_analyzer, word_analyzer
from search.documents import (
    Document,
    DocumentError,
    Repair,
    Skipped,
    iter_documents,
    list_sources,
    read_document,
)

CURRENT = "CURRENT"
BUILDS = "builds"
BUILD_INFO = "build.json"
LOCK = ".lock"
# What a folder made by us may hold; anything else means the path is someone else's folder.
_OWN_NAMES = {CURRENT, BUILDS, LOCK, ".gitignore", CURRENT + ".tmp"}
# Whoosh's writer buffers this many MB before flushing a segment.
_WRITER_LIMIT_MB = 256


class IndexError_(Exception):
    """Base of the index errors; ``str()`` is a one-line message for people."""


class IndexNotFound(IndexError_):
    """There is no usable index at the path."""


class IndexBusy(IndexError_):
    """Another build or update holds the index."""


class IndexUnusable(IndexError_):
    """The index folder cannot be used (foreign contents, not writable, nothing to index)."""


def make_schema() -> Schema:
    """The schema of one record: a body paragraph, or an article's header (``paragraph`` 0)."""
    return Schema(
        key=ID(unique=True),  # "<doc_id>#<paragraph>"
        doc_id=ID(stored=True),
        paragraph=NUMERIC(stored=True),
        text=STORED(),  # the original paragraph, shown and highlighted
        words=TEXT(analyzer=word_analyzer(), phrase=True),
        # Substring matching: Han unigrams and bigrams, without positions (verified on the text).
        ngrams=TEXT(analyzer=ngram_analyzer(), phrase=False),
        title=TEXT(analyzer=ngram_analyzer(), phrase=False),
        author=TEXT(analyzer=ngram_analyzer(), phrase=False),
        source=TEXT(analyzer=ngram_analyzer(), phrase=False),
        date=DATETIME(),
        meta=STORED(),  # article metadata, on the header record only
    )


@dataclass
class BuildReport:
    """What a build or update did."""

    index_dir: Path
    documents: int = 0
    paragraphs: int = 0
    characters: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)
    spam: list[tuple[str, str]] = field(default_factory=list)  # (doc_id, paragraph)
    repairs: list[tuple[str, Repair]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # updates only
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def characters_per_second(self) -> float:
        return self.characters / self.seconds if self.seconds else 0.0

    def count(self, doc: Document) -> None:
        self.documents += 1
        self.paragraphs += len(doc.paragraphs)
        self.characters += sum(map(len, doc.paragraphs)) + len(doc.title) + len(doc.subtitle)
        self.spam.extend((doc.doc_id, p) for p in doc.spam)
        self.repairs.extend((doc.doc_id, r) for r in doc.repairs)


def records(doc: Document) -> Iterator[dict[str, object]]:
    """The index records of one document: its header, then one per body paragraph."""
    filters = {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "author": " ".join(doc.authors),
        "source": doc.source,
    }
    if doc.published is not None:
        filters["date"] = doc.published
    header = "\n".join(p for p in (doc.title, doc.subtitle, *doc.byline) if p)
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
    }
    yield {**filters, "key": f"{doc.doc_id}#0", "paragraph": 0, "text": header,
           "words": header, "ngrams": header, "meta": meta}
    for number, paragraph in enumerate(doc.paragraphs, 1):
        yield {**filters, "key": f"{doc.doc_id}#{number}", "paragraph": number,
               "text": paragraph, "words": paragraph, "ngrams": paragraph}


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


def build_info(build_dir: Path) -> dict[str, object]:
    """The ``build.json`` of a build (counts, times), or ``{}``."""
    try:
        return json.loads((build_dir / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _check_folder(index_dir: Path) -> None:
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexUnusable(f"{index_dir} is a file, not an index folder")
    foreign = sorted(p.name for p in index_dir.iterdir() if p.name not in _OWN_NAMES) \
        if index_dir.is_dir() else []
    if foreign:
        raise IndexUnusable(f"{index_dir} holds files that are not a zhsearch index "
                            f"({', '.join(foreign[:3])}); choose an empty or new folder")


def _listing(sources: Sequence[Path]) -> list[tuple[Path, str]]:
    """The articles under ``sources``; a missing source folder is an :class:`IndexUnusable`."""
    try:
        return list_sources(sources)
    except DocumentError as e:
        raise IndexUnusable(str(e)) from None


@contextmanager
def _locked(index_dir: Path) -> Iterator[None]:
    """Hold the index's write lock; refuse at once if another build or update has it."""
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
        yield


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


def _write_info(build_dir: Path, documents: int, paragraphs: int, sources: Sequence[Path],
                built_at: str) -> None:
    info = {
        "built_at": built_at,
        "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "documents": documents,
        "paragraphs": paragraphs,
        "sources": [str(s) for s in sources],
    }
    tmp = build_dir / (BUILD_INFO + ".tmp")
    tmp.write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, build_dir / BUILD_INFO)


# --- build and update -------------------------------------------------------------------------


def build(sources: Sequence[Path], index_dir: Path, *, procs: int | None = None,
          progress: bool = False, user_dict: Path | None = None) -> BuildReport:
    """Index every document under ``sources`` into a new build and switch to it atomically.

    ``procs`` > 1 analyzes in that many worker processes (default: one per core).
    Raises :class:`IndexUnusable`, :class:`IndexBusy`.
    """
    started = time.perf_counter()
    index_dir = Path(index_dir)
    sources = [Path(s) for s in sources]
    _check_folder(index_dir)
    total = len(_listing(sources))
    load_user_dict(user_dict)
    procs = procs or os.cpu_count() or 1
    report = BuildReport(index_dir=index_dir)
    with _locked(index_dir):
        previous = (index_dir / CURRENT).read_text().strip() if (index_dir / CURRENT).exists() \
            else ""
        build_dir = index_dir / BUILDS / datetime.now().strftime(f"%Y%m%d-%H%M%S-{os.getpid()}")
        build_dir.mkdir(parents=True)
        try:
            ix = whoosh_index.create_in(build_dir, make_schema())
            if procs > 1:
                writer = ix.writer(procs=procs, multisegment=True, limitmb=_WRITER_LIMIT_MB)
            else:
                writer = ix.writer(limitmb=_WRITER_LIMIT_MB)
            try:
                for item in _with_progress(iter_documents(sources), total, progress):
                    if isinstance(item, Skipped):
                        report.skipped.append(item)
                        continue
                    report.count(item)
                    for record in records(item):
                        writer.add_document(**record)
                if report.documents == 0:
                    raise IndexUnusable(
                        f"nothing to index: no readable .txt article under "
                        f"{', '.join(map(str, sources))} ({len(report.skipped)} skipped)")
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
            built_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            _write_info(build_dir, report.documents, report.paragraphs, sources, built_at)
        except BaseException:
            shutil.rmtree(build_dir, ignore_errors=True)
            raise
        _switch(index_dir, build_dir)
        _prune(index_dir, keep={build_dir.name, Path(previous).name})
    report.seconds = time.perf_counter() - started
    return report


def update(sources: Sequence[Path], index_dir: Path, *, user_dict: Path | None = None
           ) -> BuildReport:
    """Re-index only the documents added, changed (by content hash) or removed since the build.

    Whoosh commits atomically, so readers see the index before or after the update, never
    between. Raises :class:`IndexNotFound`, :class:`IndexBusy`, :class:`IndexUnusable`.
    """
    started = time.perf_counter()
    index_dir = Path(index_dir)
    sources = [Path(s) for s in sources]
    load_user_dict(user_dict)
    report = BuildReport(index_dir=index_dir)
    listing = _listing(sources)
    with _locked(index_dir):
        build_dir = current_build(index_dir)
        ix = whoosh_index.open_dir(build_dir)
        with ix.searcher() as searcher:
            indexed = {fields["doc_id"]: fields["meta"]["content_hash"]
                       for fields in searcher.documents(paragraph=0)}
        writer = ix.writer(limitmb=_WRITER_LIMIT_MB)
        try:
            listed = {doc_id for _, doc_id in listing}
            for path, doc_id in listing:
                try:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError as e:
                    report.skipped.append(Skipped(path, f"unreadable: {e.strerror}"))
                    continue
                if indexed.get(doc_id) == digest:
                    continue
                try:
                    doc = read_document(path, doc_id)
                except Exception as e:  # noqa: BLE001 - one bad file never stops an update
                    report.skipped.append(Skipped(path, str(e)))
                    continue
                (report.changed if doc_id in indexed else report.added).append(doc_id)
                writer.delete_by_term("doc_id", doc_id)
                report.count(doc)
                for record in records(doc):
                    writer.add_document(**record)
            for doc_id in sorted(set(indexed) - listed):
                report.removed.append(doc_id)
                writer.delete_by_term("doc_id", doc_id)
        except BaseException:
            writer.cancel()
            raise
        if report.added or report.changed or report.removed:
            writer.commit()
            with ix.searcher() as searcher:
                documents = sum(1 for _ in searcher.document_numbers(paragraph=0))
                paragraphs = searcher.doc_count() - documents
            built_at = str(build_info(build_dir).get("built_at", ""))
            _write_info(build_dir, documents, paragraphs, sources, built_at)
        else:
            writer.cancel()
    report.seconds = time.perf_counter() - started
    return report


def _with_progress(items: Iterator[Document | Skipped], total: int,
                   progress: bool) -> Iterator[Document | Skipped]:
    if not progress:
        yield from items
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="doc", desc="indexing", leave=False) as bar:
        for item in items:
            bar.update(1)
            yield item
