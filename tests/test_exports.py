"""Exports round trip: RIS in -> decisions -> RIS out keeps every original field and carries the decisions back."""

from __future__ import annotations

import csv
from pathlib import Path

import rispy
from click.testing import CliRunner

from winnow.cli import cli
from winnow.gold import load_gold
from winnow.ledger import Ledger
from winnow.records import read_records
from winnow.screening.decisions import write_decisions

RECORDS = Path(__file__).parent / "fixtures" / "records" / "same.ris"
DECISION = {"38000101": "include", "38000102": "exclude", "38000103": "uncertain"}


def _decisions(tmp_path: Path) -> Path:
    """The decisions table winnow screen writes for same.ris (verdicts scripted, no model needed)."""
    read = read_records(RECORDS)
    rows = []
    for i, record in enumerate(read.records):
        decision = DECISION.get(record.record_id, "exclude")
        rows.append(
            {
                "record_id": record.record_id,
                "title": record.title,
                "year": record.year,
                "abstract": record.abstract,
                "doi": record.doi,
                "pmid": record.pmid,
                "decision": decision,
                "model_decision": decision,
                "criterion:imaging": "met",
                "reason:imaging": f"reason {i}",
                "run_id": "run-1",
                "model": "local",
            }
        )
    return write_decisions(tmp_path / "decisions.csv", rows, ["imaging"])


def test_ris_round_trip_keeps_records_and_decisions(tmp_path: Path) -> None:
    decisions = _decisions(tmp_path)
    out = tmp_path / "out.ris"
    result = CliRunner().invoke(
        cli, ["export", str(decisions), "--to", "ris", "--records", str(RECORDS), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("TY  - ") and not any(line[:1].isdigit() for line in text.splitlines())  # no "1." lines
    original = rispy.load(RECORDS.open(encoding="utf-8"))
    exported = rispy.load(out.open(encoding="utf-8"))
    assert len(exported) == len(original)
    for before, after in zip(original, exported, strict=True):
        for key, value in before.items():  # every original field, unchanged (lists may only grow)
            if isinstance(value, list):
                assert after[key][: len(value)] == value
            else:
                assert after[key] == value
        rid = before["id"]
        final = DECISION.get(rid, "exclude")
        assert after["label"] == final
        assert f"winnow:{final}" in after["keywords"]
        assert f"winnow decision: {final}" in after["notes"]
        assert any(n.startswith("winnow run: run_id run-1") for n in after["notes"])
    gold = load_gold(out)  # the RIS reads back as labels; uncertain records are not labels
    assert {rid: row.included for rid, row in gold.rows.items()} == {
        r["id"]: DECISION.get(r["id"], "exclude") == "include" for r in original if DECISION.get(r["id"]) != "uncertain"
    }


def test_adjudicated_verdict_is_the_decision_exported(tmp_path: Path) -> None:
    decisions = _decisions(tmp_path)
    with Ledger(tmp_path / "decisions.ledger.sqlite") as db:
        db.add_adjudication(
            decisions_path="decisions.csv",
            record_id="38000102",
            run_id=None,
            model_decision="exclude",
            gold_label=None,
            final_label="include",
            choice="include",
            note="",
            who="t",
        )
    out = tmp_path / "asreview.csv"
    result = CliRunner().invoke(cli, ["export", str(decisions), "--to", "asreview", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as handle:
        rows = {row["record_id"]: row for row in csv.DictReader(handle)}
    assert rows["38000101"]["included"] == "1"
    assert rows["38000102"]["included"] == "1"  # the reviewer's verdict, not the model's exclude
    assert rows["38000103"]["included"] == ""  # uncertain: unlabelled for ASReview
    gold = load_gold(out)
    assert gold.format == "asreview"
    assert {rid for rid, row in gold.rows.items() if row.included} == {"38000101", "38000102"}
    assert len(gold.skipped) == 1


def test_records_without_original_export_use_the_table(tmp_path: Path) -> None:
    decisions = _decisions(tmp_path)
    out = tmp_path / "plain.ris"
    assert CliRunner().invoke(cli, ["export", str(decisions), "--to", "ris", "-o", str(out)]).exit_code == 0
    exported = rispy.load(out.open(encoding="utf-8"))
    assert exported[0]["title"].startswith("A vision-language foundation model")
    assert exported[0]["doi"] == "10.1016/j.media.2024.103101"
