"""Which llama.cpp buffer types winnow uses on which CPU, and what a dead model process is told to say.

The CPU is injected (its flags), so the choice is tested for an AMX Xeon and for other
CPUs on whatever machine runs the suite; the loading test then checks that the model's
child process really loaded with that choice, as llama.cpp itself reports it.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from winnow.backends.crash import explain_death
from winnow.backends.llama_cpu import ENV, BufferChoice, choose_buffers, cpu_flags, system_features
from winnow.backends.local import LocalModel
from winnow.backends.model_process import ModelProcess, serve
from winnow.errors import InputError

SAPPHIRE_RAPIDS = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"})
ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16", "avx512_vnni"})
GRAVITON = frozenset({"fp", "asimd", "sve", "i8mm", "bf16"})


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)


def test_cpu_flags_read_x86_flags_and_arm_features(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx2 amx_tile amx_int8\n\nprocessor\t: 1\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd sve\nCPU implementer\t: 0x41\n")
    assert cpu_flags(x86) == {"fpu", "avx2", "amx_tile", "amx_int8"}
    assert cpu_flags(arm) == {"fp", "asimd", "sve"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize(
    ("flags", "enabled"), [(SAPPHIRE_RAPIDS, False), (ZEN4, True), (GRAVITON, True), (frozenset(), True)]
)
def test_auto_turns_extra_buffers_off_exactly_where_the_cpu_has_amx(flags: frozenset[str], enabled: bool) -> None:
    choice = choose_buffers(flags=flags)
    assert choice.enabled is enabled and choice.setting == "auto"
    if not enabled:
        assert "amx_bf16, amx_int8, amx_tile" in choice.reason
    assert f"{ENV}={'off' if enabled else 'on'} to change" in choice.describe()


def test_the_environment_overrides_the_choice_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "on")
    assert choose_buffers(flags=SAPPHIRE_RAPIDS).enabled is True
    monkeypatch.setenv(ENV, "OFF")
    assert choose_buffers(flags=ZEN4).enabled is False
    assert choose_buffers("on", flags=ZEN4).enabled is True, "an explicit setting (winnow serve --extra-buffers) wins"
    monkeypatch.setenv(ENV, "sometimes")
    with pytest.raises(InputError, match=f"{ENV}='sometimes': use one of auto, on, off"):
        choose_buffers(flags=ZEN4)


@pytest.mark.parametrize(("flags", "enabled"), [(SAPPHIRE_RAPIDS, False), (ZEN4, True)])
def test_the_models_process_loads_llama_cpp_with_the_choice(flags: frozenset[str], enabled: bool) -> None:
    """Loading only (no decode), so extra buffer types on an AMX machine do not crash here."""
    model = LocalModel(buffers=choose_buffers(flags=flags))
    process = ModelProcess(model.runner_config(), serve)
    try:
        process.start()
        assert process.loaded_with_extra_buffers is enabled, "llama.cpp's own model params say so"
    finally:
        process.stop()
    assert not process.alive


def test_the_header_names_llama_cpps_cpu_features_and_the_buffer_choice() -> None:
    model = LocalModel(buffers=choose_buffers(flags=SAPPHIRE_RAPIDS))
    runtime = model.runtime()
    features = system_features()
    assert features and all(name.isupper() or "_" in name for name in features)
    assert runtime["llama.cpp"].startswith(" ".join(features))
    assert "extra buffer types off (this CPU has AMX" in runtime["llama.cpp"]
    assert runtime["processes"] == f"1 x {model.n_threads} thread(s), crash-isolated"


AMX_OFF = BufferChoice(False, "auto", "this CPU has AMX (amx_tile), where they crash llama.cpp", ("amx_tile",))
AMX_FORCED_ON = BufferChoice(True, "on", f"{ENV}=on", ("amx_tile",))
PLAIN_ON = BufferChoice(True, "auto", "no AMX on this x86_64")


@pytest.mark.parametrize(
    ("exitcode", "buffers", "words"),
    [
        (-signal.SIGSEGV, AMX_FORCED_ON, ("SIGSEGV (segmentation fault)", "AMX weight repacking", f"set {ENV}=off")),
        (-signal.SIGILL, PLAIN_ON, ("SIGILL (illegal instruction)", "weight repacking", f"set {ENV}=off")),
        (-signal.SIGILL, AMX_OFF, ("SIGILL", "built for CPU instructions this CPU lacks", "-DGGML_NATIVE=OFF")),
        (-signal.SIGSEGV, AMX_OFF, ("SIGSEGV", "were already off", "--base-url URL")),
        (-signal.SIGKILL, AMX_OFF, ("SIGKILL (killed)", "want of memory", "lower --concurrency")),
        (3, PLAIN_ON, ("exited with code 3", "--base-url URL")),
    ],
)
def test_a_dead_process_is_explained_in_one_line(exitcode: int, buffers: BufferChoice, words: tuple[str, ...]) -> None:
    line = explain_death("local:smollm2", exitcode, buffers, doing="while answering")
    assert line.startswith("local:smollm2: the model's process ") and "\n" not in line
    assert "likely cause:" in line and "to avoid it:" in line
    for word in words:
        assert word in line
