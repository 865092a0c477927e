"""``winnow serve``: a GGUF behind llama-cpp-python's own OpenAI-compatible server.

A panel's second reviewer, another machine, or a test reaches the embedded model over
HTTP this way. The serving is ``llama_cpp.server``'s (its settings, its routes, its
app); winnow adds what its own runs of the model have: extra buffer types off where
they crash (``winnow/backends/llama_cpu.py``), and a crash that says what happened.
The server runs in a child process, so when llama.cpp dies the parent names the
model, the signal, the likely cause and the switch, in one line, and exits.
"""

from __future__ import annotations

import multiprocessing
import signal
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from winnow.backends.crash import explain_death
from winnow.backends.llama_cpu import BufferChoice, model_params
from winnow.errors import BackendError, BackendStopped


@dataclass(frozen=True)
class ServeOptions:
    """What ``winnow serve`` was asked, as ``llama_cpp.server`` settings plus winnow's buffer choice."""

    model_id: str
    path: Path
    alias: str
    buffers: BufferChoice
    host: str = "127.0.0.1"
    port: int = 8000
    n_ctx: int = 4096
    n_threads: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"


def run_server(options: ServeOptions) -> None:
    """The child: build llama_cpp.server's app with the model loaded under the buffer choice, and serve it."""
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the server with SIGTERM
    model = ModelSettings(
        model=str(options.path),
        model_alias=options.alias,
        n_ctx=options.n_ctx,
        seed=0,
        verbose=False,
        **({"n_threads": options.n_threads, "n_threads_batch": options.n_threads} if options.n_threads else {}),
    )
    # LlamaProxy loads the model inside create_app, and again only when a request names another
    # model; one model is served, so the choice holds for the server's life.
    with model_params(options.buffers):
        app = create_app(server_settings=ServerSettings(host=options.host, port=options.port), model_settings=[model])
        uvicorn.run(app, host=options.host, port=options.port, log_level="warning")


def serve(options: ServeOptions) -> None:
    """Run the server in a child until it stops; SIGTERM or Ctrl-C here stops it.

    Raises:
        BackendStopped: the server's process died from a signal (the one-line reason).
        BackendError: it exited with an error (a port in use, a model that will not load).
    """
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=run_server, args=(options,), name="winnow-serve", daemon=True)
    child.start()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        child.terminate()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        child.join()
    except KeyboardInterrupt:
        child.terminate()
        child.join(timeout=10)
        return
    finally:
        signal.signal(signal.SIGTERM, previous)
    code = child.exitcode
    if code is None or code == 0 or code == -signal.SIGTERM:
        return
    if code < 0:
        raise BackendStopped(explain_death(options.model_id, code, options.buffers, doing="while serving"))
    raise BackendError(f"{options.model_id}: the server exited with code {code} (see its messages above)")
