"""Faults on the real cluster: a node killed under load loses no search, and rejoins."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import opensearch_cluster
import pytest
from opensearchpy import OpenSearch

from search import engines
from search.config import load_settings
from search.opensearch import OpenSearchSearcher

# Searching threads, and how long they search with a node down (bounded, loopback only).
CLIENTS = 3
DOWN_SECONDS = 6.0


def test_a_node_killed_under_load_loses_no_search_and_rejoins(
        opensearch_nodes: opensearch_cluster.Cluster | None, opensearch_urls: list[str],
        seed_copies: Path) -> None:
    if opensearch_nodes is None:
        pytest.skip("the cluster named by ZHSEARCH_TEST_OPENSEARCH_URL is not ours to kill")
    alias = "t-faults"
    settings = load_settings({}, engine="opensearch", opensearch_url=tuple(opensearch_urls),
                             opensearch_index=alias, sources=(seed_copies,))
    cluster = OpenSearch(opensearch_urls)
    engines.build(settings, procs=2)
    cluster.cluster.health(index=f"{alias}-*", wait_for_status="green")
    checker = OpenSearchSearcher(settings)
    expected = checker.search("枣庄").total
    assert expected > 0
    searches: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def search() -> None:
        searcher = OpenSearchSearcher(settings)
        try:
            while not stop.is_set():
                try:
                    total = searcher.search("枣庄 工业").total
                    found = searcher.search("枣庄").total
                except Exception as error:  # noqa: BLE001 - every failure is the finding
                    failures.append(f"{type(error).__name__}: {error}")
                    continue
                if found != expected:
                    failures.append(f"{found} hits instead of {expected}")
                searches.append(total)
        finally:
            searcher.close()

    threads = [threading.Thread(target=search) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        before = len(searches)
        opensearch_nodes.kill(2)
        time.sleep(DOWN_SECONDS)
        during = len(searches) - before
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    assert during > 10  # the searches went on while the node was down
    health = cluster.cluster.health()
    assert health["number_of_nodes"] == 2 and health["status"] in ("yellow", "green")
    opensearch_nodes.restart(2)
    assert cluster.cluster.health(wait_for_status="green")["number_of_nodes"] == 3
    assert checker.search("枣庄").total == expected
    checker.close()
    cluster.indices.delete(index=f"{alias}-*")
    cluster.close()
