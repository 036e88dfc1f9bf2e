"""The app's Searcher, registered with the app as flaskr's ``db.py`` registers its database.

Opening a Searcher loads the jieba dictionary and the index's records, so one is opened per
process, on first use, and shared by every request and thread (it is thread-safe and follows
rebuilds by itself). A request reaches it through ``g``; the teardown drops that reference and
``close_searcher`` closes the Searcher when the server stops.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app, g

from search import Searcher, Settings, engines

EXTENSION = "zhsearch"


class SearcherHolder:
    """Opens the index's Searcher on first use and keeps it for the life of the app.

    Opening fails with ``IndexNotFound`` while there is no index; nothing is kept then, so the
    app starts answering searches as soon as an index appears.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._searcher: Searcher | None = None
        self._lock = threading.Lock()

    def get(self) -> Searcher:
        """Return the open Searcher, opening it now if needed (raises ``IndexNotFound``)."""
        searcher = self._searcher
        if searcher is None:
            with self._lock:
                if self._searcher is None:
                    self._searcher = engines.open_searcher(self.settings)
                searcher = self._searcher
        return searcher

    def close(self) -> None:
        """Close the Searcher if it was opened."""
        with self._lock:
            if self._searcher is not None:
                self._searcher.close()
                self._searcher = None


def init_app(app: Flask, settings: Settings) -> None:
    """Give ``app`` its settings and a Searcher opened on first use, dropped after each request."""
    app.extensions[EXTENSION] = SearcherHolder(settings)
    app.teardown_appcontext(_release_searcher)


def get_searcher() -> Searcher:
    """The current app's Searcher (raises ``IndexNotFound`` while there is no index)."""
    if "searcher" not in g:
        g.searcher = _holder(current_app).get()
    return g.searcher


def get_settings() -> Settings:
    """The current app's settings: the library's ``Settings``, the app's one configuration."""
    return _holder(current_app).settings


def open_searcher(app: Flask) -> Searcher:
    """Open ``app``'s Searcher now (a server does, so that the first visitor does not wait)."""
    return _holder(app).get()


def close_searcher(app: Flask) -> None:
    """Close ``app``'s Searcher and its open index files (when the server stops)."""
    _holder(app).close()


def _holder(app: Flask) -> SearcherHolder:
    return app.extensions[EXTENSION]


def _release_searcher(_error: BaseException | None = None) -> None:
    # The Searcher outlives the request; only this request's reference to it ends here.
    g.pop("searcher", None)
