"""API fuzzing from the OpenAPI file the app serves (Schemathesis), against the real app.

Every operation gets generated requests, valid and invalid ones, sent to the real Flask app over
a real index; Schemathesis checks that nothing answers 5xx and that every status, media type,
header and body is the one the OpenAPI file documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import make_app
from web.searcher import close_searcher, get_settings

# The OpenAPI file as the app serves it. Serving it needs no index, and the schema has to exist
# when the tests are collected, before any fixture has built one; the requests themselves go to
# the app over a real index (the ``indexed_app`` fixture).
schema = schemathesis.openapi.from_wsgi(
    "/api/openapi.json", make_app(Path("/nonexistent-index"))
)

# A query in the query language can be refused for what it means ("only excludes", an unknown
# field, nothing searchable): a documented 400 for a request that matches the schema.
SEMANTIC_REFUSALS = {"/", "/api/search", "/feed"}


@pytest.fixture(scope="module")
def indexed_app(index_dir: Path) -> Iterator[Flask]:
    app = make_app(index_dir)
    yield app
    close_searcher(app)


@schema.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_every_operation_answers_as_documented(case, indexed_app: Flask) -> None:  # noqa: ANN001
    response = case.call(app=indexed_app)
    # 503 is documented too, but here the index exists: it would mean the wrong app answered.
    assert response.status_code != 503, response.text[:200]
    assert response.status_code < 500, response.text[:200]
    excluded = [positive_data_acceptance] if case.operation.path in SEMANTIC_REFUSALS else []
    case.validate_response(response, excluded_checks=excluded)


def _parameters(path: str) -> dict[str, dict]:
    return {p["name"]: p for p in schema.raw_schema["paths"][path]["get"]["parameters"]}


def test_documented_limits_are_the_app_defaults(indexed_app: Flask) -> None:
    with indexed_app.app_context():
        app_settings = get_settings()
    for path in SEMANTIC_REFUSALS:
        parameters = _parameters(path)
        assert parameters["q"]["schema"]["maxLength"] == app_settings.max_query_length
        assert parameters["per_page"]["schema"]["maximum"] == app_settings.max_per_page
        assert parameters["per_page"]["schema"]["default"] == app_settings.per_page
    text = _parameters("/api/analyze")["text"]
    assert text["schema"]["maxLength"] == app_settings.max_analyze_length


@pytest.mark.parametrize("path", sorted(SEMANTIC_REFUSALS))
def test_empty_paging_values_mean_the_defaults_as_documented(indexed_app: Flask,
                                                             path: str) -> None:
    # Schemathesis finds this only now and then (an empty value is one of many it tries).
    parameters = _parameters(path)
    assert parameters["page"]["allowEmptyValue"] and parameters["per_page"]["allowEmptyValue"]
    client = indexed_app.test_client()
    empty = client.get(path, query_string={"q": "枣庄", "page": "", "per_page": ""})
    default = client.get(path, query_string={"q": "枣庄"})
    assert empty.status_code == default.status_code == 200
    if path == "/api/search":
        assert empty.get_json()["hits"] == default.get_json()["hits"] != []
