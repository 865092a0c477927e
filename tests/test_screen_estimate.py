"""``winnow screen --dry-run``: counts, tokens, cost and time without a model call or a write."""

from __future__ import annotations

from pathlib import Path

import pytest
from instant_server import InstantServer

from winnow.engine import EngineConfig
from winnow.lifecycle import ModelChoice, RunSpec, Sampling
from winnow.screening.estimate import Estimate, estimate_screening
from winnow.screening.run import RecordSelection, title_abstract_stage

from support import DENNSTAEDT, run_cli

PROTOCOL = DENNSTAEDT / "protocol.yaml"


def write_records(path: Path, n: int) -> Path:
    lines = ["record_id,title,abstract"]
    lines += [
        f'r{i},"Decision support for radiotherapy planning {i}","A software tool evaluated in {i} patients."'
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def estimate(
    records: Path,
    out: Path,
    *,
    model_id: str = "openai:gpt-4o-mini",
    base_url: str = "http://127.0.0.1:9/v1",  # nothing listens: a call would fail the test
    **kw: object,
) -> Estimate:
    spec = RunSpec(
        input_path=records,
        protocol_path=PROTOCOL,
        template="screen_title_abstract",
        model=ModelChoice(model_id=model_id, base_url=base_url),
        out=out,
        **kw,  # type: ignore[arg-type]
    )
    return estimate_screening(spec, title_abstract_stage(spec, RecordSelection()))


def test_dry_run_calls_nothing_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = write_records(tmp_path / "r.csv", 12)
    code = run_cli(
        "screen",
        records,
        "-p",
        PROTOCOL,
        "-m",
        "openai:gpt-4o-mini",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "-o",
        tmp_path / "out.csv",
        "--dry-run",
        "--rpm",
        "6",
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "12 (0 already answered in the ledger, 12 to call)" in out
    assert "limited by --rpm 6" in out and "~0:02:00" in out
    assert "answer length: half of --max-tokens (768)" in out
    assert "$" in out and "no model was called" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_estimate_counts_tokens_and_prices_them(tmp_path: Path) -> None:
    records = write_records(tmp_path / "r.csv", 10)
    est = estimate(records, tmp_path / "out.csv", sampling=Sampling(max_tokens=200))
    assert isinstance(est, Estimate)
    assert est.to_call == 10 and est.completion_tokens == 1000
    assert est.shared_prefix_tokens > 300, "the criteria must sit in a prefix shared by every prompt"
    assert est.prompt_tokens_per_call > est.shared_prefix_tokens
    # gpt-4o-mini: $0.15 per million prompt tokens, $0.60 per million completion tokens.
    assert est.cost_usd == pytest.approx((est.prompt_tokens * 0.15 + 1000 * 0.60) / 1e6)


def test_unpriced_model_has_no_cost_and_time_follows_concurrency(tmp_path: Path) -> None:
    records = write_records(tmp_path / "r.csv", 9)
    est = estimate(records, tmp_path / "out.csv", model_id="openai:no-such-model", engine=EngineConfig(concurrency=4))
    assert est.cost_usd is None
    assert any("not in the price table" in a for a in est.assumptions)
    assert est.seconds == pytest.approx(3 * 2.0) and est.limited_by.startswith("concurrency 4")


def test_rerun_estimate_counts_answered_records_and_past_answers(tmp_path: Path) -> None:
    records = write_records(tmp_path / "r.csv", 6)
    out = tmp_path / "out.csv"
    with InstantServer() as server:
        args = ["screen", records, "-p", PROTOCOL, "-m", "openai:instant", "--base-url", server.base_url, "-o", out]
        assert run_cli(*args, "--limit", "4", "--no-progress") == 0
        calls = server.requests
        est = estimate(records, out, model_id="openai:instant", base_url=server.base_url)
        assert server.requests == calls, "a dry run must not call the model"
    assert (est.records, est.already_answered, est.to_call) == (6, 4, 2)
    assert est.completion_tokens_per_call == 20  # what the server reported for the 4 answered calls
    assert any("past calls" in a for a in est.assumptions)


def test_dry_run_prices_an_openai_model_before_anyone_has_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WINNOW_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    records = write_records(tmp_path / "r.csv", 5)
    args = ["screen", records, "-p", PROTOCOL, "-m", "openai:gpt-4o-mini", "-o", tmp_path / "out.csv"]
    assert run_cli(*args, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "5 (0 already answered in the ledger, 5 to call)" in out and "$" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]
    assert run_cli(*args, "--no-progress") == 1, "a real run still needs the key"
    assert "set OPENAI_API_KEY, or pass --base-url" in capsys.readouterr().err


def test_a_model_built_for_pricing_still_refuses_to_call_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from winnow.backends import ModelRequest, build_model
    from winnow.errors import BackendError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    model = build_model("openai:gpt-4o-mini", require_key=False)
    request = ModelRequest(messages=({"role": "user", "content": "hi"},), schema={"type": "object"})
    with pytest.raises(BackendError, match="set OPENAI_API_KEY"):
        model.complete(request)


def test_dry_run_renders_one_prompt_at_a_time(tmp_path: Path) -> None:
    """Rendering every prompt before counting held them all: a million were 3.4 GB. Now one at a time."""
    import tracemalloc

    records = write_records(tmp_path / "r.csv", 6000)
    spec = RunSpec(
        input_path=records,
        protocol_path=PROTOCOL,
        template="screen_title_abstract",
        model=ModelChoice(model_id="openai:gpt-4o-mini", base_url="http://127.0.0.1:9/v1"),
        out=tmp_path / "out.csv",
    )
    stage = title_abstract_stage(spec, RecordSelection())
    tracemalloc.start()
    try:
        est = estimate_screening(spec, stage)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    prompts = est.prompt_tokens * 4  # characters of every prompt together
    assert est.to_call == 6000 and prompts > 12e6
    assert peak < prompts / 5, f"traced peak {peak / 1e6:.1f} MB while pricing {prompts / 1e6:.1f} MB of prompts"
