"""One place that turns every failure into a response: JSON under /api/, an HTML page elsewhere.

Every JSON error has the same shape, ``{"error": {"code": "...", "message": "..."}}``.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from search import IndexNotFound, QueryError

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

# Page headings for the HTML error page, by status.
HTML_TITLES = {
    400: "请求有误",
    404: "找不到页面",
    405: "不支持的请求方法",
    503: "索引尚未就绪",
}


class BadParameter(Exception):
    """A query-string parameter that is missing its expected form (answered with 400)."""


def wants_json() -> bool:
    """True for the machine endpoints, which always answer in JSON."""
    return request.path.startswith("/api/") or request.path == "/healthz"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON body of every API error."""
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str) -> Response:
    """Build the error response for the current request: JSON under /api/, HTML elsewhere."""
    if wants_json():
        response = jsonify(error_body(code, message))
    else:
        html = render_template(
            "error.html",
            status=status,
            heading=HTML_TITLES.get(status, "出错了"),
            message=message,
            query=request.args.get("q", ""),
        )
        response = Response(html, mimetype="text/html")
    response.status_code = status
    return response


def register(app: Flask) -> None:
    """Route every error the app can meet through ``error_response``."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(BadParameter, _bad_parameter)
    app.register_error_handler(QueryError, _bad_query)
    app.register_error_handler(IndexNotFound, _no_index)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 500:
        # Flask has already logged the unexpected exception; keep its details out of the reply.
        message = "Something went wrong on our side; the error has been logged."
    else:
        message = error.description or error.name
    response = error_response(status, HTTP_CODES.get(status, "http_error"), message)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _bad_parameter(error: BadParameter) -> Response:
    return error_response(400, "bad_parameter", str(error))


def _bad_query(error: QueryError) -> Response:
    return error_response(400, "bad_query", str(error))


def _no_index(error: IndexNotFound) -> Response:
    # The library's message says whether the index is missing or damaged, and what to run.
    response = error_response(503, "no_index", str(error))
    response.headers["Retry-After"] = "30"
    return response
