"""The batch route against a real model: a Files and Batches API on 127.0.0.1 answering through ``winnow serve``.

Every answer comes from SmolLM2 behind ``llama_cpp.server`` (``tests/batch_server.py`` forwards
each request line to it); nothing is canned. Each test screens one or two records, since the
model takes seconds a call. The faults: a 500 on upload, a line in the error file, an answer
that breaks the schema, a batch that expires half done, ``kill -9`` of winnow after its batch was
created (and while the create was in flight), and a cancel.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from batch_server import SCHEMA_BREAKER, BatchServer, run_batch_file

from winnow.batch.options import POLL_ENV

from support import DENNSTAEDT, LlamaServer, offline_env, run_cli

pytestmark = pytest.mark.model

RECORDS = DENNSTAEDT / "records.csv"
PROTOCOL = DENNSTAEDT / "protocol.yaml"


@pytest.fixture
def server(llama_server: LlamaServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchServer]:
    monkeypatch.setenv(POLL_ENV, "0.1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with BatchServer(llama_server.base_url) as running:
        yield running


def screen(base_url: str, out: Path, *extra: Any, limit: int = 2) -> list[str]:
    # json_object: llama.cpp's server refuses json_schema; both routes then send the same body.
    return ["screen", str(RECORDS), "-p", str(PROTOCOL), "-m", "openai:smollm2", "--base-url", base_url,
            "--limit", str(limit), "--structured-output", "json_object", "-o", str(out), "--no-progress",
            *map(str, extra)]  # fmt: skip


def said(capsys: pytest.CaptureFixture[str]) -> str:
    """What the command printed to stderr, on one line (the terminal wraps the summary at 80 columns)."""
    return " ".join(capsys.readouterr().err.split())


def table(path: Path) -> pd.DataFrame:
    """The decisions table without the provenance columns (which run and call answered)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=["run_id", "call_id"])


def calls(ledger: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(ledger) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT * FROM calls ORDER BY call_id")]


def batches(ledger: Path) -> list[dict[str, Any]]:
    if not ledger.exists():
        return []
    try:
        with sqlite3.connect(ledger) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute("SELECT * FROM batches ORDER BY created_at, rowid")]
    except sqlite3.OperationalError:  # the file exists before its tables do
        return []


def spawn(args: list[str]) -> subprocess.Popen[str]:
    env = {**offline_env(), POLL_ENV: "0.1"}
    return subprocess.Popen([sys.executable, "-m", "winnow", *args], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def kill_when(proc: subprocess.Popen[str], ready: Any, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else proc.returncode
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def keys_of(server: BatchServer, batch: int) -> list[str]:
    return [line["custom_id"] for line in server.inputs[server.created[batch]]]


def test_batch_and_sync_give_identical_tables_and_each_reuses_the_others_answers(
    server: BatchServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batched, synced = tmp_path / "batch" / "d.csv", tmp_path / "sync" / "d.csv"
    assert run_cli(*screen(server.base_url, batched, "--batch")) == 0
    assert "answers 2 from batches" in said(capsys)
    assert len(server.created) == 1 and sorted(server.answered.values()) == [1, 1]
    assert run_cli(*screen(server.base_url, synced)) == 0
    assert server.sync_calls == 2
    # The same request either way, so the same answer.
    sent = [line["body"] for line in server.inputs[server.created[0]]]
    assert sorted(map(json.dumps, sent)) == sorted(map(json.dumps, server.sync_bodies))
    assert table(batched).equals(table(synced))
    assert set(table(batched)["decision"]) <= {"include", "exclude", "uncertain"}

    # A synchronous run over the batch's ledger calls nothing; a batch run over the sync ledger sends nothing.
    assert run_cli(*screen(server.base_url, batched)) == 0
    assert "2 answers reused from the ledger" in said(capsys)
    assert run_cli(*screen(server.base_url, synced, "--batch")) == 0
    assert server.sync_calls == 2 and len(server.created) == 1 and server.uploads == 1
    assert table(batched).equals(table(synced))
    rows = calls(batched.with_name("d.ledger.sqlite"))
    assert len(rows) == 2 and all(r["ok"] and r["batch_id"] for r in rows)
    assert all(r["latency_ms"] is None and r["prompt_tokens"] for r in rows)


def test_a_cluster_answers_the_request_file_in_vllms_format_and_winnow_ingests_it(
    server: BatchServer, llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, requests, results = tmp_path / "d.csv", tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    args = screen(llama_server.base_url, out, limit=1)
    assert run_cli(*args, "--batch-file", requests) == 0
    assert not out.exists()
    answered = run_batch_file(requests, results, llama_server.base_url)  # vllm run-batch -i ... -o ...
    assert list(answered.values()) == [1]
    assert json.loads(results.read_text().splitlines()[0])["id"].startswith("vllm-")
    assert run_cli(*args, "--batch-results", results) == 0
    assert "ingested 1 result lines (0 failed" in said(capsys)
    decided = table(out)
    assert len(decided) == 1 and set(decided["decision"]) <= {"include", "exclude", "uncertain"}
    ledger = out.with_name("d.ledger.sqlite")
    rows = calls(ledger)
    assert len(rows) == 1 and all(r["ok"] and r["batch_id"].startswith("results-") for r in rows)
    # Ingesting the same file again stores nothing twice; a synchronous run reuses the cluster's answer.
    assert run_cli(*args, "--batch-results", results) == 0
    assert run_cli(*args) == 0
    assert len(calls(ledger)) == 1 and table(out).equals(decided)
    assert "1 answers reused from the ledger" in said(capsys)


def test_upload_500_error_line_and_schema_break_are_sent_again_in_a_follow_up_batch(
    server: BatchServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d.csv"
    assert run_cli(*screen(server.base_url, tmp_path / "plan.csv", "--batch-file", tmp_path / "r.jsonl")) == 0
    first, second = (json.loads(line)["custom_id"] for line in (tmp_path / "r.jsonl").read_text().splitlines())
    server.fail_uploads = 1
    server.error_lines = {first}
    server.break_schema = {second}
    assert run_cli(*screen(server.base_url, out, "--batch")) == 0
    err = said(capsys)
    assert server.uploads == 3, "the failed upload was retried, then one upload per batch"
    assert len(server.created) == 2 and set(keys_of(server, 1)) == {first, second}
    follow_up = {line["custom_id"]: line["body"] for line in server.inputs[server.created[1]]}
    original = {line["custom_id"]: line["body"] for line in server.inputs[server.created[0]]}
    assert follow_up[first] == original[first], "a request the batch failed is sent again as it was"
    repair = follow_up[second]["messages"]
    assert repair[:-2] == original[second]["messages"]
    assert repair[-2] == {"role": "assistant", "content": SCHEMA_BREAKER}
    assert "did not match the required JSON schema" in repair[-1]["content"]
    assert "criteria" in repair[-1]["content"], "the repair carries the validation error"
    assert sorted(server.answered.values()) == [1, 2]
    decided = table(out)
    assert list(decided["error"]) == ["", ""] and set(decided["decision"]) <= {"include", "exclude", "uncertain"}
    rows = calls(out.with_name("d.ledger.sqlite"))
    by_key = {key: [(r["error_kind"], r["ok"], r["batch_id"]) for r in rows if r["cache_key"] == key]
              for key in (first, second)}  # fmt: skip
    ids = [b["batch_id"] for b in batches(out.with_name("d.ledger.sqlite"))]
    assert by_key[first] == [("batch_error", 0, ids[0]), (None, 1, ids[1])]
    assert by_key[second] == [("invalid_output", 0, ids[0]), (None, 1, ids[1])]
    repaired = next(r for r in rows if r["cache_key"] == second and r["ok"])
    assert json.loads(repaired["prompt_json"])[-1] == repair[-1] and repaired["attempt"] == 2
    assert "answers 2 from batches" in err and "ingested 4 result lines (2 failed" in err


def test_killed_after_submit_the_same_command_collects_and_the_expired_half_goes_sync(
    server: BatchServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d.csv"
    ledger = out.with_name("d.ledger.sqlite")
    args = screen(server.base_url, out, "--batch", "--batch-fallback", "sync")
    server.hold.clear()  # the provider takes its time
    kill_when(spawn(args), lambda: any(b["provider_batch_id"] for b in batches(ledger)))
    assert len(server.created) == 1 and not out.exists()
    server.expire_after = 1  # the batch will expire with one of its two requests answered
    server.hold.set()
    assert run_cli(*args) == 0
    err = said(capsys)
    assert len(server.created) == 1, "the resumed run collected the open batch and sent no other"
    assert sum(server.answered.values()) == 1 and server.sync_calls == 1
    rows = calls(ledger)
    missing = [r for r in rows if r["error_kind"] == "batch_missing"]
    assert len(missing) == 1 and "expired before answering" in missing[0]["error"]
    sync = [r for r in rows if r["ok"] and r["batch_id"] is None]
    assert len(sync) == 1 and sync[0]["cache_key"] == missing[0]["cache_key"]
    assert "answers 1 from batches" in err and "1 from synchronous calls" in err
    assert len(table(out)) == 2 and "error" not in set(table(out)["decision"])


def test_killed_while_uploading_and_while_creating_the_same_command_sends_the_batch_once(
    server: BatchServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d.csv"
    args = screen(server.base_url, out, "--batch", "--no-wait", limit=1)
    server.hold_upload.clear()  # the file reaches the provider, but winnow dies before it hears so
    kill_when(spawn(args), lambda: server.uploads == 1)
    server.hold_upload.set()
    server.hold_create.clear()  # the provider makes the batch, but winnow dies before it hears so
    kill_when(spawn(args), lambda: len(server.created) == 1)
    server.hold_create.set()
    assert server.uploads == 2, "the killed upload was sent again (it had not been recorded)"
    assert run_cli(*args) == 0
    assert len(server.created) == 1, "the batch was found by its metadata, not created again"
    server.join()
    assert run_cli(*args) == 0
    err = said(capsys)
    assert len(server.created) == 1 and server.uploads == 2 and list(server.answered.values()) == [1]
    assert out.exists() and len(table(out)) == 1
    assert "answers 1 from batches" in err


def test_no_wait_never_sends_a_pending_request_again_and_cancel_stops_it(
    server: BatchServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d.csv"
    server.hold.clear()
    args = screen(server.base_url, out, "--batch", "--no-wait", limit=1)
    assert run_cli(*args) == 0
    assert run_cli(*args) == 0
    err = said(capsys)
    assert len(server.created) == 1 and server.uploads == 1
    assert "still running: 1 batch(es), 1 requests" in err and not out.exists()
    assert run_cli(*screen(server.base_url, out, "--batch-cancel", limit=1)) == 0
    err = said(capsys)
    assert "cancelled batch_" in err
    assert server.batches[server.created[0]]["status"] == "cancelled" and not server.answered
    decided = table(out)
    assert list(decided["decision"]) == ["error"] and "was cancelled" in decided["error"][0]
