"""The index: builds, the atomic switch, killed and concurrent builds, faults, incremental updates.

Everything here is real: article files in tmp_path, Whoosh indexes on disk, ``zhsearch build``
subprocesses killed with real signals, a real tmpfs for a full disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import psutil
import pytest

from search.config import load_settings
from search.documents import (
    READERS,
    DocumentError,
    Ingested,
    Skipped,
    SourceFile,
    Unchanged,
    content_hash,
    parse_article,
    read_document,
)
from search.index import (
    BUILD_INFO,
    BUILDS,
    CURRENT,
    LOCK,
    IndexBusy,
    IndexNotFound,
    IndexUnusable,
    build,
    build_info,
    current_build,
    update,
)
from search.query import REFRESH_SECONDS, Searcher
from tests.conftest import (
    SEED,
    SEED_COPIES,
    SEED_ID,
    SIMPLIFIED_ARTICLES,
    fill_disk,
    total_hits,
    zhsearch_command,
    zhsearch_env,
)

QUERY = "棗莊"  # in the seed's source line and body: several paragraphs per copy



def _builds(index_dir: Path) -> set[str]:
    return {p.name for p in (index_dir / BUILDS).iterdir()}


def _current_name(index_dir: Path) -> str:
    return current_build(index_dir).name


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _article(title: str, *paragraphs: str) -> str:
    return "\n\n".join([title, *paragraphs]) + "\n"


# --- build ------------------------------------------------------------------------------------


def test_build_of_the_seed_counts_its_documents_and_paragraphs(seed_copy: Path,
                                                               tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    report = build([seed_copy], index_dir, procs=1)
    assert (report.documents, report.paragraphs) == (1, 8)  # the eight body paragraphs
    assert len(report.spam) == 1 and report.spam[0][0] == SEED_ID
    assert report.skipped == []
    assert report.characters > 0 and report.seconds > 0 and report.characters_per_second > 0
    info = build_info(current_build(index_dir))
    assert (info["documents"], info["paragraphs"]) == (1, 8)
    assert (index_dir / CURRENT).read_text(encoding="utf-8").strip().startswith(BUILDS + "/")


def test_shared_index_counts_match_the_articles(index_dir: Path, corpus_dir: Path) -> None:
    paths = sorted(corpus_dir.rglob("*.txt"))
    paragraphs = sum(len(read_document(p, p.stem).paragraphs) for p in paths)
    info = build_info(current_build(index_dir))
    assert (info["documents"], info["paragraphs"]) == (len(paths), paragraphs)
    assert len(paths) == 1 + len(SIMPLIFIED_ARTICLES)


def test_parallel_build_indexes_the_same_records_as_a_serial_one(twelve_seed_copies: Path,
                                                                 tmp_path: Path) -> None:
    source = twelve_seed_copies
    serial = build([source], tmp_path / "serial", procs=1)
    parallel = build([source], tmp_path / "parallel", procs=2)
    assert (parallel.documents, parallel.paragraphs) == (serial.documents, serial.paragraphs)
    assert total_hits(tmp_path / "parallel") == total_hits(tmp_path / "serial") > 0


def test_bad_files_are_skipped_with_reasons_and_the_rest_is_indexed(seed_copy: Path,
                                                                    tmp_path: Path) -> None:
    (seed_copy / "empty.txt").write_bytes(b"")
    (seed_copy / "binary.txt").write_bytes(bytes(range(256)) * 4)
    report = build([seed_copy], tmp_path / "index", procs=1)
    assert report.documents == 1
    reasons = {s.path.name: s.reason for s in report.skipped}
    assert set(reasons) == {"empty.txt", "binary.txt"}
    assert all(reason and "\n" not in reason for reason in reasons.values())


@pytest.mark.parametrize("bad_files", [{}, {"empty.txt": b"", "blank.txt": b"\n \n\t\n"}],
                         ids=["empty folder", "only bad files"])
def test_nothing_to_index_is_refused_and_the_live_index_stays(
        live_index: Path, tmp_path: Path, bad_files: dict[str, bytes]) -> None:
    source = tmp_path / "nothing"
    source.mkdir()
    for name, data in bad_files.items():
        (source / name).write_bytes(data)
    before, builds = total_hits(live_index), _builds(live_index)
    with pytest.raises(IndexUnusable, match="nothing to index") as raised:
        build([source], live_index, procs=1)
    assert "\n" not in str(raised.value)
    if bad_files:
        assert f"{len(bad_files)} skipped" in str(raised.value)
    assert _builds(live_index) == builds  # the failed build left nothing behind
    assert total_hits(live_index) == before


def test_missing_source_folder_is_refused_before_touching_the_index(tmp_path: Path) -> None:
    with pytest.raises(IndexUnusable, match="source folder not found"):
        build([tmp_path / "no-such-folder"], tmp_path / "index", procs=1)
    assert not (tmp_path / "index").exists()


def test_a_file_at_the_index_path_is_refused_and_left_alone(seed_copy: Path,
                                                            tmp_path: Path) -> None:
    target = _write(tmp_path / "index", "not an index")
    with pytest.raises(IndexUnusable, match="is a file"):
        build([seed_copy], target, procs=1)
    assert target.read_text(encoding="utf-8") == "not an index"


def test_a_foreign_folder_is_refused_and_left_alone(seed_copy: Path, tmp_path: Path) -> None:
    target = tmp_path / "documents"
    _write(target / "thesis.odt", "precious")
    with pytest.raises(IndexUnusable, match="not a zhsearch index"):
        build([seed_copy], target, procs=1)
    with pytest.raises(IndexNotFound):
        update([seed_copy], target)
    assert sorted(p.name for p in target.iterdir()) == ["thesis.odt"]  # not even a .lock


def test_immutable_index_folder_is_refused_and_the_live_index_stays(
        live_index: Path, seed_copy: Path, make_immutable) -> None:  # noqa: ANN001
    before, builds = total_hits(live_index), _builds(live_index)
    make_immutable(live_index)
    with pytest.raises(IndexUnusable, match="cannot write to the index folder"):
        build([seed_copy], live_index, procs=1)
    assert _builds(live_index) == builds
    assert total_hits(live_index) == before


def test_read_only_mount_is_refused_and_still_searchable(
        live_index: Path, seed_copy: Path, read_only_view) -> None:  # noqa: ANN001
    before = total_hits(live_index)
    view = read_only_view(live_index)
    with pytest.raises(IndexUnusable, match="Read-only file system"):
        build([seed_copy], view, procs=1)
    with pytest.raises(IndexUnusable, match="Read-only file system"):
        update([seed_copy], view)
    assert total_hits(view) == before  # a reader needs no write access


# Whoosh's writer, failing half-way through a commit, leaves its open files to the garbage
# collector; they are closed (and their folder removed) but Python reports them as unclosed.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("procs", [1, 2])
def test_full_disk_is_refused_and_the_live_index_stays(
        tiny_disk: Path, seed_copy: Path, twelve_seed_copies: Path, procs: int) -> None:
    index_dir = tiny_disk / "index"
    build([seed_copy], index_dir, procs=1)
    fill_disk(tiny_disk)
    before, builds = total_hits(index_dir), _builds(index_dir)
    # With two processes the copies are many enough for Whoosh to use a worker process.
    source = seed_copy if procs == 1 else twelve_seed_copies
    with pytest.raises(IndexUnusable, match="No space left on device"):
        build([source], index_dir, procs=procs)
    assert _builds(index_dir) == builds  # the half-written build was removed
    assert total_hits(index_dir) == before


# --- the atomic switch ------------------------------------------------------------------------


def test_searcher_keeps_answering_during_a_rebuild_and_follows_it(seed_copy: Path,
                                                                  tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([seed_copy], index_dir, procs=1)
    searcher = Searcher(index_dir, load_settings({}))
    old = searcher.search(QUERY).total
    assert old > 0 and searcher.search("瀑布觀測站").total == 0
    _write(seed_copy / "new.txt", _article("山區新建瀑布觀測站", "瀑布觀測站今日啟用。"))
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            build([seed_copy], index_dir, procs=1)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    builder = threading.Thread(target=rebuild)
    builder.start()
    answers = 0
    while builder.is_alive():
        assert searcher.search(QUERY).total == old  # same text in both builds
        answers += 1
        # CURRENT always names a complete build: a Whoosh index with its build.json.
        build_dir = current_build(index_dir)
        assert (build_dir / BUILD_INFO).exists()
    builder.join()
    assert not errors
    assert answers > 0
    time.sleep(REFRESH_SECONDS + 0.1)
    assert searcher.search("瀑布觀測站").total >= 1  # the new build, without a restart
    assert searcher.search(QUERY).total == old
    assert searcher.stats().documents == 2
    searcher.close()


def test_only_the_current_and_previous_builds_are_kept(seed_copy: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    names = []
    for _ in range(3):
        build([seed_copy], index_dir, procs=1)
        names.append(_current_name(index_dir))
    assert len(set(names)) == 3
    assert _builds(index_dir) == {names[-1], names[-2]}


def test_searcher_on_a_pruned_build_moves_to_the_current_one(seed_copy: Path,
                                                             tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([seed_copy], index_dir, procs=1)
    searcher = Searcher(index_dir, load_settings({}))
    old = searcher.search(QUERY).total
    _write(seed_copy / "new.txt", _article("瀑布觀測站", "瀑布觀測站今日啟用。"))
    build([seed_copy], index_dir, procs=1)
    build([seed_copy], index_dir, procs=1)  # the build the searcher opened is now deleted
    time.sleep(REFRESH_SECONDS + 0.1)
    assert searcher.search(QUERY).total == old
    assert searcher.search("瀑布觀測站").total >= 1
    searcher.close()


# --- killed, interrupted and concurrent builds ------------------------------------------------


def _start_build(source: Path, index_dir: Path) -> subprocess.Popen[str]:
    # A session of its own, like a command started from a shell: signals reach only what we aim.
    return subprocess.Popen(zhsearch_command("build", "--source", str(source), "--index",
                                             str(index_dir)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=zhsearch_env(), start_new_session=True)


def _wait_for_new_build_folder(index_dir: Path, known: set[str], proc: subprocess.Popen[str],
                               timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _builds(index_dir) <= known and proc.poll() is None:
        assert time.monotonic() < deadline, "the build never started writing"
        time.sleep(0.02)


def _family(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _assert_gone(processes: list[psutil.Process]) -> None:
    """The build's workers must not outlive it (they would hold the lock for ever)."""
    _, alive = psutil.wait_procs(processes, timeout=10)
    for process in alive:  # clean up before failing; these are our own build's workers
        process.kill()
    assert not alive, f"workers outlived their build: {[p.pid for p in alive]}"


def test_builds_killed_at_random_points_leave_the_previous_index(
        seed_copy: Path, seed_copies: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([seed_copy], index_dir, procs=1)
    seed_total = total_hits(index_dir)
    expected = seed_total
    rng = random.Random()
    for attempt in range(4):
        before_current, before_builds = _current_name(index_dir), _builds(index_dir)
        proc = _start_build(seed_copies, index_dir)
        if attempt % 2:  # a random point while it writes the new index
            _wait_for_new_build_folder(index_dir, before_builds, proc)
            time.sleep(rng.uniform(0, 1.5))
        else:  # a random point anywhere: start-up, reading, writing, switching
            time.sleep(rng.uniform(0.1, 4.0))
        workers = _family(proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        _assert_gone(workers)
        if _current_name(index_dir) != before_current:
            # It had switched before the kill: then the new build must be whole.
            assert _current_name(index_dir).endswith(f"-{proc.pid}")
            expected = SEED_COPIES * seed_total
        assert total_hits(index_dir) == expected, f"attempt {attempt}"
    # The next build is not refused, and clears what the killed ones left behind.
    previous = _current_name(index_dir)
    build([seed_copy], index_dir, procs=1)
    assert _builds(index_dir) == {_current_name(index_dir), previous}
    assert total_hits(index_dir) == seed_total


@pytest.fixture
def long_build_source(seed_copies: Path, tmp_path: Path) -> Path:
    """Ten times the copies: a build that lasts far longer than the tests let it run."""
    source = tmp_path / "long"
    for round_ in range(10):
        shutil.copytree(seed_copies, source / f"round_{round_}")
    return source


def test_ctrl_c_stops_a_build_and_leaves_the_previous_index(
        seed_copy: Path, long_build_source: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([seed_copy], index_dir, procs=1)
    before, builds = total_hits(index_dir), _builds(index_dir)
    proc = _start_build(long_build_source, index_dir)
    _wait_for_new_build_folder(index_dir, builds, proc)
    time.sleep(random.uniform(0.2, 1.0))
    workers = _family(proc)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C: the whole group
    _, stderr = proc.communicate(timeout=60)
    _assert_gone(workers)
    assert proc.returncode == 1, stderr
    assert stderr.strip().splitlines()[-1] == "Error: interrupted; the live index is unchanged"
    assert "Traceback" not in stderr
    assert _builds(index_dir) == builds  # no folder of the interrupted build
    assert total_hits(index_dir) == before


def _working(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    """The build's workers that have not ended (an ended one is a zombie until it is joined)."""
    alive = []
    for process in _family(proc):
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive


def test_a_killed_worker_fails_the_build_instead_of_switching_to_a_partial_index(
        seed_copy: Path, seed_copies: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([seed_copy], index_dir, procs=1)
    seed_total, builds = total_hits(index_dir), _builds(index_dir)
    source = tmp_path / "copies"
    shutil.copytree(seed_copies, source)
    # A named pipe that nobody writes to, listed first: the worker handed it waits in open()
    # for ever, so its share can never be finished, while the other worker reads every copy
    # and ends. The one worker still working is then killed mid-share, whatever the timing.
    os.mkfifo(source / "000_never_written.txt")
    proc = subprocess.Popen(zhsearch_command("build", "--source", str(source), "--index",
                                             str(index_dir), "--procs", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=zhsearch_env(), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(_family(proc)) < 2 or len(_working(proc)) != 1:
            assert proc.poll() is None, "the build ended with a worker waiting on the pipe"
            assert time.monotonic() < deadline, "the other worker never finished its share"
            time.sleep(0.05)
        (worker,) = _working(proc)
        worker.kill()  # as the kernel's OOM killer would
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # a failed wait above: do not leave the build blocked
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 1, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("Error: the build in ") and "is incomplete" in last, stderr
    assert f"indexing worker {worker.pid} ended before finishing its share (killed by SIGKILL)" \
        in last
    assert "Traceback" not in stderr
    assert _builds(index_dir) == builds
    assert total_hits(index_dir) == seed_total


def test_a_second_build_is_refused_while_one_runs_and_the_index_is_whole(
        seed_copy: Path, seed_copies: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([seed_copy], index_dir, procs=1)
    seed_total, builds = total_hits(index_dir), _builds(index_dir)
    first = _start_build(seed_copies, index_dir)
    _wait_for_new_build_folder(index_dir, builds, first)  # it holds the lock from here on
    second = _start_build(seed_copies, index_dir)
    _, refused = second.communicate(timeout=60)
    assert first.poll() is None, "the first build ended too soon for this test"
    assert second.returncode == 1
    assert refused.startswith("Error: another build or update is running on")
    assert refused.count("\n") == 1
    first_stderr = first.communicate(timeout=180)[1]
    assert first.returncode == 0, first_stderr
    assert len(_builds(index_dir)) == 2  # the first's and the previous one: none from the second
    assert total_hits(index_dir) == SEED_COPIES * seed_total


def test_build_and_update_are_refused_while_the_lock_is_held(live_index: Path,
                                                             seed_copy: Path) -> None:
    before = _builds(live_index)
    with open(live_index / LOCK, "a+") as holder:  # as another build process would hold it
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IndexBusy, match="another build or update is running"):
            build([seed_copy], live_index, procs=1)
        with pytest.raises(IndexBusy):
            update([seed_copy], live_index)
    assert _builds(live_index) == before
    build([seed_copy], live_index, procs=1)  # free again once the holder lets go


# --- update -----------------------------------------------------------------------------------


@pytest.fixture
def three_articles(seed_copy: Path) -> Path:
    _write(seed_copy / "a.txt", _article("甲文", "甲文提到紅杉林保護區。"))
    _write(seed_copy / "sub/b.txt", _article("乙文", "乙文提到珊瑚礁監測站。"))
    return seed_copy


def _add_change_remove(source: Path) -> None:
    _write(source / "c.txt", _article("丙文", "丙文提到沙漠氣象站。"))
    _write(source / "a.txt", _article("甲文", "甲文改寫為高山草甸。"))
    (source / "sub" / "b.txt").unlink()


# What each query finds once c.txt is added, a.txt rewritten and sub/b.txt removed.
AFTER_UPDATE = [("沙漠氣象站", 1), ("高山草甸", 1), ("紅杉林", 0), ("珊瑚礁", 0), ("甲文", 2)]


def test_update_applies_added_changed_and_removed_files(three_articles: Path,
                                                        tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([three_articles], index_dir, procs=1)
    built, seed_total = _current_name(index_dir), total_hits(index_dir)
    assert total_hits(index_dir, "紅杉林") == total_hits(index_dir, "珊瑚礁") == 1
    _add_change_remove(three_articles)

    report = update([three_articles], index_dir)

    assert (report.added, report.changed, report.removed) == (["c"], ["a"], ["sub/b"])
    assert (report.documents, report.paragraphs) == (2, 2)  # only the two re-read files
    assert _current_name(index_dir) == built  # updated in place, no new build
    for query, total in [*AFTER_UPDATE, (QUERY, seed_total)]:
        assert total_hits(index_dir, query) == total, query
    info = build_info(current_build(index_dir))
    assert (info["documents"], info["paragraphs"]) == (3, 8 + 2)


def test_open_searcher_sees_an_update_without_a_restart(three_articles: Path,
                                                        tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([three_articles], index_dir, procs=1)
    searcher = Searcher(index_dir, load_settings({}))
    assert searcher.search("紅杉林").total == 1
    _add_change_remove(three_articles)
    update([three_articles], index_dir)
    try:
        for query, total in AFTER_UPDATE:
            assert searcher.search(query).total == total, query
        assert searcher.article("sub/b") is None
    finally:
        searcher.close()


def test_update_with_nothing_changed_reports_nothing(three_articles: Path,
                                                     tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([three_articles], index_dir, procs=1)
    info = build_info(current_build(index_dir))
    os.utime(three_articles / "a.txt", (1, 1))  # a new mtime is not a change: the hash decides
    report = update([three_articles], index_dir)
    assert (report.added, report.changed, report.removed, report.skipped) == ([], [], [], [])
    assert report.documents == 0
    assert build_info(current_build(index_dir)) == info  # not even rewritten


def test_update_skips_a_bad_file_with_a_reason_and_applies_the_rest(three_articles: Path,
                                                                    tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([three_articles], index_dir, procs=1)
    (three_articles / "broken.txt").write_bytes(b"\x00\x01\x02" * 100)
    _write(three_articles / "c.txt", _article("丙文", "丙文提到沙漠氣象站。"))
    report = update([three_articles], index_dir)
    assert report.added == ["c"]
    assert [s.path.name for s in report.skipped] == ["broken.txt"]
    assert report.skipped[0].reason and "\n" not in report.skipped[0].reason
    assert total_hits(index_dir, "沙漠氣象站") == 1


def test_a_build_by_an_older_zhsearch_is_refused_until_rebuilt(three_articles: Path,
                                                              tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([three_articles], index_dir, procs=1)
    info_path = current_build(index_dir) / "build.json"
    info = json.loads(info_path.read_text(encoding="utf-8"))
    del info["format"]  # as the builds of earlier versions were written
    info_path.write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(IndexNotFound, match="built by an older zhsearch: run 'zhsearch build'"):
        Searcher(index_dir, load_settings({}))
    with pytest.raises(IndexNotFound, match="built by an older zhsearch"):
        update([three_articles], index_dir)
    build([three_articles], index_dir, procs=1)
    assert total_hits(index_dir, "紅杉林") == 1


def test_update_without_an_index_says_so_and_creates_nothing(seed_copy: Path,
                                                             tmp_path: Path) -> None:
    with pytest.raises(IndexNotFound, match="run 'zhsearch build' first"):
        update([seed_copy], tmp_path / "index")
    assert not (tmp_path / "index").exists()


def test_update_reindexes_only_the_changed_article(seed_copies: Path, tmp_path: Path) -> None:
    source = tmp_path / "copies"
    shutil.copytree(seed_copies, source)
    index_dir = tmp_path / "index"
    build([source], index_dir, procs=2)
    changed = source / "copy_007.txt"
    changed.write_text(SEED.read_text(encoding="utf-8") + "\n\n補記：瀑布觀測站。\n",
                       encoding="utf-8")
    report = update([source], index_dir)
    assert (report.added, report.changed, report.removed) == ([], ["copy_007"], [])
    assert report.documents == 1
    assert total_hits(index_dir, "瀑布觀測站") == 1
    info = build_info(current_build(index_dir))
    assert (info["documents"], info["paragraphs"]) == (SEED_COPIES, SEED_COPIES * 8 + 1)


# --- one ingestion path for build and update -------------------------------------------------


def _bad_files(source: Path) -> None:
    """Files that cannot be read as articles, one of each reason."""
    (source / "empty.txt").write_bytes(b"")
    (source / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (source / "undecodable.txt").write_bytes(b"\xff\xfe\xfd title \xff\xff")
    (source / "only_tags.txt").write_text("<br><br>\n\n<p></p>", encoding="utf-8")
    (source / "folder.txt").mkdir()
    (source / "dangling.txt").symlink_to(source / "nowhere.txt")


def test_build_and_update_skip_the_same_files_for_the_same_reasons(three_articles: Path,
                                                                   tmp_path: Path) -> None:
    index_dir = tmp_path / "updated"
    build([three_articles], index_dir, procs=1)
    _bad_files(three_articles)
    again = _write(tmp_path / "second" / "a.txt", _article("重複", "同名的文章。"))
    sources = [three_articles, again.parent]

    built = build(sources, tmp_path / "built", procs=2)
    updated = update(sources, index_dir)

    reasons = sorted((s.path.name, s.reason) for s in built.skipped)
    assert len(reasons) == 7
    assert ("a.txt", f"duplicate doc_id 'a' (already read from {three_articles / 'a.txt'})") \
        in reasons
    assert sorted((s.path.name, s.reason) for s in updated.skipped) == reasons
    assert (updated.added, updated.changed, updated.removed) == ([], [], [])
    for query in ("紅杉林", "珊瑚礁", "同名", QUERY):
        assert total_hits(index_dir, query) == total_hits(tmp_path / "built", query), query


def test_update_removes_an_article_whose_file_is_now_skipped_as_a_build_would(
        three_articles: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build([three_articles], index_dir, procs=1)
    (three_articles / "a.txt").write_bytes(b"\x00 binary now")
    report = update([three_articles], index_dir)
    assert [(s.path.name, s.reason) for s in report.skipped] == [("a.txt", "binary file")]
    assert report.removed == ["a"]
    assert total_hits(index_dir, "紅杉林") == 0 and total_hits(index_dir, "珊瑚礁") == 1
    rebuilt = tmp_path / "rebuilt"
    build([three_articles], rebuilt, procs=1)
    assert total_hits(index_dir, "甲文") == total_hits(rebuilt, "甲文") == 0


def _read_form_fed(file: SourceFile, handle: BinaryIO, *, repair: bool,
                   indexed: Mapping[str, str]) -> Iterator[Ingested]:
    """A second format, as a plug-in: several articles a file, separated by form feeds."""
    for number, part in enumerate(handle.read().split(b"\f"), 1):
        doc_id, digest = f"{file.file_id}/{number}", content_hash(part)
        if indexed.get(doc_id) == digest:
            yield Unchanged(file.path, doc_id)
            continue
        try:
            yield parse_article(part, file.path, doc_id, repair=repair, digest=digest)
        except DocumentError as error:
            yield Skipped(file.path, f"article {number}: {error}")


def test_a_format_is_a_reader_plugged_in_by_suffix(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setitem(READERS, ".ff", _read_form_fed)
    source = tmp_path / "source"
    articles = [_article("甲文", "甲文提到紅杉林保護區。"), _article("乙文", "乙文提到珊瑚礁。"),
                ""]
    _write(source / "pack.ff", "\f".join(articles))
    _write(source / "plain.txt", _article("丙文", "丙文提到沙漠氣象站。"))
    index_dir = tmp_path / "index"
    report = build([source], index_dir, procs=1)
    assert report.documents == 3
    assert [(s.path.name, s.reason) for s in report.skipped] == [("pack.ff",
                                                                  "article 3: empty file")]
    assert total_hits(index_dir, "紅杉林") == total_hits(index_dir, "珊瑚礁") == 1

    articles[1] = _article("乙文", "乙文改寫為高山草甸。")
    _write(source / "pack.ff", "\f".join(articles))
    report = update([source], index_dir)
    # Only the changed article is read again; the unchanged ones stay, none is removed.
    assert (report.added, report.changed, report.removed) == ([], ["pack/2"], [])
    assert report.documents == 1
    assert total_hits(index_dir, "珊瑚礁") == 0 and total_hits(index_dir, "高山草甸") == 1
    assert total_hits(index_dir, "紅杉林") == total_hits(index_dir, "沙漠氣象站") == 1
