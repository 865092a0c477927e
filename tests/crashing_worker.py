"""Model children that die from a real SIGSEGV, for the crash tests.

They are the embedded model's own child (``winnow.backends.model_process``) with one
change: a request past a count reads address 0 through ctypes, which the kernel
answers with SIGSEGV, exactly as a fault inside llama.cpp would end the process.
Spawned children import this module by name, so it lives on the tests' path.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from winnow.backends.base import ModelRequest, ModelResponse
from winnow.backends.llama_runner import LlamaRunner, RunnerConfig
from winnow.backends.model_process import answer_requests, load_and_announce, prepare_child


def segfault() -> None:
    ctypes.string_at(0)


def _serve_with(conn: Connection, config: RunnerConfig, crashes: Callable[[], bool]) -> None:
    prepare_child()
    runner = LlamaRunner(config)
    if not load_and_announce(conn, runner):
        return

    def complete(request: ModelRequest) -> ModelResponse:
        if crashes():
            segfault()
        return runner.complete(request)

    answer_requests(conn, complete)


def crash_on_third_request_of_each_process(conn: Connection, config: RunnerConfig) -> None:
    """Every child answers two requests and dies on its third: a crash that a new process gets past."""
    seen = itertools.count(1)
    _serve_with(conn, config, lambda: next(seen) == 3)


def crash_from_third_request_on(counter: Path, conn: Connection, config: RunnerConfig) -> None:
    """Two requests are answered in all; every later one, in any child, dies: a crash that comes back."""

    def crashes() -> bool:
        seen = int(counter.read_text() or 0) + 1 if counter.exists() else 1
        counter.write_text(str(seen))
        return seen >= 3

    _serve_with(conn, config, crashes)
