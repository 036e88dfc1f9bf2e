"""Load against the real server (``zhsearch serve``, waitress) while the index is rebuilt.

Client threads send a mix of JSON searches in both scripts, result pages, article pages and
health checks for ``ZHSEARCH_LOAD_SECONDS`` seconds (12 by default, and at least until the
rebuilds are done), while ``zhsearch build`` rebuilds the index twice and ``zhsearch update``
updates it once, each from a changed source folder. Every response must be a 200 with a whole
page or the documented JSON, and searches for text added before each step must switch to the
new index. Throughput and latency are printed (``pytest -s``), never asserted. The scenario runs
on Whoosh and on the OpenSearch test cluster (a build there moves an alias).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from tests.conftest import SEED, SIMPLIFIED_ARTICLES
from tests.openapi_contract import json_schema, violations

LOAD_SECONDS = float(os.environ.get("ZHSEARCH_LOAD_SECONDS") or 12)
CLIENTS = 4
# A request started this long after a step finished must see its result: the server looks for
# a new build every half second (search.query.REFRESH_SECONDS), and an update at once.
SETTLE_SECONDS = 1.5
# After each step has settled, keep searching the changed index this long before the next one.
OBSERVE_SECONDS = 1.5
# Give up (and fail) if the builds take longer than this.
DEADLINE_SECONDS = 300.0

SEED_COPIES = 4
SIMPLIFIED_COPIES = 48  # of each simplified article: 4 + 2 * 48 = 100 articles

# Text that no article holds until a step adds it (the second rebuild removes the first), and
# text that only the article the update deletes holds.
ADDED_FOR_BUILD_1 = "珊瑚礁监测站"
ADDED_FOR_UPDATE = "沙漠气象站"
ADDED_FOR_BUILD_2 = "高山草甸观测点"
REMOVED_BY_UPDATE = "红杉林保护区"
MARKERS = (ADDED_FOR_BUILD_1, ADDED_FOR_UPDATE, ADDED_FOR_BUILD_2, REMOVED_BY_UPDATE)

# Each answer's body must match the schema the OpenAPI document gives for it.
SCHEMAS = {"api:search": json_schema("/api/search", 200),
           "api:doc": json_schema("/api/doc/{doc_id}", 200),
           "api:health": json_schema("/healthz", 200)}


# --- the real server and commands -------------------------------------------------------------


def zhsearch(*args: str) -> list[str]:
    """The command line of this virtualenv's ``zhsearch`` script."""
    script = Path(sys.executable).with_name("zhsearch")
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "zhsearch"]
    return [*prefix, *args]


def command_env(engine: dict[str, str] | None = None) -> dict[str, str]:
    """No ZHSEARCH_ settings from the caller but ``engine``'s; warnings are errors in the
    children too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHSEARCH_")}
    env["PYTHONWARNINGS"] = "error"
    return {**env, **(engine or {})}


def run_zhsearch(*args: str, engine: dict[str, str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(zhsearch(*args), capture_output=True, text=True,
                            env=command_env(engine), timeout=DEADLINE_SECONDS, check=False)
    assert result.returncode == 0, f"zhsearch {' '.join(args)}: {result.stderr[-2000:]}"
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes
    location: str = ""

    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class LiveServer:
    """A ``zhsearch serve`` process on 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, timeout: float = 60) -> Reply:
        """GET ``path`` (sent as it is, not normalized) on a new connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return Reply(response.status, response.getheader("Content-Type", ""),
                         response.read(), response.getheader("Location", ""))
        finally:
            connection.close()

    def wait_for_health(self, status: int, timeout: float = 60) -> Reply:
        """Poll /healthz until it answers ``status``; fail if the server dies or never does."""
        deadline = time.monotonic() + timeout
        reply = None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited: {self.log.read_text()[-2000:]}"
            try:
                reply = self.get("/healthz", timeout=5)
                if reply.status == status:
                    return reply
            except OSError:
                pass  # not listening yet
            time.sleep(0.1)
        pytest.fail(f"/healthz never answered {status} (last: {reply}); log: "
                    f"{self.log.read_text()[-2000:]}")


@contextmanager
def live_server(index_dir: Path, log: Path, engine: dict[str, str] | None = None
                ) -> Iterator[LiveServer]:
    """Run ``zhsearch serve`` on a free port of 127.0.0.1 until the block ends (with the
    ``engine`` settings, if any)."""
    port = free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            zhsearch("serve", "--index", str(index_dir), "--host", "127.0.0.1",
                     "--port", str(port)),
            stdout=output, stderr=subprocess.STDOUT, env=command_env(engine))
    server = LiveServer(port, process, log)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- checking responses -----------------------------------------------------------------------

VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                 "source", "track", "wbr"}


class _TagBalance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.doctype = False
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID_ELEMENTS:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1] == tag:
            self.open.pop()
        else:
            self.problems.append(f"</{tag}> where {self.open[-1:]} is open")


def html_problems(page: str) -> list[str]:
    """What keeps ``page`` from being a whole HTML document with balanced tags."""
    checker = _TagBalance()
    checker.feed(page)
    checker.close()
    problems = list(checker.problems)
    if not checker.doctype:
        problems.append("no <!doctype html>")
    if checker.open:
        problems.append(f"unclosed {checker.open}")
    if not page.rstrip().endswith("</html>"):
        problems.append("does not end with </html>")
    return problems


def reply_problems(kind: str, reply: Reply) -> list[str]:
    """Everything wrong with a reply to a request of ``kind`` (empty when it is right)."""
    if reply.status != 200:
        return [f"status {reply.status}"]
    if kind.startswith("page"):
        if not reply.content_type.startswith("text/html"):
            return [f"content type {reply.content_type}"]
        page = reply.text()
        problems = html_problems(page)
        expected = '<h1 id="p0">' if kind == "page:article" else '<form class="search-form"'
        return problems + ([] if expected in page else [f"no {expected}"])
    if reply.content_type != "application/json":
        return [f"content type {reply.content_type}"]
    body = reply.json()
    assert isinstance(body, dict)
    problems = violations(body, SCHEMAS[kind])
    if kind == "api:search" and body.get("total", -1) < len(body.get("hits", [])):
        problems.append("total below the hits shown")
    if kind == "api:doc" and not body.get("paragraphs"):
        problems.append("an article without paragraphs")
    if kind == "api:health" and body.get("status") != "ok":
        problems.append(f"{body}")
    return problems


# --- the corpus and its changes ---------------------------------------------------------------


def make_source(folder: Path) -> None:
    """About 100 articles: seed copies (traditional) and copies of the simplified ones."""
    folder.mkdir()
    for number in range(SEED_COPIES):
        shutil.copyfile(SEED, folder / f"seed_{number:03d}.txt")
    for name, text in SIMPLIFIED_ARTICLES.items():
        path = Path(name)
        (folder / path.parent).mkdir(parents=True, exist_ok=True)
        for number in range(SIMPLIFIED_COPIES):
            (folder / path.parent / f"{path.stem}_{number:03d}.txt").write_text(
                text, encoding="utf-8")


def add_article(folder: Path, name: str, marker: str) -> None:
    (folder / "added").mkdir(exist_ok=True)
    (folder / "added" / f"{name}.txt").write_text(
        f"新增文章{name}\n\n来源:测试网 2024-03-01\n\n本市的{marker}今天投入使用。\n",
        encoding="utf-8")


# --- the load ---------------------------------------------------------------------------------

# (kind, path): searches in both scripts, result pages, articles, health.
REQUESTS = [
    ("api:search", "/api/search?" + urlencode({"q": "枣庄"})),
    ("api:search", "/api/search?" + urlencode({"q": "棗莊"})),
    ("api:search", "/api/search?" + urlencode({"q": "工业倍增计划", "per_page": 20})),
    ("api:search", "/api/search?" + urlencode({"q": "工業倍增計劃", "page": 2})),
    ("api:search", "/api/search?" + urlencode({"q": '"招商引资" OR 锂电'})),
    ("api:search", "/api/search?" + urlencode({"q": "马克思 -锂电"})),
    ("page:search", "/?" + urlencode({"q": "枣庄"})),
    ("page:search", "/?" + urlencode({"q": "鋰電", "page": 2})),
    ("page:search", "/?" + urlencode({"q": "title:工业"})),
    ("page:article", "/doc/seed_003?" + urlencode({"q": "工业"})),
    ("page:article", "/doc/news/lidian_007"),
    ("api:doc", "/api/doc/news/nongye_011"),
    ("api:health", "/healthz"),
]
MARKER_REQUESTS = [("api:search", "/api/search?" + urlencode({"q": m})) for m in MARKERS]


@dataclass
class Sample:
    kind: str
    path: str
    started: float
    seconds: float
    total: int | None = None  # hits, for searches


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def client(server: LiveServer, number: int, stop: threading.Event, result: LoadResult) -> None:
    """Send requests until ``stop`` is set (or a generous cap on their number is reached)."""
    rng = random.Random(number)
    for _ in range(1_000_000):
        if stop.is_set():
            return
        # One request in three searches for text that the rebuilds add or remove.
        kind, path = rng.choice(MARKER_REQUESTS if rng.random() < 1 / 3 else REQUESTS)
        started = time.monotonic()
        try:
            reply = server.get(path)
        except Exception as error:  # noqa: BLE001 - every failure is counted, none stops the load
            with result.lock:
                result.failures.append(f"{path}: {type(error).__name__}: {error}")
            continue
        seconds = time.monotonic() - started
        try:
            problems = reply_problems(kind, reply)
        except Exception as error:  # noqa: BLE001 - a body that does not parse is a failure
            problems = [f"{type(error).__name__}: {error}"]
        total = None
        if not problems and kind == "api:search":
            total = reply.json()["total"]  # type: ignore[index]
        with result.lock:
            if problems:
                result.failures.append(f"{path}: {'; '.join(problems)}")
            result.samples.append(Sample(kind, path, started, seconds, total))


@dataclass
class Step:
    name: str
    started: float
    finished: float


def change_the_index(source: Path, index_dir: Path, steps: list[Step], result: LoadResult,
                     engine: dict[str, str] | None = None) -> None:
    """Rebuild, update, rebuild: each from a source folder changed just before, and each
    index searched for every marker before the next change."""
    def timed(name: str, *args: str) -> None:
        started = time.monotonic()
        run_zhsearch(*args, engine=engine)
        steps.append(Step(name, started, time.monotonic()))

    def observe(since: float) -> None:
        time.sleep(OBSERVE_SECONDS)
        # (a marker is one request in twelve: on a slow engine a fixed pause may see none)
        every_marker_answered(result, since)

    observe(time.monotonic())  # some load on the first index first
    add_article(source, "build1", ADDED_FOR_BUILD_1)
    timed("build 1", "build", "--source", str(source), "--index", str(index_dir))
    time.sleep(SETTLE_SECONDS)
    observe(steps[-1].finished + SETTLE_SECONDS)
    add_article(source, "update", ADDED_FOR_UPDATE)
    (source / "added" / "removed_by_update.txt").unlink()
    timed("update", "update", "--source", str(source), "--index", str(index_dir))
    time.sleep(SETTLE_SECONDS)
    observe(steps[-1].finished + SETTLE_SECONDS)
    (source / "added" / "build1.txt").unlink()
    add_article(source, "build2", ADDED_FOR_BUILD_2)
    timed("build 2", "build", "--source", str(source), "--index", str(index_dir))
    time.sleep(SETTLE_SECONDS)
    observe(steps[-1].finished + SETTLE_SECONDS)


def every_marker_answered(result: LoadResult, since: float, timeout: float = 60.0) -> None:
    """Wait until a search for each marker sent after ``since`` has been answered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with result.lock:
            samples = list(result.samples)
        if all(marker_totals(samples, marker, since, float("inf")) for marker in MARKERS):
            return
        time.sleep(0.1)


def marker_totals(samples: list[Sample], marker: str, after: float, before: float) -> list[int]:
    """Totals of searches for ``marker`` sent after ``after`` and answered before ``before``."""
    path = "/api/search?" + urlencode({"q": marker})
    return [s.total for s in samples if s.path == path and s.total is not None
            and after < s.started and s.started + s.seconds < before]


@pytest.fixture(params=["whoosh", "opensearch"])
def engine(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The settings of an engine for the children: none for Whoosh (its index folder is
    named), or an alias of its own on the OpenSearch test cluster (deleted afterwards)."""
    if request.param == "whoosh":
        yield {}
        return
    from opensearchpy import OpenSearch

    urls = request.getfixturevalue("opensearch_urls")
    alias = "t-load"
    yield {"ZHSEARCH_ENGINE": "opensearch", "ZHSEARCH_OPENSEARCH_URL": ",".join(urls),
           "ZHSEARCH_OPENSEARCH_INDEX": alias}
    cluster = OpenSearch(urls)
    cluster.indices.delete(index=f"{alias}-*", ignore_unavailable=True)
    cluster.close()


def test_searches_never_fail_while_the_index_is_rebuilt_and_updated(
        tmp_path: Path, engine: dict[str, str]) -> None:
    source = tmp_path / "articles"
    make_source(source)
    add_article(source, "removed_by_update", REMOVED_BY_UPDATE)
    index_dir = tmp_path / "index"
    run_zhsearch("build", "--source", str(source), "--index", str(index_dir), engine=engine)

    with live_server(index_dir, tmp_path / "server.log", engine) as server:
        server.wait_for_health(200)
        result = LoadResult()
        stop = threading.Event()
        steps: list[Step] = []
        errors: list[BaseException] = []

        def driver() -> None:
            try:
                change_the_index(source, index_dir, steps, result, engine)
            except BaseException as error:  # noqa: BLE001 - reported by the test thread
                errors.append(error)

        clients = [threading.Thread(target=client, args=(server, n, stop, result))
                   for n in range(CLIENTS)]
        changes = threading.Thread(target=driver)
        began = time.monotonic()
        for thread in clients:
            thread.start()
        changes.start()
        try:
            changes.join(timeout=DEADLINE_SECONDS)
            assert not changes.is_alive(), "the rebuilds took too long"
            time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - began)))
        finally:
            stop.set()
            for thread in clients:
                thread.join(timeout=120)
        elapsed = time.monotonic() - began
        assert server.process.poll() is None, "the server died under load"
        if errors:
            raise errors[0]

    samples = result.samples
    latencies = sorted(s.seconds * 1000 for s in samples)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"\nload on {engine.get('ZHSEARCH_ENGINE', 'whoosh')}: {CLIENTS} clients, "
          f"{len(samples)} requests in {elapsed:.1f} s = "
          f"{len(samples) / elapsed:.1f} requests/s; latency p50 {cuts[49]:.0f} ms, "
          f"p95 {cuts[94]:.0f} ms, p99 {cuts[98]:.0f} ms, max {latencies[-1]:.0f} ms; "
          f"{len(result.failures)} failed")
    print("steps: " + ", ".join(f"{s.name} {s.finished - s.started:.1f} s (from "
                                f"{s.started - began:.1f} s)" for s in steps))

    assert result.failures == [], result.failures[:10]
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "Exception ignored" not in log, log[-3000:]
    assert elapsed >= LOAD_SECONDS
    assert {kind for kind, _ in REQUESTS} <= {s.kind for s in samples}
    assert [s.name for s in steps] == ["build 1", "update", "build 2"]
    build1, updated, build2 = steps
    settle = SETTLE_SECONDS

    # Each added text is found from the step that added it on, and never before.
    expectations = [
        (ADDED_FOR_BUILD_1, began, build1.started, False),
        (ADDED_FOR_BUILD_1, build1.finished + settle, build2.started, True),
        (ADDED_FOR_BUILD_1, build2.finished + settle, float("inf"), False),  # removed again
        (ADDED_FOR_UPDATE, began, updated.started, False),
        (ADDED_FOR_UPDATE, updated.finished + settle, float("inf"), True),
        (REMOVED_BY_UPDATE, began, updated.started, True),
        (REMOVED_BY_UPDATE, updated.finished + settle, float("inf"), False),
        (ADDED_FOR_BUILD_2, began, build2.started, False),
        (ADDED_FOR_BUILD_2, build2.finished + settle, float("inf"), True),
    ]
    for marker, after, before, found in expectations:
        totals = marker_totals(samples, marker, after, before)
        assert totals, f"no search for {marker} between {after - began:.1f} s and " \
                       f"{before - began:.1f} s"
        if found:
            assert all(total == 1 for total in totals), (marker, totals)
        else:
            assert set(totals) == {0}, (marker, totals)


def test_healthz_is_503_without_an_index_and_200_once_one_is_built(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"  # does not exist yet
    with live_server(index_dir, tmp_path / "server.log") as server:
        waiting = server.wait_for_health(503)
        assert waiting.content_type == "application/json"
        assert waiting.json()["error"]["code"] == "no_index"  # type: ignore[index]
        searching = server.get("/api/search?" + urlencode({"q": "枣庄"}))
        assert searching.status == 503
        page = server.get("/?" + urlencode({"q": "枣庄"}))
        assert page.status == 503 and html_problems(page.text()) == []
        assert server.get("/").status == 200  # the form needs no index

        source = tmp_path / "articles"
        source.mkdir()
        shutil.copyfile(SEED, source / SEED.name)
        run_zhsearch("build", "--source", str(source), "--index", str(index_dir), "--procs", "1")

        health = server.wait_for_health(200, timeout=30).json()
        assert health["documents"] == 1  # type: ignore[index]
        found = server.get("/api/search?" + urlencode({"q": "枣庄"})).json()
        assert found["total"] > 0  # type: ignore[index]
        assert server.get("/doc/" + quote(SEED.stem)).status == 200
        assert server.process.poll() is None
