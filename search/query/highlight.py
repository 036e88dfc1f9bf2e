"""The last stage: which parts of a paragraph a query matched, and an excerpt around them.

:func:`snippet` finds the plan's needles in the normalized text and maps them back to spans of
the original text (offsets always point into the original); a :class:`Snippet` is rendered as
HTML or for a terminal only at the edge.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from search.analysis import normalize
from search.text import CLAUSE_ENDS, merge_spans

ELLIPSIS = "…"
# Bold red, and back to normal: what a terminal shows a match in.
ANSI_MARK = ("\x1b[1;31m", "\x1b[0m")
# Control characters in a document are not sent to a terminal as they are (an escape sequence
# in a scraped page could move the cursor or retitle the window): each shows as U+FFFD.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Snippet:
    """A paragraph's excerpt ``text[begin:end]`` and the spans of ``text`` that matched.

    Spans are sorted, disjoint and within the excerpt; an ellipsis stands for text left out
    before ``begin`` and after ``end``.
    """

    text: str
    begin: int
    end: int
    spans: tuple[tuple[int, int], ...]

    def parts(self) -> Iterable[tuple[str, bool]]:
        """The excerpt in pieces, each with whether it is a match; ellipses included."""
        if self.begin > 0:
            yield ELLIPSIS, False
        cursor = self.begin
        for s, e in self.spans:
            yield self.text[cursor:s], False
            yield self.text[s:e], True
            cursor = e
        yield self.text[cursor:self.end], False
        if self.end < len(self.text):
            yield ELLIPSIS, False

    def marked(self) -> list[str]:
        """The matched text, each span once, in order."""
        return [self.text[s:e] for s, e in self.spans]

    def html(self) -> str:
        """Escaped HTML, each match in ``<mark>``.

        >>> snippet("棗莊<b>", ["枣庄"]).html()
        '<mark>棗莊</mark>&lt;b&gt;'
        """
        return "".join(f"<mark>{html.escape(part, quote=False)}</mark>" if is_match
                       else html.escape(part, quote=False) for part, is_match in self.parts())

    def terminal(self, color: bool = True) -> str:
        """Text for a terminal: matches between ``ANSI_MARK`` codes (none when not ``color``),
        control characters shown as U+FFFD.

        >>> snippet("棗莊", ["枣庄"]).terminal()
        '\\x1b[1;31m棗莊\\x1b[0m'
        """
        start, stop = ANSI_MARK if color else ("", "")
        return "".join(f"{start}{_CONTROL_RE.sub('�', part)}{stop}" if is_match and part
                       else _CONTROL_RE.sub("�", part) for part, is_match in self.parts())


def snippet(text: str, needles: Iterable[str], length: int | None = None) -> Snippet:
    """The matches of ``needles`` in ``text``, and with ``length`` the excerpt to show.

    Needles are normalized strings; they are found in the normalized text and the spans are of
    the original characters. Overlapping or adjacent matches merge into one. With ``length``,
    text longer than that is cut to the densest run of matches, at sentence ends where possible.
    """
    norm = normalize(text)
    spans = [norm.span(s, e) for s, e in merge_spans(_find(norm.text, needles))]
    begin, end = 0, len(text)
    if length is not None and len(text) > length:
        begin, end = _crop(text, spans, length)
    shown = tuple((max(s, begin), min(e, end)) for s, e in spans if max(s, begin) < min(e, end))
    return Snippet(text, begin, end, shown)


def highlight(text: str, needles: Iterable[str], length: int | None = None) -> str:
    """``snippet(text, needles, length)`` as escaped HTML with ``<mark>``.

    >>> highlight("棗莊<b>", ["枣庄"])
    '<mark>棗莊</mark>&lt;b&gt;'
    """
    return snippet(text, needles, length).html()


def _find(haystack: str, needles: Iterable[str]) -> list[tuple[int, int]]:
    spans = []
    for needle in needles:
        if not needle:
            continue
        latin = needle[0].isascii() and needle[-1].isascii()
        start = haystack.find(needle)
        while start != -1:
            end = start + len(needle)
            # Latin words match whole words or their parts only: "cat" is not marked inside
            # "concatenate", "xr" is inside "1xr" (see search.analysis._LATIN_PART_RE).
            if not latin or (_boundary(haystack, start - 1, needle[0])
                             and _boundary(haystack, end, needle[-1])):
                spans.append((start, end))
            start = haystack.find(needle, start + 1)
    return spans


def _boundary(text: str, i: int, edge: str) -> bool:
    """Whether a Latin match whose edge character is ``edge`` may end next to ``text[i]``:
    anything but an ASCII letter or digit, or a digit next to a letter and the other way."""
    if i < 0 or i >= len(text) or not text[i].isascii() or not text[i].isalnum():
        return True
    return text[i].isdigit() != edge.isdigit()


def _crop(text: str, spans: list[tuple[int, int]], length: int) -> tuple[int, int]:
    """The excerpt of at most ``length`` characters holding the most matches."""
    if spans:
        # The spans are sorted and disjoint, so their ends rise too: slide a window over them
        # (linear, where counting afresh from each span took seconds on a long paragraph).
        best, best_count = 0, 0
        after = 0  # one past the last span ending within reach of the current one
        for i, (s, _) in enumerate(spans):
            after = max(after, i)
            while after < len(spans) and spans[after][1] <= s + length:
                after += 1
            if after - i > best_count:
                best, best_count = i, after - i
        first = spans[best][0]
        last = max(e for _, e in spans[best:best + best_count]) if best_count else spans[best][1]
        last = min(last, first + length)
    else:
        first = last = 0
    slack = length - (last - first)
    # Start at the paragraph's start or just after the last sentence end before the matches,
    # if either is within reach; otherwise cut mid-sentence, leaving context on both sides.
    begin = 0 if first <= slack else max(0, first - slack // 2)
    for i in range(first - 1, max(-1, first - slack - 1), -1):
        if begin == 0:
            break
        if text[i] in CLAUSE_ENDS:
            begin = i + 1
            break
    end = min(len(text), begin + length)
    # End at the last sentence end that keeps the matches, if there is one.
    for i in range(end - 1, last - 1, -1):
        if text[i] in CLAUSE_ENDS:
            end = i + 1
            break
    return begin, max(end, min(len(text), last))
