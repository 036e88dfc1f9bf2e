"""The OpenAPI 3.1 document of the app, assembled from code: the app's routes, the parameter
models (``web.params``) and the response models (``web.schemas``).

Each route's endpoint has one ``Operation`` here; a route without one fails the document (and
the test that reads it), so nothing is served undocumented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from search import ParameterError, Settings
from web import schemas
from web.errors import error_body
from web.params import ParamModels, Params, param_models, validate

REF = "#/components/schemas/{model}"
DOC_ID = "The article's id: its file path under the source folder, without .txt."


@dataclass(frozen=True)
class Reply:
    """One documented response: a JSON body of ``body``, or an HTML page when ``body`` is None."""

    description: str
    body: type[BaseModel] | None = None
    retry_after: bool = False  # a 503 says when to ask again
    media: str = "text/html"  # of a reply without a JSON body


@dataclass(frozen=True)
class Operation:
    """What one endpoint takes and answers."""

    summary: str
    tag: str
    replies: dict[int, Reply]
    params: type[Params] | None = None
    path_params: dict[str, str] = field(default_factory=dict)  # name -> description


BAD_REQUEST = Reply("A bad parameter (code bad_parameter) or a refused query (code bad_query).",
                    schemas.Error)
NOT_FOUND = Reply("Nothing here (code not_found).", schemas.Error)
NO_INDEX = Reply("There is no usable index yet (code no_index).", schemas.Error,
                 retry_after=True)
PAGE_NO_INDEX = Reply("There is no index yet.", retry_after=True)


def operations(models: ParamModels) -> dict[str, Operation]:
    """Every endpoint's operation, by Flask endpoint name."""
    return {
        "views.index": Operation(
            "The search form, and the results page when q is given.", "pages", {
                200: Reply("The form or the results (including a page that says nothing "
                           "matched)."),
                400: Reply("A refused query (the message, the query kept in the box) or a bad "
                           "page, per_page or regional."),
                503: PAGE_NO_INDEX,
            }, params=models.search),
        "views.article": Operation(
            "One whole article; paragraph n has the anchor #pn, matches of q are marked.",
            "pages", {
                200: Reply("The article."),
                400: Reply("A bad regional."),
                404: Reply("No article has this id."),
                503: PAGE_NO_INDEX,
            }, params=models.article, path_params={"doc_id": DOC_ID}),
        "views.feed": Operation(
            "An Atom feed of the 20 newest stories matching q, newest first.", "pages", {
                200: Reply("The feed (no entries for an empty q).",
                           media="application/atom+xml"),
                400: Reply("A refused query, or a bad regional."),
                503: PAGE_NO_INDEX,
            }, params=models.search),
        "api.search": Operation(
            "Search: one page of matching paragraphs, best first.", "api", {
                200: Reply("A page of hits.", schemas.SearchResult),
                400: BAD_REQUEST,
                503: NO_INDEX,
            }, params=models.search),
        "api.suggest": Operation(
            "Suggestions as you type: titles, people, places, organizations and frequent words "
            "completing q, by prefix in either script or by pinyin.", "api", {
                200: Reply("The completions.", schemas.Suggestions),
                400: BAD_REQUEST,
                503: NO_INDEX,
            }, params=models.suggest),
        "api.document": Operation(
            "One article with its metadata and every body paragraph.", "api", {
                200: Reply("The article.", schemas.Article),
                404: NOT_FOUND,
                503: NO_INDEX,
            }, path_params={"doc_id": DOC_ID}),
        "api.analysis": Operation(
            "How text is normalized and segmented: what a query or paragraph is searched as.",
            "api", {
                200: Reply("The normalized text and its tokens.", schemas.Analysis),
                400: BAD_REQUEST,
            }, params=models.analyze),
        "api.openapi": Operation("This description.", "api", {
            200: Reply("The OpenAPI document.", schemas.OpenAPIDocument),
        }),
        "health.health": Operation("Index size and build time.", "api", {
            200: Reply("The index is open.", schemas.Health),
            503: NO_INDEX,
        }),
    }


def openapi_document(app: Flask, settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s routes with the limits of ``settings``."""
    models = param_models(settings)
    documented = operations(models)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue  # Flask's own static files
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        paths[path] = {"get": _operation(rule.endpoint, documented[rule.endpoint])}
    bodies = sorted({reply.body for op in documented.values() for reply in op.replies.values()
                     if reply.body is not None}, key=lambda model: model.__name__)
    _, definitions = models_json_schema([(model, "serialization") for model in bodies],
                                        ref_template=REF)
    components = definitions["$defs"]
    components["Error"]["examples"] = [_error_example(models)]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "zhsearch",
            "version": version("zhsearch"),
            "description": (
                "Full-text search over Chinese news articles, paragraph by paragraph, in "
                "simplified or traditional script. Every error under /api/ and /healthz is JSON "
                "of one shape (the Error schema). A method other than GET or HEAD on any route "
                "is answered 405 with an Allow header."
            ),
        },
        "paths": paths,
        "components": {"schemas": components},
    }


def _operation(endpoint: str, operation: Operation) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "description": description,
         "schema": {"type": "string"}}
        for name, description in operation.path_params.items()
    ]
    if operation.params is not None:
        parameters += _query_parameters(operation.params)
    body: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "tags": [operation.tag],
        "summary": operation.summary,
        "responses": {str(status): _response(reply)
                      for status, reply in operation.replies.items()},
    }
    if parameters:
        body["parameters"] = parameters
    return body


def _query_parameters(model: type[Params]) -> list[dict[str, Any]]:
    """The query parameters of ``model``: its fields' JSON schemas, as OpenAPI parameters."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "description", "examples")}
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required,
                                     "schema": prop}
        field_info = model.model_fields[name]
        if field_info.description:
            parameter["description"] = field_info.description
        if field_info.examples:
            parameter["example"] = field_info.examples[0]
        if name not in required:
            parameter["allowEmptyValue"] = True  # empty means the default
        parameters.append(parameter)
    return parameters


def _response(reply: Reply) -> dict[str, Any]:
    if reply.body is None:
        content = {reply.media: {"schema": {"type": "string"}}}
    else:
        content = {"application/json": {"schema": {"$ref": REF.format(model=reply.body.__name__)}}}
    response: dict[str, Any] = {"description": reply.description, "content": content}
    if reply.retry_after:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return response


def _error_example(models: ParamModels) -> dict[str, Any]:
    """A real error: what the search answers for page 0."""
    try:
        validate(models.search, {"page": "0"})
    except ParameterError as error:
        return error_body(error.code, str(error))
    raise AssertionError("page 0 passed validation")
