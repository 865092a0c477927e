"""Hostile text in records: it stays inside its fence, never shapes the output, and is flagged.

The corpus in fixtures/hostile (written by its make_corpus.py) holds records that
address the model: "ignore the criteria", fake closing fences, fake JSON answers,
a 60 000-character line, terminal escape codes, right-to-left overrides, chat
template tokens, role lines and zero-width characters; plus clean records that
must not be flagged.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from fault_run import run_winnow, screen_command
from faultproxy import SCHEMA_BREAKERS
from hypothesis import given, settings
from hypothesis import strategies as st
from instant_server import InstantServer

from winnow.backends.base import ModelRequest
from winnow.lifecycle import Sampling
from winnow.protocol import load_protocol
from winnow.records import read_records
from winnow.screening.decisions import read_decisions
from winnow.screening.schema import screening_spec
from winnow.screening.screen import build_tasks
from winnow.templates import load_template

from support import DENNSTAEDT, FakeModel, answer_for

CORPUS = Path(__file__).parent / "fixtures" / "hostile"
RECORDS = read_records(CORPUS / "records.csv").records
HOSTILE = [r for r in RECORDS if r.record_id.startswith("h")]
CLEAN = [r for r in RECORDS if r.record_id.startswith("c")]
PROTOCOL = load_protocol(DENNSTAEDT / "protocol.yaml").protocol
TEMPLATE = load_template("screen_title_abstract")
FENCE_LINE = re.compile(r"^<<<(END )?RECORD ([0-9A-F]{12})>>>$", re.MULTILINE)
CHAT_TOKENS = ("<|", "|>")


def test_corpus_is_read_whole() -> None:
    assert len(HOSTILE) == 10 and len(CLEAN) == 4
    assert max(len(r.abstract) for r in HOSTILE) > 50_000


def rendered(record: Any) -> tuple[dict[str, str], ...]:
    (task,) = build_tasks([record], PROTOCOL, TEMPLATE, FakeModel(), Sampling())
    return task.request.messages


def split_fence(text: str) -> tuple[str, str]:
    """(prompt with the fenced block replaced by a marker, the fenced body)."""
    lines = list(FENCE_LINE.finditer(text))
    assert len(lines) == 2, f"expected one opening and one closing fence line, found {len(lines)}"
    opening, closing = lines
    assert opening.group(1) is None and closing.group(1) == "END "
    assert opening.group(2) == closing.group(2), "the closing line must carry the opening line's tag"
    body = text[opening.end() + 1 : closing.start() - 1]
    return text[: opening.start()] + "<FENCE>" + text[closing.end() :], body


@pytest.mark.parametrize("record", HOSTILE, ids=lambda r: r.record_id)
def test_untrusted_text_cannot_leave_its_fence(record: Any) -> None:
    system, user = rendered(record)
    clean_system, clean_user = rendered(CLEAN[0])
    assert system == clean_system, "record text must never reach the system message"
    outside, body = split_fence(user["content"])
    assert outside == split_fence(clean_user["content"])[0], "the prompt outside the fence must not change"
    assert "<<<" not in body and ">>>" not in body
    for token in CHAT_TOKENS:
        assert token not in body, f"chat-template token {token!r} left intact inside the fence"
    invisible = [c for c in body if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cf")]
    assert invisible == [], f"invisible characters reached the prompt: {invisible!r}"
    words = re.sub(r"\[U\+[0-9A-F]{4,6}\]", "", body)
    assert record.title.split()[0].strip("\u200b") in words


@pytest.mark.parametrize("breaker", SCHEMA_BREAKERS)
def test_schema_breaking_answers_are_rejected(breaker: str) -> None:
    with pytest.raises(ValueError):
        screening_spec(PROTOCOL.criterion_ids)(breaker)


def _valid_answer() -> dict[str, Any]:
    request = ModelRequest(messages=(), schema={"properties": {"criteria": {"required": PROTOCOL.criterion_ids}}})
    return json.loads(answer_for(request))


@settings(max_examples=150, deadline=None)
@given(
    where=st.sampled_from(["top", "criteria", "verdict"]),
    key=st.text(min_size=1, max_size=20),
    value=st.one_of(st.text(max_size=30), st.integers(), st.booleans(), st.none()),
)
def test_parsed_output_only_ever_has_schema_fields(where: str, key: str, value: object) -> None:
    answer = _valid_answer()
    validate = screening_spec(PROTOCOL.criterion_ids)
    parsed = validate(json.dumps(answer))
    assert set(parsed) == {"criteria", "rationale", "decision"}
    assert set(parsed["criteria"]) == set(PROTOCOL.criterion_ids)
    assert all(set(v) == {"verdict", "reason"} for v in parsed["criteria"].values())
    target = {"top": answer, "criteria": answer["criteria"], "verdict": answer["criteria"]["I1"]}[where]
    if key in target:
        return
    target[key] = value
    with pytest.raises(ValueError):
        validate(json.dumps(answer))


def test_instruction_like_records_are_flagged_in_table_and_audit(tmp_path: Path) -> None:
    out = tmp_path / "decisions.csv"
    with InstantServer() as server:
        done = run_winnow(screen_command(CORPUS / "records.csv", DENNSTAEDT / "protocol.yaml", server.base_url, out))
    assert done.returncode == 0, done.stderr
    table = read_decisions(out)
    flagged = {
        rid for rid, flags in zip(table["record_id"], table["flags"], strict=True) if "instruction_like_text" in flags
    }
    assert flagged == {r.record_id for r in HOSTILE}

    audit = run_winnow(
        [sys.executable, "-m", "winnow", "audit", str(out), "--gold", str(CORPUS / "gold.csv"), "--json"]
    )
    assert audit.returncode == 0, audit.stderr
    listed = {item["record_id"]: item["flags"] for item in json.loads(audit.stdout)["records"]}
    assert flagged <= set(listed), "every flagged record reaches a human, agreeing with gold or not"
    kinds = {item["record_id"]: item["kind"] for item in json.loads(audit.stdout)["records"]}
    assert {rid for rid, kind in kinds.items() if kind == "flagged"} <= flagged
    for rid, flags in listed.items():
        assert ("instruction_like_text" in flags) == (rid in flagged)
