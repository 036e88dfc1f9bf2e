"""zhsearch: full-text search for Chinese news articles in either script.

The public API; the CLI and the web app use only these names.
"""

from search.analysis import analyze, normalize
from search.config import Settings, load_settings
from search.documents import Document, Skipped, iter_documents, read_document
from search.index import (
    BuildReport,
    IndexBusy,
    IndexError_,
    IndexNotFound,
    IndexUnusable,
    build,
    update,
)
from search.query import Article, Hit, IndexStats, QueryError, ResultPage, Searcher

__all__ = [
    "Article",
    "BuildReport",
    "Document",
    "Hit",
    "IndexBusy",
    "IndexError_",
    "IndexNotFound",
    "IndexStats",
    "IndexUnusable",
    "QueryError",
    "ResultPage",
    "Searcher",
    "Settings",
    "Skipped",
    "analyze",
    "build",
    "iter_documents",
    "load_settings",
    "normalize",
    "read_document",
    "update",
]
