"""``winnow validate`` in a real pseudo-terminal, killed with SIGKILL mid-sample, then resumed.

Labels given before the kill must already be in the ledger; the same command
must find the same sample, say how far it got, and ask for the next record.
"""

from __future__ import annotations

import csv
import signal
import sqlite3
from pathlib import Path

import pytest

from support import spawn_winnow

pexpect = pytest.importorskip("pexpect")

PROMPT = r"\(q\)uit, optional note after a space > "


def make_run(workdir: Path) -> None:
    with (workdir / "decisions.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "title", "decision", "abstract"])
        for i in range(40):
            decision = "exclude" if i < 30 else "include"
            writer.writerow([f"r{i:02d}", f"Title of record {i}", decision, f"Abstract {i}."])


def spawn(workdir: Path) -> pexpect.spawn:
    args = ["validate", "decisions.csv", "--seed", "11", "--sample", "6", "--who", "tester"]
    return spawn_winnow(workdir, args, columns=100)


def shown_record(child: pexpect.spawn) -> str:
    child.expect(r"record (r\d\d) ")
    record = str(child.match.group(1))
    child.expect(PROMPT)
    return record


def labels(ledger: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(ledger) as conn:
        return list(conn.execute("SELECT record_id, answer, note, who FROM validation_labels ORDER BY label_id"))


def test_kill_mid_sample_keeps_labels_and_resumes(tmp_path: Path) -> None:
    make_run(tmp_path)
    child = spawn(tmp_path)
    child.expect("Validation sample plan")
    child.expect(r"draw 6 records\? Enter to draw")
    child.sendline("")
    first = shown_record(child)
    child.sendline("e not about the question")
    second = shown_record(child)
    child.sendline("i")
    third = shown_record(child)
    child.sendline("maybe")
    child.expect("not an answer: 'maybe'")
    child.expect(PROMPT)
    child.kill(signal.SIGKILL)
    child.wait()
    assert child.signalstatus == signal.SIGKILL
    ledger = tmp_path / "decisions.ledger.sqlite"
    assert labels(ledger) == [(first, "exclude", "not about the question", "tester"), (second, "include", "", "tester")]

    again = spawn(tmp_path)
    again.expect(r"resuming sample \w+ \(seed 11\): 2 of 6 labelled")
    assert shown_record(again) == third
    for _ in range(4):
        again.sendline("e")
        if _ < 3:
            shown_record(again)
    again.expect("Validation of decisions.csv")
    again.expect("NOT certified")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0
    assert len(labels(ledger)) == 6
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("SELECT COUNT(*) FROM validation_samples").fetchone()[0] == 1


def test_quit_saves_and_says_how_to_resume(tmp_path: Path) -> None:
    make_run(tmp_path)
    child = spawn(tmp_path)
    child.expect(r"draw 6 records\?")
    child.sendline("")
    shown_record(child)
    child.sendline("i")
    shown_record(child)
    child.sendline("q")
    child.expect("stopped; 1 labels are saved in decisions.ledger.sqlite; run the same command to resume")
    child.expect("sample not finished: 1 of 6 labelled")
    child.expect(pexpect.EOF)
