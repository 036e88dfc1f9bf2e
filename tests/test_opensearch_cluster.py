"""The test cluster itself: three real OpenSearch nodes that index and search, and a plain skip."""

from __future__ import annotations

import os
from pathlib import Path

import opensearch_cluster
import pytest
from opensearchpy import OpenSearch


def test_three_nodes_index_a_document_and_find_it(opensearch_urls: list[str]) -> None:
    client = OpenSearch(opensearch_urls)
    assert client.cluster.health()["number_of_nodes"] == 3
    name = "zhsearch-cluster-smoke"
    client.indices.create(index=name, body={
        "settings": {"number_of_shards": 3, "number_of_replicas": 1},
        "mappings": {"properties": {"words": {"type": "text", "analyzer": "whitespace"}}},
    })
    try:
        client.index(index=name, body={"words": "工业 倍增 计划"}, id="p1", refresh=True)
        client.cluster.health(index=name, wait_for_status="green")
        hits = client.search(index=name, body={"query": {"match": {"words": "倍增"}}})
        assert [hit["_id"] for hit in hits["hits"]["hits"]] == ["p1"]
        shards = client.cat.shards(index=name, format="json")
        assert len(shards) == 6
        assert {shard["state"] for shard in shards} == {"STARTED"}
        assert len({shard["node"] for shard in shards}) == 3
    finally:
        client.indices.delete(index=name)


def test_without_java_the_reason_is_plain(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("OPENSEARCH_JAVA_HOME", raising=False)
    with pytest.raises(opensearch_cluster.ClusterUnavailable, match="no Java on this machine"):
        opensearch_cluster.java_command()


def test_without_maven_and_no_copy_the_reason_is_plain(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(opensearch_cluster, "CACHE", tmp_path / "empty-cache")
    with pytest.raises(opensearch_cluster.ClusterUnavailable, match=r"no Maven \(mvn\)"):
        opensearch_cluster.distribution(tmp_path / "empty-cache")
    assert os.listdir(tmp_path / "empty-cache") == []
