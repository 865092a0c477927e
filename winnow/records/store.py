"""Read records kept off the heap: a list of Records that costs one offset each in memory.

A million abstracts are 1.5 GB of text, and a Python ``Record`` holding one costs
2.6 KB; a list of them could not fit the 2 GB a million-record review may use. The
store writes each record, as the reader finishes it, to an anonymous temporary file
(in memory until it passes ``SPILL_BYTES``, so a review of thousands never touches
the disk) and keeps only where each one ends. Reading one back is a ``pread`` (a
seek and a read while still in memory) and a ``marshal.loads``, served by the
operating system's page cache. ``pread`` moves no file offset, so a child forked to
render prompts ahead (``winnow.prefetch``) reads the same file beside this process.
The file has no name, so nothing is left behind, even after ``kill -9``.

It behaves as a read-only ``Sequence[Record]``: indexing, slicing, ``len`` and
iteration give Records equal to the ones written, with ``duplicates`` as set last.
"""

from __future__ import annotations

import marshal
import os
import tempfile
import threading
import weakref
from array import array
from collections.abc import Iterator, Sequence
from typing import overload

from winnow.errors import RecordParseError
from winnow.records.model import Record

SPILL_BYTES = 64 * 1024 * 1024
_BLOCK_BYTES = 1 << 20


class RecordStore(Sequence[Record]):
    """Records in the order they were added, kept in a temporary file; see the module docstring."""

    def __init__(self, path: str | None = None, *, spill_bytes: int | None = None) -> None:
        self.path = path
        limit = SPILL_BYTES if spill_bytes is None else spill_bytes
        self._file = tempfile.SpooledTemporaryFile(max_size=limit)  # noqa: SIM115 - lives as long as the store
        weakref.finalize(self, self._file.close)
        self._ends = array("Q")
        self._duplicates: dict[int, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self._size = 0
        self._limit = limit
        # Set once the file is on disk: reads then go to the descriptor by position.
        self._fd: int | None = None
        self._unflushed = False
        kept = weakref.ref(self)
        # A forked child must not inherit unwritten bytes: it would write them to the shared file too.
        os.register_at_fork(before=lambda: _flush(kept()))

    def append(self, record: Record) -> int:
        """Add a record; returns its index.

        Raises:
            RecordParseError: The temporary folder refused the write (full disk).
        """
        data = marshal.dumps(
            (
                record.record_id,
                record.title,
                record.abstract,
                record.year,
                record.doi,
                record.pmid,
                record.authors,
                record.journal,
                record.keywords,
                record.source,
            )
        )
        with self._lock:
            try:
                self._file.seek(self._size)
                self._file.write(data)
            except OSError as exc:
                raise RecordParseError(
                    self.path,
                    f"cannot keep records in the temporary folder {tempfile.gettempdir()}"
                    f" ({exc.strerror or exc}); set TMPDIR to a folder with room",
                ) from exc
            self._size += len(data)
            self._ends.append(self._size)
            if self._fd is not None:
                self._unflushed = True
            elif self._size > self._limit:
                self._fd = self._file.fileno()  # rolls the file over to disk, if it has not yet
                self._unflushed = True
            if record.duplicates:
                self._duplicates[len(self._ends) - 1] = tuple(record.duplicates)
            return len(self._ends) - 1

    def set_duplicates(self, index: int, ids: tuple[str, ...]) -> None:
        """Record that the record at ``index`` absorbed these records (same paper, other ids)."""
        self._duplicates[index] = ids

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...

    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        if isinstance(index, slice):
            return list(self.select(range(len(self))[index]))
        if index < 0:
            index += len(self._ends)
        if not 0 <= index < len(self._ends):
            raise IndexError("record index out of range")
        start = self._ends[index - 1] if index else 0
        return self._record(index, self._read(start, self._ends[index]))

    def __iter__(self) -> Iterator[Record]:
        """Every record in order, read a block at a time."""
        index = 0
        total = len(self._ends)
        while index < total:
            start = self._ends[index - 1] if index else 0
            last = index
            while last + 1 < total and self._ends[last + 1] - start <= _BLOCK_BYTES:
                last += 1
            block = self._read(start, self._ends[last])
            for i in range(index, last + 1):
                begin = (self._ends[i - 1] if i else 0) - start
                yield self._record(i, block[begin : self._ends[i] - start])
            index = last + 1

    def select(self, indices: Sequence[int]) -> RecordSelection:
        """The records at ``indices``, in that order, still kept in this store."""
        return RecordSelection(self, indices)

    def _read(self, start: int, end: int) -> bytes:
        """The bytes from ``start`` to ``end``, read by position once the file is on disk."""
        if self._fd is None:
            with self._lock:
                self._file.seek(start)
                return self._file.read(end - start)
        self._flush()
        data = os.pread(self._fd, end - start, start)
        while len(data) < end - start:  # a short read: go on where it stopped
            more = os.pread(self._fd, end - start - len(data), start + len(data))
            if not more:
                raise RecordParseError(self.path, f"the kept records ended early: {end - start} bytes at {start}")
            data += more
        return data

    def _flush(self) -> None:
        if self._unflushed:
            with self._lock:
                self._file.flush()
                self._unflushed = False

    def _record(self, index: int, data: bytes) -> Record:
        fields = marshal.loads(data)
        return Record(*fields, duplicates=self._duplicates.get(index, ()))


def _flush(store: RecordStore | None) -> None:
    if store is not None:
        store._flush()


class RecordSelection(Sequence[Record]):
    """Some of a store's records (``--sample``, ``--limit``), without copying them out."""

    def __init__(self, store: RecordStore, indices: Sequence[int]) -> None:
        self._store = store
        self._indices = indices

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...

    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        if isinstance(index, slice):
            return [self._store[i] for i in self._indices[index]]
        return self._store[self._indices[index]]

    def __iter__(self) -> Iterator[Record]:
        if isinstance(self._indices, range) and self._indices.step == 1 and self._indices.start == 0:
            for position, record in enumerate(self._store):
                if position >= self._indices.stop:
                    return
                yield record
            return
        for i in self._indices:
            yield self._store[i]

    def select(self, indices: Sequence[int]) -> RecordSelection:
        return RecordSelection(self._store, [self._indices[i] for i in indices])
