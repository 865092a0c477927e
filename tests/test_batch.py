"""The batch route's pieces without a model: request files, results lines, prices, flags and the dry run.

What a batch run does against a real model (and its faults) is in ``test_batch_model.py``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from winnow.backends.base import ModelRequest
from winnow.backends.openai_compat import OpenAICompatibleModel
from winnow.batch.files import (
    MAX_BYTES,
    MAX_REQUESTS,
    Part,
    RequestFiles,
    ResultIndex,
    Source,
    parse_result,
    request_line,
)
from winnow.errors import InputError
from winnow.ledger import BatchRow, CallRow, Ledger
from winnow.prices import PriceTable

from support import DENNSTAEDT, results_line, run_cli

PROTOCOL = DENNSTAEDT / "protocol.yaml"
SCHEMA = {
    "type": "object",
    "properties": {"decision": {"type": "string", "enum": ["include", "exclude", "uncertain"], "maxLength": 9}},
    "required": ["decision"],
    "additionalProperties": False,
}


def request(content: str = "Is this a radiotherapy decision-support system?") -> ModelRequest:
    return ModelRequest(
        messages=({"role": "system", "content": "You screen records."}, {"role": "user", "content": content}),
        schema=SCHEMA,
        schema_name="screening_answer",
        label_field="decision",
        labels=("include", "exclude", "uncertain"),
        positive_label="include",
    )


@pytest.mark.parametrize("method", ["json_schema", "json_object", "tools"])
def test_a_batch_line_holds_exactly_the_body_a_synchronous_call_posts(method: str) -> None:
    model = OpenAICompatibleModel("gpt-4o-mini", base_url="http://127.0.0.1:9/v1", structured=method)
    posted: list[dict[str, Any]] = []

    class Client:
        def post(self, path: str, *, body: dict[str, Any], cast_to: Any) -> Any:
            posted.append(json.loads(json.dumps(body)))
            raise ValueError("stop here")

    model._client = Client()
    with pytest.raises(Exception, match="stop here"):
        model.complete(request())
    line = json.loads(request_line("k" * 64, model.request_body(model.batch_method(), request())))
    assert line == {"custom_id": "k" * 64, "method": "POST", "url": "/v1/chat/completions", "body": posted[0]}


def test_auto_asks_batches_for_json_schema() -> None:
    assert OpenAICompatibleModel("m", base_url="http://x/v1").batch_method() == "json_schema"
    assert OpenAICompatibleModel("m", base_url="http://x/v1", structured="json_object").batch_method() == "json_object"


def test_request_files_split_at_the_request_and_byte_limits(tmp_path: Path) -> None:
    lines = [request_line(f"id{i}", {"n": i, "pad": "x" * (100 if i == 5 else 10)}) for i in range(7)]
    small, big = len(lines[0]), len(lines[5])
    assert 3 * small <= 300 < 2 * small + big and big + small <= 300
    parts: list[Part] = []
    files = RequestFiles(name=lambda n: tmp_path / f"part-{n}.jsonl", on_part=parts.append, max_requests=3,
                         max_bytes=300)  # fmt: skip
    for i, line in enumerate(lines):
        files.add(f"id{i}", f"r{i}", line)
    files.close()
    # Three requests fill the first part; the long sixth line does not fit beside the fourth and fifth.
    assert [[cid for cid, _ in p.requests] for p in parts] == [["id0", "id1", "id2"], ["id3", "id4"], ["id5", "id6"]]
    for part in parts:
        written = part.path.read_bytes().splitlines(keepends=True)
        assert len(written) == len(part.requests) and part.bytes == sum(map(len, written)) <= 300
        assert [json.loads(line)["custom_id"] for line in written] == [cid for cid, _ in part.requests]
    assert not list(tmp_path.glob(".*.tmp"))
    assert (MAX_REQUESTS, MAX_BYTES) == (50_000, 200 * 1024 * 1024)


def test_a_part_is_seen_only_once_whole_and_an_abandoned_one_leaves_nothing(tmp_path: Path) -> None:
    parts: list[Part] = []
    files = RequestFiles(name=lambda n: tmp_path / f"p{n}.jsonl", on_part=parts.append)
    files.add("a", "r1", request_line("a", {}))
    assert parts == [] and not (tmp_path / "p1.jsonl").exists()
    files.abandon()
    assert list(tmp_path.iterdir()) == []


OPENAI_OK = {
    "id": "batch_req_1",
    "custom_id": "k1",
    "response": {"status_code": 200, "request_id": "req_1", "body": {"choices": [{"message": {"content": "{}"}}]}},
    "error": None,
}
OPENAI_ERROR_FILE = {
    "id": "batch_req_2",
    "custom_id": "k2",
    "response": None,
    "error": {"code": "batch_expired", "message": "This request could not be executed in time."},
}
OPENAI_HTTP_500 = {"id": "batch_req_3", "custom_id": "k3",
                   "response": {"status_code": 500, "request_id": "req_3",
                                "body": {"error": {"message": "The server had an error", "type": "server_error"}}},
                   "error": None}  # fmt: skip
VLLM_ERROR = {
    "id": "vllm-1",
    "custom_id": "k4",
    "response": {"status_code": 400, "request_id": "vllm-batch-1", "body": None},
    "error": "Request must not be streamed",
}


@pytest.mark.parametrize(
    ("line", "body", "error"),
    [
        (OPENAI_OK, True, None),
        (OPENAI_ERROR_FILE, False, "batch_expired: This request could not be executed in time."),
        (OPENAI_HTTP_500, False, "HTTP 500: server_error: The server had an error"),
        (VLLM_ERROR, False, "HTTP 400: Request must not be streamed"),
    ],
)
def test_results_lines_of_openai_and_vllm(line: dict[str, Any], body: bool, error: str | None) -> None:
    parsed = parse_result(json.dumps(line).encode(), "results.jsonl")
    assert parsed.custom_id == line["custom_id"]
    assert (parsed.body is not None) is body
    assert parsed.error == error


def test_a_broken_results_line_is_one_error_naming_the_file_and_line(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps(OPENAI_OK) + "\n" + '{"id": "x", "response": {}}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"results.jsonl:2: not a results line: no custom_id"):
        ResultIndex().add(Source("b", results))


def test_the_index_finds_every_line_of_a_key_across_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps(OPENAI_OK) + "\n" + json.dumps(OPENAI_ERROR_FILE) + "\n", encoding="utf-8")
    again = {**OPENAI_OK, "id": "batch_req_9", "custom_id": "k2"}
    second.write_text("\n" + json.dumps(again) + "\n", encoding="utf-8")
    index = ResultIndex()
    index.add(Source("A", first))
    index.add(Source("B", second))
    assert index.lines == 3 and "k1" in index and "k9" not in index
    found = [(source.batch_id, line.body is not None) for source, line in index.lines_for("k2")]
    assert found == [("A", False), ("B", True)]
    index.close()


def test_batch_prices_are_half_and_an_unlisted_batch_price_is_no_price(tmp_path: Path) -> None:
    table = PriceTable.load()
    sync = table.cost("openai:gpt-4o-mini", 1_000_000, 200_000, 100_000)
    batch = table.cost("openai:gpt-4o-mini", 1_000_000, 200_000, 100_000, batch=True)
    assert sync is not None and batch == pytest.approx(sync / 2)
    custom = tmp_path / "prices.yaml"
    custom.write_text("openai:x: {input: 1.0, output: 2.0}\n", encoding="utf-8")
    table = PriceTable.load(custom)
    assert table.cost("openai:x", 10, 10) is not None
    assert table.cost("openai:x", 10, 10, batch=True) is None and not table.known("openai:x", batch=True)


def test_dry_run_with_batch_prices_half_and_counts_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    records = tmp_path / "r.csv"
    rows = [f'r{i},"Decision support for radiotherapy {i}","A planning tool in {i} patients."' for i in range(9)]
    records.write_text("record_id,title,abstract\n" + "\n".join(rows) + "\n", encoding="utf-8")
    args = ("screen", records, "-p", PROTOCOL, "-m", "openai:gpt-4o-mini", "-o", tmp_path / "d.csv", "--dry-run")
    assert run_cli(*args) == 0
    plain = capsys.readouterr().out
    assert run_cli(*args, "--batch") == 0
    batch = capsys.readouterr().out

    def cost(text: str) -> float:
        line = next(line for line in text.splitlines() if line.startswith("cost "))
        return float(line.split("$")[1].replace(",", ""))

    assert cost(batch) == pytest.approx(cost(plain) / 2, rel=0.01)
    assert "batch files         1 " in batch and "24 h completion window" in batch
    assert "batch prices" in batch
    assert not (tmp_path / "d.csv").exists() and not (tmp_path / "d.ledger.sqlite").exists()


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (("--batch", "-m", "local"), "the batch options need an openai: model"),
        (("--batch", "--batch-file", "x.jsonl", "-m", "openai:m"), "give one"),
        (("--no-wait", "-m", "openai:m"), "--no-wait applies with --batch"),
        (("--batch-fallback", "sync", "-m", "openai:m"), "--batch-fallback applies with --batch or --batch-results"),
        (("--batch", "-m", "openai:m", "-m", "openai:n"), "the batch options take one --model"),
        (("--batch", "-m", "openai:m", "--samples", "2"), "no panel or --samples"),
        (("--batch-file", "x.jsonl", "-m", "openai:m", "--dry-run"), "--dry-run prices --batch runs"),
        (("--batch", "-m", "openai:m", "--full-text"), "--batch does not apply with --full-text"),
    ],
)
def test_batch_flags_that_cannot_go_together_are_refused_by_name(
    extra: tuple[str, ...], problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli("screen", DENNSTAEDT / "records.csv", "-p", PROTOCOL, "-o", tmp_path / "d.csv", *extra)
    assert code == 2
    assert problem in capsys.readouterr().err
    assert not (tmp_path / "d.ledger.sqlite").exists()


def test_batch_file_needs_no_key_and_no_network_and_writes_the_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    requests = tmp_path / "requests.jsonl"
    args = ("screen", DENNSTAEDT / "records.csv", "-p", PROTOCOL, "-m", "openai:qwen", "--limit", 5,
            "-o", tmp_path / "d.csv", "--no-progress")  # fmt: skip
    assert run_cli(*args, "--batch-file", requests) == 0
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in requests.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 5 and len({line["custom_id"] for line in lines}) == 5
    assert {line["body"]["model"] for line in lines} == {"qwen"}
    assert all(line["body"]["response_format"]["type"] == "json_schema" for line in lines)
    assert "wrote 5 requests to" in err and "vllm run-batch -i" in err and "--model qwen" in err
    assert not (tmp_path / "d.csv").exists(), "no decisions exist yet, so no table is written"
    with sqlite3.connect(tmp_path / "d.ledger.sqlite") as conn:
        kinds = conn.execute("SELECT kind, status, request_count FROM batches").fetchall()
        status = conn.execute("SELECT status FROM runs").fetchone()[0]
    assert kinds == [("file", "written", 5)] and status == "written"
    # Written again: the same requests (a file sends nothing, so nothing is pending).
    assert run_cli(*args, "--batch-file", tmp_path / "again.jsonl") == 0
    assert (tmp_path / "again.jsonl").read_text(encoding="utf-8") == requests.read_text(encoding="utf-8")


def test_results_alone_leave_unanswered_records_as_errors_with_the_way_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    empty = tmp_path / "results.jsonl"
    empty.write_text(json.dumps(OPENAI_OK) + "\n", encoding="utf-8")  # a line for some other request
    out = tmp_path / "d.csv"
    args = ("screen", DENNSTAEDT / "records.csv", "-p", PROTOCOL, "-m", "openai:qwen", "--limit", 2, "-o", out,
            "--no-progress", "--batch-results", empty)  # fmt: skip
    assert run_cli(*args) == 0
    table = out.read_text(encoding="utf-8")
    assert table.count("no answer in the results file(s); send it again with --batch-file FILE") == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "2 record(s) left undecided" in said
    assert "1 result lines answer no request of this run" in said and "--base-url" in said


def test_a_ledger_migrated_to_batches_keeps_its_calls(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.add_batch(
            BatchRow("b1", "api", "run", "screen", "openai:m", None, "b1.requests.jsonl", 2, 10, "written"),
            [("k1", "r1", None), ("k2", "r2", '[{"role": "user", "content": "again"}]')],
        )
        assert ledger.batches_holding(["k1", "k2", "k3"]) == {
            "k1": [("b1", None)],
            "k2": [("b1", '[{"role": "user", "content": "again"}]')],
        }
        row = CallRow(run_id="run", stage="screen", record_id="r1", record_sha256="s", template_name="t",
                      template_sha256="t", model="openai:m", params_json="{}", cache_key="k1", prompt_json="[]",
                      ok=True, attempt=1, batch_id="b1", prompt_tokens=10, completion_tokens=2)  # fmt: skip
        ledger.add_call(row)
        assert ledger.batch_unstored("b1") == 1
        assert ledger.route_totals("run")["batch"] == {"answers": 1, "calls": 0, "cost_usd": None}


def valid_answer() -> str:
    criteria = {cid: {"verdict": "met", "reason": "stated"} for cid in ("I1", "I2", "I3")}
    criteria |= {cid: {"verdict": "not_met", "reason": "stated"} for cid in ("E1", "E2")}
    return json.dumps({"criteria": criteria, "rationale": "A clinical decision-support tool.", "decision": "include"})


def two_records(out: Path) -> tuple[Any, ...]:
    """``winnow screen`` of two gold records for a model no server answers (the batch files' route)."""
    return ("screen", DENNSTAEDT / "records.csv", "-p", PROTOCOL, "-m", "openai:qwen", "--limit", 2, "-o", out,
            "--no-progress")  # fmt: skip


def test_results_and_a_request_file_in_one_command_write_the_repairs_with_their_validation_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flow only (hand-written answers): which request a cluster gets next, and what the ledger keeps."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "d.csv"
    args = two_records(out)
    assert run_cli(*args, "--batch-file", tmp_path / "requests.jsonl") == 0
    first, second = (json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines())
    broken = '{"decision": "include"}'
    (tmp_path / "results.jsonl").write_text(
        results_line(first["custom_id"], valid_answer()) + results_line(second["custom_id"], broken)
    )
    follow_up = tmp_path / "follow-up.jsonl"
    assert run_cli(*args, "--batch-results", tmp_path / "results.jsonl", "--batch-file", follow_up) == 0
    assert not out.exists(), "one record still waits for its repair"
    (repair,) = (json.loads(line) for line in follow_up.read_text().splitlines())
    assert repair["custom_id"] == second["custom_id"]
    messages = repair["body"]["messages"]
    assert messages[:-2] == second["body"]["messages"] and messages[-2] == {"role": "assistant", "content": broken}
    assert "did not match the required JSON schema" in messages[-1]["content"] and "criteria" in messages[-1]["content"]
    (tmp_path / "results-2.jsonl").write_text(results_line(second["custom_id"], valid_answer()))
    assert run_cli(*args, "--batch-results", tmp_path / "results-2.jsonl") == 0
    table = out.read_text()
    assert table.count(",include,") == 2
    with sqlite3.connect(tmp_path / "d.ledger.sqlite") as conn:
        rows = conn.execute(
            "SELECT ok, error_kind, prompt_json, cost_usd FROM calls WHERE cache_key = ? ORDER BY call_id",
            (second["custom_id"],),
        ).fetchall()
    assert [(ok, kind) for ok, kind, _, _ in rows] == [(0, "invalid_output"), (1, None)]
    assert json.loads(rows[1][2])[-1] == messages[-1], "the answer is stored with the repair it answered"
    assert rows[1][3] is None, "a model without prices has no cost"


def test_a_synchronous_run_beside_running_batches_says_they_may_answer_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from instant_server import InstantServer

    out = tmp_path / "d.csv"
    with Ledger(tmp_path / "d.ledger.sqlite") as ledger:
        ledger.add_batch(BatchRow("b1", "api", "run", "screen", "openai:m", None, None, 1, 1, "in_progress"))
        ledger.add_batch(BatchRow("b2", "api", "run", "screen", "openai:m", None, None, 1, 1, "written"))
    with InstantServer() as server:
        args = ("screen", DENNSTAEDT / "records.csv", "-p", PROTOCOL, "-m", "openai:instant", "--base-url",
                server.base_url, "--limit", 2, "-o", out, "--no-progress")  # fmt: skip
        assert run_cli(*args) == 0
    said = " ".join(capsys.readouterr().err.split())
    assert "1 batch(es) sent from this ledger are still running" in said and "--batch-cancel" in said


def test_rows_stored_together_are_returned_exactly_as_a_read_gives_them(tmp_path: Path) -> None:
    def row(key: str, ok: bool) -> CallRow:
        return CallRow(run_id="run", stage="screen", record_id=key, record_sha256="s", template_name="t",
                       template_sha256="t", model="openai:m", params_json="{}", cache_key=key, prompt_json="[]",
                       ok=ok, attempt=1, batch_id="b", raw_response="{}", parsed_json="{}" if ok else None,
                       prompt_tokens=10, completion_tokens=2, cost_usd=0.25, p_include=0.125)  # fmt: skip

    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.add_call(row("k0", True))
        stored = ledger.add_calls([row("k1", True), row("k0", True), row("k2", False), row("k1", True)])
        assert [r is None for r in stored] == [False, True, False, True], "one answer per key, as add_call"
        for built in stored:
            if built is not None:
                read = ledger.call(built["call_id"])
                assert tuple(built) == tuple(read) and built.keys() == read.keys()


def test_runs_and_methods_read_a_ledger_of_the_batch_route(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``winnow runs`` says a written run waits for answers; methods counts the answers that came from batches."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "d.csv"
    args = two_records(out)

    def screen(*more: Any) -> int:
        # The ledger stores these arguments as the run's command line, and methods reads -p from it.
        return run_cli(*args, *more)

    assert screen("--batch-file", tmp_path / "requests.jsonl") == 0
    lines = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    (tmp_path / "results.jsonl").write_text("".join(results_line(line["custom_id"], valid_answer()) for line in lines))
    assert screen("--batch-results", tmp_path / "results.jsonl") == 0
    capsys.readouterr()
    ledger = tmp_path / "d.ledger.sqlite"
    assert run_cli("runs", ledger, "--json") == 0
    ingest, written = json.loads(capsys.readouterr().out)
    assert written["state"] == "written" and "--batch-results" in written["left_note"] and written["resume"] is None
    assert ingest["state"] == "finished" and ingest["batch_answers"] == 2 and ingest["calls_made"] == 0
    assert run_cli("runs", ledger) == 0
    assert "2 answers from batches" in " ".join(capsys.readouterr().out.split())
    assert run_cli("methods", ledger) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "made 0 synchronous model calls over 2 runs" in said and "2 answers came from batch requests" in said


def test_a_ledger_of_schema_4_gains_the_batch_tables_and_keeps_its_runs_folder(tmp_path: Path) -> None:
    """Main's schema 4 (runs.cwd) migrates to 5 (the batch route) without losing a run or its folder."""
    from winnow.ledger.migrations import MIGRATIONS

    path = tmp_path / "v4.ledger.sqlite"
    with sqlite3.connect(path) as conn:
        for script in MIGRATIONS[:4]:
            conn.executescript(script)
        conn.execute("PRAGMA user_version = 4")
        conn.execute(
            "INSERT INTO runs (run_id, command, argv, started_at, cwd) VALUES ('r', 'screen', '[]', '2026', '/rev')"
        )
    with Ledger(path) as ledger:
        assert ledger.schema_version == 5 == len(MIGRATIONS)
        assert ledger.batches_holding(["k"]) == {}
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT cwd FROM runs").fetchall() == [("/rev",)]
        assert conn.execute("SELECT count(*) FROM batches").fetchone() == (0,)
        assert "batch_id" in {row[1] for row in conn.execute("PRAGMA table_info(calls)")}
