"""A model process that died: which signal ended it, the likely cause, and the way around it, in one line.

A bare "Segmentation fault" tells a reviewer nothing they can act on. The causes
below are the ones seen with llama.cpp on real hardware; each names the switch
that gets past it.
"""

from __future__ import annotations

import signal
from importlib import metadata

from winnow.backends.llama_cpu import ENV, BufferChoice

_SIGNAL_WORDS = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGILL: "illegal instruction",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating-point exception",
    signal.SIGABRT: "abort",
    signal.SIGKILL: "killed",
}


def signal_of(exitcode: int | None) -> int | None:
    """The signal that ended a child, from a ``multiprocessing`` or ``subprocess`` exit code (negative)."""
    return -exitcode if exitcode is not None and exitcode < 0 else None


def how_it_ended(exitcode: int | None) -> str:
    number = signal_of(exitcode)
    if number is None:
        return "stopped" if exitcode is None else f"exited with code {exitcode}"
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    words = _SIGNAL_WORDS.get(number)
    return f"died from {name} ({words})" if words else f"died from {name}"


def rebuild_hint() -> str:
    try:
        version = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:  # pragma: no cover - the embedded model needs it
        version = "VERSION"
    return (
        f'rebuild llama.cpp for plain x86-64/ARM: CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --force-reinstall '
        f"--no-cache-dir --no-deps llama-cpp-python=={version}"
    )


def cause_and_way_around(exitcode: int | None, buffers: BufferChoice) -> tuple[str, str]:
    """(likely cause, what to do) for a model process that ended with ``exitcode``."""
    number = signal_of(exitcode)
    serve_elsewhere = "or run the model behind a server (--model openai:NAME --base-url URL)"
    if number == signal.SIGKILL:
        return "the kernel killed it, most often for want of memory", "free memory or lower --concurrency"
    if number in (signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGABRT, signal.SIGFPE):
        if buffers.enabled:
            amx = "AMX " if buffers.amx else ""
            return (
                f"llama.cpp's extra buffer types ({amx}weight repacking), known to crash on some CPUs "
                "(ggml-org/llama.cpp#20824)",
                f"set {ENV}=off",
            )
        if number == signal.SIGILL:
            return (
                "llama.cpp was built for CPU instructions this CPU lacks (a wheel or cache built elsewhere)",
                f"{rebuild_hint()}, {serve_elsewhere}",
            )
        return (
            f"a fault inside llama.cpp on this CPU (extra buffer types were already off: {buffers.reason})",
            f"{rebuild_hint()}, {serve_elsewhere}",
        )
    return "an error outside winnow's control", serve_elsewhere


def explain_death(model_id: str, exitcode: int | None, buffers: BufferChoice, *, doing: str) -> str:
    """One line: which model, how its process ended, the likely cause and the way around it."""
    cause, way = cause_and_way_around(exitcode, buffers)
    return (
        f"{model_id}: the model's process {how_it_ended(exitcode)} {doing}; likely cause: {cause}; to avoid it: {way}"
    )
