"""A native crash of the embedded model: a real SIGSEGV in its process, one line, nothing lost, a clean resume.

The model's child is winnow's own (``winnow.backends.model_process``) with one change,
from ``tests/crashing_worker.py``: a request past a count reads address 0, and the
kernel ends the process with SIGSEGV, as a fault inside llama.cpp does. It is put in
through the backend registry, the seam every model is built through.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from crashing_worker import crash_from_third_request_on, crash_on_third_request_of_each_process

from winnow.backends import PROVIDERS
from winnow.backends.llama_cpu import amx_flags, cpu_flags
from winnow.backends.local import LocalModel
from winnow.backends.model_process import Entry
from winnow.screening.decisions import read_decisions

from support import DENNSTAEDT, alive, all_calls, answered, child_pids, offline_env, ok_calls, run_cli

pytestmark = pytest.mark.model
RECORDS = DENNSTAEDT / "records.csv"
PROTOCOL = DENNSTAEDT / "protocol.yaml"
THREE = 3


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def local_model_with(monkeypatch: pytest.MonkeyPatch) -> Callable[[Entry], None]:
    """Make ``--model local`` build the embedded model with this child entry."""

    def install(entry: Entry) -> None:
        monkeypatch.setitem(PROVIDERS, "local", lambda name, **options: LocalModel(name, entry=entry))

    return install


def screen_args(tmp_path: Path) -> tuple[object, ...]:
    return ("screen", RECORDS, "--protocol", PROTOCOL, "--limit", THREE, "--out", tmp_path / "d.csv", "--no-progress")


def crash_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "died from SIGSEGV (segmentation fault)" in line]


def test_a_crash_mid_run_is_retried_on_a_new_process_and_said_in_one_line(
    tmp_path: Path, local_model_with: Callable[[Entry], None], capsys: pytest.CaptureFixture[str]
) -> None:
    local_model_with(crash_on_third_request_of_each_process)
    assert run_cli(*screen_args(tmp_path)) == 0
    ledger = tmp_path / "d.ledger.sqlite"
    crashed = [c for c in all_calls(ledger) if c["error_kind"] == "crash"]
    assert crashed, "the third request killed its process"
    assert all(c["error"].startswith("local:smollm2: the model's process died from SIGSEGV") for c in crashed)
    (note,) = crash_lines(capsys.readouterr().err)
    assert "likely cause:" in note and "to avoid it:" in note and f"died {len(crashed)} time(s)" in note

    table = read_decisions(tmp_path / "d.csv")
    assert len(table) == THREE and table["record_id"].is_unique
    answered = Counter(c["record_id"] for c in ok_calls(ledger))
    assert set(answered.values()) == {1}, "no record was answered twice"
    decided = table[table["decision"] != "error"]
    assert set(decided["record_id"]) == set(answered), "every answer is in the table, and only answers"

    calls = len(all_calls(ledger))
    local_model_with(crash_on_third_request_of_each_process)
    assert run_cli(*screen_args(tmp_path)) == 0
    new = all_calls(ledger)[calls:]
    assert {c["record_id"] for c in new} <= set(table.loc[table["decision"] == "error", "record_id"])


def test_a_crash_that_comes_back_stops_the_run_in_one_line_and_the_next_run_resumes(
    tmp_path: Path,
    local_model_with: Callable[[Entry], None],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    healthy = PROVIDERS["local"]
    local_model_with(functools.partial(crash_from_third_request_on, tmp_path / "requests"))
    assert run_cli(*screen_args(tmp_path)) == 1
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("winnow: error:")]
    assert line.startswith("winnow: error: local:smollm2: the model's process died from SIGSEGV (segmentation fault)")
    assert "likely cause:" in line and "to avoid it:" in line
    assert "it crashed again on a new process, so the run stopped" in line and "re-run the same command" in line

    ledger = tmp_path / "d.ledger.sqlite"
    calls = all_calls(ledger)
    assert sum(1 for c in calls if c["raw_response"] is not None) == 2, "two requests were answered before the crash"
    assert [c["error_kind"] for c in calls if c["raw_response"] is None] == ["crash", "crash"]
    first = {c["record_id"]: c["call_id"] for c in ok_calls(ledger)}
    with sqlite3.connect(ledger) as conn:
        status, summary = conn.execute("SELECT status, summary_json FROM runs").fetchone()
    assert status == "interrupted" and json.loads(summary)["stopped"] == line.removeprefix("winnow: error: ")
    assert len(read_decisions(tmp_path / "d.csv")) == THREE, "the table has a row for every record"

    monkeypatch.setitem(PROVIDERS, "local", healthy)
    assert run_cli(*screen_args(tmp_path)) == 0
    after = ok_calls(ledger)
    assert {c["record_id"]: c["call_id"] for c in after if c["record_id"] in first} == first, "answers kept"
    assert set(Counter(c["record_id"] for c in after).values()) == {1}, "no record was answered twice"
    table = read_decisions(tmp_path / "d.csv")
    assert set(table.loc[table["decision"] != "error", "record_id"]) == {c["record_id"] for c in after}
    assert len(after) >= THREE - 1, "the resumed run answered the records the crash left"


@pytest.mark.skipif(not amx_flags(cpu_flags()), reason="only a CPU with AMX shows llama.cpp's AMX crash")
def test_on_an_amx_cpu_extra_buffers_forced_on_crash_llama_cpp_and_the_line_names_the_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real crash this issue came from, where the hardware allows it: the default keeps it away."""
    monkeypatch.setenv("WINNOW_LLAMA_EXTRA_BUFFERS", "on")
    assert run_cli(*screen_args(tmp_path)) == 1
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("winnow: error:")]
    assert "the model's process died from SIG" in line
    assert "extra buffer types (AMX weight repacking)" in line and "set WINNOW_LLAMA_EXTRA_BUFFERS=off" in line
    assert ok_calls(tmp_path / "d.ledger.sqlite") == []


def test_ctrl_c_stops_the_run_at_once_as_interrupted_not_crashed_and_it_resumes(tmp_path: Path) -> None:
    """Ctrl-C reaches the terminal's whole process group: winnow and its model's child both see it."""
    out, ledger = tmp_path / "d.csv", tmp_path / "d.ledger.sqlite"
    args = [sys.executable, "-m", "winnow", *map(str, screen_args(tmp_path))]
    proc = subprocess.Popen(
        args, env=offline_env(), cwd=tmp_path, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 900
    while answered(ledger) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    children = child_pids(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert time.monotonic() - sent < 30, "the call in flight is dropped, not waited for"
    assert "interrupted" in err.decode() and "died from" not in err.decode()
    assert not any(c["error_kind"] == "crash" for c in all_calls(ledger))
    gone = time.monotonic() + 10
    while any(map(alive, children)) and time.monotonic() < gone:
        time.sleep(0.1)
    assert not any(map(alive, children)), "the model's process left with winnow"

    assert subprocess.run(args, env=offline_env(), cwd=tmp_path, capture_output=True).returncode == 0
    assert set(Counter(c["record_id"] for c in ok_calls(ledger)).values()) == {1}, "no record was answered twice"
    assert len(read_decisions(out)) == THREE
