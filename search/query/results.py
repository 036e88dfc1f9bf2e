"""What a search returns: typed result pages, hits and articles."""

from __future__ import annotations

from dataclasses import dataclass, field

from search.query.highlight import Snippet
from search.query.rank import Explanation


@dataclass(frozen=True)
class ParagraphMatch:
    """Another matching paragraph of a hit's article (``article`` and ``story`` grouping)."""

    paragraph: int
    snippet: Snippet

    @property
    def highlight(self) -> str:
        """The excerpt as escaped HTML, each match in ``<mark>``."""
        return self.snippet.html()

    def to_dict(self) -> dict[str, object]:
        return {"paragraph": self.paragraph, "highlight": self.highlight}


@dataclass(frozen=True)
class Copy:
    """Another article of a hit's story: a repost, or the original of a repost."""

    doc_id: str
    source: str
    published: str | None

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))


@dataclass(frozen=True)
class Hit:
    """One matching paragraph (``paragraph`` 0 is the article's header: title and byline); in
    ``article`` and ``story`` grouping, its article's best one, with ``matches`` for up to two
    more, and in ``story`` grouping the story's other articles as ``copies``."""

    doc_id: str
    paragraph: int
    title: str
    text: str
    snippet: Snippet  # the excerpt and its matches, rendered by ``highlight`` or a terminal
    score: float
    subtitle: str = ""
    authors: list[str] = field(default_factory=list)
    source: str = ""
    published: str | None = None
    editors: list[str] = field(default_factory=list)
    explanation: Explanation | None = None  # how the score was made, when asked for
    original_url: str = ""  # the article's own address, "" if it has none
    matches: tuple[ParagraphMatch, ...] | None = None  # None in paragraph grouping
    copies: tuple[Copy, ...] | None = None  # None but in story grouping

    @property
    def highlight(self) -> str:
        """The excerpt as escaped HTML, each match in ``<mark>``."""
        return self.snippet.html()

    def to_dict(self) -> dict[str, object]:
        # The fields as they are, no deep copy (dataclasses.asdict took 0.3 ms of every API
        # search), since the lists are only read; the snippet as its HTML.
        body: dict[str, object] = {
            "doc_id": self.doc_id, "paragraph": self.paragraph, "title": self.title,
            "text": self.text, "highlight": self.highlight, "score": self.score,
            "subtitle": self.subtitle, "authors": self.authors, "source": self.source,
            "published": self.published, "editors": self.editors}
        if self.original_url:
            body["original_url"] = self.original_url
        if self.matches is not None:
            body["matches"] = [match.to_dict() for match in self.matches]
        if self.copies is not None:
            body["copies"] = [copy.to_dict() for copy in self.copies]
        if self.explanation is not None:
            body["explain"] = self.explanation.to_dict()
        return body


@dataclass(frozen=True)
class ResultPage:
    """One page of results."""

    query: str
    total: int
    page: int
    per_page: int
    took_ms: float
    hits: list[Hit]
    # What the query also searched for: [{"from": as typed, "to": the alternative}].
    expanded: list[dict[str, str]] = field(default_factory=list)
    group: str = "paragraph"  # what a hit and ``total`` count: paragraph, article or story
    sort: str = "relevance"
    # Facet name -> (value, count) over every unit matched, when asked for.
    facets: dict[str, list[tuple[str, int]]] | None = None
    # A query to offer instead, when this one found nothing or was pinyin (see
    # Searcher.did_you_mean); None otherwise.
    did_you_mean: str | None = None

    def to_dict(self) -> dict[str, object]:
        body = {**vars(self), "hits": [hit.to_dict() for hit in self.hits]}
        if self.facets is None:
            del body["facets"]
        else:
            body["facets"] = {name: [{"value": value, "count": count} for value, count in pairs]
                              for name, pairs in self.facets.items()}
        return body


@dataclass(frozen=True)
class Article:
    """A whole article with its metadata and body paragraphs."""

    doc_id: str
    title: str
    subtitle: str
    authors: list[str]
    source: str
    published: str | None
    editors: list[str]
    byline: list[str]
    paragraphs: list[str]

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))


@dataclass(frozen=True)
class IndexStats:
    """What the live index holds."""

    documents: int
    paragraphs: int
    built_at: str
    updated_at: str
