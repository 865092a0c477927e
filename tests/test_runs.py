"""``winnow runs`` and ``winnow runs show``: every run, newest first, read without migrating or locking a ledger."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import pytest

from winnow.engine import RunStats
from winnow.ledger import CallRow, Ledger
from winnow.ledger.migrations import MIGRATIONS
from winnow.reporting.history import load_history, render_runs
from winnow.runs import RunSummary

from support import render_text, run_cli

ARGV = ["winnow", "screen", "records.csv", "-p", "protocol.yaml", "-o", "decisions.csv"]


def _summary(run_id: str, *, interrupted: bool = False, undecided: tuple[str, ...] = (), stopped: str | None = None
             ) -> dict[str, object]:  # fmt: skip
    stats = RunStats(calls=7, cached=3, prompt_tokens=1200, completion_tokens=300, cost_usd=0.0123)
    return RunSummary(
        run_id=run_id, model="openai:gpt-4o-mini", served_model="gpt-4o-mini-2024-07-18", records=10, skipped=[],
        duplicate_groups=[], counts={"include": 3, "exclude": 4, "uncertain": 0, "error": len(undecided)},
        stats=stats, outputs={"decisions": "decisions.csv", "ledger": "decisions.ledger.sqlite"},
        interrupted=interrupted, undecided=list(undecided), stopped=stopped,
    ).to_dict()  # fmt: skip


def _call(run_id: str, record: str, n: int) -> CallRow:
    return CallRow(
        run_id=run_id, stage="screen", record_id=record, record_sha256="r" * 64, template_name="screen_title_abstract",
        template_sha256="t" * 64, model="openai:gpt-4o-mini", params_json="{}", cache_key=f"{run_id}-{record}-{n}",
        prompt_json="[]", ok=True, attempt=1, prompt_tokens=100, completion_tokens=20,
    )  # fmt: skip


def _start(db: Ledger, run_id: str, started: str, command: str = "screen", argv: list[str] = ARGV) -> None:
    db.start_run(
        run_id, command=command, argv=argv, model="openai:gpt-4o-mini", template_name="screen_title_abstract",
        template_sha256="t" * 64, protocol_sha256="p" * 64, n_records=10, input_path="records.csv",
    )  # fmt: skip
    with sqlite3.connect(db.path) as conn:  # start times far enough apart to order the runs
        conn.execute("UPDATE runs SET started_at = ? WHERE run_id = ?", (started, run_id))


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "decisions.ledger.sqlite"
    with Ledger(path) as db:
        _start(db, "20260101T000000-aaaaaa", "2026-01-01T00:00:00.000+00:00")
        db.finish_run("20260101T000000-aaaaaa", status="finished", summary=_summary("20260101T000000-aaaaaa"))
        _start(db, "20260102T000000-bbbbbb", "2026-01-02T00:00:00.000+00:00")
        db.finish_run("20260102T000000-bbbbbb", status="interrupted",
                      summary=_summary("20260102T000000-bbbbbb", interrupted=True, undecided=("r8", "r9")))  # fmt: skip
        _start(db, "20260103T000000-cccccc", "2026-01-03T00:00:00.000+00:00")
        for n, record in enumerate(("r1", "r2", "r3")):
            db.add_call(_call("20260103T000000-cccccc", record, n))
        _start(db, "20260103T120000-eeeeee", "2026-01-03T12:00:00.000+00:00")
        stopped = _summary("20260103T120000-eeeeee", interrupted=True, undecided=("r5",),
                           stopped="local: the model's process died again at once (SIGSEGV)")  # fmt: skip
        db.finish_run("20260103T120000-eeeeee", status="interrupted", summary=stopped)
        _start(db, "decide-dddddd", "2026-01-04T00:00:00.000+00:00", command="decide",
               argv=["decide", "decisions.csv", "--threshold", "0.4"])  # fmt: skip
        db.finish_run("decide-dddddd", status="done", summary={"threshold": 0.4})
    return path


def test_runs_are_listed_newest_first_with_what_is_left_and_how_to_resume(ledger: Path) -> None:
    views = load_history([ledger])
    assert [v.run_id for v in views] == ["decide-dddddd", "20260103T120000-eeeeee", "20260103T000000-cccccc",
                                         "20260102T000000-bbbbbb", "20260101T000000-aaaaaa"]  # fmt: skip
    decide, stopped, unfinished, interrupted, finished = views
    assert stopped.state == "stopped" and stopped.left == 1 and stopped.resume
    assert stopped.stopped == "local: the model's process died again at once (SIGSEGV)"
    assert finished.state == "finished" and finished.left == 0 and finished.resume is None
    usage = (finished.calls_made, finished.calls_reused, finished.prompt_tokens, finished.cost_usd)
    assert usage == (7, 3, 1200, 0.0123)
    assert finished.served_models == ["gpt-4o-mini-2024-07-18"]
    assert interrupted.state == "interrupted" and interrupted.left == 2
    cwd = str(Path.cwd())
    assert interrupted.resume == f"cd {cwd} && winnow screen records.csv -p protocol.yaml -o decisions.csv"
    assert unfinished.state == "unfinished" and unfinished.calls_made == 3 and unfinished.left == 7
    assert "never recorded its end" in (unfinished.left_note or "") and unfinished.resume
    assert decide.state == "finished" and decide.resume is None
    assert decide.argv == ["decide", "decisions.csv", "--threshold", "0.4"]


def test_cli_limit_json_and_show(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("runs", ledger, "-n", "2", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in listed] == ["decide-dddddd", "20260103T120000-eeeeee"]
    assert run_cli("runs", ledger.parent) == 0
    out = capsys.readouterr().out
    assert out.index("decide-dddddd") < out.index("20260101T000000-aaaaaa")
    assert "stopped: local: the model's process died again at once (SIGSEGV)" in out
    other = ledger.with_name("other.ledger.sqlite")
    with Ledger(other) as db:
        _start(db, "20260105T000000-ffffff", "2026-01-05T00:00:00.000+00:00")
    assert run_cli("runs", ledger, other, "--json", "-n", "0") == 0
    both = [r["run_id"] for r in json.loads(capsys.readouterr().out)]
    assert both[0] == "20260105T000000-ffffff" and len(both) == 6
    assert run_cli("runs", "show", "20260102", ledger) == 0
    shown = capsys.readouterr().out
    assert "argv" not in shown and "winnow screen records.csv" in shown and "sha256:" + "p" * 64 in shown
    assert "resume" in shown and "2 of 10 record(s) without an answer" in shown
    assert run_cli("runs", "show", "2026", ledger) == 1
    assert "is ambiguous" in capsys.readouterr().err
    assert run_cli("runs", "show", "nope", ledger) == 1
    assert capsys.readouterr().err.strip() == f"winnow: error: {ledger}: no run nope in 1 ledger(s)"


def test_an_old_schema_ledger_is_read_without_migrating_or_changing_it(tmp_path: Path) -> None:
    path = tmp_path / "old.ledger.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
        conn.execute(
            "INSERT INTO runs (run_id, command, argv, started_at, status, model, n_records, summary_json)"
            " VALUES ('20250101T000000-old000', 'screen', ?, '2025-01-01T00:00:00', 'finished', 'openai:x', 5, ?)",
            (json.dumps(ARGV), json.dumps(_summary("20250101T000000-old000"))),
        )
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    views = load_history([path])
    assert views[0].run_id == "20250101T000000-old000" and views[0].cwd is None and views[0].calls_made == 7
    assert run_cli("runs", path) == 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_reading_does_not_wait_for_a_run_that_is_writing(ledger: Path) -> None:
    writer = sqlite3.connect(ledger, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE runs SET status = 'running' WHERE run_id = 'decide-dddddd'")
    try:
        started = time.monotonic()
        views = load_history([ledger])
        assert time.monotonic() - started < 2
        assert views[0].state == "finished", "the uncommitted write is not seen"
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_listing_reads_at_80_columns(ledger: Path) -> None:
    text = render_text(render_runs(load_history([ledger])), width=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "…" not in text
    flat = " ".join(line.strip() for line in text.splitlines())
    assert "resume: cd" in flat and "winnow screen records.csv -p protocol.yaml -o decisions.csv" in flat


def test_targets_that_are_not_ledgers_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "notes.sqlite"
    junk.write_text("not a database", encoding="utf-8")
    assert run_cli("runs", junk) == 1
    assert capsys.readouterr().err.strip() == f"winnow: error: {junk}: not a winnow ledger (no runs table)"
