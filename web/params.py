"""Reading the query string: the one place that decides which parameter values are acceptable."""

from __future__ import annotations

import re

from flask import request

from web.errors import BadParameter
from web.searcher import get_settings

_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


def query_text(name: str = "q") -> str:
    """The text of parameter ``name``, or "" when it is absent."""
    return request.args.get(name, "")


def page_args() -> tuple[int, int]:
    """The ``page`` and ``per_page`` parameters, validated against the configured limits."""
    settings = get_settings()
    page = _whole_number("page", default=1, low=1, high=settings.max_page)
    per_page = _whole_number(
        "per_page", default=settings.per_page, low=1, high=settings.max_per_page
    )
    return page, per_page


def _whole_number(name: str, *, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    # Only ASCII digits: int() would also take "1_0", " 7 " and other scripts' digits.
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise BadParameter(f"{name} must be a whole number from {low} to {high}, not {raw[:20]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise BadParameter(f"{name} must be from {low} to {high}, not {value}")
    return value
