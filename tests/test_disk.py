"""A full or unwritable output location: one clear error line, and a ledger that stays whole.

CI runs as root, where ``chmod`` does not stop writes, so an unwritable location is
made with a regular file standing where a directory should be (refused for root
too); ``chmod 0o500`` is used as well where it works. A full disk is a file-size
limit (RLIMIT_FSIZE, with SIGXFSZ ignored so writes fail with EFBIG instead of
killing the process).
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_run import ledger_state, run_winnow, screen_command
from instant_server import InstantServer

from support import DENNSTAEDT, REPO

N = 12


@pytest.fixture(scope="module")
def server() -> Iterator[InstantServer]:
    with InstantServer() as running:
        yield running


def command(server: InstantServer, out: Path, db: Path) -> list[str]:
    return screen_command(
        DENNSTAEDT / "records.csv",
        DENNSTAEDT / "protocol.yaml",
        server.base_url,
        out,
        "--limit",
        str(N),
        "--db",
        str(db),
    )


def unwritable(tmp_path: Path, how: str) -> Path:
    if how == "file-as-directory":
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("a file where the output directory should be")
        return blocker / "decisions.csv"
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions; the file-as-directory case covers root")
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o500)
    return folder / "decisions.csv"


@pytest.mark.parametrize("how", ["file-as-directory", "chmod-0500"])
def test_unwritable_output_is_one_clear_error_and_keeps_the_answers(
    server: InstantServer, tmp_path: Path, how: str
) -> None:
    out = unwritable(tmp_path, how)
    db = tmp_path / "ledger.sqlite"
    before = server.requests
    done = run_winnow(command(server, out, db))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("winnow: error: ") and str(out) in last and "cannot write decisions" in last
    assert "Traceback" not in done.stderr
    assert ledger_state(db) == ("ok", N, 0)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM runs").fetchone()[0] != "finished"

    fixed = run_winnow(command(server, tmp_path / "good" / "decisions.csv", db))
    assert fixed.returncode == 0, fixed.stderr
    assert server.requests - before == N, "the answers paid for before the write failed must be reused"


def test_unwritable_ledger_location_is_one_clear_error(server: InstantServer, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    done = run_winnow(command(server, tmp_path / "decisions.csv", blocker / "ledger.sqlite"))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("winnow: error: ") and "ledger" in last and "Traceback" not in done.stderr


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("limit_kb", [48, 160])
def test_full_disk_is_one_clear_error_and_the_ledger_stays_consistent(
    server: InstantServer, tmp_path: Path, limit_kb: int
) -> None:
    out, db = tmp_path / "decisions.csv", tmp_path / "decisions.ledger.sqlite"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    full = subprocess.run(
        command(server, out, db),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preexec_fn=lambda: _limit_file_size(limit_kb * 1024),
    )
    assert full.returncode == 1, full.stderr
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith("winnow: error: ") and "Traceback" not in full.stderr
    assert "full" in last or "too large" in last.lower()
    integrity, answered, doubled = ledger_state(db)
    assert integrity == "ok" and doubled == 0 and answered < N

    resumed = run_winnow(command(server, out, db))
    assert resumed.returncode == 0, resumed.stderr
    assert ledger_state(db) == ("ok", N, 0)
