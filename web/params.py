"""The query-string parameters of every endpoint: one pydantic model each, limits from Settings.

The same model validates a request (``from_request``) and is the parameter list of the served
OpenAPI document (``web.openapi``), so what is checked and what is documented cannot drift
apart. A parameter is one line in its model; a bad value is the library's ``ParameterError``
with a one-line message (400 ``bad_parameter``). Where the library owns a rule, the model
documents the limit and leaves the check to it: a page's range (``Settings.check_page``, which
``Searcher.search`` applies too) and a query's length (``QueryError``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, TypeVar

from flask import request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticUseDefault

from search import FACETS, GROUPS, SORTS, ParameterError, SearchError, Settings
from search.suggest import MAX_LIMIT, check_limit
from web.searcher import get_settings

QUERY_HELP = (
    "The query, in simplified or traditional script. Empty or absent: no hits. Supports "
    '"phrases", OR, -word / NOT, parentheses and the filters title:, author:, source:, '
    "date:2023-04-19 and date:2023-04..2023-05. Longer than the limit or expanding to too "
    "many index terms: 400 (bad_query)."
)

GROUP_HELP = ("What a hit and the total count: paragraph, article (its best paragraph and up "
              "to two more) or story (an article and its reposts, shown by the earliest "
              "matching copy).")
SORT_HELP = "relevance, newest or oldest first; articles without a date come last in every order."
FACETS_HELP = "Comma list of source and month: counts over every result in the grouping."
FACETS_PATTERN = rf"^(?:(?:{'|'.join(FACETS)})(?:,(?:{'|'.join(FACETS)}))*)?$"

# Only ASCII digits, and few enough of them to convert: int() would also take "1_0", " 7 "
# and other scripts' digits (pydantic's own int parsing takes some of those too). A zero
# fraction is allowed: 2.0 is an integer to JSON Schema, and so to the OpenAPI document.
_WHOLE_NUMBER = re.compile(r"([0-9]{1,18})(?:\.0+)?")


def _empty_is_default(value: object) -> object:
    if value == "":
        raise PydanticUseDefault()  # an empty value means the default, as documented
    return value


def _whole_number(value: object) -> object:
    if isinstance(value, str):
        _empty_is_default(value)
        number = _WHOLE_NUMBER.fullmatch(value)
        if not number:
            raise ValueError("not a whole number")
        return int(number.group(1))
    return value


# A whole number in a query string: ASCII digits; empty means the default.
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


def choice(words: tuple[str, ...]) -> Any:
    """One of ``words`` in a query string; empty means the default."""
    return Annotated[Literal[words], BeforeValidator(_empty_is_default)]  # type: ignore[valid-type]


# A yes or no in a query string: 1/0, true/false (pydantic's booleans); empty means the default.
Flag = Annotated[bool, BeforeValidator(_empty_is_default)]


REGIONAL_HELP = (
    "1 (the default): a query word also matches its other regions' forms (软件 also finds "
    "軟體, 信息 資訊), ranked just below the form typed and listed in expanded; 0: only the "
    "words typed. Empty means the default."
)


class Params(BaseModel):
    """Base of the parameter models: unknown parameters are ignored, values are read-only."""

    model_config = ConfigDict(extra="ignore", frozen=True)


@dataclass(frozen=True)
class ParamModels:
    """The parameter model of each endpoint, for one ``Settings``."""

    search: type[Params]  # GET /api/search and the results page /
    article: type[Params]  # GET /doc/<doc_id> (the page)
    analyze: type[Params]  # GET /api/analyze
    suggest: type[Params]  # GET /api/suggest


@cache
def param_models(settings: Settings) -> ParamModels:
    """The parameter models with the limits of ``settings`` (built once per settings)."""

    class SearchParams(Params):
        """The query and which page of its results."""

        # The library refuses a longer query itself (400 bad_query, with its reason).
        q: str = Field("", description=QUERY_HELP, examples=["枣庄"],
                       json_schema_extra={"maxLength": settings.max_query_length})
        page: WholeNumber = Field(1, description="1-based result page; empty means the default.",
                                  json_schema_extra={"minimum": 1, "maximum": settings.max_page})
        per_page: WholeNumber = Field(settings.per_page,
                                      description="Hits per page; empty means the default.",
                                      json_schema_extra={"minimum": 1,
                                                         "maximum": settings.max_per_page})
        explain: Flag = Field(False, description="1: each hit says how its score was made.")
        regional: Flag = Field(True, description=REGIONAL_HELP)
        group: choice(GROUPS) = Field("paragraph", description=GROUP_HELP)  # type: ignore[valid-type]
        sort: choice(SORTS) = Field("relevance", description=SORT_HELP)  # type: ignore[valid-type]
        facets: str = Field("", pattern=FACETS_PATTERN, description=FACETS_HELP,
                            json_schema_extra={"x-comma-list": list(FACETS)})

        @model_validator(mode="after")
        def _page_within_limits(self) -> SearchParams:
            settings.check_page(self.page, self.per_page)
            return self

    class ArticleParams(Params):
        """The query whose matches are marked in the article."""

        q: str = Field("", description="Matches of this query are marked in the article.",
                       examples=["枣庄"])
        regional: Flag = Field(True, description="0: mark only the words typed, not their "
                                                 "regional forms (see /api/search).")

    class AnalyzeParams(Params):
        """The text to analyze."""

        text: str = Field("", max_length=settings.max_analyze_length, examples=["棗莊工業倍增"],
                          description="The text to analyze; absent means empty.")

    class SuggestParams(Params):
        """What was typed so far, and how many completions."""

        q: str = Field("", max_length=settings.max_query_length, examples=["枣", "zaozhuang"],
                       description="What was typed: Chinese in either script, or pinyin (full, "
                                   "with or without spaces, or initials: zz). Empty: none.")
        limit: WholeNumber = Field(10, description="At most this many; empty means the "
                                                   "default.",
                                   json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT})

        @model_validator(mode="after")
        def _limit_within_bounds(self) -> SuggestParams:
            check_limit(self.limit)
            return self

    return ParamModels(search=SearchParams, article=ArticleParams, analyze=AnalyzeParams,
                       suggest=SuggestParams)


def current_models() -> ParamModels:
    """The parameter models of the current app's settings."""
    return param_models(get_settings())


P = TypeVar("P", bound=Params)


def validate(model: type[P], values: Mapping[str, object]) -> P:
    """``values`` as a ``model``; raises ``ParameterError`` with a one-line message."""
    try:
        return model.model_validate(values)
    except ValidationError as invalid:
        raise ParameterError(_message(model, invalid.errors(include_url=False)[0])) from None


def from_request(model: type[P]) -> P:
    """The current request's query string as a ``model`` (the first value of each name)."""
    return validate(model, request.args.to_dict())


def _message(model: type[Params], error: ErrorDetails) -> str:
    """One line for people from pydantic's error, in the terms of the documented schema."""
    name = str(error["loc"][0]) if error["loc"] else "parameters"
    schema: dict[str, Any] = model.model_json_schema()["properties"].get(name, {})
    value = error["input"]
    shown = repr(value[:20]) if isinstance(value, str) else repr(value)
    kind = error["type"]
    raised = error.get("ctx", {}).get("error")
    if isinstance(raised, SearchError):
        return str(raised)  # the library's own message (Settings.check_page)
    if kind == "string_too_long":
        return (f"{name} is {len(value)} characters long; the limit is {schema['maxLength']}")
    if schema.get("type") == "integer":
        bounds = f"from {schema.get('minimum', 1)} to {schema.get('maximum')}"
        return f"{name} must be a whole number {bounds}, not {shown}"
    if schema.get("type") == "boolean":
        return f"{name} must be 1 or 0 (true or false), not {shown}"
    if "x-comma-list" in schema:
        return f"{name} must be a comma list of {', '.join(schema['x-comma-list'])}, not {shown}"
    if "enum" in schema:
        return f"{name} must be one of {', '.join(map(str, schema['enum']))}, not {shown}"
    return f"{name}: {error['msg'].lower()}, not {shown}"
