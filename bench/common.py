"""What every benchmark part shares: reading the corpus into paragraphs and sizing folders."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of one article; ``number`` 0 is the headline, the body counts from 1.

    The numbering matches zhsearch's hits (1-based among the paragraphs after the headline),
    so a :attr:`key` names the same paragraph in every stack.
    """

    doc_id: str
    number: int
    text: str

    @property
    def key(self) -> str:
        return paragraph_key(self.doc_id, self.number)


def paragraph_key(doc_id: str, number: int) -> str:
    """The stack-independent name of a paragraph, e.g. ``pd199801_0001#3``."""
    return f"{doc_id}#{number}"


def iter_articles(sources: Sequence[Path]) -> Iterator[tuple[str, Path]]:
    """Yield (doc_id, path) for every .txt file; doc_id is the path below its source, no .txt."""
    for source in sources:
        for path in sorted(source.rglob("*.txt")):
            yield path.relative_to(source).with_suffix("").as_posix(), path


def read_paragraphs(sources: Sequence[Path]) -> Iterator[Paragraph]:
    """Yield every non-empty paragraph (blank-line separated) of every article in ``sources``."""
    for doc_id, path in iter_articles(sources):
        blocks = path.read_text(encoding="utf-8").split("\n\n")
        texts = [block.strip() for block in blocks if block.strip()]
        for number, text in enumerate(texts):
            yield Paragraph(doc_id, number, text)


def tree_size(path: Path) -> int:
    """Total size in bytes of the files below ``path``."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# Sections of docs/benchmarks.md written by measurements of their own (``python -m
# bench.reposts``), between these markers; bench/report.py keeps them when it rewrites the file.
_SECTION = "<!-- section {name} -->\n{body}<!-- end of section {name} -->\n"


def _section_re(name: str) -> re.Pattern[str]:
    return re.compile(_SECTION.format(name=re.escape(name), body=".*?"), re.DOTALL)


def marked_sections(text: str) -> str:
    """The marked sections of a report, to carry over when the rest is written anew."""
    names = re.findall(r"<!-- section ([\w.]+) -->", text)
    return "".join("\n" + match.group(0) for name in names
                   for match in [_section_re(name).search(text)] if match)


def write_section(path: Path, name: str, markdown: str) -> None:
    """Put ``markdown`` into the marked section ``name`` of ``path``, replacing it or adding it
    at the end."""
    section = _SECTION.format(name=name, body=markdown.rstrip() + "\n")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if _section_re(name).search(text):
        text = _section_re(name).sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")
