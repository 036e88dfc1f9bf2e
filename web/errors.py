"""One place that turns every failure into a response: JSON for the API, an HTML page elsewhere.

Every JSON error has the same shape, ``{"error": {"code": "...", "message": "..."}}``. Library
errors carry their own code (``search.errors.SearchError``); this module only maps codes to HTTP
statuses. The surface is chosen by blueprint: the API's blueprints register the JSON handlers
(``register_json_errors``), the app's handlers render HTML, and a request that matched no route
is answered by the blueprint its URL belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from search import SearchError

# Machine-readable codes for the HTTP errors Flask raises itself.
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    414: "too_large",
    431: "too_large",
    500: "internal_error",
    503: "unavailable",
}

# The HTTP status of each error code the library raises (the parameter models raise the
# library's ParameterError too); a code not here is a bug on our side (500).
STATUS_BY_CODE = {
    "bad_parameter": 400,
    "bad_query": 400,
    "no_index": 503,
    "cluster_unavailable": 503,
}

# How long a client should wait before asking again while there is no index, in seconds.
RETRY_AFTER_SECONDS = 30

# Page headings for the HTML error page, by status.
HTML_TITLES = {
    400: "请求有误",
    404: "找不到页面",
    405: "不支持的请求方法",
    503: "索引尚未就绪",
}

INTERNAL_ERROR = "Something went wrong on our side; the error has been logged."


Render = Callable[[int, str, str], Response]


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON body of every API error."""
    return {"error": {"code": code, "message": message}}


def json_error(status: int, code: str, message: str) -> Response:
    """An API error: the one JSON shape, with ``status``."""
    response = jsonify(error_body(code, message))
    response.status_code = status
    return response


def html_error(status: int, _code: str, message: str) -> Response:
    """A page error: the error page, keeping the query in the search box."""
    page = render_template(
        "error.html",
        status=status,
        heading=HTML_TITLES.get(status, "出错了"),
        message=message,
        query=request.args.get("q", ""),
    )
    return Response(page, status=status, mimetype="text/html")


def register_json_errors(blueprint: Blueprint) -> None:
    """Answer every error of ``blueprint``'s views in JSON (call before the app registers it)."""
    blueprint.register_error_handler(HTTPException, lambda e: _http_error(e, json_error))
    blueprint.register_error_handler(SearchError, lambda e: _coded_error(e, json_error))


def register(app: Flask, json_blueprints: Iterable[Blueprint]) -> None:
    """HTML errors for the pages; a request no route matched goes to its URL's blueprint."""
    json_names = frozenset(blueprint.name for blueprint in json_blueprints)

    def render() -> Render:
        return json_error if _blueprint_of_request() in json_names else html_error

    app.register_error_handler(HTTPException, lambda e: _http_error(e, render()))
    app.register_error_handler(SearchError, lambda e: _coded_error(e, render()))


def _blueprint_of_request() -> str | None:
    """The blueprint the request belongs to, also when routing failed (404, 405)."""
    if request.blueprint is not None:
        return request.blueprint
    failure = request.routing_exception
    if isinstance(failure, MethodNotAllowed) and failure.valid_methods:
        # The URL is a route of some blueprint, for other methods: that blueprint answers.
        adapter = current_app.create_url_adapter(request)
        try:
            endpoint, _ = adapter.match(method=failure.valid_methods[0])  # type: ignore[union-attr]
        except HTTPException:
            return None
        return endpoint.rpartition(".")[0] or None
    for name, blueprint in current_app.blueprints.items():
        prefix = (blueprint.url_prefix or "").rstrip("/")
        if prefix and request.path.startswith(prefix + "/"):
            return name
    return None


def _http_error(error: HTTPException, render: Render) -> Response:
    status = error.code or 500
    if status == 500:
        # Flask has already logged the unexpected exception; keep its details out of the reply.
        message = INTERNAL_ERROR
    else:
        message = error.description or error.name
    response = render(status, HTTP_CODES.get(status, "http_error"), message)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _coded_error(error: SearchError, render: Render) -> Response:
    status = STATUS_BY_CODE.get(error.code)
    if status is None:
        current_app.logger.error("unmapped library error %r", error, exc_info=error)
        return render(500, HTTP_CODES[500], INTERNAL_ERROR)
    # The library's message says what went wrong and, for a missing index, what to run.
    response = render(status, error.code, str(error))
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
