"""Numbered, append-only schema migrations for the run ledger.

A ledger written by an older winnow is migrated forward, never rejected. Never edit
a migration that has shipped; append a new one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: runs, every model call, and human adjudications.
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        argv TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL DEFAULT 'running',
        model TEXT,
        template_name TEXT,
        template_sha256 TEXT,
        protocol_sha256 TEXT,
        params_json TEXT,
        input_path TEXT,
        n_records INTEGER,
        summary_json TEXT,
        winnow_version TEXT
    );
    CREATE TABLE calls (
        call_id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        record_id TEXT NOT NULL,
        record_sha256 TEXT NOT NULL,
        template_name TEXT NOT NULL,
        template_sha256 TEXT NOT NULL,
        model TEXT NOT NULL,
        served_model TEXT,
        params_json TEXT NOT NULL,
        cache_key TEXT NOT NULL,
        prompt_json TEXT NOT NULL,
        raw_response TEXT,
        parsed_json TEXT,
        ok INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        error_kind TEXT,
        attempt INTEGER NOT NULL DEFAULT 1,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cached_tokens INTEGER,
        latency_ms REAL,
        cost_usd REAL,
        p_include REAL,
        confidence_source TEXT,
        created_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX calls_one_answer_per_key ON calls(cache_key) WHERE ok = 1;
    CREATE INDEX calls_by_run ON calls(run_id);
    CREATE INDEX calls_by_record ON calls(record_id);
    CREATE TABLE adjudications (
        adjudication_id INTEGER PRIMARY KEY AUTOINCREMENT,
        decisions_path TEXT NOT NULL,
        record_id TEXT NOT NULL,
        run_id TEXT,
        model_decision TEXT,
        gold_label TEXT,
        final_label TEXT NOT NULL,
        choice TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        who TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX adjudications_by_record ON adjudications(decisions_path, record_id);
    """,
    # 2: a reviewer's answers in a prioritised-screening session, in the order given.
    """
    CREATE TABLE priority_sessions (
        session_id TEXT PRIMARY KEY,
        records_path TEXT NOT NULL,
        records_sha256 TEXT NOT NULL,
        protocol_sha256 TEXT NOT NULL,
        params_json TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE priority_answers (
        answer_id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL,
        record_id TEXT NOT NULL,
        answer TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        who TEXT NOT NULL,
        p_value REAL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX priority_answers_by_session ON priority_answers(session_id, answer_id);
    """,
    # 3: validation samples (the seeded draw, record by record) and the reviewer's labels, in the order given.
    """
    CREATE TABLE validation_samples (
        sample_id TEXT PRIMARY KEY,
        decisions_path TEXT NOT NULL,
        decisions_sha256 TEXT NOT NULL,
        seed INTEGER NOT NULL,
        params_json TEXT NOT NULL,
        plan_json TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE validation_draws (
        sample_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        record_id TEXT NOT NULL,
        stratum TEXT NOT NULL,
        PRIMARY KEY (sample_id, position)
    );
    CREATE TABLE validation_labels (
        label_id INTEGER PRIMARY KEY AUTOINCREMENT,
        sample_id TEXT NOT NULL,
        record_id TEXT NOT NULL,
        answer TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        who TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT 'terminal',
        created_at TEXT NOT NULL
    );
    CREATE INDEX validation_labels_by_sample ON validation_labels(sample_id, label_id);
    """,
    # 4: the folder each run was started in, so the command that resumes it can say where to run it.
    """
    ALTER TABLE runs ADD COLUMN cwd TEXT;
    """,
)
