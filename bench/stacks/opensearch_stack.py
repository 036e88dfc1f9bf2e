"""zhsearch on OpenSearch (``ZHSEARCH_ENGINE=opensearch``): the same build and searcher as the
CLI and the web app use on that engine, on the cluster at ``ZHSEARCH_OPENSEARCH_URL`` (which
``bench.run`` starts with ``tests/opensearch_cluster.py`` when none is given).

Each work folder is one alias, ``bench-<folder name>``; the folder holds only the adapter's note
of its sources. Hits are translated to the benchmark's keys as for zhsearch on Whoosh.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.stacks import StackUnavailable
from bench.stacks.zhsearch_stack import ZhsearchStack, _sources_file

try:
    from search import engines
    from search.config import Settings, load_settings
    from search.opensearch import OpenSearchSearcher, connect
    from search.opensearch.indexing import live_index
except ImportError as error:
    raise StackUnavailable(f"zhsearch's OpenSearch engine not importable: {error}") from error

ALIAS_PREFIX = "bench-"
CLUSTER_SCRIPT = Path(__file__).resolve().parents[2] / "tests" / "opensearch_cluster.py"


def settings_for(workdir: Path, sources: Sequence[Path] | None = None) -> Settings:
    """The OpenSearch settings of the alias of ``workdir`` (the rest from the environment)."""
    if not os.environ.get("ZHSEARCH_OPENSEARCH_URL"):
        raise StackUnavailable("no ZHSEARCH_OPENSEARCH_URL (python -m bench starts a cluster "
                               "for --engines opensearch)")
    return load_settings(engine="opensearch",
                         opensearch_index=ALIAS_PREFIX + Path(workdir).name.lower(),
                         sources=tuple(Path(s) for s in sources) if sources else None)


def index_bytes(settings: Settings) -> int:
    """The size of the live index's primary shards' segments on the cluster (the replicas
    double it), read from the segments themselves: the store statistics are refreshed only
    every 10 s (``index.store.stats_refresh_interval``), so a new index would show 0."""
    client = connect(settings)
    try:
        name = live_index(client, settings.opensearch_index)
        shards = client.indices.segments(index=name)["indices"][name]["shards"]
        return sum(segment["size_in_bytes"] for copies in shards.values() for copy in copies
                   if copy["routing"]["primary"] for segment in copy["segments"].values())
    finally:
        client.close()


def drop_indexes(workdir: Path | None = None) -> None:
    """Delete the indexes of ``workdir``'s alias, or every index the benchmark made."""
    client = connect(load_settings(engine="opensearch"))
    pattern = settings_for(workdir).opensearch_index + "-*" if workdir else ALIAS_PREFIX + "*"
    try:
        client.indices.delete(index=pattern, ignore_unavailable=True)
    finally:
        client.close()


class OpenSearchStack(ZhsearchStack):
    """``search.engines.build`` (bulk indexing from two workers, an alias switch) and
    ``OpenSearchSearcher``, defaults everywhere."""

    def build(self, sources: Sequence[Path], workdir: Path) -> dict[str, int]:
        settings = settings_for(workdir, sources)
        report = engines.build(settings)
        workdir.mkdir(parents=True, exist_ok=True)
        _sources_file(workdir).write_text(json.dumps([str(s) for s in sources]))
        return {"paragraphs": report.paragraphs, "characters": report.characters,
                "index_bytes": index_bytes(settings)}

    def _open_searcher(self, workdir: Path) -> OpenSearchSearcher:  # type: ignore[override]
        return OpenSearchSearcher(settings_for(workdir))


def make_stack() -> OpenSearchStack:
    """Return a fresh OpenSearch stack."""
    return OpenSearchStack()


BENCH_HEAP = "1536m"  # per node: three nodes, 4.5 GB of the machine's 24


@contextmanager
def running_cluster() -> Iterator[None]:
    """The cluster the benchmark runs on: the one at ``ZHSEARCH_OPENSEARCH_URL``, or three
    local nodes started with ``tests/opensearch_cluster.py`` (and stopped, their folder
    removed, at the end); the benchmark's indexes are deleted at the end either way."""
    if os.environ.get("ZHSEARCH_OPENSEARCH_URL"):
        try:
            yield
        finally:
            drop_indexes()
        return
    # The tests' 512 MB heap refused the story updates of 16 copies (a parent circuit breaker
    # at 470 MB, past the bulk retries): the benchmark's nodes get more unless told otherwise.
    os.environ.setdefault("ZHSEARCH_OPENSEARCH_HEAP", BENCH_HEAP)
    spec = importlib.util.spec_from_file_location("opensearch_cluster", CLUSTER_SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = script  # its dataclasses look their module up
    spec.loader.exec_module(script)
    print("OpenSearch: starting three local nodes (tests/opensearch_cluster.py)", flush=True)
    cluster = script.start()
    print(f"OpenSearch: green in {cluster.started_in} s", flush=True)
    os.environ["ZHSEARCH_OPENSEARCH_URL"] = ",".join(cluster.urls)
    try:
        yield
    finally:
        try:
            drop_indexes()
        finally:
            del os.environ["ZHSEARCH_OPENSEARCH_URL"]
            cluster.stop()
            shutil.rmtree(cluster.run_dir, ignore_errors=True)
