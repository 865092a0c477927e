"""``winnow audit --adjudicate`` in a real pseudo-terminal, killed halfway with SIGKILL.

Answers given before the kill must already be in the ledger, and a restart must
resume at the first unsettled record.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
from pathlib import Path

import pytest

from support import spawn_winnow

pexpect = pytest.importorskip("pexpect")

FIXTURES = Path(__file__).parent / "fixtures" / "agreement"


def spawn(workdir: Path) -> pexpect.spawn:
    return spawn_winnow(workdir, ["audit", "decisions.csv", "--gold", "gold.csv", "--adjudicate", "--who", "tester"])


def rows(ledger: Path) -> list[tuple[str, str, str, str, str]]:
    with sqlite3.connect(ledger) as conn:
        return list(
            conn.execute("SELECT record_id, final_label, choice, note, who FROM adjudications ORDER BY adjudication_id")
        )


def test_kill_halfway_keeps_answers_and_resumes(tmp_path: Path) -> None:
    for name in ("decisions.csv", "gold.csv", "protocol.yaml"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    child = spawn(tmp_path)
    child.expect("r05")  # the riskiest: a confident miss
    child.expect(r"verdict \[m/g/i/e/s/q\]")
    child.sendline("g")
    child.expect("note")
    child.sendline("all participants 65+ per methods")
    child.expect("saved: r05 -> include")
    child.expect("r03")
    child.expect(r"verdict \[m/g/i/e/s/q\]")
    child.sendline("m")
    child.expect("note")
    child.sendline("cohort, not randomised")
    child.expect("saved: r03 -> exclude")
    child.expect(r"verdict \[g/i/e/s/q\]")  # r04 is uncertain: no "keep model"
    child.kill(signal.SIGKILL)
    child.wait()
    assert child.signalstatus == signal.SIGKILL

    ledger = tmp_path / "decisions.ledger.sqlite"
    assert rows(ledger) == [
        ("r05", "include", "gold", "all participants 65+ per methods", "tester"),
        ("r03", "exclude", "model", "cohort, not randomised", "tester"),
    ]

    again = spawn(tmp_path)
    again.expect("2 of 6 already settled")
    again.expect("r04")
    again.expect(r"verdict \[g/i/e/s/q\]")
    again.sendline("q")
    again.expect("0 settled now, 2 before, 4 still open")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0
