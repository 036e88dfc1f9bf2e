"""The first stage of a query: the lenient parser, a tree of what the person typed.

Nothing here is analysed or checked: field names and values are kept as typed, and the
:mod:`~search.query.plan` stage refuses what cannot be searched for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from search.text import HAN

# Quote and bracket forms people type, folded to the ASCII syntax before parsing.
_SYNTAX_TABLE = str.maketrans({"“": '"', "”": '"', "「": '"', "」": '"', "＂": '"',
                               "（": "(", "）": ")", "：": ":", "－": "-"})
# A field's value may be quoted (source:"人民网 北京"): a facet link quotes every value.
_LEXEME_RE = re.compile(r'\s+|\(|\)|"[^"]*"?|[^\s()":]+:"[^"]*"|[^\s()"]+')
_FIELD_RE = re.compile(rf"^([A-Za-z{HAN}]+):(.*)$", re.S)


@dataclass(frozen=True)
class Text:
    """Unquoted text: words that must all match, or the same text contiguously."""

    value: str


@dataclass(frozen=True)
class Phrase:
    """Quoted text: must appear contiguously after normalization."""

    value: str


@dataclass(frozen=True)
class FieldFilter:
    """``name:value`` as typed (``title:``, ``作者:``, ...; unknown names included)."""

    name: str
    value: str


@dataclass(frozen=True)
class Bool:
    op: str  # "and" | "or"
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Negation:
    child: Node


Node = Text | Phrase | FieldFilter | Bool | Negation


def parse(query: str) -> Node | None:
    """Parse a query into a tree; never raises for odd syntax (it is read leniently).

    ``OR`` (upper case), ``-word`` / ``NOT word``, parentheses, ``"exact phrase"`` and
    ``field:value`` are understood; an unclosed quote or parenthesis, a lone ``OR`` or a stray
    ``)`` are read as plain text. Unknown fields are refused by the plan, not here.

    >>> parse('工业 -锂电')
    Bool(op='and', children=(Text(value='工业'), Negation(child=Text(value='锂电'))))
    """
    lexemes = [m.group() for m in _LEXEME_RE.finditer(query.translate(_SYNTAX_TABLE))]
    lexemes = [lx for lx in lexemes if not lx.isspace()]
    parser = _Parser(lexemes)
    node = parser.expression()
    while parser.pos < len(lexemes):  # stray ")": skip it and go on
        parser.pos += 1
        rest = parser.expression()
        node = _join("and", [n for n in (node, rest) if n is not None])
    return node


class _Parser:
    def __init__(self, lexemes: list[str]) -> None:
        self.lexemes = lexemes
        self.pos = 0

    def peek(self) -> str | None:
        return self.lexemes[self.pos] if self.pos < len(self.lexemes) else None

    def expression(self) -> Node | None:
        alternatives = []
        current: list[Node] = []
        while (lx := self.peek()) is not None and lx != ")":
            if lx == "OR" and current and self._has_operand_after():
                alternatives.append(_join("and", current))
                current = []
                self.pos += 1
                continue
            node = self.unary()
            if node is not None:
                current.append(node)
        if current:
            alternatives.append(_join("and", current))
        return _join("or", alternatives) if alternatives else None

    def _has_operand_after(self) -> bool:
        nxt = self.lexemes[self.pos + 1] if self.pos + 1 < len(self.lexemes) else None
        return nxt is not None and nxt not in (")", "OR")

    def unary(self) -> Node | None:
        lx = self.lexemes[self.pos]
        if lx == "NOT" and self.pos + 1 < len(self.lexemes) and \
                self.lexemes[self.pos + 1] not in (")", "OR"):
            self.pos += 1
            child = self.unary()
            return Negation(child) if child is not None else None
        if lx.startswith("-") and len(lx) > 1:
            self.lexemes[self.pos] = lx[1:]
            child = self.unary()
            return Negation(child) if child is not None else None
        return self.primary()

    def primary(self) -> Node | None:
        lx = self.lexemes[self.pos]
        self.pos += 1
        if lx == "(":
            node = self.expression()
            if self.peek() == ")":
                self.pos += 1
            return node
        if lx.startswith('"'):
            if len(lx) > 1 and lx.endswith('"'):
                return Phrase(lx[1:-1]) if lx[1:-1].strip() else None
            return Text(lx[1:]) if lx[1:] else None  # unclosed quote: plain text
        match = _FIELD_RE.match(lx)
        if match and match.group(2):
            value = match.group(2)
            if value.startswith('"'):
                value = value.strip('"')
            return FieldFilter(match.group(1), value)
        if lx in ("OR", "NOT"):
            return Text(lx.lower())
        return Text(lx)


def _join(op: str, nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else Bool(op, tuple(nodes))
