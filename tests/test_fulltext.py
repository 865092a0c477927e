"""Full-text screening flow with a scripted model: quotes checked, conservative merge, the CLI table.

A fake model on purpose: these test winnow's merge and evidence rules. The embedded
model runs the same command in test_extraction_model.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from winnow.backends.base import ModelRequest
from winnow.engine import CallEngine, EngineConfig
from winnow.extraction.fulltext import CriterionEvidence, FullTextScreeningStage, merge_criterion
from winnow.extraction.papers import prepare_papers
from winnow.extraction.stage import ChunkOptions
from winnow.ledger import Ledger
from winnow.lifecycle import Sampling
from winnow.prices import PriceTable
from winnow.protocol import load_protocol
from winnow.screening.decisions import decision_columns, read_decisions
from winnow.templates import load_template

from support import DENNSTAEDT, REPO, FakeModel, run_cli, run_paper_stage

FIXTURES = REPO / "tests" / "fixtures" / "pdfs"
DVT = FIXTURES / "bmc_systematic_review_DVT_prophylaxis_trauma.pdf"
LOADED = load_protocol(DENNSTAEDT / "protocol.yaml")
PROTOCOL = LOADED.protocol
TEMPLATE = load_template("screen_full_text")
REAL_QUOTE = "A systematic review was completed using PRISMA guidelines"


def scripted(verdicts: dict[str, tuple[str, str, int]], decision: str = "uncertain") -> Any:
    """Every criterion unclear unless given as (verdict, quote, page)."""

    def script(request: ModelRequest, n: int) -> str:
        ids = request.schema["properties"]["criteria"]["required"]
        criteria = {}
        for cid in ids:
            verdict, quote, page = verdicts.get(cid, ("unclear", "", 0))
            criteria[cid] = {"verdict": verdict, "reason": f"reason {cid}", "quote": quote, "page": page}
        return json.dumps({"criteria": criteria, "rationale": "r", "decision": decision})

    return script


def screen(model: FakeModel, tmp_path: Path, max_chunks: int = 1) -> dict[str, Any]:
    papers = prepare_papers([DVT], chunk_tokens=1500, max_chunks=max_chunks)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        engine = CallEngine(
            model=model, ledger=ledger, run_id="r1", stage="screen_full_text", template_name=TEMPLATE.name,
            template_sha256=TEMPLATE.sha256, config=EngineConfig(), prices=PriceTable({}),
        )  # fmt: skip
        stage = FullTextScreeningStage(
            DVT, LOADED, TEMPLATE, sampling=Sampling(max_tokens=900), chunking=ChunkOptions()
        )
        return run_paper_stage(stage, papers, engine).rows[0]


def test_exclusion_on_a_verified_quote_excludes(tmp_path: Path) -> None:
    first = PROTOCOL.criteria.inclusion[0].id
    row = screen(FakeModel(scripted({first: ("not_met", REAL_QUOTE, 1)}, "exclude")), tmp_path)
    assert row["decision"] == "exclude"
    assert row[f"evidence:{first}"] == "verified" and row[f"quote:{first}"] == REAL_QUOTE
    assert row[f"page:{first}"] == 1


def test_exclusion_on_an_unverified_quote_is_only_uncertain(tmp_path: Path) -> None:
    first = PROTOCOL.criteria.inclusion[0].id
    row = screen(FakeModel(scripted({first: ("not_met", "This trial enrolled 900 children in Peru", 1)}, "exclude")),
                 tmp_path)  # fmt: skip
    assert row["decision"] == "uncertain" and row["model_decision"] == "exclude"
    assert row[f"evidence:{first}"] == "not_found"
    assert "unverified_exclusion" in row["flags"] and f"unverified:{first}" in row["flags"]


def test_merge_prefers_verified_decisive_and_flags_conflicts() -> None:
    unclear = CriterionEvidence("unclear", "r", "", None, "no_quote")
    weak = CriterionEvidence("not_met", "r", "q", 1, "not_found")
    met = CriterionEvidence("met", "r", "q", 2, "verified")
    not_met = CriterionEvidence("not_met", "r", "q", 3, "verified_fuzzy")
    assert merge_criterion([unclear, weak, met]) == (met, False)
    assert merge_criterion([unclear, weak]) == (weak, False)
    assert merge_criterion([unclear]) == (unclear, False)
    verdict, conflict = merge_criterion([met, not_met])
    assert conflict and verdict is not None and verdict.verdict == "unclear"


def test_cli_full_text_writes_quote_columns_and_keeps_bad_pdfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / DVT.name).write_bytes(DVT.read_bytes())
    (folder / "empty.pdf").write_bytes(b"")
    model = FakeModel(scripted({c.id: ("met", REAL_QUOTE, 1) for c in PROTOCOL.criteria.inclusion}, "include"))
    monkeypatch.setattr("winnow.lifecycle.build_model", lambda *a, **k: model)
    out = tmp_path / "ft.csv"
    args = ("screen", folder, "--protocol", DENNSTAEDT / "protocol.yaml", "--full-text", "--max-chunks", 2,
            "--out", out, "--no-progress")  # fmt: skip
    assert run_cli(*args) == 0
    assert len(model.calls) == 1, "a remote-sized context takes the 4-page PDF in one chunk"
    assert model.calls[0].max_tokens == 1024 and "[page 1" in model.calls[0].messages[1]["content"]
    table = read_decisions(out)
    assert list(table.columns) == decision_columns(PROTOCOL.criterion_ids, with_quotes=True)
    dvt = table.set_index("record_id").loc[DVT.name]
    assert dvt["decision"] == "include"
    assert all(dvt[f"evidence:{c.id}"] == "verified" for c in PROTOCOL.criteria.inclusion)
    empty = table.set_index("record_id").loc["empty.pdf"]
    assert empty["decision"] == "error" and "empty file" in empty["error"]
    assert run_cli(*args) == 0 and len(model.calls) == 1, "a re-run makes no new calls"


def test_full_text_options_need_full_text() -> None:
    assert run_cli("screen", DENNSTAEDT / "records.csv", "-p", DENNSTAEDT / "protocol.yaml", "--max-chunks", 1) == 2
