"""Reading article files into Documents: decoding, paragraphs, metadata, cleaning and spam.

A source folder holds ``*.txt`` articles and ``*.jsonl`` files of one article a line (see
:func:`_read_jsonl`). A ``.txt`` article is one file whose paragraphs are separated by blank
lines. The first
paragraph is the title, an optional short second one the subtitle; byline paragraphs (作者,
來源/来源, 編輯/编辑, 責編/责编, 記者 ...) become metadata wherever they stand; HTML remnants are
cleaned out and SEO spam paragraphs are set aside. Everything else is the body, one paragraph per
indexed record, in the article's own script.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, Protocol

from search import mojibake
from search.errors import SearchError
from search.text import (
    SENTENCE_ENDS,
    character_frequencies,
    mask,
    script_folder,
    traditional_folder,
)

__all__ = [
    "READERS",
    "Document",
    "DocumentError",
    "Reader",
    "Repair",
    "Skipped",
    "SourceFile",
    "Unchanged",
    "clean_text",
    "content_hash",
    "decode",
    "ingest",
    "is_spam",
    "iter_documents",
    "list_sources",
    "parse_article",
    "read_document",
    "scan_sources",
]


@dataclass
class Repair:
    """One mojibake repair made in a document (see ``search.mojibake``)."""

    paragraph: int  # 1-based body paragraph number (0 = header lines)
    before: str
    after: str
    score: float


# (start, end) spans of characters in a text.
Spans = tuple[tuple[int, int], ...]


@dataclass
class Document:
    """One article: its metadata, body paragraphs and what was left out."""

    doc_id: str  # path relative to its source folder, without .txt, '/' separators
    path: Path  # the file read
    title: str  # first paragraph
    subtitle: str  # "" if none
    authors: list[str]
    source: str  # "" if none
    published: datetime | None  # naive datetime
    editors: list[str]
    byline: list[str]  # metadata paragraphs as they stand in the file (trimmed, cleaned)
    paragraphs: list[str]  # body paragraphs, trimmed and cleaned
    content_hash: str  # sha256 hex of the raw file bytes
    encoding: str  # 'utf-8', 'gb18030' or 'big5'
    spam: list[str] = field(default_factory=list)  # paragraphs left out as SEO spam
    repairs: list[Repair] = field(default_factory=list)
    url: str = ""  # the article's original address, "" if none (JSON Lines input)
    line: int | None = None  # its line in a JSON Lines file; None for a file of its own
    dropped: list[str] = field(default_factory=list)  # bad fields left out, one reason each
    # Garbled runs that repair did not fix (search.mojibake.garbled_spans), found once here:
    # for each text that the index makes terms of (the header, each body paragraph, the title,
    # each author and the source) and that holds any, keyed by that text. See masked().
    garbled: dict[str, Spans] = field(default_factory=dict)

    @property
    def header(self) -> str:
        """The text of the article's "paragraph 0": title, subtitle and byline, one a line."""
        return "\n".join(p for p in (self.title, self.subtitle, *self.byline) if p)

    def masked(self, text: str) -> str:
        """``text`` (one of this document's) with its garbled characters replaced by U+FFFD.

        The same length as ``text``, so offsets hold; the index analyzes this form, so garbled
        characters make no index terms and match no query, while ``text`` is what is shown.
        """
        spans = self.garbled.get(text)
        return mask(text, spans) if spans else text

    def find_garbled(self) -> None:
        """Record the garbled runs of every text the index makes terms of, in ``garbled``."""
        texts = (self.header, *self.paragraphs, self.title, *self.authors, self.source)
        self.garbled = {text: tuple(spans) for text in dict.fromkeys(texts)
                        if (spans := mojibake.garbled_spans(text))}


@dataclass
class Skipped:
    """What was left out: a file, or a line of a JSON Lines file, with a one-line reason (and,
    in a build report's ``dropped``, a bad field of an article that was kept)."""

    path: Path
    reason: str
    line: int | None = None

    @property
    def where(self) -> str:
        """``path`` or ``path:line``."""
        return f"{self.path}:{self.line}" if self.line is not None else str(self.path)


class DocumentError(SearchError):
    """A file cannot be read as an article; ``str()`` is the one-line reason."""

    code = "bad_document"


# --- ingestion: finding files and reading them, for build and update alike -------------------


class SourceFile(NamedTuple):
    """One file found under the sources, to be read by the reader of its format."""

    path: Path
    # The path relative to its source folder without the format's suffix, '/' separators; for
    # a .txt file, its article's doc_id.
    file_id: str
    duplicate_of: Path | None  # an earlier file with the same id (then this one is skipped)
    suffix: str  # the key of the reader in READERS
    # JSON Lines: line number -> where an earlier article has that line's id (``path`` or
    # ``path:line``); the line is skipped.
    taken: Mapping[int, str] | None = None


@dataclass(frozen=True)
class Unchanged:
    """An article whose content hash is the one already indexed: an update does not read it."""

    path: Path
    doc_id: str


# What ingestion makes of a file's articles.
Ingested = Document | Skipped | Unchanged


class Reader(Protocol):
    """Turns one open file (binary) into its articles: a Document, Skipped or Unchanged each.

    A reader checks each article's content hash against ``indexed`` (doc_id -> content hash,
    what an update already has) before it parses it, and yields Unchanged when they match. Each
    Document has its garbled runs found (:meth:`Document.find_garbled`). A bad article is a
    Skipped with a one-line reason; a reader raises only OSError (the file could not be read).
    """

    def __call__(self, file: SourceFile, handle: BinaryIO, *, repair: bool,
                 indexed: Mapping[str, str]) -> Iterator[Ingested]: ...


def list_sources(sources: Sequence[Path]) -> list[tuple[Path, str]]:
    """List ``(path, file_id)`` for every article file under the source folders, ids unique.

    Folders come in the order given, each one's files sorted by id; a source may also be a
    single file.

    An id already seen in an earlier folder is left out here; :func:`ingest` reports it as
    Skipped. Raises DocumentError for a source folder that does not exist.
    """
    return [(file.path, file.file_id) for file in scan_sources(sources)
            if file.duplicate_of is None]


def scan_sources(sources: Sequence[Path]) -> list[SourceFile]:
    """Walk the sources: every file with a reader (see READERS), in the order of
    :func:`list_sources`, duplicates included, so that :func:`ingest` can report them.

    Raises DocumentError for a missing source folder.
    """
    seen: dict[str, str] = {}  # doc_id -> where its first article is
    found: list[SourceFile] = []
    for source in sources:
        for path, file_id, suffix in _walk(Path(source)):
            if suffix == JSONL_SUFFIX:
                # Its articles' ids come from its lines, read here once, so that the first
                # article with an id keeps it across files whichever worker reads them.
                taken: dict[int, str] = {}
                for number, doc_id in _jsonl_ids(path):
                    if doc_id in seen:
                        taken[number] = seen[doc_id]
                    else:
                        seen[doc_id] = f"{path}:{number}"
                found.append(SourceFile(path, file_id, None, suffix, taken))
                continue
            first = seen.get(file_id)
            found.append(SourceFile(path, file_id, Path(first) if first else None, suffix))
            seen.setdefault(file_id, str(path))
    return found


def _walk(source: Path) -> list[tuple[Path, str, str]]:
    if source.is_file():  # a single file given directly: read as .txt unless it is another format
        suffix = source.suffix if source.suffix in READERS else ".txt"
        return [(source, source.name.removesuffix(suffix), suffix)]
    if not source.is_dir():
        raise DocumentError(f"source folder not found: {source}")
    entries: list[tuple[Path, str, str]] = []
    for folder, dirnames, filenames in os.walk(source):
        # Hidden folders (.git, .ipynb_checkpoints) hold copies, not articles.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        # A folder named x.txt is listed too, so that it is reported rather than ignored.
        for name in [*filenames, *dirnames]:
            suffix = Path(name).suffix
            if suffix in READERS and not name.startswith("."):
                path = Path(folder, name)
                entries.append((path, path.relative_to(source).as_posix().removesuffix(suffix),
                                suffix))
    entries.sort(key=lambda entry: entry[1])
    return entries


def ingest(file: SourceFile, *, repair: bool = True, indexed: Mapping[str, str] | None = None
           ) -> Iterator[Ingested]:
    """Read one file of :func:`scan_sources` with the reader of its format: its articles.

    What build and update both read through, so the two skip the same files for the same
    reasons: a duplicate id, a name that is not UTF-8, a file that cannot be opened or read,
    then whatever the reader refuses. ``indexed`` (doc_id -> content hash) turns the articles an
    update already has into Unchanged. Never raises for a bad file.
    """
    if file.duplicate_of is not None:
        yield Skipped(file.path, f"duplicate doc_id {file.file_id!r} "
                                 f"(already read from {file.duplicate_of})")
        return
    if not _is_utf8(file.file_id):
        # A file or folder name that is not UTF-8 (GBK bytes from an unzipped archive, say)
        # reaches us with surrogate escapes; the id is stored as UTF-8 and shown in URLs.
        yield Skipped(file.path, "the file name is not UTF-8; rename the file")
        return
    try:
        with open(file.path, "rb") as handle:
            yield from READERS[file.suffix](file, handle, repair=repair, indexed=indexed or {})
    except OSError as error:
        yield Skipped(file.path, f"unreadable: {error.strerror or error}")


def iter_documents(sources: Sequence[Path], *, repair: bool = True
                   ) -> Iterator[Document | Skipped]:
    """Yield a Document or a Skipped for every article under the sources, in order.

    Never stops on a bad file: each one becomes a Skipped with a one-line reason. ``repair``
    turns mojibake repair on (see :func:`read_document`).
    """
    for file in scan_sources(sources):
        for item in ingest(file, repair=repair):
            if not isinstance(item, Unchanged):  # only with ``indexed``
                yield item


# --- decoding -----------------------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, str]:
    """Decode file bytes as UTF-8, else GB18030 or Big5, whichever reads as likelier Chinese.

    Returns ``(text, encoding)``; a UTF-8 byte order mark is dropped. Raises DocumentError for
    binary data (NUL bytes) or bytes that none of the three encodings accepts.
    """
    if b"\x00" in data:
        raise DocumentError("binary file")
    try:
        return data.decode("utf-8").removeprefix("\ufeff"), "utf-8"
    except UnicodeDecodeError:
        pass
    candidates = []
    for encoding, codecs in (("gb18030", ("gb18030",)), ("big5", ("big5", "cp950"))):
        # cp950 is Microsoft's Big5 with the common extensions; plain big5 is tried first.
        for codec in codecs:
            try:
                candidates.append((data.decode(codec), encoding))
                break
            except UnicodeDecodeError:
                continue
    if not candidates:
        raise DocumentError("not UTF-8, GB18030 or Big5 text")
    # Big5 byte pairs are almost always valid GB18030 too (and sometimes the reverse), so a
    # strict decode alone cannot tell them apart; the reading with more common characters wins,
    # and GB18030 wins a tie.
    return max(candidates, key=lambda candidate: _common_count(candidate[0]))


def _common_count(text: str) -> int:
    """Count the characters of ``text`` that are among the most common Chinese characters."""
    sample = text[:20000]
    return len(sample) - len(sample.translate(_common_characters()))


@lru_cache(maxsize=1)
def _common_characters() -> dict[int, None]:
    """Build a deletion table of the ~2,500 most frequent characters in both scripts.

    Frequencies come from jieba's dictionary (search.text.character_frequencies); the
    traditional forms are added with OpenCC's tables. Loaded only when a non-UTF-8 file appears.
    """
    counts = character_frequencies().counts
    simplified = "".join(sorted(counts, key=counts.__getitem__, reverse=True)[:2500])
    chars = set(simplified) | set(traditional_folder().fold_characters(simplified))
    return dict.fromkeys(map(ord, chars), None)


# --- cleaning -----------------------------------------------------------------------------------

_HTML_TAGS = frozenset(
    "a abbr address article aside audio b big blockquote body br caption center cite code col "
    "colgroup dd del details dfn div dl dt em embed figcaption figure font footer form h1 h2 h3 "
    "h4 h5 h6 head header hr html i iframe img input ins kbd label legend li link main mark meta "
    "nav noscript object ol option p param pre q s samp script section select small source span "
    "strike strong style sub summary sup table tbody td textarea tfoot th thead time title tr tt "
    "u ul var video wbr".split()
)
_SKIPPED_CONTENT = frozenset({"script", "style"})
# Tags that separate words; dropping them without a space would glue "foo<br>bar" together.
_BREAKING_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
)
# Something the HTML parser should look at: a tag-like '<x', '</x', '<!' or an entity.
_MARKUP = re.compile(r"<(?:/?[A-Za-z]|!)|&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")
# An end tag whose '<' was swallowed by the garbled bytes before it, as in the seed's
# "趙健?。?/span>". Only '/tagname>' goes: the '?' (or U+FFFD) before it is what is left of the
# garbled character and stays for the mojibake repair to look at.
_LOST_BRACKET_END_TAG = re.compile(
    r"(?<=[?\ufffd])/(?:" + "|".join(sorted(_HTML_TAGS, key=len, reverse=True)) + r")>",
    re.IGNORECASE,
)


class _TextExtractor(HTMLParser):
    """Collect the text content of an HTML fragment, without tags, scripts or styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_CONTENT:
            self._skipping += 1
        elif tag not in _HTML_TAGS:
            # Not HTML: prose such as "x<y and y>z" keeps its text as written.
            self.handle_data(self.get_starttag_text() or "")
        elif tag in _BREAKING_TAGS:
            self._break_words()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_CONTENT:
            self._skipping = max(0, self._skipping - 1)
        elif tag not in _HTML_TAGS:
            self.handle_data(f"</{tag}>")
        elif tag in _BREAKING_TAGS:
            self._break_words()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)

    def _break_words(self) -> None:
        """Put one space where a block tag or <br> stood, unless there is one already."""
        if self.parts and not self.parts[-1][-1:].isspace():
            self.parts.append(" ")


def clean_text(text: str) -> str:
    """Remove HTML tags, entities and end tags that lost their '<' from one paragraph.

    Ordinary text passes through unchanged, a lone '<' or '>' included.

    >>> clean_text("<b>AT&amp;T</b> 2 < 3")
    'AT&T 2 < 3'
    """
    if "?/" in text or "\ufffd/" in text:
        text = _LOST_BRACKET_END_TAG.sub("", text)
    if ("<" not in text and "&" not in text) or not _MARKUP.search(text):
        return text
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


# --- spam ---------------------------------------------------------------------------------------

_LIST_SEPARATOR = re.compile(r"[|｜]")
_LIST_PUNCTUATION = re.compile(r"[。，！？；、,!?;]")


def is_spam(paragraph: str, title: str) -> bool:
    """Tell whether a paragraph is an SEO list: 3+ short '|'-separated items and no sentences.

    Items may be up to 30 characters in a script other than the title's (the usual planted list
    of site names), up to 20 otherwise. A paragraph with one '|' is never spam.

    >>> is_spam("首页|新闻|体育", "标题")
    True
    >>> is_spam("甲|乙两队打成平手。", "标题")
    False
    """
    if paragraph.count("|") + paragraph.count("｜") < 2:
        return False
    if _LIST_PUNCTUATION.search(paragraph):
        return False
    items = [item.strip() for item in _LIST_SEPARATOR.split(paragraph)]
    if not all(items):
        return False
    script = _script(paragraph)
    foreign = bool(script) and script != _script(title)
    longest = 30 if foreign else 20
    return max(map(len, items)) <= longest


@lru_cache(maxsize=1024)
def _script(text: str) -> str:
    """Tell the script of a text: 'traditional', 'simplified' or '' when it cannot be told."""
    chars = set(text)
    traditional = len(chars - set(script_folder().fold(text)))
    simplified = len(chars - set(traditional_folder().fold(text)))
    if traditional == simplified:
        return ""
    return "traditional" if traditional > simplified else "simplified"


# --- metadata -----------------------------------------------------------------------------------

_SENTENCE_END = re.compile(f"[{''.join(map(re.escape, sorted(SENTENCE_ENDS)))}]")
_AUTHOR_LABELS = ("作者", "記者", "记者", "通訊員", "通讯员")
_SOURCE_LABELS = ("來源", "来源")
_EDITOR_LABELS = ("責任編輯", "责任编辑", "編輯", "编辑", "責編", "责编")
# Date labels only end the value before them; the date itself is found by _DATE.
_DATE_LABELS = ("發布時間", "发布时间", "發佈時間", "發表時間", "发表时间", "時間", "时间", "日期")
_LABEL_BOUNDARY = r"(?<![^\s|｜/,，;；、【\[（(])"
_LABEL = re.compile(
    _LABEL_BOUNDARY
    + r"(?:(?P<label>"
    + "|".join(
        sorted(_AUTHOR_LABELS + _SOURCE_LABELS + _EDITOR_LABELS + _DATE_LABELS, key=len)[::-1]
    )
    + r")\s*[:：]|(?P<credit>記者|记者|通訊員|通讯员)\s)\s*"
)
# What makes a paragraph a byline: a labelled name or source, or a 記者 credit at its start.
_BYLINE = re.compile(
    _LABEL_BOUNDARY
    + r"(?:"
    + "|".join(_AUTHOR_LABELS + _SOURCE_LABELS + _EDITOR_LABELS)
    + r")\s*[:：]|^[【\[（(]?\s*(?:記者|记者)\s"
)
_DATE = re.compile(
    r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)\s*日?"
    r"(?:\s*(\d{1,2})\s*[:：時时]\s*(\d{1,2})(?:\s*[:：分]\s*(\d{1,2}))?)?"
)
_NAME_SEPARATORS = re.compile(r"[\s、，,;；/]+")
_VALUE_TRIM = " \t\n\u3000\xa0()（）【】[]|｜,，;；。"
_LONGEST_BYLINE = 200
_LONGEST_SUBTITLE = 60


def _is_byline(paragraph: str) -> bool:
    """Tell whether a paragraph is metadata: labelled names or source, or just a date."""
    if len(paragraph) > _LONGEST_BYLINE:
        return False
    core = paragraph.rstrip(_VALUE_TRIM)
    if _SENTENCE_END.search(core):
        return False
    if _BYLINE.search(paragraph):
        return True
    date = _DATE.search(core)
    return date is not None and date.group(0).strip() == core.strip(_VALUE_TRIM)


@dataclass
class _Metadata:
    authors: list[str] = field(default_factory=list)
    source: str = ""
    published: datetime | None = None
    editors: list[str] = field(default_factory=list)


def _parse_bylines(bylines: list[str]) -> _Metadata:
    meta = _Metadata()
    for line in bylines:
        if meta.published is None:
            meta.published = _parse_date(line)
        labels = list(_LABEL.finditer(line))
        ends = [label.start() for label in labels[1:]] + [len(line)]
        for here, end in zip(labels, ends[: len(labels)], strict=True):
            label = here.group("label") or here.group("credit")
            value = _DATE.sub(" ", line[here.end() : end]).strip(_VALUE_TRIM)
            if not value:
                continue
            if label in _AUTHOR_LABELS:
                _add_names(meta.authors, value)
            elif label in _EDITOR_LABELS:
                _add_names(meta.editors, value)
            elif label in _SOURCE_LABELS and not meta.source:
                meta.source = value
    return meta


def _add_names(names: list[str], value: str) -> None:
    for name in _NAME_SEPARATORS.split(value):
        name = name.strip(_VALUE_TRIM)
        if name and name not in names:
            names.append(name)


def _parse_date(text: str) -> datetime | None:
    for match in _DATE.finditer(text):
        numbers = [int(group) if group else 0 for group in match.groups()]
        try:
            return datetime(*numbers)
        except ValueError:  # 2023-13-45 is not a date; try the next one
            continue
    return None


# --- reading ------------------------------------------------------------------------------------

# A blank line: empty or whitespace only (U+3000 and NBSP included, as str.isspace has them).
_BLANK_LINES = re.compile(r"\n(?:[^\S\n]*\n)+")


def _split_paragraphs(text: str) -> list[str]:
    """Split text into trimmed, non-empty paragraphs at blank lines.

    A text with several lines but no blank line at all is read one paragraph per line, the other
    common way of laying out scraped articles.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    chunks = _BLANK_LINES.split(text.strip())
    if len(chunks) == 1 and "\n" in chunks[0]:
        chunks = chunks[0].split("\n")
    paragraphs = []
    for chunk in chunks:
        if "\n" in chunk:
            chunk = "\n".join(line.strip() for line in chunk.split("\n") if not line.isspace())
        chunk = chunk.strip()
        if chunk:
            paragraphs.append(chunk)
    return paragraphs


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_document(path: Path, doc_id: str, *, repair: bool = True) -> Document:
    """Read one article file (``.txt``) into a Document; raises DocumentError with a one-line
    reason.

    With ``repair``, byte-shifted mojibake runs are repaired (:mod:`search.mojibake`) in the
    text that is indexed and shown, and listed in ``Document.repairs``; the file is never changed.
    What cannot be repaired is recorded in ``Document.garbled``.
    """
    (item,) = ingest(SourceFile(Path(path), doc_id, None, ".txt"), repair=repair)
    if isinstance(item, Skipped):
        raise DocumentError(item.reason)
    assert isinstance(item, Document)  # nothing is Unchanged without ``indexed``
    return item


def _read_txt(file: SourceFile, handle: BinaryIO, *, repair: bool, indexed: Mapping[str, str]
              ) -> Iterator[Ingested]:
    """The reader of ``.txt`` files: one article a file, its doc_id the file's id."""
    data = handle.read()
    digest = content_hash(data)
    if indexed.get(file.file_id) == digest:
        yield Unchanged(file.path, file.file_id)
        return
    try:
        yield parse_article(data, file.path, file.file_id, repair=repair, digest=digest)
    except DocumentError as error:
        yield Skipped(file.path, str(error))


def content_hash(data: bytes) -> str:
    """The content hash of an article (sha256 hex of its bytes): an update re-reads the article
    when it changes."""
    return hashlib.sha256(data).hexdigest()


def parse_article(data: bytes, path: Path, doc_id: str, *, repair: bool = True,
                  digest: str | None = None) -> Document:
    """Parse the bytes of one article file (paragraphs at blank lines), its garbled runs found;
    raises DocumentError. ``digest`` is its :func:`content_hash`, if already known.
    """
    if not data.strip():
        raise DocumentError("empty file")
    text, encoding = decode(data)
    if not text.strip():
        raise DocumentError("empty file")

    paragraphs, fixes = _clean(_split_paragraphs(text), repair)
    title, rest = paragraphs[0], paragraphs[1:]
    byline: list[str] = []
    spam: list[str] = []
    body: list[str] = []
    for paragraph in rest:
        if _is_byline(paragraph):
            byline.append(paragraph)
        elif is_spam(paragraph, title):
            spam.append(paragraph)
        else:
            body.append(paragraph)

    subtitle = ""
    # The second paragraph is a subtitle when it is short, not a sentence, and not the only
    # body paragraph (nor a byline or spam, which would not be body[0]).
    if (
        len(body) > 1
        and body[0] is rest[0]
        and len(rest[0]) <= _LONGEST_SUBTITLE
        and not _SENTENCE_END.search(rest[0])
    ):
        subtitle = body.pop(0)
    if not body:
        # A title-only article is still searchable through its one paragraph.
        body = [title]

    meta = _parse_bylines(byline)
    document = Document(
        doc_id=doc_id,
        path=path,
        title=title,
        subtitle=subtitle,
        authors=meta.authors,
        source=meta.source,
        published=meta.published,
        editors=meta.editors,
        byline=byline,
        paragraphs=body,
        content_hash=digest or content_hash(data),
        encoding=encoding,
        spam=spam,
        repairs=_repairs(fixes, body),
    )
    document.find_garbled()
    return document


def _clean(paragraphs: Iterable[str], repair: bool
           ) -> tuple[list[str], dict[str, list[mojibake.Fix]]]:
    """Paragraphs without HTML, trimmed, empty ones left out, mojibake repaired if ``repair``;
    and the repairs made, by repaired paragraph. Raises DocumentError when nothing is left."""
    cleaned = (clean_text(paragraph).strip() for paragraph in paragraphs)
    kept = [paragraph for paragraph in cleaned if paragraph]
    if not kept:
        raise DocumentError("no text left after removing HTML")
    fixes: dict[str, list[mojibake.Fix]] = {}
    if repair:
        for i, paragraph in enumerate(kept):
            repaired, found = mojibake.repair(paragraph)
            if found:
                kept[i] = repaired
                fixes[repaired] = found
    return kept, fixes


def _repairs(fixes: dict[str, list[mojibake.Fix]], body: list[str]) -> list[Repair]:
    """The repairs by body paragraph number; 0 stands for the header lines."""
    numbers = {paragraph: number for number, paragraph in enumerate(body, 1)}
    return [Repair(numbers.get(paragraph, 0), fix.before, fix.after, round(fix.score, 3))
            for paragraph, found in fixes.items() for fix in found]


# --- JSON Lines ---------------------------------------------------------------------------------

JSONL_SUFFIX = ".jsonl"


def _read_jsonl(file: SourceFile, handle: BinaryIO, *, repair: bool,
                indexed: Mapping[str, str]) -> Iterator[Ingested]:
    """The reader of JSON Lines files: one article a line.

    A line is ``{"id", "title", "body" | "paragraphs", "source", "published", "authors",
    "url"}``. ``id`` (a string or an integer) is required and becomes the doc_id; ``body`` is a
    string of paragraphs separated by blank lines, ``paragraphs`` a list of strings (it wins
    over ``body``); ``published`` an ISO 8601 date or date-time (an offset is dropped: the time
    is kept as written, like a byline's); ``authors`` a string or a list. Cleaning, mojibake
    repair and the spam rule apply as to a ``.txt`` article. A bad line (not UTF-8, not JSON,
    not an object, no id, a duplicate id, no text) is a Skipped with its line; a bad field (a
    date that is not ISO 8601, a field of the wrong type) is dropped and named in
    ``Document.dropped``. The first article with an id keeps it (``file.taken``, found by
    :func:`scan_sources`, names the lines whose id an earlier article holds). Each line's
    bytes are its content hash, so an update re-reads only the lines that changed. Blank lines
    are ignored.
    """
    taken = file.taken or {}
    for number, raw in enumerate(handle, 1):
        if not raw.strip():
            continue
        try:
            item = _jsonl_object(raw)
            doc_id = _jsonl_id(item)
            if number in taken:
                raise DocumentError(f"duplicate id {doc_id!r} (already at {taken[number]})")
            digest = content_hash(raw)
            if indexed.get(doc_id) == digest:
                yield Unchanged(file.path, doc_id)
                continue
            yield _jsonl_article(item, doc_id, file.path, number, digest, repair)
        except DocumentError as error:
            yield Skipped(file.path, str(error), number)


def _jsonl_ids(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, id) of every line of a JSON Lines file that has a usable id; the rest is
    for the reader to report."""
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    yield number, _jsonl_id(_jsonl_object(raw))
                except DocumentError:
                    continue
    except OSError:
        return


def _jsonl_object(raw: bytes) -> dict[str, Any]:
    """The JSON object of one line; raises DocumentError saying why it is not one."""
    try:
        item = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise DocumentError("not UTF-8") from None
    except ValueError as error:
        raise DocumentError(f"not JSON ({getattr(error, 'msg', error)})") from None
    if not isinstance(item, dict):
        raise DocumentError(f"not a JSON object but {type(item).__name__}")
    return item


def _jsonl_id(item: dict[str, Any]) -> str:
    doc_id = item.get("id")
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id.strip() or not _is_utf8(doc_id):
        raise DocumentError('no "id" (a non-empty string or an integer)')
    return doc_id.strip()


def _jsonl_article(item: dict[str, Any], doc_id: str, path: Path, number: int, digest: str,
                   repair: bool) -> Document:
    """The Document of one line's object; raises DocumentError with the reason to skip it."""
    dropped: list[str] = []

    def text_field(name: str) -> str:
        value = item.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            dropped.append(f'"{name}" dropped: not a string')
            return ""
        return value

    paragraphs: list[str] = []
    if "paragraphs" in item:
        listed = item["paragraphs"]
        if isinstance(listed, list) and all(isinstance(p, str) for p in listed):
            paragraphs = [p for p in listed if p.strip()]
        else:
            dropped.append('"paragraphs" dropped: not a list of strings')
    if not paragraphs:
        paragraphs = _split_paragraphs(text_field("body"))
    title = text_field("title").strip()
    if not title and not paragraphs:
        raise DocumentError('no text: no "title", "body" or "paragraphs"')
    cleaned, fixes = _clean([title, *paragraphs] if title else paragraphs, repair)
    title, rest = cleaned[0], cleaned[1:]
    spam = [p for p in rest if is_spam(p, title)]
    body = [p for p in rest if p not in spam] or [title]
    published = None
    date = item.get("published")
    if date is not None:
        published = _iso_date(date)
        if published is None:
            dropped.append(f'"published" dropped: {date!r} is not an ISO 8601 date')
    authors: list[str] = []
    names = item.get("authors")
    if isinstance(names, str):
        _add_names(authors, names)
    elif isinstance(names, list) and all(isinstance(name, str) for name in names):
        # Listed names stay whole ("Wang Ming"); a string is split like a byline's.
        authors = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    elif names is not None:
        dropped.append('"authors" dropped: not a string or a list of strings')
    document = Document(
        doc_id=doc_id, path=path, title=title, subtitle="", authors=authors,
        source=clean_text(text_field("source")).strip(), published=published, editors=[],
        byline=[], paragraphs=body, content_hash=digest,
        encoding="utf-8", spam=spam, repairs=_repairs(fixes, body),
        url=text_field("url").strip(), line=number, dropped=dropped,
    )
    document.find_garbled()
    return document


def _iso_date(value: object) -> datetime | None:
    """An ISO 8601 date or date-time as a naive datetime (an offset dropped), or None."""
    if not isinstance(value, str) or not _ISO_DATE.match(value.strip()):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not read "Z"
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        return None


# A date, optionally with a time: what fromisoformat reads beyond ISO 8601 (a space for the "T",
# week dates in 3.11) is not accepted, so the rule is the same on every Python.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?"
                       r"(?:[Zz]|[+-]\d{2}:\d{2})?)?$")


# The readers of the article formats, by file suffix (see Reader and ingest).
READERS: dict[str, Reader] = {".txt": _read_txt, JSONL_SUFFIX: _read_jsonl}
