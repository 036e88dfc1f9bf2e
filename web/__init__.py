"""The Flask frontend: server-rendered search pages and a JSON API over the search library."""

from __future__ import annotations

from flask import Flask, Response

from search import Settings, load_settings
from web import searcher
from web.searcher import get_searcher, get_settings

__all__ = ["CONTENT_SECURITY_POLICY", "create_app", "get_searcher", "get_settings"]

# Everything the pages need comes from this origin; templates carry no inline scripts or styles.
# One script (static/suggest.js: suggestions in the search box) asks this origin's API.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app for ``settings`` (default: ``load_settings()``, so ``ZHSEARCH_*``).

    The library's ``Settings`` are the app's whole configuration: Flask's ``config`` holds only
    Flask's own keys (set ``app.testing`` in tests).
    """
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # readable Chinese in JSON
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    searcher.init_app(app, load_settings() if settings is None else settings)

    from web import api, errors, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api.health_bp)
    errors.register(app, json_blueprints=(api.bp, api.health_bp))
    app.after_request(_add_security_headers)
    return app


def _add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
