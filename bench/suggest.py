"""Time suggestions as you type: the library's ``Searcher.suggest`` on a real index.

Run ``nice .venv/bin/python -m bench.suggest [--index DIR]`` (default: the index
``bench.regional`` builds, the People's Daily in Taiwan phrasing; ``--write`` puts the figures
into docs/benchmarks.md). The queries are seeded prefixes of the suggestion vocabulary itself:
one to three characters of its entries, in simplified and in traditional script, and prefixes of
their full pinyin and initials. Reported: the time of the first call (which reads the
suggestions from the index) and p50 / p99 of the rest.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.common import write_section
from bench.regional import INDEX_DIR
from bench.report import DOC_PATH, REPO_DIR
from search.config import load_settings
from search.query import Searcher
from search.suggest import pinyin_keys
from search.text import is_han
from search.vocabulary import shown_in


def queries(vocabulary: list[str], count: int, seed: int) -> list[str]:
    """``count`` prefixes of each kind: simplified, traditional, pinyin."""
    rng = random.Random(f"suggest-{seed}")
    han = [t for t in vocabulary if is_han(t[0])]
    typed = [w[:rng.randint(1, 3)] for w in rng.sample(han, count)]
    traditional = [shown_in(w[:rng.randint(1, 3)], True) for w in rng.sample(han, count)]
    pinyin = []
    for word in rng.sample(han, count):
        key = rng.choice(sorted(pinyin_keys(word[:6])))
        pinyin.append(key[:rng.randint(1, len(key))])
    return typed + traditional + pinyin


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.suggest",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=INDEX_DIR)
    parser.add_argument("--count", type=int, default=1000, help="queries of each kind")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--write", action="store_true",
                        help=f"write the figures into {DOC_PATH.relative_to(REPO_DIR)}")
    args = parser.parse_args(argv)
    searcher = Searcher(args.index, load_settings({}))
    try:
        started = time.perf_counter()
        searcher.suggest("枣")
        first = time.perf_counter() - started
        suggester = searcher._suggester[1]  # noqa: SLF001 - its vocabulary, to sample from
        sampled = queries(suggester._texts, args.count, args.seed)  # noqa: SLF001
        times, cpu = [], []
        for query in sampled:
            started, used = time.perf_counter(), time.process_time()
            searcher.suggest(query, 10)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - used) * 1000)
        stats = searcher.stats()
    finally:
        searcher.close()
    times.sort()
    cpu.sort()
    p99, cpu_p99 = times[int(len(times) * 0.99)], cpu[int(len(cpu) * 0.99)]
    load = os.getloadavg()[0]
    markdown = "\n".join([
        "## Suggestions as you type",
        "",
        f"- Command: `python -m bench.suggest`; "
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"- Index: {stats.documents} articles, {stats.paragraphs} paragraphs "
        f"({args.index.name}); vocabulary {len(suggester)} entries (titles, authors, words of "
        "two records or more)",
        f"- First call (reads the vocabulary from the index, pinyin included): {first:.2f} s",
        f"- {len(times)} queries ({args.count} simplified prefixes, {args.count} traditional, "
        f"{args.count} pinyin), top 10, library: p50 {statistics.median(times):.3f} ms, "
        f"p99 {p99:.3f} ms, max {times[-1]:.2f} ms; the process's own CPU time per call p50 "
        f"{statistics.median(cpu):.3f} ms, p99 {cpu_p99:.3f} ms (load average {load:.1f} on "
        f"{os.cpu_count()} cores: the wall-clock tail is other processes')",
    ])
    print(markdown)
    if args.write:
        write_section(DOC_PATH, "suggest", markdown)


if __name__ == "__main__":
    main()
