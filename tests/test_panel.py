"""Panels of reviewers: combination rules, votes, conflicts, and the ledger keeping each answer apart.

The flow tests use scripted models on purpose (two reviewers that must disagree);
that real backends answer as panel members is proven in test_panel_model.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from winnow.backends.base import ModelRequest, ModelResponse
from winnow.engine import CallEngine, EngineConfig
from winnow.ledger import Ledger
from winnow.lifecycle import ModelChoice, Sampling, collect
from winnow.prices import PriceTable
from winnow.protocol import load_protocol
from winnow.records.model import Record
from winnow.retry import RetryPolicy
from winnow.screening.decisions import read_decisions
from winnow.screening.panel import HumanReviewer, PanelStage, Reviewer, combine, conflicting, reviewer_name, vote
from winnow.templates import load_template

from support import DENNSTAEDT, FakeModel, answer_for, run_cli

LOADED = load_protocol(DENNSTAEDT / "protocol.yaml")
TEMPLATE = load_template("screen_title_abstract")


@pytest.mark.parametrize(
    ("decisions", "rule", "expected"),
    [
        (["include", "exclude"], "any", "include"),
        (["exclude", "exclude"], "any", "exclude"),
        (["exclude", "uncertain"], "any", "uncertain"),
        (["exclude", "error"], "any", "uncertain"),
        (["include", "exclude"], "majority", "uncertain"),
        (["include", "include", "exclude"], "majority", "include"),
        (["exclude", "exclude", "uncertain"], "majority", "exclude"),
        (["include", "include"], "all", "include"),
        (["exclude", "exclude"], "all", "exclude"),
        (["include", "exclude"], "all", "uncertain"),
        (["uncertain", "uncertain"], "all", "uncertain"),
        ([], "any", "error"),
    ],
)
def test_combination_rules(decisions: list[str], rule: str, expected: str) -> None:
    assert combine(decisions, rule) == expected


def test_votes_conflicts_and_names() -> None:
    assert vote(["include", "include", "exclude"]) == "include"
    assert vote(["include", "exclude"]) == "uncertain", "a tie is for a person"
    assert vote(["include", "error", "error"]) == "uncertain", "one answer of three is no majority"
    assert vote(["error", "error"]) == "error"
    assert conflicting(["include", "exclude"]) and conflicting(["exclude", "uncertain"])
    assert not conflicting(["exclude", "exclude"]) and not conflicting(["uncertain", "error"])
    assert reviewer_name("openai:llama3.1:8b") == "llama3.1-8b"
    assert reviewer_name("local") == "local"
    assert reviewer_name("openai:gpt-4o-mini", ["gpt-4o-mini"]) == "gpt-4o-mini#2"
    with pytest.raises(ValueError, match="unknown combination rule"):
        combine(["include"], "some")


class Named(FakeModel):
    """A scripted model with its own id, so two of them are two reviewers."""

    def __init__(self, model_id: str, script: Any = None, probability: float | None = None) -> None:
        super().__init__(script)
        self.model_id = model_id
        self.probability = probability

    def identity(self) -> dict[str, Any]:
        return {"fake": self.model_id}

    def complete(self, request: ModelRequest) -> ModelResponse:
        response = super().complete(request)
        if self.probability is not None:
            response.label_probs = {"include": self.probability, "exclude": 1 - self.probability}
            response.confidence_source = "token_logprobs"
        return response


def records(n: int = 4) -> list[Record]:
    return [Record(record_id=f"r{i}", title=f"Title {i}", abstract=f"Abstract {i}") for i in range(n)]


def by_sample(decisions: list[str]) -> Any:
    """Answers the k-th repeated sample with ``decisions[k]`` (failing a criterion for an exclude)."""

    def script(request: ModelRequest, n: int) -> str:
        decision = decisions[request.sample % len(decisions)]
        return answer_for(request, decision=decision, verdict="not_met" if decision == "exclude" else "met")

    return script


@dataclass(frozen=True)
class Scripted(ModelChoice):
    """A reviewer's model choice that builds the scripted model instead of a backend."""

    scripted: Any = None

    def build(self) -> Any:
        return self.scripted


def panel(
    models: dict[str, Named], *, samples: int = 1, humans: tuple[HumanReviewer, ...] = (), rule: str = "any"
) -> PanelStage:
    reviewers = [
        (Reviewer(name, Scripted(model_id=m.model_id, scripted=m), TEMPLATE.name, samples), TEMPLATE)
        for name, m in models.items()
    ]
    return PanelStage(records(), LOADED, reviewers, list(humans), Sampling(temperature=0.7), rule)


def run_panel(stage: PanelStage, models: dict[str, Named], ledger: Ledger) -> Any:
    first = next(iter(models.values()))
    engine = CallEngine(
        model=first, ledger=ledger, run_id="r", stage="screen", template_name=TEMPLATE.name,
        template_sha256=TEMPLATE.sha256, config=EngineConfig(retry=RetryPolicy(max_attempts=2, initial_s=0.001)),
        prices=PriceTable({}),
    )  # fmt: skip
    return collect(stage, stage.units(first), engine)


def test_two_reviewers_disagree_and_any_includes(tmp_path: Path) -> None:
    models = {
        "yes": Named("fake:yes", by_sample(["include"])),
        "no": Named("fake:no", by_sample(["exclude"])),
    }
    with Ledger(tmp_path / "l.sqlite") as ledger:
        out = run_panel(panel(models), models, ledger)
        calls = ledger.calls()
    assert {c["model"] for c in calls} == {"fake:yes", "fake:no"} and len(calls) == 8
    row = out.rows[0]
    assert row["decision"] == "include" and row["conflict"] is True and row["combine"] == "any"
    assert row["decision:yes"] == "include" and row["decision:no"] == "exclude"
    assert row["verdicts:no"].startswith("I") and "=not_met" in row["verdicts:no"]
    assert row["p_include"] is None and row["confidence_source"] == "none", "no probability is invented"
    assert out.counts["include"] == 4


def test_repeated_answers_vote_and_give_a_share_not_a_probability(tmp_path: Path) -> None:
    models = {"m": Named("fake:m", by_sample(["include", "exclude", "include"]))}
    with Ledger(tmp_path / "l.sqlite") as ledger:
        out = run_panel(panel(models, samples=3), models, ledger)
        calls = ledger.calls()
    assert len(calls) == 12 and len({c["cache_key"] for c in calls}) == 12, "each sample is its own answer"
    assert {json.loads(c["params_json"])["seed"] for c in calls} == {0, 1, 2}
    row = out.rows[0]
    assert row["decision:m"] == "include" and row["decision"] == "include"
    assert row["p_include"] == pytest.approx(2 / 3, abs=1e-6) and row["confidence_source"] == "votes:3"
    assert row["conflict"] is False, "one reviewer's samples are votes, not a conflict"


def test_token_probabilities_are_kept_where_every_answer_has_one(tmp_path: Path) -> None:
    models = {"a": Named("fake:a", by_sample(["include"]), 0.8), "b": Named("fake:b", by_sample(["exclude"]), 0.2)}
    with Ledger(tmp_path / "l.sqlite") as ledger:
        row = run_panel(panel(models), models, ledger).rows[0]
    assert row["p_include:a"] == pytest.approx(0.8) and row["confidence_source:a"] == "token_logprobs"
    assert row["p_include"] == pytest.approx(0.5) and row["confidence_source"] == "mean of 2 reviewers"


def test_adding_a_reviewer_calls_only_the_new_one(tmp_path: Path) -> None:
    yes, no = Named("fake:yes", by_sample(["include"])), Named("fake:no", by_sample(["exclude"]))
    third = Named("fake:third", by_sample(["uncertain"]))
    with Ledger(tmp_path / "l.sqlite") as ledger:
        run_panel(panel({"yes": yes, "no": no}), {"yes": yes, "no": no}, ledger)
        models = {"yes": yes, "no": no, "third": third}
        out = run_panel(panel(models, rule="majority"), models, ledger)
    assert (len(yes.calls), len(no.calls), len(third.calls)) == (4, 4, 4)
    assert out.rows[0]["decision"] == "uncertain" and out.rows[0]["combine"] == "majority"


def test_a_person_joins_as_a_reviewer_where_they_labelled(tmp_path: Path) -> None:
    models = {"no": Named("fake:no", by_sample(["exclude"]))}
    human = HumanReviewer("rayyan", {"r0": "include", "r1": "exclude"}, "rayyan.csv")
    with Ledger(tmp_path / "l.sqlite") as ledger:
        rows = run_panel(panel(models, humans=(human,)), models, ledger).rows
    r0, r1, r2 = rows[:3]
    assert r0["decision:rayyan"] == "include" and r0["conflict"] is True and r0["decision"] == "include"
    assert r1["decision"] == "exclude" and r1["conflict"] is False
    assert r2["decision:rayyan"] == "" and r2["decision"] == "exclude", "an unlabelled record is the model's"


def test_cli_panel_table_columns_and_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records_csv = tmp_path / "r.csv"
    records_csv.write_text("record_id,title,abstract\nr1,A tool,An abstract\nr2,B tool,Another\n", encoding="utf-8")
    base = ["screen", records_csv, "-p", DENNSTAEDT / "protocol.yaml", "--base-url", "http://127.0.0.1:9/v1"]
    code = run_cli(*base, "-m", "openai:gpt-4o-mini", "-m", "openai:gpt-4o", "--samples", "3", "--dry-run")
    out = capsys.readouterr().out
    assert code == 0 and "12 to call" in out, "2 records x 2 reviewers x 3 answers"
    labels = tmp_path / "bad.csv"
    labels.write_text("record_id,label\nr1,maybe\n", encoding="utf-8")
    code = run_cli(*base, "-m", "openai:a", "--reviewer-labels", labels, "--dry-run")
    err = capsys.readouterr().err
    assert code != 0 and "bad.csv:2: record r1: unknown label" in err and len(err.strip().splitlines()) == 1
    code = run_cli("extract", records_csv, "-p", "foundation_models_medical_imaging", "-m", "local", "-m", "local")
    assert code == 2 and "one --model" in capsys.readouterr().err


def test_panel_table_reads_back_with_the_new_columns_after_the_old_ones(tmp_path: Path) -> None:
    models = {"yes": Named("fake:yes", by_sample(["include"])), "no": Named("fake:no", by_sample(["exclude"]))}
    stage = panel(models)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        rows = run_panel(stage, models, ledger).rows
    stage.write(tmp_path / "d.csv", rows)
    table = read_decisions(tmp_path / "d.csv")
    columns = list(table.columns)
    assert columns.index("call_id") < columns.index("decision:yes") < columns.index("conflict")
    assert list(table["conflict"].astype(str).str.lower()) == ["true"] * 4
