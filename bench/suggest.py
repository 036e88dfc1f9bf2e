"""Time suggestions as you type: the library's ``Searcher.suggest`` and ``GET /api/suggest`` over
a real ``zhsearch serve``, on a real index.

Run ``nice .venv/bin/python -m bench.suggest [--index DIR]`` (default: the index
``bench.regional`` builds, the People's Daily in Taiwan phrasing; ``--write`` puts the figures
into docs/benchmarks.md). The queries are seeded prefixes of the suggestion vocabulary itself:
one to three characters of its entries, in simplified and in traditional script, and prefixes of
their full pinyin and initials. Reported: the first call of a new searcher (which loads the
vocabulary its build saved), against making the vocabulary from the index as searchers did
before builds saved it; p50 / p99 of the rest, in the library and over HTTP; and the issue's
targets (library p99 <= 5 ms, HTTP p99 <= 15 ms).
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
from bench.http_latency import serving, time_requests
from bench.regional import INDEX_DIR
from bench.report import DOC_PATH, REPO_DIR
from bench.stats import latency_summary
from search.config import load_settings
from search.index import current_build
from search.query import Searcher
from search.suggest import VOCABULARY_FILE, Suggester, pinyin_keys
from search.text import is_han
from search.vocabulary import shown_in

# The targets, in milliseconds.
LIBRARY_P99_MS = 5.0
HTTP_P99_MS = 15.0


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


def _made_from_index(searcher: Searcher) -> float:
    """Seconds to make the vocabulary from the index, as a searcher's first call did before
    builds saved it (the index's records already read)."""
    whoosh = searcher._whoosh()  # noqa: SLF001 - the index as the searcher reads it
    records = searcher._records(whoosh)  # noqa: SLF001
    started = time.perf_counter()
    Suggester.from_index(whoosh.reader(), records.articles)
    return time.perf_counter() - started


def _met(value: float, target: float) -> str:
    return f"{value:.2f} ms <= {target:g} ms: {'met' if value <= target else 'NOT met'}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.suggest",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=INDEX_DIR)
    parser.add_argument("--count", type=int, default=1000, help="queries of each kind")
    parser.add_argument("--rounds", type=int, default=3, help="HTTP rounds of every query")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--write", action="store_true",
                        help=f"write the figures into {DOC_PATH.relative_to(REPO_DIR)}")
    args = parser.parse_args(argv)
    saved = current_build(args.index) / VOCABULARY_FILE
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
        made = _made_from_index(searcher)
        started, used = time.perf_counter(), time.process_time()
        Suggester.load(saved)
        loading, loading_cpu = time.perf_counter() - started, time.process_time() - used
    finally:
        searcher.close()
    times.sort()
    cpu.sort()
    p99, cpu_p99 = times[int(len(times) * 0.99)], cpu[int(len(cpu) * 0.99)]
    with serving(args.index, "枣庄") as served:
        if "skipped" not in served:
            # The server has searched (its records are read); its first suggestion loads the
            # vocabulary.
            first_http = time_requests(served["port"], ["枣"], 1, "/api/suggest")[0][0][0]
            per_round, statuses = time_requests(served["port"], sampled, args.rounds,
                                                "/api/suggest", limit="10")
    load = os.getloadavg()[0]
    if "skipped" in served:
        http_lines = [f"- HTTP: skipped ({served['skipped']})"]
        http_target = "HTTP not measured"
    else:
        summary = latency_summary(per_round)
        http_lines = [
            f"- HTTP (`zhsearch serve`, waitress, one kept-alive connection on loopback): "
            f"first `/api/suggest` {first_http:.1f} ms; {len(sampled)} queries x {args.rounds} "
            f"rounds, p50 {summary['p50']:.2f} ms, p99 {summary['p99']:.2f} ms (median over "
            f"rounds); statuses {dict(sorted(statuses.items()))}"]
        http_target = "HTTP p99 " + _met(summary["p99"], HTTP_P99_MS)
    markdown = "\n".join([
        "## Suggestions as you type",
        "",
        f"- Command: `python -m bench.suggest`; "
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"- Index: {stats.documents} articles, {stats.paragraphs} paragraphs "
        f"({args.index.name}); vocabulary {len(suggester)} entries (titles, authors, words of "
        f"two records or more), saved by the build in `{VOCABULARY_FILE}` "
        f"({saved.stat().st_size / 1e6:.1f} MB)",
        f"- First call of a new searcher (reads the index's records, loads the saved "
        f"vocabulary): {first * 1000:.0f} ms; loading the vocabulary alone "
        f"{loading * 1000:.0f} ms ({loading_cpu * 1000:.0f} ms of CPU); making it from the "
        f"index instead, as searchers did before: {made:.2f} s",
        f"- {len(times)} queries ({args.count} simplified prefixes, {args.count} traditional, "
        f"{args.count} pinyin), top 10, library: p50 {statistics.median(times):.3f} ms, "
        f"p99 {p99:.3f} ms, max {times[-1]:.2f} ms; the process's own CPU time per call p50 "
        f"{statistics.median(cpu):.3f} ms, p99 {cpu_p99:.3f} ms (load average {load:.1f} on "
        f"{os.cpu_count()} cores: the wall-clock tail is other processes')",
        *http_lines,
        f"- Targets: library p99 {_met(p99, LIBRARY_P99_MS)}; {http_target}",
    ])
    print(markdown)
    if args.write:
        write_section(DOC_PATH, "suggest", markdown)


if __name__ == "__main__":
    main()
