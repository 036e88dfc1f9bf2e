"""Shared fixtures: real articles on disk and real indexes built from them, once per session."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import opensearch_cluster
import pytest
from flask import Flask

from search import BuildReport, Searcher, build, load_settings
from web import create_app

ROOT = Path(__file__).resolve().parent.parent

# A shell without job control starts a background job (`make test &`, nohup) with Ctrl-C
# ignored, and every process inherits that: the builds the tests interrupt would never see it.
# Take it back, so they receive SIGINT as one started from a terminal does.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
SEEDS = ROOT / "seeds"
SEED = SEEDS / "000_0c4e82e9c0ffe15d.txt"
SEED_ID = "000_0c4e82e9c0ffe15d"

# Small articles in SIMPLIFIED script, so that matching is tested in both directions: the seed
# is traditional, these are simplified, and queries come in either script.
SIMPLIFIED_ARTICLES = {
    "news/lidian.txt": """锂电产业链加快集聚

作者:王明 来源:人民网 2022-12-01 08:00:00

枣庄锂电产业加快发展，一批新能源项目落地投产。

马克思主义理论学习会在市委党校举行，与会人员交流了学习体会。

iPhone 15 与 COVID-19 疫情之后的消费电子市场，版本 3.6.3 的软件更新。

编辑:李华
""",
    "news/nongye.txt": """现代农业孵化中心建成

孟庄镇的现代农业孵化中心今年建成，带动周边农户增收。

镇上还建设了孙枝鸡产业园。
""",
}


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A source folder holding the seed article and the simplified ones."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copyfile(SEED, root / SEED.name)
    for name, text in SIMPLIFIED_ARTICLES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def index_dir(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Whoosh index built from :func:`corpus_dir` (shared: tests must not change it)."""
    target = tmp_path_factory.mktemp("index")
    build([corpus_dir], target, procs=1)
    return target


@pytest.fixture(scope="session")
def articles(tmp_path_factory: pytest.TempPathFactory) -> list[list[dict[str, object]]]:
    """The project's own index records of the test articles, one list an article (the
    writer's contract tests and the segment tests write them)."""
    from tests.whoosh_indexes import project_articles  # here: that module imports this one

    return project_articles(tmp_path_factory)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory) -> BuildReport:
    """A real index of the repository's seeds/ (shared by the API, page and browser tests:
    tests must not change it)."""
    return build([SEEDS], tmp_path_factory.mktemp("seed-index") / "index")


@pytest.fixture(scope="session")
def searcher(index_dir: Path) -> Searcher:
    s = Searcher(index_dir, load_settings({}))
    yield s
    s.close()


def make_app(index_dir: Path, *, testing: bool = True, **settings: object) -> Flask:
    """The real app over ``index_dir``: default settings (no ZHSEARCH_* from the caller) plus
    ``settings``; close it with ``web.searcher.close_searcher``."""
    app = create_app(load_settings({}, index_dir=index_dir, **settings))
    app.testing = testing
    return app


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A fresh source folder with just the seed article, for tests that change files."""
    source = tmp_path / "seeds"
    source.mkdir()
    shutil.copyfile(SEED, source / SEED.name)
    return source


# --- fixtures for build, update and fault tests (tests/test_index.py, tests/test_cli.py) --------

SEED_COPIES = 20


@pytest.fixture(scope="session")
def seed_copies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A source folder of SEED_COPIES copies of the seed under new names: a build of seconds."""
    root = tmp_path_factory.mktemp("copies")
    for number in range(SEED_COPIES):
        shutil.copyfile(SEED, root / f"copy_{number:03d}.txt")
    return root


@pytest.fixture(scope="session")
def twelve_seed_copies(seed_copies: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve of the copies: 108 records, so Whoosh hands a batch of 100 to a parallel worker."""
    root = tmp_path_factory.mktemp("twelve")
    for path in sorted(seed_copies.iterdir())[:12]:
        shutil.copyfile(path, root / path.name)
    return root


@pytest.fixture
def live_index(index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the shared index, for tests that fault or change it."""
    target = tmp_path / "live-index"
    shutil.copytree(index_dir, target)
    return target


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 1 MB tmpfs, to run out of space for real (needs root and mount)."""
    mount_point = tmp_path / "tiny-disk"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a tiny disk")
    result = _run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point))
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    yield mount_point
    _run("umount", "-l", str(mount_point))


def fill_disk(folder: Path, leave: int = 64 * 1024) -> None:
    """Fill the file system of ``folder`` with a ballast file until ``leave`` bytes are free."""
    free = shutil.disk_usage(folder).free
    with open(folder / "ballast", "wb") as ballast:
        ballast.truncate(0)
        ballast.write(b"\0" * max(0, free - leave))


@pytest.fixture
def make_immutable() -> Iterator[Callable[[Path], None]]:
    """Make a folder immutable with ``chattr +i`` (root ignores permission bits); undone after."""
    done: list[Path] = []

    def immutable(path: Path) -> None:
        if shutil.which("chattr") is None:
            pytest.skip("no chattr command to make a folder read-only for root")
        result = _run("chattr", "+i", str(path))
        if result.returncode != 0:
            pytest.skip(f"chattr +i is not supported here: {result.stderr.strip()}")
        done.append(path)

    yield immutable
    for path in done:
        _run("chattr", "-i", str(path))


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """Show a folder through a read-only bind mount; returns the read-only path."""
    mounted: list[Path] = []

    def view(path: Path) -> Path:
        target = tmp_path / f"read-only-{len(mounted)}"
        target.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command for a read-only bind mount")
        result = _run("mount", "--bind", str(path), str(target))
        if result.returncode != 0:
            pytest.skip(f"cannot bind-mount here: {result.stderr.strip()}")
        mounted.append(target)
        result = _run("mount", "-o", "remount,bind,ro", str(target))
        if result.returncode != 0:
            pytest.skip(f"cannot make a bind mount read-only here: {result.stderr.strip()}")
        return target

    yield view
    for target in reversed(mounted):
        _run("umount", "-l", str(target))


def zhsearch_command(*args: str) -> list[str]:
    """The real ``zhsearch`` console script of this virtualenv (or ``python -m zhsearch``)."""
    script = Path(sys.executable).with_name("zhsearch")
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "zhsearch"]
    return [*prefix, *args]


def zhsearch_env(warnings_as_errors: bool = True) -> dict[str, str]:
    """The environment for a ``zhsearch`` subprocess: no ZHSEARCH_ settings, warnings as errors."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHSEARCH_")}
    env.pop("PYTHONWARNINGS", None)
    if warnings_as_errors:
        env["PYTHONWARNINGS"] = "error"
    return env


@pytest.fixture
def zhsearch(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``zhsearch ARGS`` in a subprocess (in tmp_path) and return what it did."""

    def run(*args: str, timeout: float = 120,
            warnings_as_errors: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(zhsearch_command(*args), capture_output=True, text=True,
                              cwd=tmp_path, env=zhsearch_env(warnings_as_errors),
                              timeout=timeout, check=False)

    return run


def total_hits(index_dir: Path, query: str = "棗莊") -> int:
    """The number of paragraphs a fresh Searcher on ``index_dir`` finds for ``query``."""
    searcher = Searcher(index_dir, load_settings({}))
    try:
        return searcher.search(query).total
    finally:
        searcher.close()


# --- a real OpenSearch cluster (tests/test_opensearch*.py) --------------------------------------


_CLUSTER_STARTS: list[float] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for seconds in _CLUSTER_STARTS:
        terminalreporter.write_line(f"OpenSearch: 3 nodes green in {seconds} s")


@pytest.fixture(scope="session")
def opensearch_nodes() -> Iterator[opensearch_cluster.Cluster | None]:
    """A real three-node OpenSearch cluster started once per test run, stopped by its process
    ids at the end; None when ``ZHSEARCH_TEST_OPENSEARCH_URL`` names a running one instead
    (``make opensearch`` starts one).

    Without Java or Maven the tests that use it skip, unless ``ZHSEARCH_REQUIRE_OPENSEARCH=1``
    (CI) makes them fail.
    """
    if os.environ.get("ZHSEARCH_TEST_OPENSEARCH_URL"):
        yield None
        return
    try:
        cluster = opensearch_cluster.start()
    except opensearch_cluster.ClusterUnavailable as reason:
        if os.environ.get("ZHSEARCH_REQUIRE_OPENSEARCH") == "1":
            pytest.fail(f"ZHSEARCH_REQUIRE_OPENSEARCH=1, but {reason}")
        pytest.skip(f"no OpenSearch cluster: {reason}")
    _CLUSTER_STARTS.append(cluster.started_in)
    yield cluster
    cluster.stop()
    shutil.rmtree(cluster.run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def opensearch_urls(opensearch_nodes: opensearch_cluster.Cluster | None) -> list[str]:
    """The node URLs of the test run's OpenSearch cluster."""
    if opensearch_nodes is None:
        return os.environ["ZHSEARCH_TEST_OPENSEARCH_URL"].split(",")
    return opensearch_nodes.urls
