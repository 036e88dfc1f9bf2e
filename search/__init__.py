"""zhsearch: full-text search for Chinese news articles in either script.

The public API. The `zhsearch` command (package `zhsearch`) and the web app (package `web`)
import only these names; the library itself never imports either of them.
"""

from search import engines
from search.analysis import analyze, normalize
from search.config import Settings, load_settings
from search.documents import Document, DocumentError, Skipped, iter_documents, read_document
from search.errors import ConfigError, ParameterError, SearchError
from search.index import (
    BuildReport,
    IndexBusy,
    IndexError_,
    IndexNotFound,
    IndexUnusable,
    build,
    update,
)
from search.query import (
    FACETS,
    GROUPS,
    SORTS,
    Article,
    Explanation,
    Hit,
    IndexStats,
    QueryError,
    ResultPage,
    Searcher,
    Signal,
    Snippet,
)

__all__ = [
    "FACETS",
    "GROUPS",
    "SORTS",
    "Article",
    "BuildReport",
    "ConfigError",
    "Document",
    "DocumentError",
    "Explanation",
    "Hit",
    "IndexBusy",
    "IndexError_",
    "IndexNotFound",
    "IndexStats",
    "IndexUnusable",
    "ParameterError",
    "QueryError",
    "ResultPage",
    "SearchError",
    "Searcher",
    "Settings",
    "Signal",
    "Skipped",
    "Snippet",
    "analyze",
    "engines",
    "build",
    "iter_documents",
    "load_settings",
    "normalize",
    "read_document",
    "update",
]
