"""Reading a ledger without changing it: no migration, no write lock, any schema version.

``Ledger`` migrates a file forward and takes write locks, which is right for a run and
wrong for a report: ``winnow runs`` may be pointed at a ledger a run is writing, at an
archived ledger on a read-only disk, or at one an older winnow wrote. This reader opens
the file through SQLite's read-only URI (``mode=ro``; ``immutable=1`` when even the WAL
index cannot be opened) and asks only for tables and columns the file has.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from winnow.errors import LedgerError

__all__ = ["CallTotals", "LedgerReader", "ModelUse", "StoredRun", "is_ledger"]


def _json(text: Any, default: Any) -> Any:
    if not isinstance(text, str) or not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


@dataclass(frozen=True)
class StoredRun:
    """One ``runs`` row as stored, its JSON columns parsed (empty when absent or unreadable)."""

    ledger: Path
    run_id: str
    command: str
    argv: list[str]
    started_at: str
    finished_at: str | None
    status: str
    model: str | None
    template_name: str | None
    template_sha256: str | None
    protocol_sha256: str | None
    params: dict[str, Any]
    input_path: str | None
    n_records: int | None
    summary: dict[str, Any] | None
    winnow_version: str | None
    cwd: str | None = None


@dataclass(frozen=True)
class CallTotals:
    """What the calls table says about one run: every attempt it stored, in sums."""

    attempts: int = 0
    answered: int = 0
    records_answered: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    first_at: str | None = None
    last_at: str | None = None


@dataclass(frozen=True)
class ModelUse:
    """One model asked with one template, what served it, and when (successful calls only)."""

    model: str
    served_model: str | None
    template_name: str
    template_sha256: str
    calls: int
    first_at: str
    last_at: str
    run_ids: tuple[str, ...] = field(default_factory=tuple)


def _uri(path: Path, flag: str) -> str:
    return f"file:{quote(str(path.resolve()))}?{flag}"


def is_ledger(path: Path) -> bool:
    """A SQLite file with winnow's ``runs`` table (checked read-only)."""
    try:
        with LedgerReader(path) as reader:
            return "runs" in reader.tables
    except LedgerError:
        return False


class LedgerReader:
    """A read-only view of one ledger file, whatever schema version it has."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise LedgerError(f"{self.path}: no such ledger")
        self._conn = self._open()
        try:
            self.version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            names = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise LedgerError(f"{self.path}: not a ledger winnow can read: {exc}") from exc
        self.tables = frozenset(str(row[0]) for row in names)
        self._columns: dict[str, frozenset[str]] = {}

    def _open(self) -> sqlite3.Connection:
        last: Exception | None = None
        for flag in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(_uri(self.path, flag), uri=True, check_same_thread=False)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.Error as exc:
                last = exc
                continue
            conn.row_factory = sqlite3.Row
            return conn
        raise LedgerError(f"{self.path}: cannot open ledger read-only: {last}")

    def columns(self, table: str) -> frozenset[str]:
        if table not in self._columns:
            rows = self._conn.execute(f"PRAGMA table_info({table})").fetchall() if table in self.tables else []
            self._columns[table] = frozenset(str(row[1]) for row in rows)
        return self._columns[table]

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return list(self._conn.execute(sql, list(params)))
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot read ledger: {exc}") from exc

    # -- runs -------------------------------------------------------------------------------
    def runs(self) -> list[StoredRun]:
        """Every run, oldest first (run ids sort by start time)."""
        if "runs" not in self.tables:
            return []
        has = self.columns("runs")
        out = []
        for row in self._rows("SELECT * FROM runs ORDER BY started_at, run_id"):
            argv = _json(row["argv"], [])
            out.append(
                StoredRun(
                    ledger=self.path,
                    run_id=str(row["run_id"]),
                    command=str(row["command"]),
                    argv=[str(a) for a in argv] if isinstance(argv, list) else [],
                    started_at=str(row["started_at"]),
                    finished_at=row["finished_at"],
                    status=str(row["status"]),
                    model=row["model"],
                    template_name=row["template_name"],
                    template_sha256=row["template_sha256"],
                    protocol_sha256=row["protocol_sha256"],
                    params=_json(row["params_json"], {}) or {},
                    input_path=row["input_path"],
                    n_records=row["n_records"],
                    summary=_json(row["summary_json"], None),
                    winnow_version=row["winnow_version"],
                    cwd=row["cwd"] if "cwd" in has else None,
                )
            )
        return out

    def call_totals(self, run_id: str) -> CallTotals:
        """Sums over the run's stored attempts, through the index on ``run_id``."""
        if "calls" not in self.tables:
            return CallTotals()
        row = self._rows(
            "SELECT count(*), coalesce(sum(ok), 0), count(DISTINCT CASE WHEN ok = 1 THEN record_id END),"
            " coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), sum(cost_usd),"
            " min(created_at), max(created_at) FROM calls WHERE run_id = ?",
            (run_id,),
        )[0]
        return CallTotals(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), row[5], row[6], row[7])

    def model_use(self, run_ids: Sequence[str], stage: str | None = None) -> list[ModelUse]:
        """Models, served models and templates of the runs' answered calls, with first and last dates."""
        if "calls" not in self.tables or not run_ids:
            return []
        marks = ", ".join("?" for _ in run_ids)
        where = f"ok = 1 AND run_id IN ({marks})" + (" AND stage = ?" if stage else "")
        params = [*run_ids, stage] if stage else list(run_ids)
        rows = self._rows(
            "SELECT model, served_model, template_name, template_sha256, count(*), min(created_at),"
            f" max(created_at), group_concat(DISTINCT run_id) FROM calls WHERE {where}"
            " GROUP BY model, served_model, template_name, template_sha256 ORDER BY min(created_at)",
            params,
        )
        return [
            ModelUse(str(r[0]), r[1], str(r[2]), str(r[3]), int(r[4]), str(r[5]), str(r[6]),
                     tuple(sorted(str(r[7] or "").split(","))))
            for r in rows
        ]  # fmt: skip

    def calls(self, run_id: str, columns: Sequence[str]) -> list[sqlite3.Row]:
        """Chosen columns of one run's calls, in order (for ``winnow runs show``)."""
        if "calls" not in self.tables:
            return []
        wanted = [c for c in columns if c in self.columns("calls")]
        return self._rows(f"SELECT {', '.join(wanted)} FROM calls WHERE run_id = ? ORDER BY call_id", (run_id,))

    def first_prompt(self, run_id: str) -> str | None:
        """The rendered messages of the run's first call: the template text as the model saw it."""
        if "calls" not in self.tables:
            return None
        rows = self._rows("SELECT prompt_json FROM calls WHERE run_id = ? ORDER BY call_id LIMIT 1", (run_id,))
        return str(rows[0][0]) if rows else None

    # -- human work -----------------------------------------------------------------------------
    def adjudications(self) -> list[sqlite3.Row]:
        if "adjudications" not in self.tables:
            return []
        return self._rows("SELECT * FROM adjudications ORDER BY adjudication_id")

    def validation_samples(self) -> list[sqlite3.Row]:
        if "validation_samples" not in self.tables:
            return []
        return self._rows("SELECT * FROM validation_samples ORDER BY created_at, rowid")

    def validation_draw(self, sample_id: str) -> list[tuple[str, str]]:
        if "validation_draws" not in self.tables:
            return []
        rows = self._rows(
            "SELECT record_id, stratum FROM validation_draws WHERE sample_id = ? ORDER BY position", (sample_id,)
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def validation_labels(self, sample_id: str) -> list[sqlite3.Row]:
        if "validation_labels" not in self.tables:
            return []
        return self._rows("SELECT * FROM validation_labels WHERE sample_id = ? ORDER BY label_id", (sample_id,))

    def priority_sessions(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Prioritised-screening sessions, oldest first: id, records path, parameters (with the stopping report)."""
        if "priority_sessions" not in self.tables:
            return []
        sql = "SELECT session_id, records_path, params_json FROM priority_sessions ORDER BY created_at, session_id"
        rows = self._rows(sql)
        return [(str(r[0]), str(r[1]), _json(r[2], {}) or {}) for r in rows]

    def priority_answer_times(self, session_id: str) -> tuple[str | None, str | None]:
        """When a session's first and last answers were given."""
        if "priority_answers" not in self.tables:
            return None, None
        row = self._rows(
            "SELECT MIN(created_at), MAX(created_at) FROM priority_answers WHERE session_id = ?", (session_id,)
        )[0]
        return row[0], row[1]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LedgerReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
