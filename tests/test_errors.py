"""Library errors carry their own stable code; the web layer maps codes, never classes."""

from __future__ import annotations

import importlib
import pkgutil

import search
from search import SearchError
from web.errors import STATUS_BY_CODE


def _library_errors() -> set[type[SearchError]]:
    for module in pkgutil.walk_packages(search.__path__, "search."):
        importlib.import_module(module.name)
    found, todo = set(), [SearchError]
    while todo:
        for subclass in todo.pop().__subclasses__():
            if subclass.__module__.startswith("search"):
                found.add(subclass)
                todo.append(subclass)
    return found


def test_every_library_error_names_its_own_code() -> None:
    errors = _library_errors()
    assert {"QueryError", "IndexNotFound", "DocumentError", "ConfigError", "ParameterError"} <= {
        error.__name__ for error in errors}
    for error in errors:
        assert "code" in vars(error), f"{error.__name__} has no code of its own"
    codes = [error.code for error in errors]
    assert len(codes) == len(set(codes)), sorted(codes)


def test_the_web_maps_only_codes_that_exist() -> None:
    known = {error.code for error in _library_errors()}
    assert set(STATUS_BY_CODE) <= known
