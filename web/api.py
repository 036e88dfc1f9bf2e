"""The JSON API: search, articles, analysis, health, and the OpenAPI description of it all."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify

from search import analyze
from web.errors import register_json_errors
from web.openapi import openapi_document
from web.params import current_models, from_request
from web.searcher import get_searcher, get_settings
from web.views import article_url

bp = Blueprint("api", __name__, url_prefix="/api")
# The health check lives at the top (where load balancers look), with the API's JSON errors.
health_bp = Blueprint("health", __name__)
register_json_errors(bp)
register_json_errors(health_bp)


@bp.get("/search")
def search() -> Response:
    """Search result page as JSON; each hit carries a ``url`` to its paragraph in the article."""
    params = from_request(current_models().search)
    results = get_searcher().search(params.q, page=params.page, per_page=params.per_page,
                                    explain=params.explain, regional=params.regional,
                                    group=params.group, sort=params.sort,
                                    facets=[f for f in params.facets.split(",") if f])
    body: dict[str, Any] = results.to_dict()
    for hit, hit_json in zip(results.hits, body["hits"], strict=True):
        hit_json["url"] = article_url(hit.doc_id, hit.paragraph, params.q, params.regional)
        for copy in hit_json.get("copies", ()):
            copy["url"] = article_url(copy["doc_id"], 0, params.q, params.regional)
    return jsonify(body)


@bp.get("/suggest")
def suggest() -> Response:
    """Completions of what was typed so far (titles, entities, frequent words; pinyin too)."""
    params = from_request(current_models().suggest)
    return jsonify(get_searcher().suggest(params.q, params.limit).to_dict())


@bp.get("/doc/<path:doc_id>")
def document(doc_id: str) -> Response:
    """One article with its metadata and paragraphs."""
    found = get_searcher().article(doc_id)
    if found is None:
        abort(404, description="There is no article with this id.")
    return jsonify(found.to_dict())


@bp.get("/analyze")
def analysis() -> Response:
    """How ``text`` is normalized and segmented: what a query or a paragraph is searched as."""
    params = from_request(current_models().analyze)
    return jsonify(analyze(params.text))


@health_bp.get("/healthz")
def health() -> Response:
    """Index size and build time; 503 (from the IndexNotFound handler) when there is no index."""
    stats = get_searcher().stats()
    return jsonify(
        {
            "status": "ok",
            "documents": stats.documents,
            "paragraphs": stats.paragraphs,
            "built_at": stats.built_at,
            "updated_at": stats.updated_at,
        }
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of every route, made from the app's routes and models."""
    document = current_app.extensions.get("zhsearch.openapi")
    if document is None:
        document = openapi_document(current_app, get_settings())
        current_app.extensions["zhsearch.openapi"] = document
    return jsonify(document)
