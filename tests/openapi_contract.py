"""The contract every response keeps: the OpenAPI document the app serves, checked with a real
JSON Schema validator (jsonschema). Used by the API tests and by the load test's server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import make_app


def served_openapi() -> dict[str, Any]:
    """The OpenAPI document as the app serves it with the default settings (needs no index)."""
    app = make_app(Path("/nonexistent-index"))
    return app.test_client().get("/api/openapi.json").get_json()


OPENAPI = served_openapi()
OPENAPI_URI = "urn:zhsearch:openapi"
# The document as one JSON Schema 2020-12 resource (OpenAPI 3.1's dialect), so that the $refs
# inside its schemas resolve.
REGISTRY = Registry().with_resource(
    OPENAPI_URI, Resource.from_contents(OPENAPI, default_specification=DRAFT202012))


def violations(value: Any, schema: dict[str, Any]) -> list[str]:
    """Every way ``value`` breaks ``schema`` (a schema of the document), by jsonschema."""
    pointer = schema["$ref"] if set(schema) == {"$ref"} else None
    root = {"$ref": OPENAPI_URI + pointer} if pointer else schema
    validator = Draft202012Validator(root, registry=REGISTRY,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(value)]


def json_schema(path_template: str, status: int) -> dict[str, Any]:
    """The documented JSON schema of a GET on ``path_template`` answering ``status``."""
    documented = OPENAPI["paths"][path_template]["get"]["responses"][str(status)]
    return documented["content"]["application/json"]["schema"]


def check_against_openapi(path_template: str, response) -> None:  # noqa: ANN001 - a response
    """Assert that a response is documented (status, media type, headers) and matches its schema."""
    operation = OPENAPI["paths"][path_template]["get"]
    documented = operation["responses"].get(str(response.status_code))
    assert documented, f"{response.status_code} is not documented for {path_template}"
    for header in documented.get("headers", {}):
        assert header in response.headers, (path_template, response.status_code, header)
    content = documented["content"]
    assert response.mimetype in content, (path_template, response.mimetype)
    if response.mimetype == "application/json":
        schema = content["application/json"]["schema"]
        assert violations(response.get_json(), schema) == []
