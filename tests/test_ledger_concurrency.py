"""Two processes on one ledger, and ledgers written by older schemas.

SQLite in WAL mode with a busy timeout is what makes one ledger file safe for two
``winnow`` processes at once; these tests hold the ledger to that with real
processes, not threads.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_run import run_winnow, screen_command
from instant_server import InstantServer

from winnow.errors import LedgerError
from winnow.ledger import CallRow, Ledger
from winnow.ledger.migrations import MIGRATIONS
from winnow.screening.decisions import read_decisions

from support import DENNSTAEDT, REPO

HAMMER = """
import sys, time
from winnow.ledger import CallRow, Ledger
path, who, n, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
time.sleep(max(0.0, start_at - time.time()))  # both open the new file at the same moment, without spinning a core
with Ledger(path, busy_timeout_s=60) as ledger:
    for i in range(n):
        ok = i % 3 != 0
        ledger.add_call(CallRow(run_id=who, stage="screen", record_id=f"{who}-{i}", record_sha256="s",
            template_name="t", template_sha256="t", model="m", params_json="{}", cache_key=f"{who}-{i}",
            prompt_json="[]", ok=ok, attempt=1, parsed_json="{}" if ok else None))
"""


def split_records(tmp_path: Path, parts: int, size: int) -> list[Path]:
    with (DENNSTAEDT / "records.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    paths = []
    for part in range(parts):
        path = tmp_path / f"part{part}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows[part * size : (part + 1) * size])
        paths.append(path)
    return paths


def test_two_screen_runs_share_one_ledger(tmp_path: Path) -> None:
    db = tmp_path / "shared.ledger.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_API_KEY", None)
    with InstantServer(delay_s=0.01) as server:
        children = [
            subprocess.Popen(
                [
                    *screen_command(path, DENNSTAEDT / "protocol.yaml", server.base_url, tmp_path / f"{path.stem}.csv"),
                    "--db",
                    str(db),
                    "-j",
                    "4",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for path in split_records(tmp_path, 2, 60)
        ]
        results = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0, 0], [err for _, err in results]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM calls WHERE ok = 1").fetchone()[0] == 120
        assert conn.execute("SELECT count(*) FROM calls").fetchone()[0] == 120
        runs = conn.execute("SELECT status, n_records FROM runs ORDER BY run_id").fetchall()
    assert runs == [("finished", 60), ("finished", 60)]
    for part in ("part0", "part1"):
        table = read_decisions(tmp_path / f"{part}.csv")
        assert len(table) == 60 and table["record_id"].is_unique and (table["decision"] != "error").all()


def test_two_processes_hammering_a_new_ledger_lose_no_row(tmp_path: Path) -> None:
    db = tmp_path / "new.ledger.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start_at = str(time.time() + 3)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, str(db), who, "1500", start_at], env=env, stderr=subprocess.PIPE
        )
        for who in ("a", "b")
    ]
    errors = [child.communicate(timeout=300)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0], errors
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        counts = dict(conn.execute("SELECT run_id, count(*) FROM calls GROUP BY run_id").fetchall())
        answered = conn.execute("SELECT count(*) FROM calls WHERE ok = 1").fetchone()[0]
    assert counts == {"a": 1500, "b": 1500}
    assert answered == 2000


def old_ledger(path: Path, version: int) -> None:
    """A ledger as the winnow of schema ``version`` left it, with one answered call if it had calls."""
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:version]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {version}")
    if version >= 1:
        conn.execute(
            "INSERT INTO calls (run_id, stage, record_id, record_sha256, template_name, template_sha256, model,"
            " params_json, cache_key, prompt_json, ok, attempt, parsed_json, created_at)"
            " VALUES ('old', 'screen', 'r1', 's', 't', 't', 'm', '{}', 'k1', '[]', 1, 1, '{}', '2024-01-01')"
        )
    conn.commit()
    conn.close()


@pytest.mark.parametrize("version", range(len(MIGRATIONS)))
def test_older_ledger_is_migrated_not_rejected(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.ledger.sqlite"
    old_ledger(path, version)
    with Ledger(path) as ledger:
        assert ledger.schema_version == len(MIGRATIONS)
        if version >= 1:
            assert set(ledger.answers(["k1"])) == {"k1"}, "the old answer must survive the migration"
        ledger.add_call(
            CallRow(
                run_id="new",
                stage="screen",
                record_id="r2",
                record_sha256="s",
                template_name="t",
                template_sha256="t",
                model="m",
                params_json="{}",
                cache_key="k2",
                prompt_json="[]",
                ok=True,
                attempt=1,
                parsed_json="{}",
            )
        )
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_newer_ledger_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "future.ledger.sqlite"
    old_ledger(path, len(MIGRATIONS))
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(LedgerError, match=rf"{path.name}: ledger schema v{len(MIGRATIONS) + 1} is newer"):
        Ledger(path)


def test_screen_resumes_on_a_ledger_from_an_older_schema(tmp_path: Path) -> None:
    """End to end: an old-schema ledger given to ``winnow screen`` is upgraded and used."""
    db = tmp_path / "old.ledger.sqlite"
    old_ledger(db, 0)
    with InstantServer() as server:
        args = screen_command(
            DENNSTAEDT / "records.csv",
            DENNSTAEDT / "protocol.yaml",
            server.base_url,
            tmp_path / "d.csv",
            "--limit",
            "3",
            "--db",
            str(db),
        )
        done = run_winnow(args)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("SELECT count(*) FROM calls WHERE ok = 1").fetchone()[0] == 3
