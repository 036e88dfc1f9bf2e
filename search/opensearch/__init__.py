"""zhsearch on an OpenSearch cluster: the same analysis, query language and highlights.

``client`` makes the one client from Settings and turns its errors into ours; ``indexing``
builds (a new index, then an atomic alias switch) and updates; ``querying`` compiles the
parsed query to the query DSL and serves results like :class:`search.query.Searcher`.
"""

from search.opensearch.client import ClusterUnavailable, connect
from search.opensearch.indexing import build, update
from search.opensearch.querying import OpenSearchSearcher

__all__ = ["ClusterUnavailable", "OpenSearchSearcher", "build", "connect", "update"]
