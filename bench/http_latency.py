"""zhsearch's HTTP latency: ``zhsearch serve`` on loopback, ``GET /api/search`` timed per request.

Skipped, with the reason, when the command or the route is not there yet. :func:`serving` starts
the server for other measurements too (``bench.suggest`` times ``/api/suggest`` with it).
"""

from __future__ import annotations

import http.client
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.queries import Query
from bench.stats import latency_summary

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _serve_command(index_dir: Path, port: int) -> list[str]:
    # Run the console script's module with this interpreter, so no PATH lookup is needed.
    return [sys.executable, "-m", "zhsearch", "serve", "--index", str(index_dir),
            "--host", HOST, "--port", str(port)]


def _get(connection: http.client.HTTPConnection, query: str, route: str = "/api/search",
         **parameters: str) -> tuple[int, float]:
    """Send one request (``q`` the query) on a kept-alive connection; return (status,
    milliseconds)."""
    path = f"{route}?" + urllib.parse.urlencode({"q": query, **parameters})
    start = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    return response.status, (time.perf_counter() - start) * 1000


@contextmanager
def serving(index_dir: Path, probe: str) -> Iterator[dict]:
    """Run ``zhsearch serve`` on ``index_dir`` while the block runs, after a search for
    ``probe`` answered; yields ``{"port", "seconds"}`` (from start to that answer), or
    ``{"skipped": why}`` when it cannot be served."""
    helped = subprocess.run([sys.executable, "-m", "zhsearch", "serve", "--help"],
                            capture_output=True, text=True)
    if helped.returncode != 0:
        yield {"skipped": "`zhsearch serve` is not available yet"}
        return
    port = _free_port()
    # The server's output goes to a file: a pipe nobody reads could fill up and stall it.
    log_path = index_dir.parent / "serve.log"
    log = log_path.open("w", encoding="utf-8")
    started = time.perf_counter()
    server = subprocess.Popen(_serve_command(index_dir, port), stdout=log, stderr=log)
    try:
        yield {"port": port, **_first_answer(port, probe, server, started, log_path)}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def time_requests(port: int, texts: list[str], rounds: int, route: str = "/api/search",
                  **parameters: str) -> tuple[list[list[float]], dict[int, int]]:
    """Send each of ``texts`` to ``route`` ``rounds`` times on one kept-alive connection:
    the milliseconds of each request, by round, and how many got each status."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    per_round, statuses = [], {}
    for _ in range(rounds):
        timings = []
        for text in texts:
            status, ms = _get(connection, text, route, **parameters)
            statuses[status] = statuses.get(status, 0) + 1
            timings.append(ms)
        per_round.append(timings)
    connection.close()
    return per_round, statuses


def measure_http(index_dir: Path, queries: list[Query], requests: int, rounds: int) -> dict:
    """Start the server, time its first answer, then ``requests`` searches per round."""
    with serving(index_dir, queries[0].simplified) as first:
        if "skipped" in first:
            return first
        texts = [text for q in queries for text in (q.simplified, q.traditional)][:requests]
        per_round, statuses = time_requests(first["port"], texts, rounds)
    return {"first_answer_seconds": first["seconds"], "requests_per_round": len(texts),
            "rounds": rounds, "statuses": {str(k): v for k, v in statuses.items()},
            "latency_ms": latency_summary(per_round),
            "mean_ms": statistics.median(statistics.fmean(r) for r in per_round)}


def _first_answer(port: int, query: str, server: subprocess.Popen, started: float,
                  log_path: Path) -> dict:
    """Poll until the server answers a search; return seconds since start, or why not."""
    while time.perf_counter() - started < START_TIMEOUT_SECONDS:
        if server.poll() is not None:
            log_text = log_path.read_text(encoding="utf-8", errors="replace")
            lines = [line for line in log_text.splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit status {server.returncode}"
            return {"skipped": f"`zhsearch serve` stopped: {reason}"}
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            status, _ = _get(connection, query)
            connection.close()
        except OSError:
            time.sleep(0.02)
            continue
        if status == 404:
            return {"skipped": "`zhsearch serve` has no /api/search route yet"}
        if status != 200:
            return {"skipped": f"/api/search answered HTTP {status}"}
        return {"seconds": time.perf_counter() - started}
    return {"skipped": f"`zhsearch serve` did not answer within {START_TIMEOUT_SECONDS:.0f} s"}
