"""The openai: backend against a real OpenAI-compatible server started here on 127.0.0.1.

llama.cpp's server refuses ``json_schema`` with HTTP 500 but honours ``json_object``
with a schema, so this also proves that the backend finds a method that works.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from winnow.backends.base import ModelRequest
from winnow.backends.openai_compat import OpenAICompatibleModel
from winnow.errors import TransientBackendError
from winnow.screening.decisions import read_decisions

from support import DENNSTAEDT, LlamaServer, all_calls, ok_calls, run_cli

pytestmark = pytest.mark.model


@pytest.fixture
def server(llama_server: LlamaServer) -> LlamaServer:
    return llama_server


def test_screen_through_openai_backend(server: LlamaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "d.jsonl"
    args = ("screen", DENNSTAEDT / "records.csv", "--protocol", DENNSTAEDT / "protocol.yaml",
            "--model", "openai:smollm2", "--base-url", server.base_url, "--limit", 3, "--out", out,
            "--no-progress")  # fmt: skip
    assert run_cli(*args, "--concurrency", 2) == 0
    table = read_decisions(out)
    assert list(table["record_id"]) == ["1", "2", "3"]
    assert set(table["decision"]) <= {"include", "exclude", "uncertain"}
    assert (table["model"] == "openai:smollm2").all()
    ledger = tmp_path / "d.ledger.sqlite"
    answered = ok_calls(ledger)
    assert len(answered) == 3 and all(c["prompt_tokens"] for c in answered)
    refused = [c for c in all_calls(ledger) if not c["ok"]]
    assert all("json_schema" not in (c["error"] or "") for c in refused)
    n = len(all_calls(ledger))
    assert run_cli(*args) == 0
    assert len(all_calls(ledger)) == n


def test_backend_falls_back_from_json_schema_and_reads_logprobs(server: LlamaServer) -> None:
    model = OpenAICompatibleModel("smollm2", base_url=server.base_url)
    schema = {
        "type": "object",
        "properties": {"decision": {"type": "string", "enum": ["include", "exclude", "uncertain"]}},
        "required": ["decision"],
        "additionalProperties": False,
    }
    request = ModelRequest(
        messages=({"role": "user", "content": "Is a CT scan a medical image? Answer include or exclude in JSON."},),
        schema=schema,
        max_tokens=30,
        label_field="decision",
        labels=("include", "exclude", "uncertain"),
    )
    response = model.complete(request)
    assert model.method == "json_object"
    assert response.structured_method == "json_object"
    assert response.text.strip().startswith("{")
    if response.label_probs is not None:
        assert response.confidence_source == "token_logprobs"
        assert sum(response.label_probs.values()) == pytest.approx(1.0)


def test_unreachable_server_is_a_transient_error() -> None:
    model = OpenAICompatibleModel("x", base_url="http://127.0.0.1:9/v1", timeout_s=2)
    request = ModelRequest(messages=({"role": "user", "content": "hi"},), schema={"type": "object"})
    with pytest.raises(TransientBackendError) as err:
        model.complete(request)
    assert err.value.kind == "connection"
