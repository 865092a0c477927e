"""The run ledger: every model call and every human verdict, in SQLite.

Why SQLite: one file a reviewer can archive with the review, readable without
winnow, crash-safe with WAL, and safe for two processes at once with a busy
timeout. Each call row is committed as soon as it exists, so a crash or
``kill -9`` loses nothing that was already answered.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from winnow.errors import LedgerError
from winnow.ledger.migrations import MIGRATIONS

__all__ = ["BATCH_OPEN", "PRIORITY_STOPPING_REPORT", "BatchRow", "CallRow", "Ledger", "default_ledger_path", "utc_now"]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class CallRow:
    """One attempt at one model call, exactly as it is stored."""

    run_id: str
    stage: str
    record_id: str
    record_sha256: str
    template_name: str
    template_sha256: str
    model: str
    params_json: str
    cache_key: str
    prompt_json: str
    ok: bool
    attempt: int
    served_model: str | None = None
    raw_response: str | None = None
    parsed_json: str | None = None
    error: str | None = None
    error_kind: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    p_include: float | None = None
    confidence_source: str | None = None
    # The batch that answered (``batches.batch_id``); None for a synchronous call.
    batch_id: str | None = None


_CALL_COLUMNS = tuple(CallRow.__dataclass_fields__)

# A submitted batch's life: written (its file is complete on disk), uploaded (the provider holds
# the file), then the provider's own statuses; a finished one is downloaded, then ingested. A
# batch in one of these statuses may still answer its requests, so none of them is sent again.
# The key of a prioritised-screening session's parameters under which `winnow prioritise` keeps its
# latest stopping report, and where `winnow methods` reads it.
PRIORITY_STOPPING_REPORT = "stopping_report"

BATCH_OPEN = ("written", "uploaded", "validating", "in_progress", "finalizing", "cancelling")
# Finished at the provider: its output and error files say what was answered.
BATCH_FINISHED = ("completed", "expired", "failed", "cancelled")


@dataclass(frozen=True)
class BatchRow:
    """One batch of requests as first recorded: before anything is sent, or as a file written or read.

    ``kind`` is ``api`` (sent to the provider's batch API), ``file`` (``--batch-file``: written
    for a served cluster, never sent by winnow) or ``results`` (``--batch-results``: a results
    file that was ingested).
    """

    batch_id: str
    kind: str
    run_id: str
    stage: str
    model: str
    endpoint: str | None
    local_path: str | None
    request_count: int
    bytes: int | None
    status: str


# SQLite's page cache per connection (its default is 2 MiB), taken only as pages are read. A
# million-answer ledger's key indexes are ~100 MB each; with their upper levels kept here,
# looking a key up reads one page from the operating system instead of three.
CACHE_KIB = 64 * 1024


class Ledger:
    """A thread-safe handle on one ledger file.

    Worker threads write their own call rows under one lock; SQLite's busy timeout
    covers other processes writing the same file.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path), timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._enable_wal(busy_timeout_s)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            self._migrate()
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot open ledger: {exc}") from exc
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot create ledger: {exc.strerror or exc}") from exc

    def _enable_wal(self, timeout_s: float) -> None:
        """Switch to WAL, retrying while another process creates or switches the same file.

        SQLite answers "database is locked" at once here, without calling the busy
        handler, so two runs started together on a new ledger would otherwise fail.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # -- schema ---------------------------------------------------------------
    def _migrate(self) -> None:
        """Apply missing migrations one by one, each read-and-apply under a write lock.

        Reading the version inside the transaction keeps two processes that open a new
        ledger at the same moment from both applying the same migration.
        """
        while True:
            with self._transaction() as conn:
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if version > len(MIGRATIONS):
                    raise LedgerError(
                        f"{self.path}: ledger schema v{version} is newer than this winnow "
                        f"(v{len(MIGRATIONS)}); upgrade winnow"
                    )
                if version == len(MIGRATIONS):
                    return
                for statement in _split_sql(MIGRATIONS[version]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _write(self, sql: str, params: Sequence[Any]) -> int:
        try:
            with self._transaction() as conn:
                cursor = conn.execute(sql, params)
                return int(cursor.lastrowid or 0)
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot write ledger: {exc}") from exc

    # -- runs -----------------------------------------------------------------
    def start_run(self, run_id: str, *, command: str, argv: list[str], **fields: Any) -> None:
        """Record a run as it starts, with the folder it runs in (its argv's paths are relative to it)."""
        columns = {
            "run_id": run_id,
            "command": command,
            "argv": json.dumps(argv),
            "started_at": utc_now(),
            "cwd": os.getcwd(),
        }
        columns.update(fields)
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        self._write(f"INSERT INTO runs ({names}) VALUES ({marks})", list(columns.values()))

    def finish_run(self, run_id: str, *, status: str, summary: Mapping[str, Any]) -> None:
        self._write(
            "UPDATE runs SET finished_at = ?, status = ?, summary_json = ? WHERE run_id = ?",
            (utc_now(), status, json.dumps(summary, sort_keys=True), run_id),
        )

    def run(self, run_id: str) -> sqlite3.Row | None:
        rows = self._read("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return rows[0] if rows else None

    # -- calls ----------------------------------------------------------------
    def add_call(self, row: CallRow) -> int:
        """Store one attempt; a second successful answer for a cache key is refused.

        The partial unique index makes "never store a paid answer twice" a property of
        the file, not of the code path that happens to write it.
        """
        values = [getattr(row, name) for name in _CALL_COLUMNS]
        values[_CALL_COLUMNS.index("ok")] = int(row.ok)
        names = ", ".join((*_CALL_COLUMNS, "created_at"))
        marks = ", ".join("?" for _ in range(len(_CALL_COLUMNS) + 1))
        try:
            with self._transaction() as conn:
                if row.ok:
                    existing = conn.execute(
                        "SELECT call_id FROM calls WHERE cache_key = ? AND ok = 1", (row.cache_key,)
                    ).fetchone()
                    if existing is not None:
                        return int(existing[0])
                cursor = conn.execute(f"INSERT INTO calls ({names}) VALUES ({marks})", [*values, utc_now()])
                return int(cursor.lastrowid or 0)
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot write ledger: {exc}") from exc

    def batch_rows(self, cache_keys: Iterable[str]) -> dict[tuple[str, str], sqlite3.Row]:
        """The latest row per (batch, key) already stored from any batch: an ingest never stores a line twice."""
        keys = list(dict.fromkeys(cache_keys))
        found: dict[tuple[str, str], sqlite3.Row] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = f"SELECT * FROM calls WHERE cache_key IN ({marks}) AND batch_id IS NOT NULL ORDER BY call_id"
            for row in self._read(sql, chunk):
                found[(row["batch_id"], row["cache_key"])] = row
        return found

    def route_totals(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Answers, model responses and cost of one run, split into ``batch`` and ``sync``.

        The summary reads these from the ledger, so the two always agree. ``cost_usd`` is
        None when some response of the route has tokens but no price.
        """
        sql = (
            "SELECT batch_id IS NOT NULL AS batched, SUM(ok) AS answers, SUM(raw_response IS NOT NULL) AS calls,"
            " SUM(cost_usd) AS cost, SUM(prompt_tokens IS NOT NULL AND cost_usd IS NULL) AS unpriced"
            " FROM calls WHERE run_id = ? GROUP BY batched"
        )
        totals: dict[str, dict[str, Any]] = {
            name: {"answers": 0, "calls": 0, "cost_usd": 0.0} for name in ("batch", "sync")
        }
        for row in self._read(sql, (run_id,)):
            entry = totals["batch" if row["batched"] else "sync"]
            entry["answers"] = int(row["answers"] or 0)
            entry["calls"] = int(row["calls"] or 0)
            entry["cost_usd"] = None if row["unpriced"] else round(float(row["cost"] or 0.0), 6)
        return totals

    # -- batches ----------------------------------------------------------------
    def add_batch(self, batch: BatchRow, requests: Sequence[tuple[str, str, str | None]] = ()) -> None:
        """Record a batch and its requests (custom id, record id, follow-up messages) in one transaction.

        Called once the batch's file is complete on disk and before any of it is sent, so
        from this commit on every request in it counts as pending until the batch is done.
        """
        now = utc_now()
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO batches (batch_id, kind, run_id, stage, model, endpoint, local_path,"
                    " request_count, bytes, status, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (batch.batch_id, batch.kind, batch.run_id, batch.stage, batch.model, batch.endpoint,
                     batch.local_path, batch.request_count, batch.bytes, batch.status, now, now),
                )  # fmt: skip
                conn.executemany(
                    "INSERT OR IGNORE INTO batch_requests (batch_id, custom_id, record_id, messages_json)"
                    " VALUES (?, ?, ?, ?)",
                    [(batch.batch_id, *request) for request in requests],
                )
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot write ledger: {exc}") from exc

    _BATCH_FIELDS = frozenset(
        {"status", "input_file_id", "provider_batch_id", "output_file_id", "error_file_id", "request_counts_json",
         "error", "submitted_at", "finished_at", "ingested_at", "local_path"}
    )  # fmt: skip

    def update_batch(self, batch_id: str, **fields: Any) -> None:
        unknown = set(fields) - self._BATCH_FIELDS
        if unknown:
            raise ValueError(f"not batch fields: {sorted(unknown)}")
        names = ", ".join(f"{name} = ?" for name in fields)
        self._write(
            f"UPDATE batches SET {names}, updated_at = ? WHERE batch_id = ?", [*fields.values(), utc_now(), batch_id]
        )

    def batch(self, batch_id: str) -> sqlite3.Row | None:
        rows = self._read("SELECT * FROM batches WHERE batch_id = ?", (batch_id,))
        return rows[0] if rows else None

    def batches(self, *, kind: str | None = None, statuses: Sequence[str] | None = None) -> list[sqlite3.Row]:
        """Batches in the order they were recorded, optionally of one kind and in some statuses."""
        sql, params = "SELECT * FROM batches WHERE 1 = 1", []
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if statuses is not None:
            sql += f" AND status IN ({', '.join('?' for _ in statuses)})"
            params.extend(statuses)
        return self._read(sql + " ORDER BY created_at, rowid", params)

    def batches_holding(self, cache_keys: Iterable[str]) -> dict[str, list[tuple[str, str | None]]]:
        """The API batches each key was sent in, oldest first, with a follow-up's messages (None: the prompt)."""
        keys = list(dict.fromkeys(cache_keys))
        found: dict[str, list[tuple[str, str | None]]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = (
                "SELECT r.custom_id, r.batch_id, r.messages_json FROM batch_requests r"
                f" JOIN batches b ON b.batch_id = r.batch_id WHERE r.custom_id IN ({marks})"
                " ORDER BY b.created_at, b.rowid"
            )
            for row in self._read(sql, chunk):
                found.setdefault(row["custom_id"], []).append((row["batch_id"], row["messages_json"]))
        return found

    def batch_request_count(self, batch_id: str) -> int:
        return int(self._read("SELECT COUNT(*) FROM batch_requests WHERE batch_id = ?", (batch_id,))[0][0])

    def batch_unstored(self, batch_id: str) -> int:
        """Requests of a batch with no row from it yet: 0 means every line (or its absence) is in the ledger."""
        sql = (
            "SELECT COUNT(*) FROM batch_requests r WHERE r.batch_id = ? AND NOT EXISTS"
            " (SELECT 1 FROM calls c WHERE c.batch_id = r.batch_id AND c.cache_key = r.custom_id)"
            " AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.cache_key = r.custom_id AND c.ok = 1)"
        )
        return int(self._read(sql, (batch_id,))[0][0])

    def add_calls(self, rows: Sequence[CallRow]) -> list[sqlite3.Row | None]:
        """Store several attempts in one transaction, with ``add_call``'s rule: one successful answer per key.

        For answers read from a results file, which stays on disk: a crash before the commit
        loses nothing, the same file is ingested again. One commit per row cost ~200 us,
        over three minutes for a million answers. Returns each row as stored (None where a
        key already had its answer), built from the values written rather than read back.
        """
        if not rows:
            return []
        names = ", ".join((*_CALL_COLUMNS, "created_at"))
        marks = ", ".join("?" for _ in range(len(_CALL_COLUMNS) + 1))
        ok_index = _CALL_COLUMNS.index("ok")
        now = utc_now()
        try:
            with self._transaction() as conn:
                answered: set[str] = set()
                ok_keys = list({row.cache_key for row in rows if row.ok})
                for start in range(0, len(ok_keys), 500):
                    chunk = ok_keys[start : start + 500]
                    sql = f"SELECT cache_key FROM calls WHERE ok = 1 AND cache_key IN ({', '.join('?' for _ in chunk)})"
                    answered.update(key for (key,) in conn.execute(sql, chunk))
                values = []
                kept: list[bool] = []
                for row in rows:
                    keep = not (row.ok and row.cache_key in answered)
                    kept.append(keep)
                    if not keep:
                        continue
                    if row.ok:
                        answered.add(row.cache_key)
                    value = [getattr(row, name) for name in _CALL_COLUMNS]
                    value[ok_index] = int(row.ok)
                    values.append([*value, now])
                conn.executemany(f"INSERT INTO calls ({names}) VALUES ({marks})", values)
                # One writer inside one transaction: the new rows took consecutive ids up to the last.
                last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
                shape = conn.execute("SELECT * FROM calls LIMIT 0")
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot write ledger: {exc}") from exc
        columns = [column[0] for column in shape.description]
        stored: list[sqlite3.Row | None] = []
        call_id = last - len(values)
        values_iter = iter(values)
        for keep in kept:
            if not keep:
                stored.append(None)
                continue
            call_id += 1
            named = dict(zip((*_CALL_COLUMNS, "created_at"), next(values_iter), strict=True))
            named["call_id"] = call_id
            stored.append(sqlite3.Row(shape, tuple(named[name] for name in columns)))
        return stored

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        try:
            with self._lock:
                return list(self._conn.execute(sql, list(params)))
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot read ledger: {exc}") from exc

    def call(self, call_id: int) -> sqlite3.Row:
        return self._read("SELECT * FROM calls WHERE call_id = ?", (call_id,))[0]

    def answers(self, cache_keys: Iterable[str]) -> dict[str, sqlite3.Row]:
        """Successful calls for the given cache keys: the work a re-run must not repeat."""
        keys = list(dict.fromkeys(cache_keys))
        found: dict[str, sqlite3.Row] = {}
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            marks = ", ".join("?" for _ in batch)
            for row in self._read(f"SELECT * FROM calls WHERE ok = 1 AND cache_key IN ({marks})", batch):
                found[row["cache_key"]] = row
        return found

    def last_errors(self, cache_keys: Iterable[str]) -> dict[str, sqlite3.Row]:
        """The most recent failed attempt per key, for keys that never succeeded."""
        keys = list(dict.fromkeys(cache_keys))
        found: dict[str, sqlite3.Row] = {}
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            marks = ", ".join("?" for _ in batch)
            sql = f"SELECT * FROM calls WHERE ok = 0 AND cache_key IN ({marks}) ORDER BY call_id"
            for row in self._read(sql, batch):
                found[row["cache_key"]] = row
        return found

    def calls(self, run_id: str | None = None) -> list[sqlite3.Row]:
        if run_id is None:
            return self._read("SELECT * FROM calls ORDER BY call_id")
        return self._read("SELECT * FROM calls WHERE run_id = ? ORDER BY call_id", (run_id,))

    # -- adjudications --------------------------------------------------------
    def add_adjudication(
        self,
        *,
        decisions_path: str,
        record_id: str,
        final_label: str,
        choice: str,
        who: str,
        note: str = "",
        run_id: str | None = None,
        model_decision: str | None = None,
        gold_label: str | None = None,
    ) -> int:
        """Store one human verdict at once, so an interrupted adjudication keeps it."""
        return self._write(
            "INSERT INTO adjudications (decisions_path, record_id, run_id, model_decision, gold_label,"
            " final_label, choice, note, who, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (decisions_path, record_id, run_id, model_decision, gold_label, final_label, choice, note, who, utc_now()),
        )

    def adjudications(self, decisions_path: str | None = None) -> list[sqlite3.Row]:
        """Verdicts in the order given; the latest per record is the one in force."""
        if decisions_path is None:
            return self._read("SELECT * FROM adjudications ORDER BY adjudication_id")
        return self._read(
            "SELECT * FROM adjudications WHERE decisions_path = ? ORDER BY adjudication_id", (decisions_path,)
        )

    # -- prioritised screening -------------------------------------------------
    def priority_session(
        self,
        session_id: str,
        *,
        records_path: str,
        records_sha256: str,
        protocol_sha256: str,
        params: Mapping[str, Any],
    ) -> None:
        """Register a session once; a resumed session keeps its first parameters."""
        self._write(
            "INSERT OR IGNORE INTO priority_sessions (session_id, records_path, records_sha256, protocol_sha256,"
            " params_json, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, records_path, records_sha256, protocol_sha256, json.dumps(dict(params)), utc_now()),
        )

    def priority_params(self, session_id: str) -> dict[str, Any]:
        """The session's parameters as first registered, plus the ranker state saved since."""
        rows = self._read("SELECT params_json FROM priority_sessions WHERE session_id = ?", (session_id,))
        return dict(json.loads(rows[0]["params_json"])) if rows else {}

    def save_priority_state(self, session_id: str, key: str, state: Mapping[str, Any]) -> None:
        """Keep resumable state (the ranker's losses) beside the parameters, so resuming replays nothing."""
        self._write(
            "UPDATE priority_sessions SET params_json = json_set(params_json, ?, json(?)) WHERE session_id = ?",
            (f"$.{key}", json.dumps(dict(state)), session_id),
        )

    def add_priority_answer(
        self, session_id: str, *, record_id: str, answer: str, who: str, note: str = "", p_value: float | None = None
    ) -> int:
        """Store one answer at once, so a crash or Ctrl-C never loses it."""
        return self._write(
            "INSERT INTO priority_answers (session_id, record_id, answer, note, who, p_value, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, record_id, answer, note, who, p_value, utc_now()),
        )

    def priority_answers(self, session_id: str) -> list[sqlite3.Row]:
        return self._read("SELECT * FROM priority_answers WHERE session_id = ? ORDER BY answer_id", (session_id,))

    # -- validation samples ------------------------------------------------------
    def add_validation_sample(
        self,
        sample_id: str,
        *,
        decisions_path: str,
        decisions_sha256: str,
        seed: int,
        params: Mapping[str, Any],
        plan: Mapping[str, Any],
        draw: Sequence[tuple[str, str]],
    ) -> None:
        """Store a drawn sample once, record by record, in one transaction: a resumed run reads it back."""
        try:
            with self._transaction() as conn:
                exists = conn.execute("SELECT 1 FROM validation_samples WHERE sample_id = ?", (sample_id,)).fetchone()
                if exists:
                    return
                conn.execute(
                    "INSERT INTO validation_samples (sample_id, decisions_path, decisions_sha256, seed, params_json,"
                    " plan_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (sample_id, decisions_path, decisions_sha256, seed, json.dumps(dict(params)),
                     json.dumps(dict(plan)), utc_now()),
                )  # fmt: skip
                conn.executemany(
                    "INSERT INTO validation_draws (sample_id, position, record_id, stratum) VALUES (?, ?, ?, ?)",
                    [(sample_id, i, rid, stratum) for i, (rid, stratum) in enumerate(draw)],
                )
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot write ledger: {exc}") from exc

    def validation_samples(self, decisions_sha256: str) -> list[sqlite3.Row]:
        """Samples drawn from this run, oldest first."""
        return self._read(
            "SELECT * FROM validation_samples WHERE decisions_sha256 = ? ORDER BY created_at, rowid",
            (decisions_sha256,),
        )

    def validation_draw(self, sample_id: str) -> list[tuple[str, str]]:
        rows = self._read(
            "SELECT record_id, stratum FROM validation_draws WHERE sample_id = ? ORDER BY position", (sample_id,)
        )
        return [(str(row["record_id"]), str(row["stratum"])) for row in rows]

    def add_validation_label(
        self, sample_id: str, *, record_id: str, answer: str, who: str, note: str = "", source: str = "terminal"
    ) -> int:
        """Store one label at once, so a crash, Ctrl-C or kill -9 never loses it."""
        return self._write(
            "INSERT INTO validation_labels (sample_id, record_id, answer, note, who, source, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sample_id, record_id, answer, note, who, source, utc_now()),
        )

    def validation_labels(self, sample_id: str) -> list[sqlite3.Row]:
        return self._read("SELECT * FROM validation_labels WHERE sample_id = ? ORDER BY label_id", (sample_id,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _split_sql(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def default_ledger_path(output: str | Path) -> Path:
    """The ledger that belongs to an output table: ``x.csv`` -> ``x.ledger.sqlite`` beside it."""
    out = Path(output)
    return out.with_name(f"{out.stem}.ledger.sqlite")
