"""The HTML pages: the search form and results, and the article page."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from flask import Blueprint, Response, abort, render_template, request, url_for
from markupsafe import escape

from search import FACETS, QueryError, ResultPage
from web.params import current_models, from_request
from web.searcher import get_searcher, get_settings

bp = Blueprint("views", __name__)

# Queries offered on the start page and when nothing matched; each shows one query feature.
EXAMPLE_QUERIES = [
    ("枣庄", "简体也能找到繁体（棗莊）"),
    ("工业倍增计划", "不加空格的中文会自动分词"),
    ('"招商引资"', "引号内为精确短语"),
    ("工业 -锂电", "减号排除某个词"),
    ("title:工业倍增", "只搜标题"),
    ("date:2023-04..2023-05", "按日期范围筛选"),
]

# How many page links to show on each side of the current page.
PAGE_WINDOW = 2
# Entries of a feed: the newest matching stories.
FEED_ENTRIES = 20
# The results page shows stories; the sources with the most results are listed.
PAGE_GROUP = "story"
SOURCES_SHOWN = 12
GROUP_LABELS = {"story": "报道", "article": "文章", "paragraph": "段落"}
SORT_LABELS = {"relevance": "相关度", "newest": "最新", "oldest": "最早"}
# The month chart, in CSS pixels.
CHART_WIDTH, CHART_HEIGHT, BAR_WIDTH = 240, 60, 40
# The widest labels under the month chart, in pixels of its 10px digits with a little to spare
# ("12", "2023"), and the space wanted between two labels of a row.
MONTH_LABEL_WIDTH, YEAR_LABEL_WIDTH, LABEL_GAP = 14, 28, 4


@bp.app_template_filter("display_date")
def display_date(value: str | None) -> str:
    """Format an ISO date (or date-time) for reading: ``2023-04-19 09:39``."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if "T" not in value and " " not in value:
        return parsed.strftime("%Y-%m-%d")
    return parsed.strftime("%Y-%m-%d %H:%M")


def article_url(doc_id: str, paragraph: int, query: str, regional: bool = True) -> str:
    """The link to an article, scrolled to ``paragraph`` (0 = the header) and keeping the query
    (and ``regional=0``)."""
    args: dict[str, object] = {"doc_id": doc_id}
    if query:
        args["q"] = query
        if not regional:
            args["regional"] = 0
    if paragraph > 0:
        args["_anchor"] = f"p{paragraph}"
    return url_for("views.article", **args)


@bp.get("/")
def index() -> tuple[str, int]:
    """The search form, and the results when there is a query."""
    params = from_request(current_models().search)
    query = params.q
    if not query.strip():
        return render_template("search.html", query=query, examples=EXAMPLE_QUERIES), 200
    # The page groups by story unless told otherwise (the API's default is paragraph).
    group = params.group if "group" in request.args else PAGE_GROUP
    state = {"group": group, "sort": params.sort}
    try:
        results = get_searcher().search(query, page=params.page, per_page=params.per_page,
                                        regional=params.regional, group=group,
                                        sort=params.sort, facets=FACETS)
    except QueryError as error:
        # Keep the query in the box so it can be corrected.
        return render_template("search.html", query=query, error=str(error)), 400

    def link(**changes: object) -> str:
        """This results page with ``changes`` (q, group, sort), from its first page."""
        return results_url(**{"q": query, **state, "regional": params.regional, **changes})

    return render_template(
        "search.html",
        query=query,
        results=results,
        pages=pagination(results, query, params.regional, state),
        examples=EXAMPLE_QUERIES,
        article_url=article_url,
        regional=params.regional,
        typed_only=results_url(q=query, regional=False, **state),
        link=link,
        groups=GROUP_LABELS,
        sorts=SORT_LABELS,
        chips=[(clause, link(q=without(query, clause))) for clause in filter_clauses(query)],
        sources=[(value, count, link(q=f'{query} source:"{value}"'))
                 for value, count in (results.facets or {}).get("source", [])[:SOURCES_SHOWN]],
        months=month_bars((results.facets or {}).get("month", []),
                          lambda month: link(q=f"{query} date:{month}")),
    ), 200


def results_url(q: str, group: str = PAGE_GROUP, sort: str = "relevance",
                regional: bool = True, **args: object) -> str:
    """A results page's address; defaults are left out of it."""
    if group != PAGE_GROUP:
        args["group"] = group
    if sort != "relevance":
        args["sort"] = sort
    if not regional:
        args["regional"] = 0
    return url_for("views.index", q=q, **args)


# A filter clause of the query language, as a chip that can be removed.
_FILTER_CLAUSE = re.compile(r'(?<!\S)(?:source|来源|來源|date|title|标题|標題|author|作者):'
                            r'(?:"[^"]*"|\S+)')


def filter_clauses(query: str) -> list[str]:
    """The field filters of a query (``source:"人民网"``, ``date:2023-04``), in order."""
    return list(dict.fromkeys(_FILTER_CLAUSE.findall(query)))


def without(query: str, clause: str) -> str:
    """The query without ``clause`` (every occurrence), spaces tidied."""
    return " ".join(part for part in query.replace(clause, " ").split())


def month_bars(months: list[tuple[str, int]], href: Callable[[str], str]
               ) -> dict[str, object] | None:
    """The month facet as the geometry of an SVG bar chart: one linked bar per month, and
    under them a row of month numbers and a row of years, each thinned so that no two labels
    overlap however many months there are (the bars get narrower; each keeps its link and its
    count in a ``<title>``)."""
    if not months:
        return None
    highest = max(count for _, count in months)
    step = min(BAR_WIDTH, CHART_WIDTH / len(months))  # a fraction of a pixel for many months
    gap = min(2.0, step / 5)
    width = step * len(months)
    bars = []
    for i, (month, count) in enumerate(months):
        height = max(2, round(CHART_HEIGHT * count / highest))
        bars.append({"month": month, "count": count, "href": href(month),
                     "x": round(i * step, 2), "y": CHART_HEIGHT - height,
                     "width": round(step - gap, 2), "height": height})
    # Every nth month, centred under its bar; a year where its first month is.
    # (A label moved in from an edge may stand closer to the next one than the gap.)
    every = math.ceil((MONTH_LABEL_WIDTH + LABEL_GAP) / step)
    month_labels = _spaced([(str(int(bar["month"][5:7])), bar["x"] + (step - gap) / 2)
                            for bar in bars[::every]], MONTH_LABEL_WIDTH,
                           MONTH_LABEL_WIDTH / 2, width - MONTH_LABEL_WIDTH / 2)
    year_labels = _spaced([(bar["month"][:4], bar["x"]) for i, bar in enumerate(bars)
                           if not i or bar["month"][:4] != bars[i - 1]["month"][:4]],
                          YEAR_LABEL_WIDTH + LABEL_GAP, 0, width - YEAR_LABEL_WIDTH)
    return {"bars": bars, "width": round(width, 2), "height": CHART_HEIGHT,
            "month_labels": month_labels, "year_labels": year_labels}


def _spaced(labels: list[tuple[str, float]], space: float, low: float, high: float
            ) -> list[dict[str, object]]:
    """The labels (text, x) moved within ``low`` to ``high``, each kept only if it stands at
    least ``space`` after the last one kept (so that the two do not overlap)."""
    kept: list[dict[str, object]] = []
    for text, x in labels:
        x = round(min(max(x, low), max(low, high)), 2)
        if not kept or x - kept[-1]["x"] >= space:  # type: ignore[operator]
            kept.append({"text": text, "x": x})
    return kept


# doc_id is a path: articles in subfolders of a source have ids like "2023/04/some-article".
@bp.get("/doc/<path:doc_id>")
def article(doc_id: str) -> str:
    """One whole article with the query's matches marked."""
    params = from_request(current_models().article)
    query = params.q
    searcher = get_searcher()
    found = searcher.article(doc_id)
    if found is None:
        abort(404, description="There is no article with this id.")
    paragraphs = searcher.highlight_article(found, query, params.regional)
    return render_template("article.html", query=query, article=found, paragraphs=paragraphs)


@bp.get("/feed")
def feed() -> Response:
    """An Atom feed of the newest stories matching ``q``: what a feed reader follows.

    Stories without a date are left out (a feed orders entries by time); a time without an
    offset is given as UTC, since the archive does not say which zone it was written in.
    """
    params = from_request(current_models().search)
    results = get_searcher().search(params.q, per_page=min(FEED_ENTRIES,
                                                           get_settings().max_per_page),
                                    group="story",
                                    sort="newest", regional=params.regional)
    entries = [
        {"hit": hit, "updated": _rfc3339(hit.published),
         "url": url_for("views.article", doc_id=hit.doc_id, _external=True),
         "summary": "".join(f"<p>{text}</p>" for text in (
             hit.highlight, *(m.highlight for m in hit.matches or ())))
         + (f"<p>也发表于：{escape('、'.join(c.source or c.doc_id for c in hit.copies))}</p>"
            if hit.copies else "")}
        for hit in results.hits if hit.published]
    updated = entries[0]["updated"] if entries else \
        _rfc3339(datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds"))
    body = render_template(
        "feed.xml", query=params.q, entries=entries, updated=updated,
        self_url=url_for("views.feed", q=params.q, _external=True),
        page_url=url_for("views.index", q=params.q, _external=True))
    return Response(body, mimetype="application/atom+xml")


def _rfc3339(published: str | None) -> str:
    """An ISO date-time without an offset as RFC 3339 in UTC: ``2023-04-19T09:39:36Z``."""
    return datetime.fromisoformat(published or "1970-01-01").strftime("%Y-%m-%dT%H:%M:%SZ")


def pagination(results: ResultPage, query: str, regional: bool = True,
               state: Mapping[str, str] | None = None) -> dict[str, object]:
    """Page links for a result page: previous, next, and a window of numbers with gaps (None);
    ``state``: the page's group and sort, kept by the links."""
    default_per_page = get_settings().per_page

    def link(number: int) -> str:
        args: dict[str, object] = {"page": number}
        if results.per_page != default_per_page:
            args["per_page"] = results.per_page
        return results_url(query, regional=regional, **(state or {}), **args)

    last = max(1, -(-results.total // results.per_page))
    current = results.page
    shown = {1, last, *range(current - PAGE_WINDOW, current + PAGE_WINDOW + 1)}
    numbers: list[tuple[int, str] | None] = []
    previous_number = 0
    for number in sorted(n for n in shown if 1 <= n <= last):
        if number - previous_number > 1:
            numbers.append(None)  # a gap, shown as an ellipsis
        numbers.append((number, link(number)))
        previous_number = number
    return {
        "current": current,
        "last": last,
        "previous": link(min(current - 1, last)) if current > 1 else None,
        "next": link(current + 1) if current < last else None,
        "numbers": numbers,
    }
