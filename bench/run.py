"""The benchmark harness behind ``python -m bench`` (``make bench``) and ``--quick``.

Every stack indexes the traditional copy of the People's Daily corpus in a fresh worker process
(``bench.worker``), then answers the same seeded queries in another; the harness only schedules
runs, takes medians and ratios, writes the JSON results and renders the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench import corpus, queries, report
from bench.common import iter_articles, read_paragraphs, tree_size
from bench.http_latency import measure_http
from bench.stacks import ENGINES, STACKS
from bench.stats import latency_summary

RESULTS_DIR = corpus.BENCH_DIR / "results"
WORK_DIR = RESULTS_DIR / "work"
QUICK_SOURCE = corpus.DATA_DIR / "zht_quick"
SEED = 1998


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full run, or the quick one."""

    name: str
    every_nth_article: int  # 1 = the whole corpus
    queries: int  # each typed in both scripts
    known_items: int
    builds: int
    query_rounds: int
    floor_rounds: int
    http_requests: int
    scale: tuple[int, ...] = ()  # zhsearch builds on this many copies of the corpus


FULL = Plan("full", 1, queries=300, known_items=200, builds=3, query_rounds=3, floor_rounds=3,
            http_requests=600, scale=(16,))
# Query rounds at each size of the scale curve (each round: every query in both scripts).
SCALE_ROUNDS = 2
QUICK = Plan("quick", 40, queries=40, known_items=40, builds=3, query_rounds=3, floor_rounds=3,
             http_requests=100)


def prepare_source(plan: Plan) -> Path:
    """Return the folder of traditional articles to index (a spread-out subset when quick)."""
    full = corpus.TRADITIONAL_DIR
    if plan.every_nth_article == 1:
        return full
    names = sorted(p.name for p in full.glob("*.txt"))[::plan.every_nth_article]
    if QUICK_SOURCE.exists():
        shutil.rmtree(QUICK_SOURCE)
    QUICK_SOURCE.mkdir(parents=True)
    for name in names:
        shutil.copyfile(full / name, QUICK_SOURCE / name)
    return QUICK_SOURCE


def run_worker(*args: str) -> dict:
    """Run one ``bench.worker`` command; return its JSON or raise with its last error line."""
    # Warning options (python -W error) pass on to the workers.
    warnings = [f"-W{option}" for option in sys.warnoptions]
    command = [sys.executable, *warnings, "-m", "bench.worker", *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=corpus.BENCH_DIR.parent)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"worker exited with {done.returncode}")
    return json.loads(done.stdout)


def measure_floor(source: Path, plan: Plan) -> dict:
    """Analysis alone on one core: median characters per second for each step."""
    raw = run_worker("floor", str(source), str(plan.floor_rounds))
    steps = {}
    for name, seconds in raw["seconds"].items():
        median = statistics.median(seconds)
        steps[name] = {"seconds": median, "chars_per_s": raw["characters"] / median,
                       "runs": seconds}
    return {"characters": raw["characters"], "steps": steps}


def measure_stacks(names: list[str], source: Path, query_file: Path, plan: Plan) -> dict:
    """Build every stack ``plan.builds`` times, then time the queries on each last index.

    Builds take turns (all stacks once, then again), so a burst of load from elsewhere on a
    shared machine hits every stack rather than one. A stack whose worker fails is skipped.
    """
    raw: dict[str, dict] = {name: {"builds": []} for name in names}
    for attempt in range(plan.builds):
        for name, entry in raw.items():
            if "skipped" in entry:
                continue
            print(f"  {name}: build {attempt + 1}/{plan.builds}", flush=True)
            workdir = WORK_DIR / name
            if workdir.exists():
                shutil.rmtree(workdir)
            try:
                entry["builds"].append(run_worker("build", name, str(workdir), str(source)))
            except RuntimeError as error:
                print(f"  {name}: skipped ({error})", flush=True)
                entry["skipped"] = str(error)
    for name, entry in raw.items():
        if "skipped" in entry:
            continue
        print(f"  {name}: queries x{plan.query_rounds}", flush=True)
        try:
            entry["answers"] = run_worker("query", name, str(WORK_DIR / name), str(query_file),
                                          str(plan.query_rounds))
        except RuntimeError as error:
            print(f"  {name}: skipped ({error})", flush=True)
            entry["skipped"] = str(error)
    return raw


def measure_update(source: Path, plan: Plan) -> dict:
    """zhsearch's incremental update of one changed article, on the index built above."""
    print(f"zhsearch update: one changed article x{plan.builds}", flush=True)
    raw = run_worker("update", str(WORK_DIR / "zhsearch"), str(source), str(plan.builds))
    return {"seconds": statistics.median(raw["seconds"]), "runs": raw["seconds"],
            "reports": raw["reports"]}


def scaled_source(source: Path, factor: int) -> Path:
    """A folder with ``factor`` copies of ``source`` under new ids (copy1/..., hard links)."""
    target = source.with_name(f"{source.name}_x{factor}")
    if target.exists():
        shutil.rmtree(target)
    for copy in range(1, factor + 1):
        shutil.copytree(source, target / f"copy{copy}", copy_function=os.link)
    return target


# The stacks measured on copies of the corpus: zhsearch, the fast peer and the careful peer,
# and zhsearch on OpenSearch when asked for.
SCALE_STACKS = ("zhsearch", "tantivy", "careful", "opensearch")
# OpenSearch is measured up to this many copies: its bulk index of 64 copies (1.2 M paragraphs,
# three nodes and the client on two cores) would add most of an hour to the run.
ENGINE_SCALE_MAX = 16


def measure_scale(source: Path, factors: list[int], characters: int, names: list[str],
                  query_file: Path, rounds: int) -> list[dict]:
    """Each scale stack on 1x and ``factors`` copies of the corpus: zhsearch's build time and
    peak memory, and every stack's query latency, memory and first answer in a fresh process.

    One build each, back to back, so the points share the machine's conditions (the 1x build
    is repeated here rather than taken from the interleaved builds above). The peers segment
    each distinct text once (``build --memo``): their build at scale is not reported. An
    engine's build (OpenSearch) is reported under ``engines``, and its index dropped after.
    """
    points = []
    stacks = [name for name in SCALE_STACKS if name in names]
    for factor in sorted({1, *factors}):
        scaled = scaled_source(source, factor)
        point: dict = {"factor": factor, "characters": characters * factor, "latency": {}}
        try:
            for name in stacks:
                if name in ENGINES and factor > ENGINE_SCALE_MAX:
                    continue
                workdir = WORK_DIR / f"{name}-scale"
                if workdir.exists():
                    shutil.rmtree(workdir)
                print(f"  {name}: build and queries on {factor}x the corpus", flush=True)
                try:
                    memo = [] if name == "zhsearch" or name in ENGINES else ["--memo"]
                    raw = run_worker("build", *memo, name, str(workdir), str(scaled))
                    built = {"seconds": raw["seconds"],
                             "chars_per_s": point["characters"] / raw["seconds"],
                             "peak_rss_bytes": raw["peak_rss_bytes"],
                             "index_bytes": raw["index_bytes"]}
                    if name == "zhsearch":
                        point |= built
                    elif name in ENGINES:
                        point.setdefault("engines", {})[name] = built
                    answers = run_worker("latency", name, str(workdir), str(query_file),
                                         str(rounds))
                    if name == "zhsearch":
                        raw_variants = run_worker("variants", str(workdir), str(query_file),
                                                  str(rounds))["latency_ms"]
                        point["variants"] = {v: latency_summary(ms)
                                             for v, ms in raw_variants.items()}
                except RuntimeError as error:
                    point["latency"][name] = {"skipped": str(error)}
                    if name == "zhsearch":
                        point["skipped"] = str(error)
                    continue
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                    if name == "opensearch":
                        from bench.stacks.opensearch_stack import drop_indexes

                        drop_indexes(workdir)
                    # the zhsearch adapter's note beside its index
                    workdir.with_name(workdir.name + ".sources.json").unlink(missing_ok=True)
                point["latency"][name] = {
                    "latency_ms": latency_summary(answers["latency_ms"]),
                    "open_seconds": answers["open_seconds"],
                    "first_answer_seconds": answers["first_answer_seconds"],
                    "rss_bytes": answers["rss_bytes"], "peak_rss_bytes": answers["peak_rss_bytes"],
                    "index_bytes": raw["index_bytes"]}
        finally:
            shutil.rmtree(scaled)
        points.append(point)
    return points


def summarize_stack(raw: dict, corpus_counts: dict, known_items: list) -> dict:
    """Medians, percentiles and quality figures of one stack's raw measurements."""
    builds, answers = raw["builds"], raw["answers"]
    seconds = statistics.median(b["seconds"] for b in builds)
    latency = answers["latency_ms"]
    both_scripts = [s + t for s, t in zip(latency["simplified"], latency["traditional"],
                                          strict=True)]
    results = answers["results"]
    # Latencies of the queries that found something (first round's results decide).
    hit_by_round = [
        [ms for script in ("simplified", "traditional")
         for ms, hits in zip(latency[script][r], results[script], strict=True) if hits]
        for r in range(len(latency["simplified"]))
    ]
    return {
        "build": {
            "seconds": seconds,
            "runs": [b["seconds"] for b in builds],
            "paragraphs": builds[-1]["paragraphs"],
            "characters": builds[-1]["characters"],
            "paragraphs_per_s": corpus_counts["paragraphs"] / seconds,
            "chars_per_s": corpus_counts["characters"] / seconds,
            "index_bytes": builds[-1]["index_bytes"],
            "index_multiple": builds[-1]["index_bytes"] / corpus_counts["raw_bytes"],
            "peak_rss_bytes": statistics.median(b["peak_rss_bytes"] for b in builds),
        },
        "open_seconds": answers["open_seconds"],
        "latency_ms": latency_summary(both_scripts),
        "latency_ms_hits": latency_summary(hit_by_round) if any(hit_by_round) else None,
        "latency_ms_by_script": {script: latency_summary(latency[script])
                                 for script in ("simplified", "traditional")},
        "quality": quality(results, answers["known_item_results"], known_items),
        "examples": examples(results),
    }


def quality(results: dict, known_results: dict, known_items: list) -> dict:
    """Hit rates, same-top-10 rate across scripts, and the known-item recall@10 and MRR."""
    simplified, traditional = results["simplified"], results["traditional"]
    answered = [(s, t) for s, t in zip(simplified, traditional, strict=True) if s or t]
    same = sum({k for k, _ in s} == {k for k, _ in t} for s, t in answered)
    known = {}
    for script, ranked_lists in known_results.items():
        ranks = [ranked.index(item.key) + 1 if item.key in ranked else None
                 for item, ranked in zip(known_items, ranked_lists, strict=True)]
        known[script] = {
            "recall_at_10": sum(r is not None for r in ranks) / len(ranks),
            "mrr": sum(1 / r for r in ranks if r is not None) / len(ranks),
        }
    return {
        "hit_rate": {"simplified": sum(bool(s) for s in simplified) / len(simplified),
                     "traditional": sum(bool(t) for t in traditional) / len(traditional)},
        "same_top10": same / len(answered) if answered else 0.0,
        "same_top10_of": len(answered),
        "known_item": known,
    }


def examples(results: dict, count: int = 20) -> dict[str, list[list[str] | None]]:
    """The top hit (key, snippet) of each of the first ``count`` queries, per script."""
    return {script: [hits[0] if hits else None for hits in results[script][:count]]
            for script in ("simplified", "traditional")}


def machine() -> dict:
    """Where the run happened: CPU model, cores, memory, load, versions."""
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
              if line.startswith("model name")]
    meminfo = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
    mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": models[0] if models else platform.processor(),
        "nproc": int(nproc) if nproc.isdigit() else None,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "load_average_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    import sqlite3
    from importlib import metadata

    versions = {"sqlite": sqlite3.sqlite_version}
    for package in ("whoosh3", "jieba", "opencc-python-reimplemented", "tantivy", "zhsearch"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write results JSON and the report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="every 40th article and fewer queries (under two minutes); "
                             "results go to bench/results/ only, docs/ is left alone")
    parser.add_argument("--stacks", default=",".join(n for n in STACKS if n not in ENGINES),
                        help="comma-separated subset of: " + ", ".join(STACKS))
    parser.add_argument("--engines", default="",
                        help="zhsearch's other engines to measure beside the stacks: "
                             "opensearch (on the cluster at ZHSEARCH_OPENSEARCH_URL, or a "
                             "three-node one started with tests/opensearch_cluster.py and "
                             "stopped at the end)")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP latency part")
    parser.add_argument("--scale", default=None,
                        help="build zhsearch on N copies of the corpus for each N in this "
                             "comma-separated list, with tantivy and the careful peer: build "
                             "time, query latency and memory against size (default: 16 for the "
                             "full run, none for --quick; '' for none; 16,64 for the ten-year "
                             "archive, about 50 minutes more)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    names = [name.strip() for name in args.stacks.split(",") if name.strip()]
    unknown = sorted(set(names) - set(STACKS))
    if unknown:
        parser.error(f"unknown stack(s): {', '.join(unknown)}")
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    if sorted(set(engines) - set(ENGINES)):
        parser.error(f"--engines takes {', '.join(ENGINES)}, not {args.engines!r}")
    names += [name for name in engines if name not in names]
    try:
        factors = (list(plan.scale) if args.scale is None
                   else sorted({int(f) for f in args.scale.split(",") if f.strip()}))
    except ValueError:
        parser.error(f"--scale takes whole numbers separated by commas, not {args.scale!r}")
    if any(f < 1 for f in factors):
        parser.error("--scale factors must be 1 or more")
    command = "python -m bench" + (" " + " ".join(argv if argv is not None else sys.argv[1:]))

    started = time.perf_counter()
    counts = corpus.ensure_corpus()
    print(f"corpus: {counts['articles']:,} articles, {counts['paragraphs']:,} paragraphs, "
          f"{counts['characters']:,} characters")
    source = prepare_source(plan)
    doc_ids = [doc_id for doc_id, _ in iter_articles([source])]
    paragraphs = list(read_paragraphs([source]))
    corpus_counts = {
        "articles": len(doc_ids),
        "paragraphs": len(paragraphs),
        "characters": sum(len(p.text) for p in paragraphs),
        "raw_bytes": tree_size(source),
    }
    print(f"{plan.name} run on {source.relative_to(corpus.BENCH_DIR.parent)}: "
          f"{corpus_counts['articles']:,} articles, {corpus_counts['paragraphs']:,} paragraphs, "
          f"{corpus_counts['characters']:,} characters")

    tagged = queries.load_tagged(corpus.TAGGED_FILE, doc_ids)
    traditional = {p.key: p.text for p in paragraphs}
    query_list = queries.sample_queries(tagged, traditional, plan.queries, SEED)
    known_items = queries.sample_known_items(tagged, traditional, plan.known_items, SEED)
    del tagged, traditional, paragraphs  # keep the harness small: workers are forked from it
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    query_file = RESULTS_DIR / f"queries-{plan.name}.json"
    queries.save(query_file, query_list, known_items)

    with ExitStack() as running:
        if "opensearch" in names:
            from bench.stacks.opensearch_stack import running_cluster

            running.enter_context(running_cluster())
        print("floor: analysis alone on one core", flush=True)
        floor = measure_floor(source, plan)
        stacks = {name: ({"skipped": entry["skipped"]} if "skipped" in entry
                         else summarize_stack(entry, corpus_counts, known_items))
                  for name, entry in measure_stacks(names, source, query_file, plan).items()}

        zhsearch_built = "build" in stacks.get("zhsearch", {})
        http: dict = {"skipped": "not requested (--no-http)"}
        if not args.no_http:
            if zhsearch_built:
                print("zhsearch serve: HTTP latency", flush=True)
                http = measure_http(WORK_DIR / "zhsearch", query_list, plan.http_requests,
                                    plan.query_rounds)
            else:
                http = {"skipped": "no zhsearch index was built in this run"}
            if "skipped" in http:
                print(f"  HTTP: skipped ({http['skipped']})")

        update = {"skipped": "no zhsearch index was built in this run"}
        scale: list[dict] = []
        if zhsearch_built:
            try:
                update = measure_update(source, plan)
            except RuntimeError as error:
                update = {"skipped": str(error)}
            if factors:
                scale = measure_scale(source, factors, corpus_counts["characters"], names,
                                      query_file, SCALE_ROUNDS)

    results = {
        "plan": plan.__dict__,
        "command": command.strip(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "corpus": corpus_counts,
        "queries": {"count": len(query_list), "known_items": len(known_items), "seed": SEED,
                    "first": [q.__dict__ for q in query_list[:20]]},
        "floor": floor,
        "stacks": stacks,
        "http": http,
        "update": update,
        "scale": scale,
        "wall_seconds": time.perf_counter() - started,
    }
    results["ratios"] = report.ratios(results)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for path in (RESULTS_DIR / f"bench-{plan.name}-{stamp}.json",
                 RESULTS_DIR / f"latest-{plan.name}.json"):
        path.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    if plan is FULL:
        markdown, chart = report.DOC_PATH, report.CHART_PATH
    else:
        markdown, chart = RESULTS_DIR / "benchmarks-quick.md", RESULTS_DIR / "benchmarks-quick.png"
    report.write(results, markdown, chart)
    print(report.summary(results))
    print(f"results: {RESULTS_DIR / f'latest-{plan.name}.json'}; report: {markdown}; "
          f"chart: {chart} ({time.perf_counter() - started:.0f} s)")
