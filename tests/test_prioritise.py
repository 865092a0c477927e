"""``winnow prioritise``: answers go to the ledger at once; kill it and it resumes.

The interactive loop runs in a real pseudo-terminal and is killed with SIGKILL
mid-session; the scripted mode (--labels) runs to the stopping rule and writes
the methods-section report.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest

from support import run_cli, spawn_winnow

pexpect = pytest.importorskip("pexpect")

FIXTURE = Path(__file__).parent / "fixtures" / "prioritise"
PROMPT = r"\(q\)uit, optional note after a space > "


def copy_fixture(workdir: Path) -> None:
    for name in ("records.csv", "protocol.yaml"):
        shutil.copy(FIXTURE / name, workdir / name)


def spawn(workdir: Path) -> pexpect.spawn:
    args = ["prioritise", "records.csv", "--protocol", "protocol.yaml", "--embeddings", "off"]
    return spawn_winnow(workdir, args, columns=100, timeout=120)


def answers(ledger: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(ledger) as conn:
        return list(conn.execute("SELECT record_id, answer, note FROM priority_answers ORDER BY answer_id"))


def shown_record(child: pexpect.spawn) -> str:
    child.expect(r"record (\S+) ")
    record = str(child.match.group(1))
    child.expect(PROMPT)
    return record


def test_kill_mid_session_keeps_answers_and_resumes(tmp_path: Path) -> None:
    copy_fixture(tmp_path)
    ledger = tmp_path / "records.prioritise.ledger.sqlite"
    child = spawn(tmp_path)
    first = shown_record(child)
    child.sendline("i looks like a CDSS")
    second = shown_record(child)
    child.sendline("e")
    third = shown_record(child)
    child.sendline("s")
    fourth = shown_record(child)
    assert len({first, second, third, fourth}) == 4
    child.kill(signal.SIGKILL)
    child.close()
    assert answers(ledger) == [(first, "include", "looks like a CDSS"), (second, "exclude", ""), (third, "skip", "")]

    resumed = spawn(tmp_path)
    resumed.expect("resuming: 2 answered, 1 includes so far")
    # The ranking is rebuilt from the same answers, so the same record comes next.
    assert shown_record(resumed) == fourth
    resumed.sendline("q")
    resumed.expect(pexpect.EOF)
    resumed.close()
    assert resumed.exitstatus == 0
    assert len(answers(ledger)) == 3
    # Quitting keeps the stopping report in the ledger too: methods says the session is not finished.
    sql = "SELECT json_extract(params_json, '$.stopping_report') FROM priority_sessions"
    with sqlite3.connect(ledger) as conn:
        kept = json.loads(conn.execute(sql).fetchone()[0])
    assert kept["read"] == 2 and kept["includes_found"] == 1 and kept["fired"] is False
    assert "has not yet been met" in kept["statement"]


def test_bad_answer_is_asked_again(tmp_path: Path) -> None:
    copy_fixture(tmp_path)
    child = spawn(tmp_path)
    shown_record(child)
    child.sendline("maybe")
    child.expect("not an answer: 'maybe'")
    child.expect(PROMPT)
    child.sendline("q")
    child.expect(pexpect.EOF)


def scripted(workdir: Path, *extra: object) -> int:
    """``winnow prioritise`` with the fixture's gold labels as the reviewer."""
    return run_cli(
        "prioritise",
        workdir / "records.csv",
        "--protocol",
        workdir / "protocol.yaml",
        "--labels",
        workdir / "records.csv",
        "--embeddings",
        "off",
        "--db",
        workdir / "p.sqlite",
        "--report",
        workdir / "stop.md",
        *extra,
    )


def test_scripted_reviewer_runs_to_the_stopping_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy_fixture(tmp_path)
    report, db = tmp_path / "stop.md", tmp_path / "p.sqlite"
    code = scripted(tmp_path, "--who", "script")
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(report.with_suffix(".json").read_text())
    assert data["fired"] is True
    assert data["includes_found"] == 12  # every include, before the rule let the reviewer stop
    assert data["read"] < 60 and data["p_value"] < 0.05
    assert data["rule"]["name"] == "buscar" and data["who"] == ["script"]
    text = report.read_text()
    assert "buscar stopping test" in text and f"{data['read']} of 60 records" in text
    assert "buscar" in out
    stored = answers(db)
    assert len(stored) == data["read"]
    assert sum(answer == "include" for _, answer, _ in stored) == 12

    # Running again resumes a finished session: nothing new is asked or stored.
    assert scripted(tmp_path) == 0
    assert len(answers(db)) == data["read"]

    # winnow methods says what the session did, with the figures the ledger's answers give.
    capsys.readouterr()
    assert run_cli("methods", db, "--json") == 0
    paragraphs = {p["key"]: p for p in json.loads(capsys.readouterr().out)["paragraphs"]}
    said = paragraphs["prioritised"]["text"]
    includes = sum(answer == "include" for _, answer, _ in stored)
    assert f"{len(stored)} of 60 records" in said and f"{includes} includes were found" in said
    assert "Screening stopped when the buscar stopping test" in said and "script" in said
    assert "session" in paragraphs["prioritised"]["sentences"][0]["source"]


def test_heuristic_rule_is_reported_as_heuristic(tmp_path: Path) -> None:
    copy_fixture(tmp_path)
    assert scripted(tmp_path, "--rule", "heuristic", "--excludes-in-a-row", "10") == 0
    text = (tmp_path / "stop.md").read_text()
    assert "HEURISTIC, no guarantee" in text
    assert "gives no statistical guarantee on recall" in text
