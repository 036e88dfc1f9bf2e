"""Queries, in stages: a query string is parsed (:mod:`.syntax`) into a tree of what was typed,
planned (:mod:`.plan`) into analysed terms and checked, executed (:mod:`.execute`) over the
index's postings into matching records and their signals, ranked (:mod:`.rank`: tiers, BM25,
the title bonus, explanations) and highlighted (:mod:`.highlight`). :mod:`.searcher` holds the
open index and its caches; :mod:`.records` what it keeps in memory of each record.

A query matches a paragraph when each unquoted piece of Chinese is found either as words
(jieba's segmentation, all of them, anywhere in the paragraph) or as contiguous text. Paragraphs
that match as words (tier 1) always rank above those that match only as text across word
boundaries (tier 2); within a tier, BM25 decides, with a boost for words standing together and
for matches in the title.
"""

from search.query.arrange import FACETS, GROUPS, SORTS
from search.query.highlight import Snippet, highlight, snippet
from search.query.plan import Plan, QueryError, Term, plan_query
from search.query.rank import Explanation, Signal
from search.query.results import Article, Hit, IndexStats, ResultPage
from search.query.searcher import REFRESH_SECONDS, Searcher
from search.query.syntax import parse

__all__ = [
    "FACETS",
    "GROUPS",
    "REFRESH_SECONDS",
    "SORTS",
    "Article",
    "Explanation",
    "Hit",
    "IndexStats",
    "Plan",
    "QueryError",
    "ResultPage",
    "Searcher",
    "Signal",
    "Snippet",
    "Term",
    "highlight",
    "parse",
    "plan_query",
    "snippet",
]
