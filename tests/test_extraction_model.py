"""The embedded model through ``winnow extract`` and ``winnow screen --full-text`` on real PDFs.

SmolLM2-135M's values mean nothing; these check the pipeline around it: schema-valid
answers under a grammar, every value either "not reported" or carrying a quote whose
check is visible, the ledger, and a re-run that makes no new calls. Small forms and
one small chunk per PDF keep the run to a few calls.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from winnow.extraction.evidence import EVIDENCE_STATUSES
from winnow.screening.decisions import read_decisions, read_table

from support import REPO, all_calls, run_cli

pytestmark = pytest.mark.model
FIXTURES = REPO / "tests" / "fixtures" / "pdfs"
PDFS = ("phytochemical_phoenix_paludosa.pdf", "bmc_systematic_review_DVT_prophylaxis_trauma.pdf")
FORM = {
    "name": "small",
    "fields": [
        {"name": "title", "type": "string", "description": "Title of the paper."},
        {"name": "sample_size", "type": "integer", "description": "Number of participants."},
        {"name": "design", "type": "one_of", "categories": ["trial", "review", "laboratory"],
         "description": "Study design."},
    ],
}  # fmt: skip
PROTOCOL = {
    "title": "Small test review",
    "question": "Which studies are systematic reviews?",
    "criteria": {
        "inclusion": [{"id": "review", "text": "The paper is a systematic review."}],
        "exclusion": [{"id": "lab", "text": "The paper reports only laboratory experiments."}],
    },
}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def pdfs(tmp_path: Path) -> Path:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    for name in PDFS:
        (folder / name).write_bytes((FIXTURES / name).read_bytes())
    return folder


def test_extract_with_the_embedded_model(tmp_path: Path, pdfs: Path) -> None:
    form = tmp_path / "form.yaml"
    form.write_text(yaml.safe_dump(FORM))
    out = tmp_path / "x.csv"
    args = ("extract", pdfs, "--protocol", form, "--max-chunks", 1, "--chunk-tokens", 500, "--out", out,
            "--no-progress")  # fmt: skip
    assert run_cli(*args) == 0
    table = read_table(out, what="extraction")
    assert sorted(table["record_id"]) == sorted(PDFS)
    for _, row in table.iterrows():
        assert row["status"] == "ok", row["error"]
        assert row["left_out"].startswith("pages "), "one chunk of a 4-page PDF leaves pages out, and says so"
        for field in ("title", "sample_size", "design"):
            evidence = row[f"evidence:{field}"]
            assert evidence in EVIDENCE_STATUSES
            if evidence == "not_reported":
                assert row[f"field:{field}"] == ""
            else:
                assert row[f"field:{field}"] != ""
                if evidence != "no_quote":
                    assert row[f"quote:{field}"] and row[f"page:{field}"]
                if evidence not in ("verified", "verified_fuzzy"):
                    assert f"unverified:{field}" in row["flags"], "an unchecked value is never shown as fine"
    calls = all_calls(tmp_path / "x.ledger.sqlite")
    assert {c["stage"] for c in calls} == {"extract"} and {c["record_id"] for c in calls} == set(PDFS)
    with sqlite3.connect(tmp_path / "x.ledger.sqlite") as conn:
        summary = json.loads(conn.execute("SELECT summary_json FROM runs").fetchone()[0])
    assert summary["evidence"] == {
        f: {s: int((table[f"evidence:{f}"] == s).sum()) for s in summary["evidence"][f]}
        for f in ("title", "sample_size", "design")
    }, "the end-of-run report counts exactly the evidence statuses in the table"
    assert all(c["ok"] for c in calls)
    assert run_cli(*args) == 0
    assert len(all_calls(tmp_path / "x.ledger.sqlite")) == len(calls), "a re-run makes no new calls"


def test_screen_full_text_with_the_embedded_model(tmp_path: Path, pdfs: Path) -> None:
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(yaml.safe_dump(PROTOCOL))
    out = tmp_path / "ft.csv"
    (pdfs / PDFS[1]).unlink()
    args = ("screen", pdfs, "--protocol", protocol, "--full-text", "--max-chunks", 1, "--chunk-tokens", 500,
            "--out", out, "--no-progress")  # fmt: skip
    assert run_cli(*args) == 0
    table = read_decisions(out)
    row = table.iloc[0]
    assert row["decision"] in ("include", "exclude", "uncertain"), row["error"]
    for cid in ("review", "lab"):
        assert row[f"criterion:{cid}"] in ("met", "not_met", "unclear")
        assert row[f"evidence:{cid}"] in ("verified", "verified_fuzzy", "wrong_page", "not_found", "no_quote")
    if row["decision"] == "exclude":
        failed = [c for c in ("review", "lab") if row[f"criterion:{c}"] == ("not_met" if c == "review" else "met")]
        assert any(row[f"evidence:{c}"] in ("verified", "verified_fuzzy") for c in failed)
    calls = all_calls(tmp_path / "ft.ledger.sqlite")
    assert [c["stage"] for c in calls if c["ok"]] == ["screen_full_text"]
