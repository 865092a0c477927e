"""The test command fails, never hangs: a worker that dies or a test that hangs ends pytest, naming the test.

Each case runs a small pytest in a subprocess with this project's own pytest settings
(``-c pyproject.toml``: xdist's file scheduler, the worker-restart limit, the per-test
timeout), with the time limit shortened to seconds. Without those settings the first case deadlocks xdist's
controller after a few replaced workers and the second waits forever; the subprocess's
own time limit is what fails this test then.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from support import REPO

# A real pytest with two workers starts in a few seconds; a minute and a half is the sign of a hang.
LIMIT_S = 90

CRASH = """
import os, signal

def test_crash():
    os.kill(os.getpid(), signal.SIGSEGV)

def test_after_crash():
    pass
"""
HANG = """
import time

def test_hang():
    time.sleep(100_000)
"""
QUICK = """
def test_one():
    pass

def test_two():
    pass
"""


def run_pytest(folder: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(REPO / "pyproject.toml"),
        "--rootdir",
        str(folder),
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "-o",
        "timeout=5",
        "-o",
        "faulthandler_timeout=3",
        *sorted(files),
    ]
    try:
        return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=LIMIT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"pytest hung: no end after {LIMIT_S} s; its output so far: {exc.stdout!r}")


def test_a_worker_killed_by_a_signal_fails_the_run_and_names_the_test(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, {"test_a_crash.py": CRASH, "test_b.py": QUICK, "test_c.py": QUICK})
    assert done.returncode != 0
    assert "crashed while running 'test_a_crash.py::test_crash'" in done.stdout


def test_a_hung_test_fails_the_run_and_names_the_test(tmp_path: Path) -> None:
    settings = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert 0 < float(settings["timeout"]) <= 600, "every test has a time limit, a few minutes at most"
    assert settings["timeout_method"] == "thread", "a test stuck inside native code is ended too, not only in Python"
    done = run_pytest(tmp_path, {"test_a_hang.py": HANG, "test_b.py": QUICK})
    assert done.returncode != 0
    assert "test_a_hang.py::test_hang" in done.stdout
    assert "Timeout" in done.stderr or "Timeout" in done.stdout
