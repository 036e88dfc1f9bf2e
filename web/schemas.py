"""The JSON bodies the API answers with, as pydantic models: the schemas of the OpenAPI document.

They describe what ``search``'s result types serialize to (``to_dict``) plus what the web layer
adds (a hit's ``url``); the tests validate real responses against the served document.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from web.errors import HTTP_CODES, STATUS_BY_CODE

ErrorCode = Literal[tuple(sorted({*HTTP_CODES.values(), *STATUS_BY_CODE, "http_error"}))]  # type: ignore[valid-type]


class ErrorDetail(BaseModel):
    """What went wrong."""

    model_config = ConfigDict(extra="forbid")

    code: ErrorCode = Field(description="Stable, machine-readable.")
    message: str = Field(description="One line for people.")


class Error(BaseModel):
    """Every API error (status 4xx or 5xx) has this one shape."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


class Signal(BaseModel):
    """One part of a hit's score: a signal's weight times BM25 of one term, and what BM25 saw
    (see "Ranking" in the README)."""

    name: Literal["word", "text", "together", "across", "title", "filter"]
    term: str = Field(description="The query text it is about.")
    weight: float
    value: float = Field(description="What it adds to the score.")
    tf: float | None = Field(None, description="Its frequency in the paragraph.")
    df: int | None = Field(None, ge=0, description="How many paragraphs hold it.")
    idf: float | None = None
    length: int | None = Field(None, ge=0, description="The paragraph's length, in characters.")
    average_length: float | None = None


class Explanation(BaseModel):
    """How a hit's score was made: its tier and the signals it sums."""

    tier: Literal[1, 2] = Field(description="1: the query's words as words; 2: as text only.")
    score: float = Field(description="The sum of the signals' values (rounded).")
    k1: float
    b: float
    signals: list[Signal]
class ParagraphMatch(BaseModel):
    """Another matching paragraph of the hit's article."""

    paragraph: int = Field(ge=0)
    highlight: str


class Copy(BaseModel):
    """Another article of the hit's story (a repost, or what it reposted)."""

    doc_id: str
    source: str
    published: str | None = Field(description="ISO 8601.")
    url: str = Field(description="The article page.")


class FacetValue(BaseModel):
    """One value of a facet and how many results hold it (what adding its clause returns)."""

    value: str
    count: int = Field(ge=1)


class Facets(BaseModel):
    """Counts over every result, not only the page's."""

    model_config = ConfigDict(extra="forbid")

    source: list[FacetValue] | None = Field(None, description="By count; add source:\"value\".")
    month: list[FacetValue] | None = Field(None, description="YYYY-MM in order; add "
                                                             "date:YYYY-MM.")


class Hit(BaseModel):
    """One matching paragraph; or an article or story, shown by its best matching paragraph."""

    doc_id: str
    paragraph: int = Field(ge=0, description="1-based body paragraph; 0 is the header "
                                             "(title, subtitle, byline).")
    title: str
    text: str = Field(description="The paragraph as written in the article.")
    highlight: str = Field(description="HTML: the paragraph (or an excerpt, … where cut) "
                                       "escaped, with <mark> around matches.")
    score: float
    subtitle: str
    authors: list[str]
    source: str
    published: str | None = Field(description="ISO 8601.")
    editors: list[str]
    url: str = Field(description="The article page at this paragraph, e.g. /doc/ID?q=...#p3.")
    explain: Explanation | None = Field(None, description="With explain=1 only.")
    original_url: str | None = Field(None, description="The article's own address, if known.")
    matches: list[ParagraphMatch] | None = Field(
        None, description="group=article or story: up to two more matching paragraphs.")
    copies: list[Copy] | None = Field(
        None, description="group=story: the story's other articles (reposts).")


class Expansion(BaseModel):
    """A word the query also searched for."""

    model_config = ConfigDict(extra="forbid")

    from_: str = Field(alias="from", description="The word as typed.")
    to: str = Field(description="Its alternative (a regional form), in the script the query "
                                "was typed in.")


class SearchResult(BaseModel):
    """One page of hits, best first."""

    query: str
    total: int = Field(ge=0, description="Matching paragraphs, articles or stories in all.")
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    took_ms: float = Field(ge=0)
    hits: list[Hit]
    expanded: list[Expansion] = Field(description="What the query also searched for; empty "
                                                  "with regional=0.")
    group: Literal["paragraph", "article", "story"]
    sort: Literal["relevance", "newest", "oldest"]
    facets: Facets | None = Field(None, description="When asked for with facets=.")
    did_you_mean: str | None = Field(description="A query to offer instead: the characters "
                                                 "of pinyin typed, or, when nothing was found, "
                                                 "a regional form or the query without its "
                                                 "rarest word; null when there is none.")


class Suggestion(BaseModel):
    """One completion of what was typed."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="In the script the query was typed in (simplified for "
                                  "pinyin).")
    kind: Literal["title", "person", "place", "organization", "word"]
    count: int = Field(ge=1, description="Records (for a title: articles) it occurs in; the "
                                         "order, most first.")


class Suggestions(BaseModel):
    """Completions of what was typed, most frequent first."""

    query: str
    suggestions: list[Suggestion]


class Article(BaseModel):
    """A whole article with its metadata."""

    doc_id: str
    title: str
    subtitle: str
    authors: list[str]
    source: str
    published: str | None = Field(description="ISO 8601.")
    editors: list[str]
    byline: list[str] = Field(description="The metadata lines as written.")
    paragraphs: list[str] = Field(description="Body paragraphs; paragraphs[n-1] is #pn.")


class Token(BaseModel):
    """One term the index holds for the text, with its span in the original text."""

    field: Literal["words", "chars", "pairs", "filters"] = Field(
        description="The kind of index field: words (jieba words and sub-words), chars (Han "
                    "characters that are not one-character words), pairs (adjacent Han "
                    "characters, by bucket), filters (title, author and source: every Han "
                    "character).")
    term: str = Field(description="The index term; a pair's is its bucket.")
    start: int = Field(ge=0, description="Offset into text.")
    end: int = Field(ge=0)
    position: int | None = Field(description="The word position (words only).")
    part: bool = Field(description="A shorter word inside a longer one.")
    pair: str | None = Field(None, description="The two characters a pair stands for "
                                               "(pairs only).")


class Analysis(BaseModel):
    """How a text is normalized and tokenized."""

    text: str
    normalized: str = Field(description="Full-width folded, lower-cased, simplified.")
    tokens: list[Token]


class Health(BaseModel):
    """The live index."""

    status: Literal["ok"]
    documents: int = Field(ge=0)
    paragraphs: int = Field(ge=0)
    built_at: str = Field(description="When the live index was built, ISO 8601.")
    updated_at: str = Field(description="When it was last updated in place, ISO 8601; empty if "
                                        "never.")


class OpenAPIDocument(BaseModel):
    """An OpenAPI 3.1 document."""

    openapi: str
