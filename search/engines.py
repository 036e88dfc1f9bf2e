"""The engine behind build, update and search, chosen by ``Settings.engine``.

``whoosh`` (the default) is the index folder ``index_dir``; ``opensearch`` is the alias
``opensearch_index`` on the cluster at ``opensearch_url``. The CLI and the web app call only
these, so every command and page works the same on either engine.
"""

from __future__ import annotations

from search import index as whoosh_index
from search.config import Settings
from search.index import BuildReport
from search.query import Searcher


def open_searcher(settings: Settings) -> Searcher:
    """A searcher of the live index (raises :class:`~search.index.IndexNotFound`)."""
    if settings.engine == "opensearch":
        from search.opensearch import OpenSearchSearcher

        return OpenSearchSearcher(settings)  # type: ignore[return-value]  # the same interface
    return Searcher(settings.index_dir, settings)


def build(settings: Settings, *, procs: int | None = None,
          progress: bool = False) -> BuildReport:
    """Index every document under ``settings.build_sources`` anew and switch to it atomically."""
    if settings.engine == "opensearch":
        from search import opensearch

        return opensearch.build(settings, settings.build_sources, procs=procs,
                                progress=progress)
    return whoosh_index.build(settings.build_sources, settings.index_dir, procs=procs,
                              progress=progress, user_dict=settings.user_dict,
                              repair=settings.repair_mojibake)


def update(settings: Settings) -> BuildReport:
    """Re-index what changed under ``settings.sources`` (None: the folders the index was built
    from)."""
    if settings.engine == "opensearch":
        from search import opensearch

        return opensearch.update(settings, settings.sources)
    return whoosh_index.update(settings.sources, settings.index_dir, user_dict=settings.user_dict,
                               repair=settings.repair_mojibake)
