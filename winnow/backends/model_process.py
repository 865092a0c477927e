"""A model in a child process, so that a native crash ends the child and not the run.

llama.cpp is C++ compiled for whatever CPU the reviewer has, and on some (AMX Xeons)
it has killed its process outright. In-process, that took the whole run with it and
left only "Segmentation fault" on the terminal. Here the model answers requests over
a pipe from a child started with ``multiprocessing``'s spawn method (a clean
interpreter: no inherited threads or locks). When the child dies, the pipe closes,
the parent reads how it ended, and raises ``ModelProcessDied`` with one line naming
the model, the likely cause and the way around it. The engine retries that like any
transient failure, and the next attempt starts a new child.

On Ctrl-C the child leaves at once (its answer in progress was not stored yet) and
the parent stops the run as interrupted, never as a crash; the child also exits on its
own when its parent is gone, even a parent killed with ``kill -9``. The cost of the
pipe is measured in ``bench/model_process.py``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from winnow.backends.base import ModelRequest, ModelResponse
from winnow.backends.crash import explain_death
from winnow.backends.llama_runner import LlamaRunner, RunnerConfig
from winnow.errors import BackendError, Interrupted, ModelProcessDied, TransientBackendError

READY_TIMEOUT_S = 300.0
# How a child says it left because of Ctrl-C (the shell's 128 + SIGINT), not because it crashed.
INTERRUPTED_EXIT = 130
ORPHAN_POLL_S = 0.5

Entry = Callable[[Connection, RunnerConfig], None]


def serve(conn: Connection, config: RunnerConfig) -> None:
    """The child's main: load the model, then answer each request until the pipe closes."""
    prepare_child()
    runner = LlamaRunner(config)
    if load_and_announce(conn, runner):
        answer_requests(conn, runner.complete)


def prepare_child() -> None:
    """What every model child does first: leave Ctrl-C to the parent, and leave when the parent is gone."""
    _detach_from_terminal_signals()
    _exit_with_parent(os.getppid())


def load_and_announce(conn: Connection, runner: LlamaRunner) -> bool:
    """Load the model and tell the parent it is ready, or why it cannot load (then False)."""
    try:
        llama = runner.load()
    except BackendError as exc:
        conn.send(("error", str(exc)))
        return False
    conn.send(("ready", {"pid": os.getpid(), "extra_buffers": bool(llama.model_params.use_extra_bufts)}))
    return True


def answer_requests(conn: Connection, complete: Callable[[ModelRequest], ModelResponse]) -> None:
    """Answer requests from the pipe until it closes; an error in one request goes back as that request's answer."""
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        try:
            conn.send(("ok", complete(request)))
        except BackendError as exc:
            conn.send(("error", str(exc)))
        except Exception as exc:  # a bug in one request must not look like a crash of the model
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _detach_from_terminal_signals() -> None:
    # Ctrl-C reaches the whole foreground process group. The answer in progress is not stored yet,
    # so nothing is lost by leaving at once; the parent sees the exit code and stops the run.
    signal.signal(signal.SIGINT, lambda _signum, _frame: os._exit(INTERRUPTED_EXIT))
    # ggml's abort handler otherwise tries to attach gdb for a backtrace, which can take seconds.
    os.environ.setdefault("GGML_NO_BACKTRACE", "1")


def _exit_with_parent(parent: int) -> None:
    """Leave when the parent is gone, even mid-computation (a ``kill -9`` of winnow closes no pipe in time).

    A thread, not ``prctl(PR_SET_PDEATHSIG)``: that fires when the parent *thread* that
    started the child ends, and winnow starts children from short-lived worker threads.
    """

    def watch() -> None:
        while True:
            time.sleep(ORPHAN_POLL_S)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="winnow-orphan-watch", daemon=True).start()


class ModelProcess:
    """One child process holding one loaded model; one call at a time."""

    def __init__(self, config: RunnerConfig, entry: Entry) -> None:
        self.config = config
        self._entry = entry
        self._process: Any = None
        self._conn: Connection | None = None
        self._load_error: str | None = None
        # What the child's llama.cpp really loaded with, as it reported; None until a child has loaded.
        self.loaded_with_extra_buffers: bool | None = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self) -> None:
        """Start the child and wait until its model is loaded.

        Raises:
            BackendError: the model cannot be loaded (the child says why).
            ModelProcessDied: the child died while loading.
        """
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe(duplex=True)
        process = context.Process(
            target=self._entry, args=(child_end, self.config), name=f"winnow-{self.config.model_id}", daemon=True
        )
        process.start()
        child_end.close()  # only the child holds its end now, so the child's death closes the pipe
        self._process, self._conn = process, parent_end
        kind, payload = self._receive("loading the model", READY_TIMEOUT_S)
        if kind == "ready":
            self.loaded_with_extra_buffers = bool(payload["extra_buffers"])
        else:
            self.stop()
            self._load_error = str(payload)  # a file that will not load fails the same way every time
            raise BackendError(self._load_error)

    def call(self, request: ModelRequest, timeout_s: float) -> ModelResponse:
        """One request; the child's own errors come back as ``BackendError``.

        Raises:
            BackendError: the request failed inside the model (context too long, bad grammar).
            ModelProcessDied: the child died while answering.
            TransientBackendError: no answer within ``timeout_s``; the child was stopped.
        """
        if self._load_error is not None:
            raise BackendError(self._load_error)
        if not self.alive:
            self.start()
        assert self._conn is not None
        with contextlib.suppress(BrokenPipeError, OSError):  # a dead child: _receive reports how it ended
            self._conn.send(request)
        kind, payload = self._receive("while answering", timeout_s)
        if kind == "ok":
            return payload  # type: ignore[no-any-return]  # the child sends a ModelResponse
        raise BackendError(str(payload))

    def _receive(self, doing: str, timeout_s: float) -> tuple[str, Any]:
        assert self._conn is not None and self._process is not None
        try:
            if not self._conn.poll(timeout_s):
                self.stop()
                raise TransientBackendError(
                    f"{self.config.model_id}: no answer from the model's process in {timeout_s:g} s {doing}; "
                    "it was stopped and a new one will be started",
                    kind="timeout",
                )
            message: tuple[str, Any] = self._conn.recv()
            return message
        except (EOFError, OSError):
            pass
        self._process.join(timeout=10)
        exitcode = self._process.exitcode
        self.stop()
        if exitcode == INTERRUPTED_EXIT:
            raise Interrupted(f"{self.config.model_id}: the model's process stopped on Ctrl-C {doing}")
        raise ModelProcessDied(
            explain_death(self.config.model_id, exitcode, self.config.buffers, doing=doing),
            signal=-exitcode if exitcode is not None and exitcode < 0 else None,
        )

    def stop(self) -> None:
        """End the child (politely, then by force) and forget it; the next call starts a new one."""
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(None)
            conn.close()
        if process is not None:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
