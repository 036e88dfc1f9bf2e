"""zhsearch's HTTP latency: ``zhsearch serve`` on loopback, ``GET /api/search`` timed per request.

Skipped, with the reason, when the command or the route is not there yet.
"""

from __future__ import annotations

import http.client
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
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


def _get(connection: http.client.HTTPConnection, query: str) -> tuple[int, float]:
    """Send one search request on a kept-alive connection; return (status, milliseconds)."""
    path = "/api/search?" + urllib.parse.urlencode({"q": query})
    start = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    return response.status, (time.perf_counter() - start) * 1000


def measure_http(index_dir: Path, queries: list[Query], requests: int, rounds: int) -> dict:
    """Start the server, time its first answer, then ``requests`` searches per round."""
    helped = subprocess.run([sys.executable, "-m", "zhsearch", "serve", "--help"],
                            capture_output=True, text=True)
    if helped.returncode != 0:
        return {"skipped": "`zhsearch serve` is not available yet"}
    port = _free_port()
    # The server's output goes to a file: a pipe nobody reads could fill up and stall it.
    log_path = index_dir.parent / "serve.log"
    log = log_path.open("w", encoding="utf-8")
    started = time.perf_counter()
    server = subprocess.Popen(_serve_command(index_dir, port), stdout=log, stderr=log)
    try:
        first = _first_answer(port, queries[0].simplified, server, started, log_path)
        if "skipped" in first:
            return first
        texts = [text for q in queries for text in (q.simplified, q.traditional)][:requests]
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        per_round, statuses = [], {}
        for _ in range(rounds):
            timings = []
            for text in texts:
                status, ms = _get(connection, text)
                statuses[status] = statuses.get(status, 0) + 1
                timings.append(ms)
            per_round.append(timings)
        connection.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
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
