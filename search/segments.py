"""Parallel segment writing: the fast path of a full build.

Each segment is written by :class:`~search.whoosh_adapter.FastSegmentWriter` (postings in
memory, each term written in one go: the bytes Whoosh's own writer writes).
:func:`write_index` runs the whole build: worker processes (forked, so the analysis
dictionaries loaded by the parent are shared) each read, analyze and write their share of the
items into segments of their own, starting a new segment when their pool outgrows its memory
budget; the parent hands out the items, collects each item's result and, when every worker has
finished, writes the table of contents naming all the segments. Nothing here knows the schema:
records go through Whoosh's own ``add_document`` (``field.index``, stored fields, columns).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from whoosh.index import FileIndex

from search.whoosh_adapter import FastSegmentWriter, commit_segments, finish_segment

Item = TypeVar("Item")
Result = TypeVar("Result")
AddDocument = Callable[..., None]
# index_item(item, add_document) -> result: reads one item, adds its records, says what it did.
IndexItem = Callable[[Item, AddDocument], Result]


class WorkerLost(Exception):
    """An indexing worker ended without finishing its share (killed, out of memory)."""


# --- a series of segments within one memory budget --------------------------------------------


class _SegmentSeries:
    """Writes documents into one segment after another, each closed at the memory budget."""

    def __init__(self, ix: FileIndex, budget_bytes: int, writer_options: dict[str, Any]) -> None:
        self.ix = ix
        self.budget = budget_bytes
        self.options = writer_options
        self.segments: list[Any] = []
        self.records = 0
        self.writer: FastSegmentWriter | None = None

    def add_document(self, **fields: Any) -> None:
        if self.writer is None:
            self.writer = FastSegmentWriter(self.ix, **self.options)
        self.writer.add_document(**fields)
        self.records += 1

    def check_budget(self) -> None:
        """Close the current segment if its postings outgrew the budget (between items)."""
        if self.writer is not None and self.writer.pool.size > self.budget:
            self.close_segment()

    def close_segment(self) -> None:
        writer, self.writer = self.writer, None
        if writer is None:
            return
        if writer.docnum == 0:
            writer.close_files()
            return
        try:
            self.segments.append(finish_segment(writer))
        except BaseException:
            writer.close_files()
            raise

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.close_files()
            self.writer = None


def _write_items(series: _SegmentSeries, next_item: Callable[[], Any], index_item: IndexItem,
                 report: Callable[[Any], None]) -> None:
    """Index items until ``next_item`` says there are no more (returns a sentinel ``_END``)."""
    add = series.add_document
    while (item := next_item()) is not _END:
        index, value = item
        report((index, index_item(value, add)))
        series.check_budget()
    series.close_segment()


_END = object()


# --- the build --------------------------------------------------------------------------------


class ParallelBuild(Generic[Item, Result]):
    """One full build of a new, empty index by :func:`write_index` (see there)."""

    def __init__(self, ix: FileIndex, items: Sequence[Item], index_item: IndexItem,
                 on_result: Callable[[int, Result], None], *, procs: int, budget_mb: float,
                 close_in_workers: Sequence[int] = (), writer_options: dict[str, Any]) -> None:
        self.ix = ix
        self.items = items
        self.index_item = index_item
        self.on_result = on_result
        self.procs = max(1, min(procs, len(items)))
        self.budget = int(budget_mb * 1024 * 1024)
        self.close_in_workers = list(close_in_workers)
        self.writer_options = writer_options

    def run(self) -> int:
        try:
            if self.procs == 1:
                segments, records = self._run_here()
            else:
                segments, records = self._run_workers()
            commit_segments(self.ix, segments)
        finally:  # the writers' shared folder of temporary files
            folder = getattr(self.ix.storage, "folder", None)
            if folder is not None:
                shutil.rmtree(os.path.join(folder, f"{self.ix.indexname}.tmp"),
                              ignore_errors=True)
        return records

    # in this process

    def _run_here(self) -> tuple[list[Any], int]:
        series = _SegmentSeries(self.ix, self.budget, self.writer_options)
        pending = iter(enumerate(self.items))
        try:
            _write_items(series, lambda: next(pending, _END), self.index_item,
                         lambda done: self.on_result(*done))
        except BaseException:
            series.abandon()
            raise
        return series.segments, series.records

    # in worker processes

    def _run_workers(self) -> tuple[list[Any], int]:
        context = multiprocessing.get_context("fork")
        workers: list[_Worker] = []
        try:
            for _ in range(self.procs):
                ours, theirs = context.Pipe()
                process = context.Process(target=self._work, args=(theirs, os.getpid()),
                                          daemon=True)
                with ctrl_c_held():
                    process.start()
                theirs.close()
                workers.append(_Worker(process, ours))
            return self._serve(workers)
        finally:
            for worker in workers:
                if worker.process.is_alive():
                    worker.process.terminate()
            for worker in workers:
                worker.process.join()
                worker.connection.close()

    def _serve(self, workers: list[_Worker]) -> tuple[list[Any], int]:
        """Hand out items (a few ahead per worker), collect results, until every worker is done."""
        queue = iter(range(len(self.items)))
        for worker in workers:
            for _ in range(2):
                worker.send_next(queue)
        segments: list[Any] = []
        records = 0
        running = {worker.connection: worker for worker in workers}
        sentinels = {worker.process.sentinel: worker for worker in workers}
        while running:
            ready = wait([*running, *(w.process.sentinel for w in running.values())])
            for handle in ready:
                worker = running.get(handle)  # type: ignore[call-overload]
                if worker is None:
                    continue
                message = worker.receive()
                kind = message[0]
                if kind == "result":
                    self.on_result(message[1], message[2])
                    worker.send_next(queue)
                elif kind == "done":
                    segments += message[1]
                    records += message[2]
                    del running[handle]  # type: ignore[arg-type]
                else:
                    raise message[1]
            for handle in ready:
                worker = sentinels.get(handle)  # type: ignore[call-overload]
                if worker is not None and worker.connection in running \
                        and not worker.connection.poll():
                    raise WorkerLost(worker.describe_end())
        return segments, records

    def _work(self, connection: Connection, parent: int) -> None:
        """A worker's life: index the items it is sent, then report its segments."""
        _leave_with_the_parent(parent, self.close_in_workers)
        series = _SegmentSeries(self.ix, self.budget, self.writer_options)

        def next_item() -> Any:
            index = connection.recv()
            return _END if index is None else (index, self.items[index])

        try:
            _write_items(series, next_item, self.index_item,
                         lambda done: connection.send(("result", *done)))
            connection.send(("done", series.segments, series.records))
        except BaseException as error:  # noqa: BLE001 - the parent reports it
            series.abandon()
            with suppress(Exception):
                connection.send(("error", _picklable(error)))
            os._exit(1)
        os._exit(0)


class _Worker:
    def __init__(self, process: multiprocessing.process.BaseProcess,
                 connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.stopped = False

    def send_next(self, queue: Iterator[int]) -> None:
        """Send the worker the position of its next item, or None once there are no more."""
        if self.stopped:
            return
        index = next(queue, None)
        try:
            self.connection.send(index)
        except OSError:  # a broken pipe: the worker is gone
            raise WorkerLost(self.describe_end()) from None
        self.stopped = index is None

    def receive(self) -> Any:
        try:
            return self.connection.recv()
        except (EOFError, OSError):
            raise WorkerLost(self.describe_end()) from None

    def describe_end(self) -> str:
        self.process.join(5)
        code = self.process.exitcode
        if code is not None and code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        else:
            how = f"exit status {code}"
        return f"indexing worker {self.process.pid} ended before finishing its share ({how})"


def _picklable(error: BaseException) -> BaseException:
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any failure to round-trip
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


@contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back while this process forks, and deliver it after.

    A KeyboardInterrupt raised inside ``os.fork``'s at-fork hooks (logging's, for one) is
    printed and ignored, so a Ctrl-C that lands while a worker is forked would be lost and the
    build would run on; blocked, the signal waits and interrupts the code after the fork.
    Children inherit the block: they ignore Ctrl-C anyway (the parent stops them).
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _leave_with_the_parent(parent: int, inherited: Sequence[int]) -> None:
    """Set up a forked worker: it holds none of ``inherited``, ignores Ctrl-C (the parent
    stops it), and dies with the parent (else it would be left blocked for ever)."""
    for fd in inherited:
        with suppress(OSError):
            os.close(fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        watched = libc.prctl(1, signal.SIGKILL) == 0  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        watched = False
    if os.getppid() != parent:  # the parent died before the worker could watch it
        os._exit(1)
    if not watched:
        def exit_with_the_parent() -> None:
            while os.getppid() == parent:
                time.sleep(0.2)
            os._exit(1)

        threading.Thread(target=exit_with_the_parent, daemon=True).start()


def write_index(ix: FileIndex, items: Sequence[Item], index_item: IndexItem,
                on_result: Callable[[int, Result], None], *, procs: int = 1,
                budget_mb: float = 96, close_in_workers: Sequence[int] = (),
                **writer_options: Any) -> int:
    """Index ``items`` into the new, empty index ``ix`` and commit it; return the record count.

    ``index_item(item, add_document)`` runs in a worker (in this process when ``procs`` is 1):
    it adds the item's records with ``add_document(**fields)`` and returns a picklable result,
    which ``on_result(position, result)`` receives in this process, in the order items finish.
    Each worker starts a new segment when its postings pass ``budget_mb`` (estimated).
    ``close_in_workers``: file descriptors (a lock) the workers must not keep open.
    ``writer_options`` go to :class:`FastSegmentWriter` (``compound=False``).

    Raises :class:`WorkerLost` if a worker dies, or the exception a worker raised.
    """
    build = ParallelBuild(ix, items, index_item, on_result, procs=procs, budget_mb=budget_mb,
                          close_in_workers=close_in_workers, writer_options=writer_options)
    return build.run()
