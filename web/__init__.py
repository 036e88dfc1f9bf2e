"""The Flask frontend: server-rendered search pages and a JSON API over the search library."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from flask import Flask, Response, current_app

from search import Searcher, Settings, load_settings

# Everything the pages need comes from this origin; templates carry no inline scripts or styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class SearcherHolder:
    """Opens the index's Searcher on first use and keeps it for the life of the app.

    Opening fails with ``IndexNotFound`` while there is no index; nothing is cached then, so the
    app starts answering searches as soon as an index appears. The Searcher itself is
    thread-safe and notices a rebuilt index, so one instance serves every request.
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
                    self._searcher = Searcher(self.settings.index_dir, self.settings)
                searcher = self._searcher
        return searcher

    def close(self) -> None:
        """Close the Searcher if it was opened."""
        with self._lock:
            if self._searcher is not None:
                self._searcher.close()
                self._searcher = None


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings defaults, then ``ZHSEARCH_*`` environment, then ``test_config``.

    Settings fields are Flask config keys in upper case (``INDEX_DIR``, ``MAX_PER_PAGE``...).
    """
    app = Flask(__name__)
    defaults = load_settings()
    app.config.from_mapping({f.name.upper(): getattr(defaults, f.name) for f in fields(Settings)})
    app.config.from_mapping(ANALYZE_MAX_LENGTH=5000)
    app.config.from_prefixed_env("ZHSEARCH")
    if test_config is not None:
        app.config.from_mapping(test_config)

    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # readable Chinese in JSON
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    app.extensions["zhsearch"] = SearcherHolder(_settings_from_config(app.config))

    from web import api, errors, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    errors.register(app)
    app.after_request(_add_security_headers)
    return app


def get_searcher() -> Searcher:
    """The current app's Searcher (raises ``IndexNotFound`` while there is no index)."""
    holder: SearcherHolder = current_app.extensions["zhsearch"]
    return holder.get()


def get_settings() -> Settings:
    """The current app's settings."""
    holder: SearcherHolder = current_app.extensions["zhsearch"]
    return holder.settings


def _settings_from_config(config: Mapping[str, Any]) -> Settings:
    # Strings (from the environment or a test) go through the settings parser, as ZHSEARCH_*
    # variables do; other values (ints, Paths, tuples) are used as they are.
    as_text: dict[str, str] = {}
    as_values: dict[str, object] = {}
    for field in fields(Settings):
        value = config[field.name.upper()]
        if isinstance(value, str):
            as_text[f"ZHSEARCH_{field.name.upper()}"] = value
        else:
            as_values[field.name] = value
    return load_settings(as_text, **as_values)


def _add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
