"""Every use of Whoosh's internals, behind one door: fast posting and column reads, the fast
segment writer and its commit, the check for a newer commit.

Whoosh's matchers walk postings one document at a time in Python and score each through several
method calls; for a query that has to count every match and rank the best ten, reading each
term's posting list a whole block at a time is several times faster, and reading it from flat
arrays written beside the segment (:class:`FlatPostings`) tens of times faster again. Whoosh's
:class:`~whoosh.writing.SegmentWriter` sorts its postings through temporary files, one pickle
per posting; a full build keeps them in memory (:class:`PostingPool`) and writes each term's
posting list in one go (:class:`FastSegmentWriter`), the bytes Whoosh's own writer writes.

All of it relies on whoosh3's on-disk format and on private names (``SegmentReader._terms``,
``W3TermsReader._postfile``, ``VarBytesColumn.Reader._lengths``, ``W3FieldWriter._postfile``,
``TOC._filename``, ``SegmentWriter._finalize_segment``, ...): ``pyproject.toml`` pins whoosh3 to
the minor version tests/test_whoosh_adapter.py proves, byte for byte against Whoosh's own
writer and result for result against its own matchers. Everything outside this module uses
Whoosh's public API.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import pickle
import shutil
import struct
import time
import weakref
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from itertools import accumulate, chain
from operator import sub
from pathlib import Path
from pickle import dumps
from typing import Any, NamedTuple

import numpy as np
from whoosh.codec.whoosh3 import (
    COMPRESSION_MIN_SIZE,
    WHOOSH3_HEADER_MAGIC,
    W3Codec,
    W3FieldWriter,
    W3TermInfo,
    W3TermsReader,
)
from whoosh.columns import VarBytesColumn
from whoosh.index import TOC, FileIndex, clean_files
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import TermNotFound
from whoosh.system import pack_int, pack_long, pack_ushort
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import SegmentWriter

# Estimated bytes of pool memory per term and per posting, beyond the bytes of the term and
# of a posting's value (measured with tracemalloc on the benchmark corpus; see the tests).
_TERM_COST = 400
_POSTING_COST = 8
_LIST_VALUE_COST = 41  # a bytes object and its list slot
# The field length a posting writer is given: what the length column gives back for a byte.
_LENGTH_OF_BYTE = [0] + [byte_to_length(b) for b in range(1, 256)]


# --- reading ---------------------------------------------------------------------------------


# A term's postings over a whole index: its record numbers, ascending, and its frequency in
# each (``int64`` and ``float64`` arrays of one length).
Postings = tuple[np.ndarray, np.ndarray]
_NO_IDS = np.zeros(0, dtype=np.int64)


def read_postings(searcher, fieldname: str, text: str | bytes) -> Postings:  # noqa: ANN001
    """The records holding one term and its frequency in each, over every segment of
    ``searcher``, deleted records left out (``text`` as the field's ``to_bytes`` takes it,
    or the term's bytes)."""
    parts = list(_postings(searcher, fieldname, text))
    if not parts:
        return _NO_IDS, np.zeros(0, dtype=np.float64)
    if len(parts) == 1:
        return parts[0]
    return (np.concatenate([ids for ids, _ in parts]),
            np.concatenate([weights for _, weights in parts]))


def read_ids(searcher, fieldname: str, text: str | bytes) -> np.ndarray:  # noqa: ANN001
    """The record numbers holding one term, ascending (see :func:`read_postings`)."""
    return read_postings(searcher, fieldname, text)[0]


def _postings(searcher, fieldname: str, text: str | bytes) -> Iterator[Postings]:  # noqa: ANN001
    """Each segment's postings of a term (numbered in the whole index), in segment order."""
    key = (fieldname, text)
    for leaf, offset in searcher.leaf_searchers():
        reader = leaf.reader()
        segment = _SEGMENTS.get(reader)
        if segment is None:
            segment = _SEGMENTS[reader] = _Segment(reader)
        place = segment.place(reader, key)
        if place is None:  # not in this segment
            continue
        if isinstance(place, _FlatBounds):
            ids, weights = segment.flat.read(place)  # type: ignore[union-attr]
        elif isinstance(place, _Extent):  # no flat postings: decoded
            ids, weights = _blocks(reader._terms._postfile, *place)
        else:
            matcher = reader.postings(fieldname, text)
            if isinstance(matcher, FilterMatcher):  # deletions: filtered below
                matcher = matcher.child
            ids, weights = _one_at_a_time(matcher)
        if segment.deleted is not None:
            kept = ~np.isin(ids, segment.deleted, assume_unique=True)
            ids, weights = ids[kept], weights[kept]
        if len(ids):
            if offset:
                ids += offset  # (every path above made ids anew)
            yield ids, weights


class _Extent(NamedTuple):
    """Where a term's posting list lies in its segment's postings file."""

    offset: int
    length: int


class _FlatBounds(NamedTuple):
    """Where a term's posting list lies in its segment's flat postings (see FlatPostings)."""

    first: int
    end: int
    first_freq: int
    end_freq: int


# None: the segment lacks the term; _WHOOSH: read it through Whoosh's matcher (postings inlined
# in the terms table, or a reader other than whoosh3's).
_Place = _FlatBounds | _Extent | tuple[str] | None
_WHOOSH = ("whoosh",)


class _Segment:
    """What reading postings remembers of one segment reader: where each term's list is
    (finding it in the terms table costs more than reading a short list: a hash lookup
    through several seeks and reads, and an unpickling), and the deleted records."""

    def __init__(self, reader) -> None:  # noqa: ANN001 - a Whoosh segment reader
        self.places: dict[tuple[str, str | bytes], _Place] = {}
        self.flat: FlatPostings | None = None
        # its own record numbers deleted, ascending
        self.deleted = np.array(sorted(reader.deleted_docs_set), dtype=np.int64) \
            if reader.has_deletions() else None

    def place(self, reader, key: tuple[str, str | bytes]) -> _Place:  # noqa: ANN001
        """Where the term's list is, found once and remembered; an extent in the postings
        file is looked up in the flat postings again, which an update may write just after
        its commit (see flat_postings)."""
        place = self.places.get(key, _UNKNOWN)
        if place is _UNKNOWN:
            if len(self.places) >= _PLACES_PER_SEGMENT:
                self.places.clear()
            place = self.places[key] = _extent(reader, *key)
        if isinstance(place, _Extent):
            self.flat = flat_postings(reader)
            if self.flat is not None:
                place = self.places[key] = self.flat.locate(place.offset) or place
        return place


_SEGMENTS: weakref.WeakKeyDictionary[Any, _Segment] = weakref.WeakKeyDictionary()
_UNKNOWN = ("unknown",)
_PLACES_PER_SEGMENT = 1 << 16  # then forgotten and found again: a bound on memory


def _extent(reader, fieldname: str, text: str | bytes) -> _Place:  # noqa: ANN001
    """Where the term's posting list is in ``reader``'s postings file, None when the segment
    lacks the term, or _WHOOSH."""
    terms = getattr(reader, "_terms", None)
    if type(terms) is W3TermsReader and fieldname in reader.schema:
        try:
            info = terms.term_info(fieldname, reader.schema[fieldname].to_bytes(text))
        except TermNotFound:
            return None
        return _WHOOSH if info.is_inlined() else _info_extent(info)
    return _WHOOSH if (fieldname, text) in reader else None


def _info_extent(info: W3TermInfo) -> _Extent:
    """Where a term's posting list lies in its segment's postings file."""
    start, length = info.extent()
    # (whoosh3 3.54 keeps the length as a one-element tuple)
    return _Extent(start, length[0] if isinstance(length, tuple) else length)


_BLOCK_LENGTH = struct.Struct("!i")  # whoosh.system.pack_int


def _blocks(postfile, start: int, length: int) -> Postings:  # noqa: ANN001
    """The postings of a list read in one piece from ``postfile`` (a segment's own record
    numbers), decoded into arrays (see :func:`_block_parts`)."""
    id_parts, weight_parts = [], []
    for deltas, weights in _block_parts(postfile.get(start, length), start):
        # Each block's deltas start from 0: their running sum is the block's record numbers.
        id_parts.append(np.cumsum(np.array(deltas, dtype=np.int64)))
        weight_parts.append(np.array(weights, dtype=np.float64))
    if len(id_parts) == 1:
        return id_parts[0], weight_parts[0]
    return np.concatenate(id_parts), np.concatenate(weight_parts)


def _block_parts(data: bytes, start: int) -> Iterator[tuple[Any, Any]]:
    """Each block's id deltas and weights (one per posting), of the posting list ``data``
    (found at ``start``).

    whoosh3 writes a posting list as a header tag, then blocks, each its length (negative for
    the last), its pickled info (count, last id, largest weight, compression, length bytes)
    and its pickled, maybe compressed (id deltas, weights, values): the layout
    :func:`_write_terms` writes. Decoding it whole instead of through Whoosh's matcher (its
    per-block seeks and reads, its per-posting generators and method calls) is what makes
    reading posting lists cheap.
    """
    if data[:len(WHOOSH3_HEADER_MAGIC)] != WHOOSH3_HEADER_MAGIC:
        raise ValueError(f"no posting list at offset {start} of the postings file")
    position = len(WHOOSH3_HEADER_MAGIC)
    while True:
        size = _BLOCK_LENGTH.unpack_from(data, position)[0]
        position += _BLOCK_LENGTH.size
        end = position + abs(size)
        block = io.BytesIO(data[position:end])
        compression = pickle.Unpickler(block).load()[3]
        packed = block.read()
        deltas, weights, _ = pickle.loads(zlib.decompress(packed) if compression else packed)
        if weights is None or isinstance(weights, float):  # (one weight for the block)
            weights = (1.0 if weights is None else weights,) * len(deltas)
        yield deltas, weights
        if size < 0:
            break
        position = end


def _one_at_a_time(matcher) -> Postings:  # noqa: ANN001
    """Any other matcher's postings, one at a time."""
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    return np.array(ids, dtype=np.int64), np.array(weights, dtype=np.float64)


# --- flat postings ---------------------------------------------------------------------------

# A segment's posting lists as flat arrays, in a file beside the segment's files (named after
# it, so Whoosh deletes it with them). A list is found by its start offset in the segment's
# postings file, which the terms table gives (_extent), and read as two slices of
# memory-mapped arrays: 50,000 postings in 0.06 ms, where decoding whoosh3's pickled blocks
# takes 5.6 ms, the cost that grew with the archive. Memory-mapped, so that a searcher reads
# only the pages of the lists a query asks for and its memory does not grow with the archive;
# keyed by offset rather than by term, so that no second terms table is needed. The file
# (``<segment>.flat_postings``) holds four arrays in .npy form, back to back, each at a multiple
# of 64 bytes: one file and one map per segment (a map holds a file descriptor, and a searcher
# of a large archive already holds about nine per segment), put in place in one rename.
#   ids     uint32           the lists' record numbers (the segment's), list after list
#   freqs   float32          their frequencies, only for the lists with one other than 1.0
#   bounds  int64 (n + 1, 2) where list i begins in ids and in freqs; row n: their sizes
#   starts  int64 (n,)       each list's start offset in the postings file, ascending
# Whoosh keeps weights as 32-bit floats, so float32 is exact; a list of ones (every list of the
# existence fields, most of the word field's) holds none, which keeps the file about the size
# of the postings file (3.5 M postings at 1x: 14 MB of ids, 2.4 MB of frequencies, where all
# frequencies would add another 14 MB).
_FLAT = "flat_postings"
_ALIGN = 64
# What the posting pool's array("I") and array("f") hold, so their buffers are written as is.
_ID_TYPE = np.dtype("I")
_FREQ_TYPE = np.dtype("f")


class FlatPostings:
    """A segment's posting lists as memory-mapped arrays (see above)."""

    def __init__(self, ids: np.ndarray, freqs: np.ndarray, bounds: np.ndarray,
                 starts: np.ndarray) -> None:
        self.ids, self.freqs, self.bounds, self.starts = ids, freqs, bounds, starts

    @classmethod
    def open(cls, reader) -> FlatPostings | None:  # noqa: ANN001 - a Whoosh segment reader
        """The segment's flat postings, or None where it has none (or they are damaged)."""
        path = _derived_path(reader, _FLAT, ".{name}")
        if path is None or not os.path.exists(path):
            return None
        try:
            with open(path, "rb") as file:
                data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            ids, freqs, bounds, starts = _npy_arrays(data, 4)
        except (OSError, ValueError):
            return None
        if ids.dtype != _ID_TYPE or freqs.dtype != _FREQ_TYPE or starts.ndim != 1 \
                or bounds.shape != (len(starts) + 1, 2) \
                or bounds[-1].tolist() != [len(ids), len(freqs)]:
            return None
        return cls(ids, freqs, bounds, starts)

    def locate(self, start: int) -> _FlatBounds | None:
        """Where the list at ``start`` in the postings file lies in ``ids`` and ``freqs``, or
        None if none is there."""
        starts = self.starts
        i = int(starts.searchsorted(start))
        if i == len(starts) or starts[i] != start:
            return None
        (first, first_freq), (end, end_freq) = self.bounds[i:i + 2].tolist()
        return _FlatBounds(first, end, first_freq, end_freq)

    def read(self, bounds: _FlatBounds) -> Postings:
        """The postings of the list at ``bounds`` (see :meth:`locate`)."""
        first, end, first_freq, end_freq = bounds
        ids = self.ids[first:end].astype(np.int64)
        if end_freq > first_freq:
            return ids, self.freqs[first_freq:end_freq].astype(np.float64)
        return ids, np.ones(end - first)


def _npy_arrays(data: Any, count: int) -> list[np.ndarray]:
    """The first ``count`` arrays of ``data``, .npy files back to back at multiples of
    ``_ALIGN`` bytes, as read-only views of it (ValueError if it is too short)."""
    arrays, position = [], 0
    for _ in range(count):
        header = io.BytesIO(data[position:position + 4096])  # (ours are 128 bytes)
        if np.lib.format.read_magic(header) != (1, 0):
            raise ValueError("not a .npy array")
        shape, _, dtype = np.lib.format.read_array_header_1_0(header)
        offset = position + header.tell()
        size = int(np.prod(shape))
        arrays.append(np.frombuffer(data, dtype, size, offset).reshape(shape))
        position = -(-(offset + size * dtype.itemsize) // _ALIGN) * _ALIGN
    return arrays


# Each segment reader's flat postings, opened once; or, for a segment without them, when that
# was last seen (an update writes its new segments' files just after its commit, when a
# searcher may already have opened them: looked for again after a second).
_FLATS: weakref.WeakKeyDictionary[Any, FlatPostings | float] = weakref.WeakKeyDictionary()
_FLAT_RECHECK = 1.0


def flat_postings(reader) -> FlatPostings | None:  # noqa: ANN001 - a Whoosh segment reader
    """The segment's flat postings, memory-mapped, or None: its lists are decoded instead."""
    held = _FLATS.get(reader)
    if isinstance(held, FlatPostings):
        return held
    now = time.monotonic()
    if held is not None and now - held < _FLAT_RECHECK:
        return None
    flat = FlatPostings.open(reader)
    _FLATS[reader] = flat if flat is not None else now
    return flat


def save_flat_postings(reader) -> None:  # noqa: ANN001 - a Whoosh reader
    """Write the flat postings of every segment of ``reader`` that has none, decoding its
    posting lists: the segments an update wrote or merged, and those of an index built before
    flat postings (a build's writer writes its own, see :class:`FastSegmentWriter`)."""
    for leaf, _ in reader.leaf_readers():
        terms = getattr(leaf, "_terms", None)
        path = _derived_path(leaf, _FLAT, ".{name}")
        if type(terms) is not W3TermsReader or path is None or os.path.exists(path):
            continue
        extents = sorted(_info_extent(info) for _, info in terms.items()
                         if not info.is_inlined())
        writer = FlatPostingsWriter(path)
        postfile = terms._postfile
        try:
            for start, length in extents:
                # (into the pool's kinds of arrays, not NumPy's: most lists are a posting or
                # two, and decoding every list of a segment is what an update waits for)
                ids, freqs = array("I"), array("f")
                for deltas, weights in _block_parts(postfile.get(start, length), start):
                    ids.extend(accumulate(deltas))  # (each block's deltas start from 0)
                    freqs.extend(weights)
                writer.add(start, ids, None if freqs.count(1.0) == len(freqs) else freqs)
            writer.finish()
        except BaseException:
            writer.abort()
            raise


class FlatPostingsWriter:
    """Writes a segment's flat postings to ``path``, a list at a time in the order of its
    postings file."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._tmp, self._freqs_tmp = f"{path}.tmp", f"{path}.freqs.tmp"
        self._starts = array("q")
        self._bounds = array("q", (0, 0))
        self._ids = _NpyStream(self._tmp, _ID_TYPE)
        self._freqs = _NpyStream(self._freqs_tmp, _FREQ_TYPE)

    @classmethod
    def for_segment(cls, folder: str, segment: Any) -> FlatPostingsWriter:
        """The writer of a new segment's flat postings (in the index folder ``folder``)."""
        return cls(os.path.join(folder, segment.make_filename(f".{_FLAT}")))

    def add(self, start: int, ids: Any, freqs: Any) -> None:
        """The list at ``start`` in the postings file: its record numbers and frequencies
        (buffers of ``_ID_TYPE`` and ``_FREQ_TYPE``), ``freqs`` None when all are 1.0."""
        self._starts.append(start)
        self._ids.write(ids, len(ids))
        if freqs is not None:
            self._freqs.write(freqs, len(freqs))
        self._bounds.append(self._ids.count)
        self._bounds.append(self._freqs.count)

    def finish(self) -> None:
        """Complete the file (the frequencies, bounds and starts after the ids) and put it in
        place."""
        self._ids.close()
        self._freqs.close()
        with open(self._tmp, "ab") as file:
            _align(file)
            with open(self._freqs_tmp, "rb") as freqs:
                shutil.copyfileobj(freqs, file)
            _align(file)
            np.save(file, np.frombuffer(self._bounds, dtype=np.int64).reshape(-1, 2))
            _align(file)
            np.save(file, np.frombuffer(self._starts, dtype=np.int64))
        os.remove(self._freqs_tmp)
        os.replace(self._tmp, self._path)

    def abort(self) -> None:
        """Remove what was written (after a failure)."""
        for stream in (self._ids, self._freqs):
            with suppress(OSError):
                stream.close()
        for tmp in (self._tmp, self._freqs_tmp):
            with suppress(OSError):
                os.remove(tmp)


def _align(file: Any) -> None:
    """Pad ``file`` (open for appending) to a multiple of ``_ALIGN`` bytes."""
    file.write(bytes(-file.tell() % _ALIGN))


class _NpyStream:
    """A one-dimensional .npy file written piece by piece: its length, in the header, is
    written again when it is closed (numpy pads the header so that the length can grow)."""

    def __init__(self, path: str, dtype: np.dtype) -> None:
        self._header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
        self.count = 0
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._write_header()
        self._data_start = self._file.tell()
        self._pending: list[Any] = []  # buffers not yet written, to write in larger pieces
        self._pending_count = 0

    def _write_header(self) -> None:
        np.lib.format.write_array_header_1_0(self._file, {**self._header,
                                                          "shape": (self.count,)})

    def write(self, values: Any, count: int) -> None:
        self._pending.append(values)
        self.count += count
        self._pending_count += count
        if self._pending_count > 1 << 18 or len(self._pending) > 4096:
            self._flush()

    def _flush(self) -> None:
        self._file.write(b"".join(self._pending))
        self._pending.clear()
        self._pending_count = 0

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self._flush()
            self._file.seek(0)
            self._write_header()
            if self._file.tell() != self._data_start:
                raise ValueError("the .npy header outgrew its room")
        finally:
            self._file.close()


def read_column(reader, fieldname: str) -> list[bytes]:  # noqa: ANN001 - a Whoosh reader
    """Every record's raw value of a variable-bytes column, in record order.

    Whoosh reads a column value by value (a seek and a read each, 2.5 µs); this reads each
    segment's values in one piece and slices them, about 20 times faster, falling back to
    Whoosh's way for any other kind of column reader.
    """
    values: list[bytes] = []
    for leaf, _ in reader.leaf_readers():
        column = leaf.column_reader(fieldname, translate=False)
        if not isinstance(column, VarBytesColumn.Reader):
            values.extend(column)
            continue
        # whoosh3's VarBytesColumn.Reader: values stored back to back from _basepos, with
        # their lengths in _lengths.
        lengths = column._lengths
        data = column._dbfile.get(column._basepos, sum(lengths))
        start = 0
        for length in lengths:
            values.append(data[start : start + length])
            start += length
    return values


# A segment's raw values of one variable-bytes column: (data, starts, lengths), the values
# back to back in ``data`` (the column's file, memory-mapped), each record's at ``starts[d]``.
ColumnPart = tuple[Any, np.ndarray, np.ndarray]


def column_parts(reader, fieldname: str) -> list[ColumnPart]:  # noqa: ANN001 - a Whoosh reader
    """Each segment's values of a variable-bytes column, in record order, without reading them.

    whoosh3 writes each column of a segment to a file of its own (values back to back, then
    their lengths and offsets); mapping that file lets a searcher read a record's value when a
    query needs it instead of holding every value in memory. Any other kind of column reader
    is read whole.
    """
    parts: list[ColumnPart] = []
    for leaf, _ in reader.leaf_readers():
        column = leaf.column_reader(fieldname, translate=False)
        if isinstance(column, VarBytesColumn.Reader):
            lengths = np.array(column._lengths, dtype=np.int64)
            starts = np.array(column._offsets, dtype=np.int64) + column._basepos
            fileno = getattr(column._dbfile, "fileno", None)
            if fileno is not None and int(lengths.sum()):
                data: Any = mmap.mmap(fileno(), 0, access=mmap.ACCESS_READ)
            else:  # not a file (a RAM storage), or no values at all
                data = column._dbfile.get(0, column._basepos + int(lengths.sum()))
        else:
            values = list(column)
            lengths = np.array([len(v) for v in values], dtype=np.int64)
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
            data = b"".join(values)
        parts.append((data, starts, lengths))
    return parts


# A per-segment array derived from a segment's columns, in the build folder beside the
# segment's files: named after the segment, so Whoosh deletes it with the segment.
_DERIVED = ".{name}.npy"


def derived_arrays(reader, name: str, make: Callable[[ColumnPart], np.ndarray],  # noqa: ANN001
                   column: str, save: bool = False) -> list[np.ndarray]:
    """Each segment's array ``name``, made by ``make`` from the segment's part of ``column``
    where no file holds it yet (and then saved, with ``save``)."""
    arrays = []
    for (leaf, _), part in zip(reader.leaf_readers(), column_parts(reader, column),
                               strict=True):
        path = _derived_path(leaf, name)
        made = None
        if path is not None and os.path.exists(path):
            with suppress(OSError, ValueError):
                made = np.load(path)
        if made is None or len(made) != len(part[1]):
            made = make(part)
            if save and path is not None:
                tmp = f"{path}.tmp.npy"
                np.save(tmp, made)
                os.replace(tmp, path)
        arrays.append(made)
    return arrays


def _derived_path(leaf, name: str, suffix: str = _DERIVED) -> str | None:  # noqa: ANN001
    """Where a file of ours beside a segment's files goes (named like them, so Whoosh deletes
    it with the segment); None for a segment not in a folder."""
    storage, segment = getattr(leaf, "_storage", None), getattr(leaf, "_segment", None)
    folder = getattr(storage, "folder", None)
    if folder is None or segment is None:
        return None
    return os.path.join(folder, segment.make_filename(suffix.format(name=name)))


def term_counts(reader, fieldname: str, save: bool = False) -> Counter[str]:  # noqa: ANN001
    """How many records hold each term of ``fieldname``, summed segment by segment.

    Whoosh's reader of several segments merges their term tables term by term (seven times
    slower); a segment never changes, so its counts are kept beside it (written with ``save``)
    and an update reads only its new segment's table.
    """
    counts: Counter[str] = Counter()
    for leaf, _ in reader.leaf_readers():
        path = _derived_path(leaf, fieldname, ".{name}_counts.json")
        held = None
        if path is not None and os.path.exists(path):
            with suppress(OSError, ValueError):
                held = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(held, dict):
            # (the document frequency a segment wrote; deletions do not change it)
            held = {term.decode("utf-8"): info.doc_frequency()
                    for term, info in leaf.iter_field(fieldname)}
            if save and path is not None:
                tmp = f"{path}.tmp"
                Path(tmp).write_text(json.dumps(held, ensure_ascii=False), encoding="utf-8")
                os.replace(tmp, path)
        counts.update(held)
    return counts


def deleted_records(reader) -> set[int]:  # noqa: ANN001 - a Whoosh reader
    """The record numbers of ``reader`` (every segment) that are deleted."""
    deleted: set[int] = set()
    for leaf, offset in reader.leaf_readers():
        if leaf.has_deletions():
            # whoosh3's SegmentReader holds them as a set: one call, where is_deleted() for
            # every record of a large segment takes a second.
            deleted.update(d + offset for d in leaf.deleted_docs_set)
    return deleted


def next_commit_path(index: FileIndex, searcher) -> str:  # noqa: ANN001 - a Whoosh searcher
    """The file the next commit after ``searcher``'s generation writes (its table of contents):
    looking for it is one stat, where Whoosh's ``up_to_date()`` lists the folder (0.1 ms)."""
    return os.path.join(index.storage.folder, TOC._filename(
        index.indexname, searcher.reader().generation() + 1))


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
        last block's length negative; then the term's row in the terms table. The same
        lists go to the segment's flat postings (:class:`FlatPostingsWriter`), from the
        pool's arrays as they are.
        """
        schema = self.schema
        codec = self.codec
        # (a compound segment's readers see no folder: its lists are decoded)
        folder = getattr(self.storage, "folder", None)
        flat = FlatPostingsWriter.for_segment(folder, self.newsegment) \
            if folder is not None and not self.compound else None
        try:
            for fieldname, terms in self.pool.sorted_fields():
                fieldwriter.start_field(fieldname, schema[fieldname])
                _write_terms(terms, fieldwriter, codec._blocklimit, codec._compression,
                             self.pool.value_sizes.get(fieldname),
                             self.lengths.columns.get(fieldname), flat)
                fieldwriter.finish_field()
            if flat is not None:
                flat.finish()
        except BaseException:
            if flat is not None:
                flat.abort()
            raise

    def close_files(self) -> None:
        """Close what this writer has open, after a failure (errors here are not the news)."""
        for part in (self.perdocwriter, self.fieldwriter):
            if not part.is_closed:
                with suppress(Exception):
                    part.close()
        self.pool.cleanup()


def _write_terms(terms: Iterator[tuple[bytes, list[Any]]], fieldwriter: W3FieldWriter,
                 limit: int, compression: int, size: int | None,
                 column: bytearray | None, flat: FlatPostingsWriter | None) -> None:
    """Write the terms of the field ``fieldwriter`` has started (see ``_write_blocks``), and
    their lists to ``flat``."""
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
            ones = weight == 1.0
        else:
            written, total_weight, max_weight, min_length, max_length = _posting_list(
                docs, weights, values, limit, compression, size, lookup)
            ones = weights.count(1.0) == count
        if flat is not None:
            flat.add(offset, docs, None if ones else weights)
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


# --- committing ------------------------------------------------------------------------------


def finish_segment(writer: FastSegmentWriter) -> Any:
    """Write the writer's segment and return it (a Whoosh segment), without committing."""
    return writer._finalize_segment()


def commit_segments(ix: FileIndex, segments: list[Any]) -> None:
    """Write the table of contents naming ``segments`` as the index's next generation, and
    remove files no generation names; the index holds them from here on."""
    info = ix._read_toc()
    generation = info.generation + 1
    TOC(info.schema, segments, generation).write(ix.storage, ix.indexname)
    clean_files(ix.storage, ix.indexname, generation, segments)
