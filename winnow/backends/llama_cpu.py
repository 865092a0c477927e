"""What llama.cpp may use on this CPU: the one switch for its extra buffer types.

llama.cpp can copy a model's weights into "extra buffer types" laid out for faster
matrix products: the AMX buffer on Intel CPUs with Advanced Matrix Extensions
(Sapphire Rapids and later Xeons), and a repacked CPU buffer for some quantisations
elsewhere. On AMX CPUs the AMX path kills the process in ``decode`` (SIGSEGV or
SIGILL; ggml-org/llama.cpp#20824, "segfault in ggml_backend_amx_mul_mat", closed
without a fix). A reviewer does not choose the hardware of a cloud or HPC node, so
winnow keeps extra buffer types off wherever the CPU has AMX, and leaves llama.cpp's
default (on) elsewhere; ``docs/benchmarks.md`` ("Extra buffer types") has the cost
measured on a CPU without AMX. ``WINNOW_LLAMA_EXTRA_BUFFERS=on|off|auto`` overrides
the choice for every embedded model and every ``winnow serve``.

llama-cpp-python builds a model's parameters inside ``Llama.__init__`` from
``llama_model_default_params()`` and offers no argument for ``use_extra_bufts``, so
``model_params`` swaps that one factory for the length of a load.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from winnow.errors import InputError

ENV = "WINNOW_LLAMA_EXTRA_BUFFERS"
SETTINGS = ("auto", "on", "off")
CPUINFO = Path("/proc/cpuinfo")
_PATCH_LOCK = threading.Lock()


@dataclass(frozen=True)
class BufferChoice:
    """Whether llama.cpp may use extra buffer types, and the reason a reviewer is shown."""

    enabled: bool
    setting: str
    reason: str
    amx: tuple[str, ...] = ()

    def describe(self) -> str:
        state = "on" if self.enabled else "off"
        flip = "off" if self.enabled else "on"
        return f"extra buffer types {state} ({self.reason}; {ENV}={flip} to change)"


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags as the kernel reports them (x86 ``flags``, ARM ``Features``); empty if unknown."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def amx_flags(flags: frozenset[str]) -> list[str]:
    return sorted(flag for flag in flags if flag.startswith("amx"))


def setting_from_env() -> str:
    """``WINNOW_LLAMA_EXTRA_BUFFERS``, or ``auto``.

    Raises:
        InputError: the variable holds something other than auto, on or off.
    """
    raw = os.environ.get(ENV, "").strip().lower() or "auto"
    if raw not in SETTINGS:
        raise InputError(None, f"{ENV}={raw!r}: use one of {', '.join(SETTINGS)}")
    return raw


def choose_buffers(setting: str | None = None, flags: frozenset[str] | None = None) -> BufferChoice:
    """The choice for this CPU: ``auto`` turns extra buffer types off exactly where the CPU has AMX.

    ``flags`` defaults to this machine's; tests pass others to stand in for a CPU they lack.
    """
    setting = setting or setting_from_env()
    if setting not in SETTINGS:
        raise InputError(None, f"extra buffer types: {setting!r} is not one of {', '.join(SETTINGS)}")
    amx = tuple(amx_flags(cpu_flags() if flags is None else flags))
    if setting != "auto":
        return BufferChoice(setting == "on", setting, f"{ENV}={setting}", amx)
    if amx:
        return BufferChoice(False, setting, f"this CPU has AMX ({', '.join(amx)}), where they crash llama.cpp", amx)
    return BufferChoice(True, setting, f"no AMX on this {platform.machine() or 'CPU'}", amx)


@contextmanager
def model_params(choice: BufferChoice) -> Iterator[None]:
    """Load models inside this block with ``use_extra_bufts`` set by ``choice``.

    Raises:
        ImportError: llama-cpp-python is not installed.
    """
    import llama_cpp.llama_cpp as native

    with _PATCH_LOCK:
        original = native.llama_model_default_params

        def defaults() -> native.llama_model_params:
            params = original()
            params.use_extra_bufts = choice.enabled
            return params

        native.llama_model_default_params = defaults
        try:
            yield
        finally:
            native.llama_model_default_params = original


def system_features() -> list[str]:
    """The CPU features this llama.cpp build reports as in use (``AVX2``, ``AMX_INT8``, ``REPACK`` ...)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    features = []
    for part in info.split("|"):
        name, _, value = part.rpartition("=")
        name = name.split(":")[-1].strip()
        if name and value.strip() == "1":
            features.append(name)
    return features
