"""One measurement in a fresh process, so stacks cannot share caches, memory or jieba state.

Used by the harness (``bench.run``) as ``python -m bench.worker COMMAND ...``; prints one JSON
object on stdout:

* ``build STACK WORKDIR SOURCE...``: build seconds, counts, index bytes, peak memory;
* ``build --memo STACK WORKDIR SOURCE...``: the same, each distinct text segmented once (the
  scale curve's copies of the corpus, for the peers whose build is not reported there);
* ``query STACK WORKDIR QUERIES ROUNDS``: per-query latencies and results in both scripts;
* ``latency STACK WORKDIR QUERIES ROUNDS``: time to the first answer, per-query latencies and
  the searcher's memory (the scale curve);
* ``variants WORKDIR QUERIES ROUNDS``: zhsearch's latency with stories and facets, and without
  regional expansion, against the same queries plain;
* ``update WORKDIR SOURCE ROUNDS``: zhsearch's incremental update after one article changed;
* ``floor SOURCE ROUNDS``: analysis alone (jieba, OpenCC t2s, both) on one core.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from bench.common import read_paragraphs, tree_size
from bench.memory import PeakMemory, current_rss_bytes, own_peak_bytes
from bench.queries import load
from bench.stacks import StackUnavailable, load_stack, tokens

# Snippets kept per result in the JSON (enough to show highlighting in the report).
KEPT_SNIPPETS = 1


def _load_jieba() -> float:
    """Load jieba's dictionary before any clock starts; return how long it took."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    start = time.perf_counter()
    jieba.initialize()
    return time.perf_counter() - start


def build(stack_name: str, workdir: Path, sources: list[Path]) -> dict:
    """Build one index and measure it."""
    jieba_seconds = _load_jieba()
    stack = load_stack(stack_name)
    with PeakMemory() as memory:
        start = time.perf_counter()
        counts = stack.build(sources, workdir)
        seconds = time.perf_counter() - start
    # A stack whose index lives elsewhere (a cluster) says its size; the others' is the folder.
    return {"seconds": seconds, "index_bytes": tree_size(workdir), **counts,
            "peak_rss_bytes": memory.peak_bytes, "jieba_init_seconds": jieba_seconds}


def query(stack_name: str, workdir: Path, query_file: Path, rounds: int) -> dict:
    """Answer every query in both scripts ``rounds`` times; record latencies and results."""
    queries, known_items = load(query_file)
    _load_jieba()
    stack = load_stack(stack_name)
    start = time.perf_counter()
    stack.open(workdir)
    open_seconds = time.perf_counter() - start
    for warm_up in queries[:5]:
        stack.search(warm_up.simplified)
    latencies: dict[str, list[list[float]]] = {"simplified": [], "traditional": []}
    results: dict[str, list[list[list[str]]]] = {"simplified": [], "traditional": []}
    for round_number in range(rounds):
        for script in latencies:
            latencies[script].append([])
        for item in queries:
            for script in ("simplified", "traditional"):
                text = getattr(item, script)
                start = time.perf_counter()
                hits = stack.search(text, 10)
                latencies[script][-1].append((time.perf_counter() - start) * 1000)
                if round_number == 0:
                    results[script].append([[key, snippet] for key, snippet in hits])
    known = {script: [[key for key, _ in stack.search(getattr(item, script), 10)]
                      for item in known_items]
             for script in ("simplified", "traditional")}
    stack.close()
    return {"open_seconds": open_seconds, "latency_ms": latencies, "results": results,
            "known_item_results": known}


def latency(stack_name: str, workdir: Path, query_file: Path, rounds: int) -> dict:
    """Open an index in this fresh process, time its first answer, then every query in both
    scripts ``rounds`` times; the process's resident memory after (the searcher, its caches
    and the jieba dictionary every stack loads)."""
    queries, _ = load(query_file)
    _load_jieba()
    stack = load_stack(stack_name)
    start = time.perf_counter()
    stack.open(workdir, keys=False)
    open_seconds = time.perf_counter() - start
    stack.search(queries[0].simplified, 10)
    first_answer_seconds = time.perf_counter() - start
    rounds_ms: list[list[float]] = []
    for _ in range(rounds):
        rounds_ms.append([])
        for item in queries:
            for script in ("simplified", "traditional"):
                text = getattr(item, script)
                began = time.perf_counter()
                stack.search(text, 10)
                rounds_ms[-1].append((time.perf_counter() - began) * 1000)
    rss_bytes = current_rss_bytes()
    stack.close()
    return {"open_seconds": open_seconds, "first_answer_seconds": first_answer_seconds,
            "latency_ms": rounds_ms, "rss_bytes": rss_bytes, "peak_rss_bytes": own_peak_bytes()}


# zhsearch's search options measured against the plain search (the same queries, interleaved):
# what grouping, facets and regional vocabulary add to a query.
VARIANTS = {
    "plain": {},
    "story+facets": {"group": "story", "facets": ("source", "month")},
    "no regional": {"regional": False},
}


def variants(workdir: Path, query_file: Path, rounds: int) -> dict:
    """Every query in both scripts with each of :data:`VARIANTS`, ``rounds`` times."""
    from search.config import load_settings
    from search.query import QueryError, Searcher

    queries, _ = load(query_file)
    _load_jieba()
    searcher = Searcher(workdir, load_settings({}))
    for warm_up in queries[:5]:  # the records and the regional tables load on first use
        for options in VARIANTS.values():
            searcher.search(warm_up.simplified, per_page=10, **options)
    latencies: dict[str, list[list[float]]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for rounds_ms in latencies.values():
            rounds_ms.append([])
        for number, item in enumerate(queries):
            # Each variant goes first as often as the others: the first search of a text warms
            # caches (its normalization, its plan) that the next ones find.
            turn = list(VARIANTS.items())
            turn = turn[number % len(turn):] + turn[:number % len(turn)]
            for text in (item.simplified, item.traditional):
                for name, options in turn:
                    began = time.perf_counter()
                    try:
                        searcher.search(text, per_page=10, **options)
                    except QueryError:
                        pass
                    latencies[name][-1].append((time.perf_counter() - began) * 1000)
    searcher.close()
    return {"latency_ms": latencies}


def update(workdir: Path, source: Path, rounds: int) -> dict:
    """Time ``search.index.update`` after one article of ``source`` changed, ``rounds`` times.

    The index in ``workdir`` must have been built by zhsearch from ``source``. Each round
    indexes a linked copy of ``source`` in which one article gained a paragraph.
    """
    from search.index import update as zhsearch_update

    _load_jieba()
    copy = workdir.with_name(workdir.name + ".update-source")
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(source, copy, copy_function=os.link)  # links: no 14 MB copy
    changed = sorted(copy.rglob("*.txt"))[len(list(copy.rglob("*.txt"))) // 2]
    original = changed.read_text(encoding="utf-8")
    seconds, reports = [], []
    for round_number in range(rounds):
        changed.unlink()  # replace the link, never write through it into the corpus
        changed.write_text(f"{original}\n本報訊（第{round_number + 1}次更新）\n",
                           encoding="utf-8")
        start = time.perf_counter()
        report = zhsearch_update([copy], workdir)
        seconds.append(time.perf_counter() - start)
        reports.append({"added": len(report.added), "changed": len(report.changed),
                        "removed": len(report.removed)})
    shutil.rmtree(copy)
    return {"seconds": seconds, "reports": reports, "changed_file": changed.name}


def floor(sources: list[Path], rounds: int) -> dict:
    """Characters per second of the analysis alone, pinned to one core."""
    import jieba
    import opencc

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    _load_jieba()
    t2s = opencc.OpenCC("t2s").convert
    texts = [para.text for para in read_paragraphs(sources)]
    characters = sum(len(text) for text in texts)
    steps = {
        "jieba search mode": lambda text: list(jieba.cut_for_search(text)),
        "OpenCC t2s": t2s,
        "t2s then jieba search mode": lambda text: list(jieba.cut_for_search(t2s(text))),
    }
    seconds: dict[str, list[float]] = {}
    for name, step in steps.items():
        seconds[name] = []
        for _ in range(rounds):
            start = time.perf_counter()
            for text in texts:
                step(text)
            seconds[name].append(time.perf_counter() - start)
    return {"characters": characters, "paragraphs": len(texts), "seconds": seconds}


def main(argv: list[str]) -> None:
    """Dispatch one worker command and print its JSON result."""
    command, *args = argv
    # Libraries may print progress; keep stdout for the one JSON result.
    real_stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        result = _run(command, args)
    except StackUnavailable as error:
        raise SystemExit(f"unavailable: {error}") from None
    finally:
        sys.stdout = real_stdout
    json.dump(result, sys.stdout, ensure_ascii=False)


def _run(command: str, args: list[str]) -> dict:
    if command == "build":
        if args[0] == "--memo":
            tokens.SEGMENT_MEMO = {}
            args = args[1:]
        result = build(args[0], Path(args[1]), [Path(a) for a in args[2:]])
    elif command == "latency":
        result = latency(args[0], Path(args[1]), Path(args[2]), int(args[3]))
    elif command == "query":
        result = query(args[0], Path(args[1]), Path(args[2]), int(args[3]))
    elif command == "variants":
        result = variants(Path(args[0]), Path(args[1]), int(args[2]))
    elif command == "update":
        result = update(Path(args[0]), Path(args[1]), int(args[2]))
    elif command == "floor":
        result = floor([Path(a) for a in args[:-1]], int(args[-1]))
    else:
        raise SystemExit(f"unknown worker command {command!r}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
