"""Builds and updates on OpenSearch: our analysis, sent pre-analyzed; a new index per build.

Every record of :func:`search.index.records` (an article's header, then one per paragraph)
becomes one OpenSearch document whose fields hold tokens that zhsearch made, joined by spaces
and read by OpenSearch's ``whitespace`` analyzer, so the cluster never segments Chinese itself:

- ``words``: jieba's words and sub-words of the normalized text (frequencies, for BM25);
- ``chars``: every character of the searchable text, one token each (a whitespace character
  becomes the token ``_s``), with positions: a phrase query over them is an exact substring
  match, so substrings and quoted phrases need no checking afterwards, and the field's length is
  the text's length in characters, as our BM25 counts it;
- ``title``, ``author``, ``source``: the article's fields the same way, for filters;
- ``doc_id``, ``paragraph``, ``date``; ``month`` and ``source_key`` (the normalized source),
  keywords for the facets; ``story``, the key of the article's story (:mod:`search.stories`,
  the same stories as Whoosh's), for story grouping;
- not indexed: the original text and the article's metadata, for results and highlights
  (computed in Python by the same highlighter), and on each header its story signature and
  links (``story_state``), from which ``update`` places new and changed articles, as Whoosh's
  update does from ``stories.json``.

A record's ``story`` is first its own doc_id; once every signature is known (at the end of a
build, or of an update's changes), the records of the articles whose story is another's are
updated in place, before the one refresh that makes the index visible.

A build creates ``<alias>-<time>-<pid>``, bulk-loads it while worker processes analyze, checks
the count, then moves the alias to it in one atomic ``_aliases`` call and only then deletes the
alias's older indexes. An interrupted build deletes its new index (or leaves it for the next
build to remove, if killed); the alias never moves to an incomplete index.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import jieba
import numpy as np
from opensearchpy import OpenSearch, helpers
from opensearchpy import exceptions as os_errors

from search.analysis import index_analysis, load_user_dict, normalize
from search.config import Settings
from search.documents import READERS, SourceFile
from search.index import (
    ARTICLE_FIELDS,
    INDEX_FORMAT,
    BuildReport,
    IndexNotFound,
    IndexUnusable,
    _index_file,
    _progress_bar,
    _scan,
    _skipped_note,
    build_facts,
    changed_documents,
    records,
)
from search.opensearch.client import connect, translated
from search.segments import ctrl_c_held
from search.stories import Signature, Stories

# The metadata a result shows, copied onto every record so a hit needs no second request.
HIT_META = ("title", "subtitle", "authors", "source", "published", "editors")
WHITESPACE_TOKEN = "_s"
PADDING_TOKEN = "_"
# Records per bulk request (and at most this many MB): large enough to amortize a request,
# small enough that a node never holds much of one in memory.
BULK_RECORDS = 500
BULK_MB = 8
# What the index's mapping holds, in this module's terms: raised when it changes (an index of an
# older format is rebuilt, as a Whoosh index of another INDEX_FORMAT is).
MAPPING_FORMAT = 2


def char_tokens(text: str) -> str:
    """Text as one token per character, for the ``whitespace`` analyzer: a phrase of these
    tokens matches exactly the substrings of the text.

    Whitespace becomes ``_s``, two characters, so it never meets a character's own token (Java's
    whitespace, which the analyzer splits on, is a subset of Python's ``isspace``).

    >>> char_tokens("枣庄 AB")
    '枣 庄 _s A B'
    """
    return " ".join(WHITESPACE_TOKEN if ch.isspace() else ch for ch in text)


def chars_text(tokens: str) -> str:
    """The text of :func:`char_tokens` back.

    >>> chars_text(char_tokens("枣庄 AB"))
    '枣庄 AB'
    """
    return "".join(" " if t == WHITESPACE_TOKEN else t for t in tokens.split(" ")) \
        if tokens else ""


def word_tokens(text: str, length: int) -> str:
    """The word field of a record: jieba's words and sub-words, then ``_`` tokens up to
    ``length`` (the searchable text's length in characters).

    Lucene's BM25 normalizes by a field's token count, ours (search.postings) by the text's
    length in characters: the padding makes the two agree. It costs one posting per record, of
    a term no query can ask for (a query's Latin words never are a lone ``_``).
    """
    terms = [w.term for w in index_analysis(text).words]
    return " ".join(terms + [PADDING_TOKEN] * (length - len(terms)))


def mappings(alias: str, info: dict[str, object]) -> dict[str, object]:
    """The mapping of a new index; ``_meta`` carries the build's facts (format, counts)."""
    tokens = {"type": "text", "analyzer": "whitespace"}
    filter_field = {**tokens, "index_options": "positions", "norms": False}
    return {
        "dynamic": "strict",
        "_meta": {"zhsearch_alias": alias, "mapping_format": MAPPING_FORMAT, **info},
        "properties": {
            "doc_id": {"type": "keyword"},
            "paragraph": {"type": "integer"},
            "words": {**tokens, "index_options": "freqs"},
            "chars": {**tokens, "index_options": "positions"},
            **{name: filter_field for name in ARTICLE_FIELDS},
            "date": {"type": "date"},
            "month": {"type": "keyword"},
            "source_key": {"type": "keyword"},
            "story": {"type": "keyword"},
            "content_hash": {"type": "keyword"},
            "story_state": {"type": "object", "enabled": False},
            "text": {"type": "text", "index": False},
            "meta": {"type": "object", "enabled": False},
        },
    }


def index_settings(settings: Settings) -> dict[str, object]:
    """Shards, replicas, and refreshes only when a build or update asks (so an update appears
    at once); deep pages allowed as far as the API's page and page-size limits reach."""
    return {
        "number_of_shards": settings.opensearch_shards,
        "number_of_replicas": settings.opensearch_replicas,
        "refresh_interval": "-1",
        "max_result_window": 10_000 * settings.max_per_page,
        # BM25 with our parameters (see search.postings): k1 1.2, b 0.75.
        "similarity": {"default": {"type": "BM25", "k1": 1.2, "b": 0.75}},
    }


def story_state(sig: Signature, links: Iterable[str] = ()) -> dict[str, object]:
    """What a header keeps of its article's story: the signature (not its date, which is the
    article's) and the articles it is linked to."""
    return {"minhash": base64.b64encode(sig.hashvalues.astype("<u4").tobytes()).decode("ascii"),
            "shingles": sig.shingles, "heads": list(sig.heads), "links": sorted(links)}


def _signature(doc_id: str, published: str | None, state: dict[str, object]) -> Signature:
    """The signature a header's :func:`story_state` holds."""
    values = np.frombuffer(base64.b64decode(str(state["minhash"])), dtype="<u4")
    return Signature(doc_id, datetime.fromisoformat(published) if published else None,
                     int(state["shingles"]), tuple(state["heads"]),  # type: ignore[arg-type]
                     values.astype(np.uint32))


def to_sources(records: Iterable[dict[str, object]],
               signatures: dict[str, Signature] | None = None
               ) -> Iterator[tuple[str, dict[str, object]]]:
    """(document id, source) for each record of :func:`search.index.records` (each article's
    header first), as OpenSearch indexes them: the same texts the Whoosh fields get; a header
    keeps its article's signature from ``signatures``, and every record is its own story until
    :func:`_place_stories` says otherwise."""
    shown: dict[str, object] = {}
    for record in records:
        header = record["paragraph"] == 0
        if header:
            shown = {name: record["meta"][name] for name in HIT_META}  # type: ignore[index]
        norm = record["norm"].decode("utf-8")  # type: ignore[attr-defined]
        published = shown["published"]
        source: dict[str, object] = {
            "doc_id": record["doc_id"],
            "paragraph": record["paragraph"],
            "story": record["doc_id"],
            "source_key": normalize(str(record["source"])).text,
            "words": word_tokens(str(record["words"]), len(norm)),
            "chars": char_tokens(norm),
            **{name: char_tokens(normalize(str(record[name])).text) for name in ARTICLE_FIELDS},
            "text": record["text"].decode("utf-8"),  # type: ignore[attr-defined]
            "meta": record["meta"] if header else shown,
        }
        if record.get("date") is not None:
            source["date"] = record["date"].isoformat()  # type: ignore[attr-defined]
        if published:
            source["month"] = str(published)[:7]  # as Whoosh's month facet cuts it
        if header:
            source["content_hash"] = record["meta"]["content_hash"]  # type: ignore[index]
            sig = (signatures or {}).get(str(record["doc_id"]))
            if sig is not None:
                source["story_state"] = story_state(sig)
        yield str(record["key"]), source


def _analyzed(file: SourceFile, repair: bool
              ) -> tuple[BuildReport, list[tuple[str, dict[str, object]]]]:
    """Read and analyze one listed file (in a worker) as a Whoosh build does: what it did,
    and its records."""
    found: list[dict[str, object]] = []
    part = _index_file(file, lambda **record: found.append(record), repair=repair)
    return part, list(to_sources(found, {sig.doc_id: sig for sig in part.signatures}))


def _analyzed_all(files: Sequence[SourceFile], procs: int, repair: bool
                  ) -> Iterator[tuple[BuildReport, list[tuple[str, dict[str, object]]]]]:
    """Each file analyzed, in order, by ``procs`` forked workers (jieba's dictionary and the
    OpenCC tables are loaded once, here, before the fork)."""
    work = partial(_analyzed, repair=repair)
    if procs <= 1 or len(files) < 2:
        yield from map(work, files)
        return
    index_analysis("預熱：工業倍增計劃 warm-up")  # load OpenCC's tables before the fork too
    with ctrl_c_held():  # the workers are forked here (and so ignore Ctrl-C: we stop them)
        pool = multiprocessing.get_context("fork").Pool(procs)
    with pool:
        yield from pool.imap(work, files, chunksize=4)


def _bulk(client: OpenSearch, actions: Iterable[dict[str, object]]) -> int:
    """Send ``actions`` in bulk requests; how many succeeded (any failure raises; requests
    the cluster is too busy for are retried)."""
    done = 0
    for ok, _ in helpers.streaming_bulk(client, actions, chunk_size=BULK_RECORDS,
                                        max_chunk_bytes=BULK_MB * 1024 * 1024,
                                        raise_on_error=True, max_retries=3, initial_backoff=1):
        done += ok
    return done


def live_index(client: OpenSearch, alias: str) -> str:
    """The index the alias points at; :class:`IndexNotFound` when there is none."""
    with translated(f"reading the alias {alias!r}", IndexNotFound):
        try:
            found = client.indices.get_alias(name=alias)
        except os_errors.NotFoundError:
            raise IndexNotFound(f"no index {alias!r} on the OpenSearch cluster: run "
                                "'zhsearch build' first") from None
    if len(found) != 1:
        raise IndexUnusable(f"the alias {alias!r} points at {len(found)} indexes: "
                            "run 'zhsearch build' to make one")
    return next(iter(found))


def index_info(client: OpenSearch, index: str) -> dict[str, object]:
    """The build's facts recorded in the index mapping's ``_meta``."""
    with translated(f"reading the index {index!r}", IndexNotFound):
        mapping = client.indices.get_mapping(index=index)
    return dict(mapping[index]["mappings"].get("_meta", {}))


def check_format(info: dict[str, object], alias: str) -> None:
    if info.get("format") != INDEX_FORMAT or info.get("mapping_format") != MAPPING_FORMAT:
        raise IndexNotFound(f"the OpenSearch index {alias!r} was built by an older zhsearch: "
                            "run 'zhsearch build' to rebuild it")


def build(settings: Settings, sources: Sequence[Path] | None = None, *,
          procs: int | None = None, progress: bool = False) -> BuildReport:
    """Index every document under ``sources`` into a new index and move the alias to it.

    Raises :class:`IndexUnusable` (nothing to index, or the cluster refused something) and
    :class:`~search.opensearch.client.ClusterUnavailable`.
    """
    with closing(connect(settings)) as client:
        return _build(client, settings, sources, procs, progress)


def _build(client: OpenSearch, settings: Settings, sources: Sequence[Path] | None,
           procs: int | None, progress: bool) -> BuildReport:
    started = time.perf_counter()
    sources = [Path(s) for s in (sources or settings.build_sources)]
    alias = settings.opensearch_index
    files = _scan(sources)
    load_user_dict(settings.user_dict)
    jieba.initialize()
    procs = procs or os.cpu_count() or 1
    report = BuildReport(index_dir=Path(alias))
    built_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    name = f"{alias}-{datetime.now():%Y%m%d-%H%M%S-%f}-{os.getpid()}"
    info = build_facts(0, 0, sources, built_at)
    try:
        with translated(f"creating the index {name!r}"):
            client.indices.create(index=name, body={"settings": index_settings(settings),
                                                    "mappings": mappings(alias, info)})
        paragraphs: dict[str, int] = {}
        sent = _load(client, name, files, procs, progress, settings.repair_mojibake, report,
                     paragraphs)
        if report.documents == 0:
            raise IndexUnusable(
                f"nothing to index: no readable article ({', '.join(READERS)}) under "
                f"{', '.join(map(str, sources))}{_skipped_note(report.skipped)}")
        with translated(f"placing the stories of {name!r}"):
            _bulk(client, _story_updates(name, Stories.from_signatures(report.signatures),
                                         {}, paragraphs))
        with translated(f"finishing the index {name!r}"):
            client.indices.refresh(index=name)
            held = client.count(index=name)["count"]
            if held != sent:
                raise IndexUnusable(f"the index {name!r} is incomplete ({held} of {sent} "
                                    "records); the alias is unchanged")
            client.indices.put_mapping(index=name, body={"_meta": {
                "zhsearch_alias": alias, "mapping_format": MAPPING_FORMAT,
                **build_facts(report.documents, report.paragraphs, sources, built_at)}})
            client.cluster.health(index=name, wait_for_status="yellow")
            _switch(client, alias, name)
    except BaseException:
        with translated(f"removing the unfinished index {name!r}"):
            client.indices.delete(index=name, ignore_unavailable=True)
        raise
    _prune(client, alias, keep=name)
    report.seconds = time.perf_counter() - started
    return report


def _load(client: OpenSearch, name: str, files: Sequence[SourceFile], procs: int,
          progress: bool, repair: bool, report: BuildReport, paragraphs: dict[str, int]) -> int:
    """Analyze the files in workers and bulk-load their records; how many were sent
    (``paragraphs`` gets each article's number of body paragraphs)."""
    with _progress_bar(len(files), progress) as advance:
        def actions() -> Iterator[dict[str, object]]:
            for part, sources in _analyzed_all(files, procs, repair):
                report.merge(part)
                advance()
                for key, source in sources:
                    _count_paragraphs(source, paragraphs)
                    yield {"_index": name, "_id": key, "_source": source}

        with translated(f"loading the index {name!r}"):
            return _bulk(client, actions())


def _count_paragraphs(source: dict[str, object], paragraphs: dict[str, int]) -> None:
    if source["paragraph"] == 0:
        paragraphs[str(source["doc_id"])] = int(source["meta"]["paragraphs"])  # type: ignore[index]


def _story_updates(name: str, stories: Stories, placed: dict[str, tuple[str, list[str]]],
                   paragraphs: dict[str, int]) -> Iterator[dict[str, object]]:
    """Partial updates that give every record its article's story key, and every header its
    links, as ``stories`` has them.

    ``placed`` holds (story, links) of the indexed articles that are not a story of their own
    with no links (the state every record is indexed in); ``paragraphs`` the number of body
    paragraphs of every article to update.
    """
    for doc_id in sorted(set(stories.links) | set(placed)):
        if doc_id not in stories.signatures:
            continue  # removed: its records are gone
        story, links = stories.story_id(doc_id), sorted(stories.links.get(doc_id, ()))
        was_story, was_links = placed.get(doc_id, (doc_id, []))
        if links != was_links:
            yield {"_op_type": "update", "_index": name, "_id": f"{doc_id}#0",
                   "doc": {"story_state": {"links": links}}}
        if story != was_story:
            for number in range(paragraphs[doc_id] + 1):
                yield {"_op_type": "update", "_index": name, "_id": f"{doc_id}#{number}",
                       "doc": {"story": story}}


def _switch(client: OpenSearch, alias: str, name: str) -> None:
    """Point ``alias`` at ``name`` alone, in one atomic call."""
    try:
        current = list(client.indices.get_alias(name=alias))
    except os_errors.NotFoundError:
        current = []
    actions: list[dict[str, object]] = [{"remove": {"index": old, "alias": alias}}
                                        for old in current]
    actions.append({"add": {"index": name, "alias": alias}})
    client.indices.update_aliases(body={"actions": actions})


def _prune(client: OpenSearch, alias: str, keep: str) -> None:
    """Delete the alias's indexes other than ``keep``: the previous build and any left by
    interrupted ones (known by the alias named in their ``_meta``)."""
    with translated(f"removing the old indexes of {alias!r}"):
        mappings_ = client.indices.get_mapping(index=f"{alias}-*", allow_no_indices=True)
        old = [name for name, body in mappings_.items() if name != keep and
               body["mappings"].get("_meta", {}).get("zhsearch_alias") == alias]
        for name in old:
            client.indices.delete(index=name, ignore_unavailable=True)


def update(settings: Settings, sources: Sequence[Path] | None = None) -> BuildReport:
    """Re-index only the articles added, changed (by content hash) or removed since the build.

    ``sources`` None means the folders the index was built from. The changes become visible
    together, at the one refresh at the end.
    """
    with closing(connect(settings)) as client:
        return _update(client, settings, sources)


def _update(client: OpenSearch, settings: Settings,
            sources: Sequence[Path] | None) -> BuildReport:
    started = time.perf_counter()
    alias = settings.opensearch_index
    name = live_index(client, alias)
    info = index_info(client, name)
    check_format(info, alias)
    if sources is None:
        recorded = info.get("sources")
        if not isinstance(recorded, list) or not recorded:
            raise IndexUnusable(f"the index {alias!r} does not record its source folders; "
                                "name them with --source")
        sources = [Path(s) for s in recorded]
    sources = [Path(s) for s in sources]
    load_user_dict(settings.user_dict)
    files = _scan(sources)
    report = BuildReport(index_dir=Path(alias))
    stories = Stories()
    placed: dict[str, tuple[str, list[str]]] = {}
    with translated(f"reading the articles of {alias!r}"):
        indexed: dict[str, tuple[str, int]] = {}
        for hit in helpers.scan(client, index=name, query={
                "query": {"term": {"paragraph": 0}},
                "_source": ["doc_id", "content_hash", "meta.paragraphs", "meta.published",
                            "story", "story_state"]}):
            source = hit["_source"]
            doc_id, state = source["doc_id"], source["story_state"]
            indexed[doc_id] = (source["content_hash"], int(source["meta"]["paragraphs"]))
            stories.signatures[doc_id] = _signature(doc_id, source["meta"]["published"], state)
            if state["links"]:
                stories.links[doc_id] = set(state["links"])
            if state["links"] or source["story"] != doc_id:
                placed[doc_id] = (source["story"], state["links"])
    hashes = {doc_id: digest for doc_id, (digest, _) in indexed.items()}
    paragraphs = {doc_id: count for doc_id, (_, count) in indexed.items()}

    def old_records(doc_id: str) -> Iterator[dict[str, object]]:
        for number in range(indexed[doc_id][1] + 1):
            yield {"_op_type": "delete", "_index": name, "_id": f"{doc_id}#{number}"}

    def actions() -> Iterator[dict[str, object]]:
        listed: set[str] = set()
        for doc in changed_documents(files, hashes, report, settings.repair_mojibake, listed):
            if doc.doc_id in indexed:
                yield from old_records(doc.doc_id)
            placed.pop(doc.doc_id, None)  # indexed anew: a story of its own, as yet
            for key, source in to_sources(records(doc), {doc.doc_id: report.signatures[-1]}):
                _count_paragraphs(source, paragraphs)
                yield {"_index": name, "_id": key, "_source": source}
        for doc_id in sorted(set(indexed) - listed):
            report.removed.append(doc_id)
            yield from old_records(doc_id)

    with translated(f"updating the index {alias!r}"):
        _bulk(client, actions())
        if report.added or report.changed or report.removed:
            stories.remove([*report.changed, *report.removed])
            stories.add(report.signatures)
            _bulk(client, _story_updates(name, stories, placed, paragraphs))
            client.indices.refresh(index=name)
            documents = client.count(index=name, body={"query": {"term": {"paragraph": 0}}})
            total = client.count(index=name)["count"]
            client.indices.put_mapping(index=name, body={"_meta": {
                **info, **build_facts(documents["count"], total - documents["count"], sources,
                                      str(info.get("built_at", "")))}})
    report.seconds = time.perf_counter() - started
    return report
