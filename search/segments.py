"""Parallel segment writing: the fast path of a full build.

Whoosh's :class:`~whoosh.writing.SegmentWriter` sorts its postings through temporary files, one
pickle per posting, and when it writes them reads every posting's field length back from the
segment's length column, then hands the postings one at a time through several objects to the
codec. A full build needs none of it: :class:`PostingPool` keeps each term's postings in compact
arrays in memory, :class:`FastSegmentWriter` remembers the field lengths as documents are added
and writes each term's posting list and term info in one go, the bytes Whoosh's own writer
writes (tests/test_segments.py compares the files byte for byte).

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
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from itertools import chain
from multiprocessing.connection import Connection, wait
from operator import sub
from pickle import dumps
from typing import Any, Generic, TypeVar

from whoosh.codec.whoosh3 import (
    COMPRESSION_MIN_SIZE,
    WHOOSH3_HEADER_MAGIC,
    W3Codec,
    W3FieldWriter,
    W3TermInfo,
)
from whoosh.index import TOC, FileIndex, clean_files
from whoosh.system import pack_int, pack_long, pack_ushort
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import SegmentWriter

Item = TypeVar("Item")
Result = TypeVar("Result")
AddDocument = Callable[..., None]
# index_item(item, add_document) -> result: reads one item, adds its records, says what it did.
IndexItem = Callable[[Item, AddDocument], Result]

# Estimated bytes of pool memory per term and per posting, beyond the bytes of the term and
# of a posting's value (measured with tracemalloc on the benchmark corpus; see the tests).
_TERM_COST = 400
_POSTING_COST = 8
_LIST_VALUE_COST = 41  # a bytes object and its list slot
# The field length a posting writer is given: what the length column gives back for a byte.
_LENGTH_OF_BYTE = [0] + [byte_to_length(b) for b in range(1, 256)]


class WorkerLost(Exception):
    """An indexing worker ended without finishing its share (killed, out of memory)."""


# --- the posting pool -------------------------------------------------------------------------


class PostingPool:
    """Postings grouped by field and term in arrays, in memory, sorted only when written.

    Stands in for :class:`whoosh.writing.PostingPool` in a :class:`FastSegmentWriter`: the same
    ``add((fieldname, termbytes, docnum, weight, valuebytes))``, ``iter_postings()`` (sorted
    by field, term, document) and ``cleanup()``, without temporary files. A term holds its
    document numbers in an ``array('I')`` and weights in an ``array('f')`` (Whoosh keeps weights
    as 32-bit floats too); values are concatenated when the field's format gives them a fixed
    size (a frequency: 4 bytes) and kept one per posting otherwise (positions).

    >>> pool = PostingPool({"body": 4})
    >>> pool.add(("body", b"b", 0, 1.0, b"\\0\\0\\0\\1"))
    >>> pool.add(("body", b"a", 0, 2.0, b"\\0\\0\\0\\2"))
    >>> [(t, d, w) for _, t, d, w, _ in pool.iter_postings()]
    [(b'a', 0, 2.0), (b'b', 0, 1.0)]
    """

    def __init__(self, value_sizes: dict[str, int | None]) -> None:
        # field name -> fixed value size in bytes (0: no values), or None for variable values
        self.value_sizes = value_sizes
        # field name -> term bytes -> [docnums, weights, values]; values is a bytearray of
        # fixed-size values, a list of bytes (one per posting), or None (no values)
        self.fields: dict[str, dict[bytes, list[Any]]] = {}
        self.fieldnames: set[str] = set()
        self.size = 0  # estimated bytes held

    def add(self, item: tuple[str, bytes, int, float, bytes | None]) -> None:
        fieldname, tbytes, docnum, weight, vbytes = item
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
            self.fieldnames.add(fieldname)
        entry = terms.get(tbytes)
        if entry is None:
            entry = terms[tbytes] = self._new_entry(fieldname, tbytes)
        entry[0].append(docnum)
        entry[1].append(weight)
        values = entry[2]
        if values.__class__ is bytearray and vbytes and len(vbytes) == self.value_sizes[fieldname]:
            values += vbytes
            self.size += _POSTING_COST + len(vbytes)
        elif vbytes or values is not None:
            self._add_value(fieldname, entry, vbytes or b"")
        else:
            self.size += _POSTING_COST

    def _new_entry(self, fieldname: str, tbytes: bytes) -> list[Any]:
        size = self.value_sizes.setdefault(fieldname, None)
        self.size += _TERM_COST + len(tbytes)
        values = bytearray() if size else None if size == 0 else []
        return [array("I"), array("f"), values]

    def _add_value(self, fieldname: str, entry: list[Any], vbytes: bytes) -> None:
        """The slow path: a list of values, or a value that breaks the fixed-size layout."""
        values = entry[2]
        if values.__class__ is not list:  # to one value per posting, the new one excluded
            count = len(entry[0]) - 1
            if values is None:
                values = [b""] * count
            else:
                size = self.value_sizes[fieldname] or 1
                values = [bytes(values[i:i + size]) for i in range(0, len(values), size)]
                values += [b""] * (count - len(values))
            entry[2] = values
            self.size += _LIST_VALUE_COST * count
        values.append(vbytes)
        self.size += _POSTING_COST + _LIST_VALUE_COST + len(vbytes)

    def __len__(self) -> int:
        return sum(len(entry[0]) for terms in self.fields.values() for entry in terms.values())

    def sorted_fields(self) -> Iterator[tuple[str, Iterator[tuple[bytes, list[Any]]]]]:
        """``(fieldname, sorted (term, [docnums, weights, values]))`` in field order."""
        for fieldname in sorted(self.fields):
            terms = self.fields[fieldname]
            yield fieldname, ((t, terms[t]) for t in sorted(terms))

    def iter_postings(self) -> Iterator[tuple[str, bytes, int, float, bytes]]:
        """Every posting as Whoosh's pool gives it: sorted ``(field, term, doc, weight, value)``."""
        for fieldname, terms in self.sorted_fields():
            size = self.value_sizes.get(fieldname)
            for tbytes, (docs, weights, values) in terms:
                for i, docnum in enumerate(docs):
                    yield fieldname, tbytes, docnum, weights[i], _value(values, i, size)

    def cleanup(self) -> None:
        self.fields = {}
        self.size = 0


def _value(values: bytearray | list[bytes] | None, i: int, size: int | None) -> bytes:
    if values is None:
        return b""
    if values.__class__ is bytearray:
        return bytes(values[i * size:(i + 1) * size])  # type: ignore[operator]
    return values[i]  # type: ignore[return-value]


# --- the segment writer -----------------------------------------------------------------------


class _FieldLengths:
    """Each document's length in each scorable field, as the length byte Whoosh stores."""

    def __init__(self) -> None:
        self.columns: dict[str, bytearray] = {}

    def set(self, fieldname: str, docnum: int, length: int) -> None:
        column = self.columns.get(fieldname)
        if column is None:
            column = self.columns[fieldname] = bytearray()
        if len(column) < docnum:
            column += bytes(docnum - len(column))
        if len(column) == docnum:
            column.append(length_to_byte(length))
        else:
            column[docnum] = length_to_byte(length)

    def forget(self, docnum: int) -> None:
        for column in self.columns.values():
            del column[docnum:]

    def pad(self, doccount: int) -> None:
        for column in self.columns.values():
            if len(column) < doccount:
                column += bytes(doccount - len(column))

    def doc_field_length_reader(self, fieldname: str) -> Callable[[int], int | None]:
        """What ``FieldWriter.add_postings`` asks a per-document reader for (``lengths``)."""
        column = self.columns.get(fieldname)
        if column is None:
            return lambda docnum: 0
        return lambda docnum: _LENGTH_OF_BYTE[column[docnum]] or None


class _LengthRecordingPerDocWriter:
    """Passes everything to the codec's per-document writer, noting the field lengths."""

    def __init__(self, inner: Any, lengths: _FieldLengths) -> None:
        self._inner = inner
        self._lengths = lengths
        self._docnum = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def start_doc(self, docnum: int) -> None:
        self._inner.start_doc(docnum)
        self._docnum = docnum

    def add_field(self, fieldname: str, fieldobj: Any, value: Any, length: int) -> None:
        self._inner.add_field(fieldname, fieldobj, value, length)
        if length:
            self._lengths.set(fieldname, self._docnum, length)

    def add_column_value(self, fieldname: str, columnobj: Any, value: Any) -> None:
        self._inner.add_column_value(fieldname, columnobj, value)

    def finish_doc(self) -> None:
        self._inner.finish_doc()

    def cancel_doc(self) -> None:
        self._inner.cancel_doc()
        self._lengths.forget(self._docnum)


class FastSegmentWriter(SegmentWriter):
    """A :class:`SegmentWriter` for new segments, with postings in memory until they are written.

    Documents go in through Whoosh's own ``add_document``; only the pool
    (:class:`PostingPool`) and the writing of the postings differ: field lengths come from
    memory, and with Whoosh's default codec each term is written in one go (``_write_blocks``);
    with another codec every posting goes through ``FieldWriter.add_postings``. The result is
    the segment a plain writer makes from the same documents (a block's largest weight is the
    32-bit one, the same for whole-number weights). It never locks the index and never writes
    a table of contents: :func:`write_index` does, for all segments.
    """

    def __init__(self, ix: FileIndex, *, bulk: bool = True, **kwargs: Any) -> None:
        """``bulk`` False: every posting goes through Whoosh's ``FieldWriter.add_postings``."""
        super().__init__(ix, _lk=False, **kwargs)
        sizes = {}
        for name, field in self.schema.items():
            if field.indexed and field.format is not None:
                sizes[name] = field.format.fixed_value_size()
        self.pool = PostingPool(sizes)
        self.lengths = _FieldLengths()
        self.perdocwriter = _LengthRecordingPerDocWriter(self.perdocwriter, self.lengths)
        self.bulk = bulk

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        self.lengths.pad(self.docnum)
        fieldwriter = self.fieldwriter
        codec = self.codec
        if self.bulk and type(codec) is W3Codec and codec._inlinelimit <= 1 \
                and type(fieldwriter) is W3FieldWriter:
            self._write_blocks(fieldwriter)
        else:
            fieldwriter.add_postings(self.schema, self.lengths, self.pool.iter_postings())
        fieldwriter.close()

    def _write_blocks(self, fieldwriter: W3FieldWriter) -> None:
        """Write every term's postings and term info, as Whoosh's whoosh3 codec would.

        ``W3PostingsWriter`` takes postings one at a time and ``W3FieldWriter`` a term at a
        time through several objects; this writes the same bytes a term at a time: its posting
        list cut into blocks of ``blocklimit`` postings, each block its info (count, last
        document, largest weight, compression, smallest and largest length byte) and its data
        (delta-coded document numbers, weights and values, pickled and maybe compressed), the
        last block's length negative; then the term's row in the terms table.
        """
        schema = self.schema
        codec = self.codec
        for fieldname, terms in self.pool.sorted_fields():
            fieldwriter.start_field(fieldname, schema[fieldname])
            _write_terms(terms, fieldwriter, codec._blocklimit, codec._compression,
                         self.pool.value_sizes.get(fieldname),
                         self.lengths.columns.get(fieldname))
            fieldwriter.finish_field()

    def close_files(self) -> None:
        """Close what this writer has open, after a failure (errors here are not the news)."""
        for part in (self.perdocwriter, self.fieldwriter):
            if not part.is_closed:
                with suppress(Exception):
                    part.close()
        self.pool.cleanup()


def _write_terms(terms: Iterator[tuple[bytes, list[Any]]], fieldwriter: W3FieldWriter,
                 limit: int, compression: int, size: int | None,
                 column: bytearray | None) -> None:
    """Write the terms of the field ``fieldwriter`` has started (see ``_write_blocks``)."""
    postfile = fieldwriter._postfile
    add_term = fieldwriter._tindex.add
    prefix = pack_ushort(fieldwriter._fieldid)
    pack_terminfo = W3TermInfo._struct.pack
    lookup = column.__getitem__ if column is not None else None
    offset = postfile.tell()
    pending: list[bytes] = []  # posting lists not yet written, to write in larger pieces
    pending_bytes = 0
    for tbytes, (docs, weights, values) in terms:
        count = len(docs)
        if count == 1:  # most terms: one posting, one block
            docnum = docs[0]
            weight = weights[0]
            if size == 0:
                mini_values = None
            elif values.__class__ is bytearray:
                mini_values = bytes(values)
            elif size is None:
                mini_values = tuple(v for v in values if v)
            else:
                mini_values = b"".join(values)
            data = dumps(((docnum,), None if weight == 1.0 else weight, mini_values), 2)
            level = compression if len(data) >= COMPRESSION_MIN_SIZE else 0
            if level:
                data = zlib.compress(data, level)
            max_weight = weight if weight > 0 else 0
            min_length = max_length = lookup(docnum) if lookup is not None else 0
            info = dumps((1, docnum, max_weight, level, min_length, max_length), 2)
            written = b"".join((WHOOSH3_HEADER_MAGIC, pack_int(-len(info) - len(data)), info,
                                data))
            total_weight = 0 + weight
        else:
            written, total_weight, max_weight, min_length, max_length = _posting_list(
                docs, weights, values, limit, compression, size, lookup)
        pending.append(written)
        pending_bytes += len(written)
        if pending_bytes > 1 << 20:
            postfile.write(b"".join(pending))
            pending.clear()
            pending_bytes = 0
        add_term(prefix + tbytes,
                 pack_terminfo(False, total_weight, count, min_length, max_length, max_weight,
                               docs[0], docs[-1]) + pack_long(offset) + pack_int(len(written)))
        offset += len(written)
    postfile.write(b"".join(pending))


def _posting_list(docs: array[int], weights: array[float], values: Any, limit: int,
                  compression: int, size: int | None, lookup: Callable[[int], int] | None
                  ) -> tuple[bytes, float, float, int, int]:
    """One term's posting list in blocks; its total and largest weight, length bytes."""
    count = len(docs)
    parts = [WHOOSH3_HEADER_MAGIC]
    total_weight = 0
    max_weight = 0
    min_length = max_length = 0  # length bytes; 0: none
    for start in range(0, count, limit):
        end = min(start + limit, count)
        if end - start == count:
            ids, block_weights = docs, weights
        else:
            ids, block_weights = docs[start:end], weights[start:end]
        number = end - start
        first = block_weights[0]
        if block_weights.count(1.0) == number:
            mini_weights = None
        elif block_weights.count(first) == number:
            mini_weights = first
        else:
            mini_weights = tuple(block_weights)
        if size == 0:  # (the only case without a values container)
            mini_values = None
        elif values.__class__ is bytearray:
            mini_values = bytes(values[start * size:end * size])
        elif size is None:
            mini_values = tuple(v for v in values[start:end] if v)
        else:
            mini_values = b"".join(values[start:end])
        data = dumps((tuple(map(sub, ids, chain((0,), ids))), mini_weights, mini_values), 2)
        level = compression if len(data) >= COMPRESSION_MIN_SIZE else 0
        if level:
            data = zlib.compress(data, level)
        block_max = max(block_weights)
        if block_max < 0:  # Whoosh's largest weight starts at 0
            block_max = 0
        if lookup is not None:
            found = bytes(map(lookup, ids))
            low, high = min(found), max(found)
            if not low:
                low = min(found.replace(b"\0", b""), default=0)
        else:
            low = high = 0
        info = dumps((number, ids[-1], block_max, level, low, high), 2)
        length = len(info) + len(data)
        parts += (pack_int(-length if end == count else length), info, data)
        total_weight += sum(block_weights)
        if block_max > max_weight:
            max_weight = block_max
        if low and (not min_length or low < min_length):
            min_length = low
        if high > max_length:
            max_length = high
    return b"".join(parts), total_weight, max_weight, min_length, max_length


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
            self.segments.append(writer._finalize_segment())
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
            self._commit(segments)
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

    # the table of contents

    def _commit(self, segments: list[Any]) -> None:
        """Write the table of contents naming every segment; the index exists from here on."""
        info = self.ix._read_toc()
        generation = info.generation + 1
        TOC(info.schema, segments, generation).write(self.ix.storage, self.ix.indexname)
        clean_files(self.ix.storage, self.ix.indexname, generation, segments)


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
