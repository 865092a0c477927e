"""Flow of a screening run with a scripted model: caching, repairs, retries, errors.

These use a fake model on purpose: they test winnow's own logic. The backends are
proven against the embedded model and a real server in test_backends_*.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from winnow.engine import CallEngine, EngineConfig
from winnow.errors import BackendError, TransientBackendError
from winnow.ledger import Ledger
from winnow.lifecycle import Sampling
from winnow.prices import PriceTable
from winnow.protocol import load_protocol
from winnow.records.model import Record
from winnow.retry import RetryPolicy
from winnow.screening.decisions import read_decisions, write_decisions
from winnow.screening.screen import final_decision
from winnow.templates import load_template

from support import DENNSTAEDT, FakeModel, answer_for, screen_records

PROTOCOL = load_protocol(DENNSTAEDT / "protocol.yaml").protocol
TEMPLATE = load_template("screen_title_abstract")
FAST_RETRY = RetryPolicy(max_attempts=3, initial_s=0.001, max_backoff_s=0.002)
KEY_OF_RECORD_0 = "1c7130a0e7d237e880fc05928e6e33c2d9d96a0be9a5321e05e6665cec62cc76"


def records(n: int = 5) -> list[Record]:
    return [Record(record_id=str(i), title=f"Title {i}", abstract=f"Abstract {i}" if i % 2 else "") for i in range(n)]


def engine(model: FakeModel, ledger: Ledger, run_id: str = "r1", **config: object) -> CallEngine:
    return CallEngine(
        model=model,
        ledger=ledger,
        run_id=run_id,
        stage="screen",
        template_name=TEMPLATE.name,
        template_sha256=TEMPLATE.sha256,
        config=EngineConfig(retry=FAST_RETRY, **config),  # type: ignore[arg-type]
        prices=PriceTable({}),
    )


def test_every_record_decided_once_and_rerun_makes_no_calls(tmp_path: Path) -> None:
    model = FakeModel()
    with Ledger(tmp_path / "l.sqlite") as ledger:
        first = screen_records(records(), PROTOCOL, TEMPLATE, engine(model, ledger))
        assert [r["record_id"] for r in first.rows] == ["0", "1", "2", "3", "4"]
        assert len(model.calls) == 5
        assert len(ledger.calls()) == 5
        second = screen_records(records(), PROTOCOL, TEMPLATE, engine(model, ledger, "r2"))
        assert len(model.calls) == 5, "a re-run must make no new calls"
        assert [r["decision"] for r in second.rows] == [r["decision"] for r in first.rows]
        assert second.rows[0]["run_id"] == "r1"
    row = first.rows[0]
    assert row["criterion:I1"] == "met" and row["reason:I1"] == "reason for I1"
    assert row["abstract_missing"] is True and "no_abstract" in row["flags"]
    assert row["p_include"] is None and row["confidence_source"] == "none"


def test_changed_record_rescreens_only_that_record(tmp_path: Path) -> None:
    model = FakeModel()
    with Ledger(tmp_path / "l.sqlite") as ledger:
        screen_records(records(), PROTOCOL, TEMPLATE, engine(model, ledger))
        changed = records()
        changed[2] = Record(record_id="2", title="Title 2 (corrected)", abstract="")
        screen_records(changed, PROTOCOL, TEMPLATE, engine(model, ledger, "r2"))
    assert len(model.calls) == 6


def test_invalid_output_is_repaired_with_the_validation_error(tmp_path: Path) -> None:
    def script(request, n):  # type: ignore[no-untyped-def]
        if len(request.messages) == 2:
            return '{"decision": "maybe"}'
        assert "did not match the required JSON schema" in request.messages[-1]["content"]
        return answer_for(request)

    model = FakeModel(script)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        out = screen_records(records(1), PROTOCOL, TEMPLATE, engine(model, ledger))
        calls = ledger.calls()
    assert out.rows[0]["decision"] == "include"
    assert [c["ok"] for c in calls] == [0, 1]
    assert calls[0]["error_kind"] == "invalid_output" and calls[0]["raw_response"] == '{"decision": "maybe"}'


def test_answer_cut_off_at_the_token_limit_is_asked_again_without_echoing_it(tmp_path: Path) -> None:
    """Sending a limit-long broken answer back would overflow a small context; ask again, briefer."""
    from winnow.backends.base import ModelResponse

    cut = '{"criteria": {"I1": {"verdict": "met", "reason": "a very long reason that never en'

    def script(request, n):  # type: ignore[no-untyped-def]
        if n == 1:
            return ModelResponse(text=cut, served_model="fake-1", finish_reason="length")
        return answer_for(request)

    model = FakeModel(script)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        out = screen_records(records(1), PROTOCOL, TEMPLATE, engine(model, ledger))
    first, second = model.calls
    assert second.messages[:-1] == first.messages, "asked again from the original prompt"
    assert all(m["role"] != "assistant" for m in second.messages), "the cut-off answer is not sent back"
    assert "cut off at the 768-token limit" in second.messages[-1]["content"]
    assert out.rows[0]["decision"] == "include"


def test_output_that_never_validates_becomes_an_error_row_with_raw_text(tmp_path: Path) -> None:
    model = FakeModel(lambda request, n: "not json at all")
    with Ledger(tmp_path / "l.sqlite") as ledger:
        out = screen_records(records(2), PROTOCOL, TEMPLATE, engine(model, ledger, max_repairs=1))
        assert len(ledger.calls()) == 4
    assert [r["decision"] for r in out.rows] == ["error", "error"]
    assert "not json at all" in out.rows[0]["error"]
    assert out.counts["error"] == 2


def test_transient_errors_are_retried_and_logged(tmp_path: Path) -> None:
    def script(request, n):  # type: ignore[no-untyped-def]
        return TransientBackendError("HTTP 503", kind="http_503") if n == 1 else answer_for(request)

    model = FakeModel(script, max_concurrency=1)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        eng = engine(model, ledger)
        out = screen_records(records(1), PROTOCOL, TEMPLATE, eng)
        calls = ledger.calls()
    assert out.rows[0]["decision"] == "include"
    assert [(c["ok"], c["attempt"], c["error_kind"]) for c in calls] == [(0, 1, "http_503"), (1, 2, None)]
    assert eng.stats.retried == 1


def test_permanent_backend_error_is_not_retried(tmp_path: Path) -> None:
    model = FakeModel(lambda request, n: BackendError("HTTP 401: bad key"))
    with Ledger(tmp_path / "l.sqlite") as ledger:
        out = screen_records(records(1), PROTOCOL, TEMPLATE, engine(model, ledger))
    assert len(model.calls) == 1
    assert out.rows[0]["decision"] == "error" and "401" in out.rows[0]["error"]


def test_retry_after_is_honoured() -> None:
    policy = RetryPolicy(initial_s=0.001, max_backoff_s=0.002)
    started = time.monotonic()
    for attempt in policy.retrying():
        with attempt:
            if attempt.retry_state.attempt_number < 3:
                raise TransientBackendError("429", retry_after=0.1 * attempt.retry_state.attempt_number)
    assert time.monotonic() - started >= 0.3, "waited less than the server's Retry-After"
    for attempt in policy.retrying():
        with attempt:
            if attempt.retry_state.attempt_number < 2:
                raise TransientBackendError("503")
    assert policy.wait(attempt.retry_state) < 0.01


def test_conservative_rule() -> None:
    answer = json.loads(answer_for_ids(PROTOCOL.criterion_ids, "exclude", "met"))
    assert final_decision(answer, PROTOCOL) == ("exclude", []), "exclusion criterion E1 met"
    answer["criteria"]["E1"]["verdict"] = "not_met"
    answer["criteria"]["E2"]["verdict"] = "not_met"
    assert final_decision(answer, PROTOCOL) == ("uncertain", ["exclude_without_failed_criterion"])
    answer["criteria"]["I2"]["verdict"] = "not_met"
    assert final_decision(answer, PROTOCOL) == ("exclude", [])


def answer_for_ids(ids: list[str], decision: str, verdict: str) -> str:
    return json.dumps(
        {"criteria": {i: {"verdict": verdict, "reason": "r"} for i in ids}, "rationale": "x", "decision": decision}
    )


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".xlsx"])
def test_decisions_round_trip(tmp_path: Path, suffix: str) -> None:
    model = FakeModel()
    with Ledger(tmp_path / "l.sqlite") as ledger:
        out = screen_records(records(3), PROTOCOL, TEMPLATE, engine(model, ledger))
    path = write_decisions(tmp_path / f"d{suffix}", out.rows, PROTOCOL.criterion_ids)
    frame = read_decisions(path)
    assert list(frame["record_id"]) == ["0", "1", "2"]
    assert list(frame["decision"]) == ["include"] * 3
    for column in (
        "record_id",
        "title",
        "decision",
        "p_include",
        "confidence_source",
        "rationale",
        "criterion:I1",
        "criterion:E2",
        "model",
        "template_sha256",
        "run_id",
    ):
        assert column in frame.columns
    assert frame["template_sha256"].iloc[0] == TEMPLATE.sha256


def test_ledger_refuses_second_successful_answer(tmp_path: Path) -> None:
    model = FakeModel()
    with Ledger(tmp_path / "l.sqlite") as ledger:
        screen_records(records(1), PROTOCOL, TEMPLATE, engine(model, ledger))
        row = ledger.calls()[0]
        import sqlite3

        with pytest.raises(sqlite3.IntegrityError):
            ledger._conn.execute(
                "INSERT INTO calls (run_id, stage, record_id, record_sha256, template_name, template_sha256, model,"
                " params_json, cache_key, prompt_json, ok, created_at)"
                " VALUES ('x','screen','0','h','t','t','m','{}',?,'[]',1,'now')",
                (row["cache_key"],),
            )


def test_strict_schema_drops_length_keywords_but_validator_keeps_them() -> None:
    from winnow.backends.openai_compat import strict_subset
    from winnow.screening.schema import screening_spec

    schema = screening_spec(["I1"]).schema
    strict = strict_subset(schema)
    assert "maxLength" not in json.dumps(strict)
    assert strict["properties"]["criteria"]["required"] == ["I1"]
    long_reason = json.dumps(
        {"criteria": {"I1": {"verdict": "met", "reason": "x" * 5000}}, "rationale": "r", "decision": "include"}
    )
    with pytest.raises(ValueError, match="reason"):
        screening_spec(["I1"])(long_reason)


def test_raw_control_characters_inside_strings_are_accepted() -> None:
    from winnow.screening.schema import screening_spec

    text = '{"criteria": {"I1": {"verdict": "met", "reason": "a\tb"}}, "rationale": "x\ny", "decision": "include"}'
    assert screening_spec(["I1"])(text)["rationale"] == "x\ny"


def test_reworded_criterion_rescreens(tmp_path: Path) -> None:
    model = FakeModel()
    reworded = PROTOCOL.model_copy(deep=True)
    reworded.criteria.inclusion[0].text = "The publication is an original research article."
    with Ledger(tmp_path / "l.sqlite") as ledger:
        screen_records(records(2), PROTOCOL, TEMPLATE, engine(model, ledger))
        screen_records(records(2), reworded, TEMPLATE, engine(model, ledger, "r2"))
        screen_records(records(2), reworded, TEMPLATE, engine(model, ledger, "r3"))
    assert len(model.calls) == 4, "new wording re-asks once; the same wording again is cached"


def test_cache_keys_survive_the_speed_work() -> None:
    """Keys of past ledgers must not move: a changed key re-screens (and re-pays for) every record.

    The expected digest was computed by the code before the schema was hashed once per
    run and the prompt formatted part by part; if it changes, say so in the release notes.
    """
    from winnow.screening.screen import build_tasks

    task = build_tasks(records(1), PROTOCOL, TEMPLATE, FakeModel(), Sampling())[0]
    assert task.cache_key == KEY_OF_RECORD_0
