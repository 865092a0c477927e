"""Per-item work done ahead on the second core, by a forked child, in order.

Ingesting a million batch answers keeps one core busy; a quarter of that is pure
per-record work (rendering each prompt, hashing it into its cache key, encoding it
for the ledger) that needs nothing the run learns as it goes. ``prefetched`` runs
such a producer in a child forked from this process (so it sees the same records,
templates and models without any of them being sent), and hands its results back
in order, a chunk at a time, while this process stores answers and writes rows.

Nothing depends on the child. If it cannot start, dies, stalls, or its producer
raises, this process carries on from the first item it did not receive, with the
same producer: what a run computes and the errors it raises are the same either
way. The child shares no file offset (the record store reads with ``pread``) and
no database connection, ignores Ctrl-C (this process decides), and exits when this
process stops reading or dies (its next write fails).
"""

from __future__ import annotations

import collections
import contextlib
import gc
import itertools
import os
import pickle
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["prefetched"]

R = TypeVar("R")

CHUNK = 256
# A chunk is a few hundred renders; a child silent this long is stuck, and this process goes on alone.
STALL_SECONDS = 60.0
# How far ahead the child may get, in pickled bytes held here (~12,000 prompts).
BUFFERED_BYTES = 64 << 20
_HEADER = 8
_PIPE_BYTES = 1 << 20


def prefetched(produce: Callable[[int, bool], Iterator[R]], *, worth_it: bool) -> Iterator[R]:
    """``produce(0, ahead)``'s results in order, made in a forked child when ``worth_it``.

    ``produce(start, ahead)`` yields the results from the ``start``-th on; it must be a
    pure function of what this process holds (the child's results are used as if this
    process had made them) and its results picklable. ``ahead`` is True in the child,
    where it may add work that pays only when done off this process's core. The
    caller says when the fork (a few ms) is ``worth_it``: thousands of items, not ten.
    """
    child = _Child.start(produce) if worth_it and _can_fork() and _spare_core() else None
    received = 0
    if child is not None:
        try:
            for chunk in child.chunks():
                received += len(chunk)
                yield from chunk
            if child.finished:
                return
        finally:
            child.stop()
    # No child, or it stopped early: go on here from the first result not received.
    yield from produce(received, False)


def _can_fork() -> bool:
    """Linux only: elsewhere a fork beside threads, or of a framework, is not known to be safe."""
    return hasattr(os, "fork") and sys.platform == "linux"


def _spare_core() -> bool:
    """Whether a second core is there for the child (a test worker pinned to one core has none)."""
    try:
        return len(os.sched_getaffinity(0)) >= 2
    except (AttributeError, OSError):  # pragma: no cover - affinity unknown
        return (os.cpu_count() or 1) >= 2


class _Child:
    """A forked producer, and a thread that drains its pipe into memory.

    The route takes records 512 at a time and then spends a while storing and writing
    rows; a pipe holds about a megabyte (~200 prompts), so without the drain the child
    would sit blocked on a full pipe for most of that while, and the route would then
    wait for it. The thread's reads give up the GIL; it holds at most ``BUFFERED_BYTES``.
    """

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.finished = False
        self._pipe = os.fdopen(fd, "rb", buffering=_PIPE_BYTES)
        self._frames: collections.deque[bytes | None] = collections.deque()
        self._held = 0
        self._ready = threading.Condition()
        self._stopping = False
        self._drain = threading.Thread(target=self._read_frames, name="winnow-prefetch", daemon=True)
        self._drain.start()

    @classmethod
    def start(cls, produce: Callable[[int, bool], Iterator[R]]) -> _Child | None:
        try:
            read_fd, write_fd = os.pipe()
        except OSError:
            return None
        with contextlib.suppress(OSError, AttributeError):
            import fcntl

            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        # Objects already alive are frozen out of the child's collector, so it does not
        # touch (and copy) every page of this process's heap.
        gc.freeze()
        try:
            with warnings.catch_warnings():
                # Python 3.12 warns of a fork beside threads; the child touches nothing another thread locks.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            gc.unfreeze()
            os.close(read_fd)
            os.close(write_fd)
            return None
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            os.close(read_fd)
            _serve(produce, write_fd)
        gc.unfreeze()
        os.close(write_fd)
        return cls(pid, read_fd)

    def _read_frames(self) -> None:
        """The drain: each frame's bytes in order, then None (the end mark, or the child gone)."""
        try:
            while True:
                header = self._pipe.read(_HEADER)
                size = int.from_bytes(header, "little") if len(header) == _HEADER else -1
                if size == 0:
                    self._put(b"")
                    return
                body = self._pipe.read(size) if size > 0 else b""
                if size < 0 or len(body) < size:
                    return
                self._put(body)
        except (OSError, ValueError):  # the pipe closed by ``stop``
            return
        finally:
            self._put(None)

    def _put(self, frame: bytes | None) -> None:
        with self._ready:
            while frame and self._held > BUFFERED_BYTES and not self._stopping:
                self._ready.wait()
            self._frames.append(frame)
            self._held += len(frame or b"")
            self._ready.notify_all()

    def chunks(self) -> Iterator[list[R]]:
        """Each chunk the child sent, until its end mark, or until it dies or stalls."""
        while True:
            with self._ready:
                if not self._frames and not self._ready.wait_for(lambda: self._frames, STALL_SECONDS):
                    return
                frame = self._frames.popleft()
                self._held -= len(frame or b"")
                self._ready.notify_all()
            if frame is None:
                return
            if not frame:
                self.finished = True
                return
            try:
                chunk = pickle.loads(frame)
            except Exception:  # a torn chunk is a dead child: go on alone
                return
            yield chunk

    def stop(self) -> None:
        """Reap the child (killed, unless it already ended) and end the drain."""
        with contextlib.suppress(OSError):
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        self._drain.join()
        self._pipe.close()


def _serve(produce: Callable[[int, bool], Iterator[R]], fd: int) -> None:  # pragma: no cover
    """The child: produce, send in chunks, end with a zero length; any failure just ends it."""
    status = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        results = produce(0, True)
        while True:
            chunk = list(itertools.islice(results, CHUNK))
            if not chunk:
                break
            data = pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)
            _write(fd, len(data).to_bytes(_HEADER, "little") + data)
        _write(fd, bytes(_HEADER))
        status = 0
    except BaseException:  # the parent goes on alone from what it received
        pass
    finally:
        os._exit(status)


def _write(fd: int, data: bytes) -> None:  # pragma: no cover - runs in the child
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
