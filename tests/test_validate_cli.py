"""``winnow validate`` with a labels file, bad labels files, degenerate runs; ``winnow decide`` end to end."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from winnow.screening.validation.sample import load_run

from support import run_cli


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def make_run(tmp_path: Path, decisions: list[str], truth: list[bool], p: list[str] | None = None) -> tuple[Path, Path]:
    rows = [
        {"record_id": f"r{i:03d}", "title": f"title {i}", "decision": d, "abstract": f"abstract {i}",
         "p_include": (p[i] if p else "")}
        for i, d in enumerate(decisions)
    ]  # fmt: skip
    table = write_csv(tmp_path / "decisions.csv", rows)
    gold = write_csv(
        tmp_path / "gold.csv",
        [{"record_id": f"r{i:03d}", "label_included": "1" if t else "0"} for i, t in enumerate(truth)],
    )
    return table, gold


def mixed_run(tmp_path: Path) -> tuple[Path, Path]:
    """200 records: 150 excludes hiding 2 includes, 10 uncertain with 3, 40 includes with 30."""
    decisions = ["exclude"] * 150 + ["uncertain"] * 10 + ["include"] * 40
    truth = [i < 2 for i in range(150)] + [i < 3 for i in range(10)] + [i < 30 for i in range(40)]
    return make_run(tmp_path, decisions, truth)


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line the CLI printed (progress lines before it are fine)."""
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("winnow: error: ")]
    assert len(errors) == 1
    return errors[0]


def validate_json(capsys: pytest.CaptureFixture[str], *args: object) -> dict:
    capsys.readouterr()
    assert run_cli("validate", *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_labels_file_gives_the_report_gold_file_and_ledger_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table, gold = mixed_run(tmp_path)
    report = validate_json(capsys, table, "--labels", gold, "--seed", "4", "--sample", "120")
    est = report["estimate"]
    assert report["seed"] == 4 and report["complete"] and report["labelled"] == 120
    assert sum(report["drawn"].values()) == 120 and report["drawn"]["exclude"] >= 60
    strata = {s["stratum"]: s for s in est["strata"]}
    assert strata["exclude"]["records"] == 150 and strata["include"]["records"] == 40
    assert 0 <= est["recall_lower_bound"] <= (est["recall"] or 0) <= 1
    assert "stratified expansion estimator" in report["statement"]
    assert (tmp_path / "decisions.validation.md").read_text().startswith("# Validation of the screening run")
    with (tmp_path / "decisions.validation-gold.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 120 and set(rows[0]) == {"record_id", "label", "stratum", "weight"}
    assert float(next(r for r in rows if r["stratum"] == "exclude")["weight"]) == pytest.approx(
        150 / report["drawn"]["exclude"]
    )
    with sqlite3.connect(tmp_path / "decisions.ledger.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM validation_labels").fetchone()[0] == 120
        assert conn.execute("SELECT seed FROM validation_samples").fetchone()[0] == 4
    # The same command again resumes the stored sample: no new draw, no duplicate labels.
    again = validate_json(capsys, table, "--labels", gold)
    assert again["sample_id"] == report["sample_id"] and again["estimate"] == est
    with sqlite3.connect(tmp_path / "decisions.ledger.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM validation_labels").fetchone()[0] == 120
        assert conn.execute("SELECT COUNT(*) FROM validation_samples").fetchone()[0] == 1


def test_partial_labels_file_needs_keep_going(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table, _ = make_run(tmp_path, ["exclude"] * 20 + ["include"] * 5, [False] * 20 + [True] * 5)
    sheet_rows = validate_json(capsys, table, "--seed", "1", "--sample", "10", "--status")
    assert sheet_rows["labelled"] == 0 and not sheet_rows["complete"]
    with (tmp_path / "decisions.validation-sample.csv").open() as handle:
        sampled = [row["record_id"] for row in csv.DictReader(handle)]
    partial = write_csv(tmp_path / "partial.csv", [{"record_id": rid, "label": "exclude"} for rid in sampled[:4]])
    assert run_cli("validate", table, "--labels", partial) == 1
    err = error_line(capsys)
    assert "no label for 6 of the 10 sampled records" in err and "--keep-going" in err
    report = validate_json(capsys, table, "--labels", partial, "--keep-going")
    assert report["labelled"] == 4 and not report["complete"] and "not finished" in report["statement"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("record_id,label\nr000,include\nnope,exclude\n", "partial.csv:3: record nope is not in"),
        ("record_id,label\nr000,include\nr001,maybe\n", "partial.csv:3: record r001: unknown label 'maybe'"),
        ("record_id,label\nr000,include\nr000,exclude\n", "partial.csv:3: duplicate record_id 'r000'"),
        ("id_of_record,label\nr000,include\n", "partial.csv:1: missing an id column"),
    ],
)
def test_bad_labels_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    table, _ = make_run(tmp_path, ["exclude"] * 20 + ["include"] * 5, [False] * 25)
    bad = tmp_path / "partial.csv"
    bad.write_text(content, encoding="utf-8")
    capsys.readouterr()
    assert run_cli("validate", table, "--labels", bad, "--seed", "1") == 1
    assert message in error_line(capsys)


def test_model_excluded_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table, gold = make_run(tmp_path, ["include"] * 30 + ["uncertain"] * 5, [i % 3 == 0 for i in range(35)])
    report = validate_json(capsys, table, "--labels", gold, "--seed", "2")
    est = report["estimate"]
    assert report["drawn"]["exclude"] == 0
    assert est["recall"] == 1.0 and est["recall_lower_bound"] == 1.0 and est["certified"]
    assert est["missed_includes_upper_bound"] == 0 and "excluded nothing" in est["notes"][0]


def test_model_excluded_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table, gold = make_run(tmp_path, ["exclude"] * 40, [i < 4 for i in range(40)])
    report = validate_json(capsys, table, "--labels", gold, "--seed", "3", "--sample", "40")
    est = report["estimate"]
    assert est["recall"] == 0.0 and est["recall_lower_bound"] == 0.0 and not est["certified"]
    assert est["missed_includes"] == 4 and est["missed_includes_upper_bound"] == 4
    assert "NOT certified" not in report["statement"] and "was not certified" in report["statement"]


def test_decide_chooses_the_threshold_and_keeps_the_run_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 60 includes at p 0.41..1.00 and 60 excludes at p 0.00..0.59: 59 of 60 found is not enough for 95/95
    # (lower bound 0.911), so every include must be at or above the threshold: t = 0.41.
    p_inc = [round(0.41 + i / 100, 2) for i in range(60)]
    p_exc = [round(i / 100, 2) for i in range(60)]
    decisions = ["include"] * 60 + ["exclude"] * 59 + ["error"]
    p = [f"{x:.2f}" for x in p_inc + p_exc[:-1]] + [""]
    table, gold = make_run(tmp_path, decisions, [True] * 60 + [False] * 60, p)
    capsys.readouterr()
    assert run_cli("decide", table, "--calibrate", gold, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["threshold"] == pytest.approx(0.41) and summary["rule"] == "p_include >= 0.41"
    cal = summary["calibration_set"]
    assert cal["calibration_records"] == 119 and cal["calibration_includes"] == 60 and cal["includes_at_or_above"] == 60
    assert cal["recall_lower_bound"] >= 0.95 and cal["clears_target"]
    assert any("1 record(s) have no p_include" in note for note in summary["notes"])
    with (tmp_path / "decisions.decided.csv").open() as handle:
        out = {row["record_id"]: row for row in csv.DictReader(handle)}
    assert out["r119"]["decision"] == "uncertain" and out["r119"]["screen_decision"] == "error"
    assert out["r101"]["decision"] == "include" and out["r101"]["screen_decision"] == "exclude"  # p 0.41
    assert out["r099"]["decision"] == "exclude" and out["r099"]["decided_by"] == "p_include >= 0.41"
    assert json.loads((tmp_path / "decisions.decided.json").read_text())["threshold"] == pytest.approx(0.41)
    with sqlite3.connect(tmp_path / "decisions.ledger.sqlite") as conn:
        command, params = conn.execute("SELECT command, params_json FROM runs").fetchone()
    assert command == "decide" and json.loads(params)["threshold"] == pytest.approx(0.41)


def test_decide_without_p_include_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table, _ = make_run(tmp_path, ["include", "exclude"], [True, False])
    capsys.readouterr()
    assert run_cli("decide", table, "--threshold", "0.5") == 1
    assert "decisions.csv: no record has a p_include" in error_line(capsys)


def test_agree_and_audit_on_the_sample_gold_say_it_is_a_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table, gold = mixed_run(tmp_path)
    report = validate_json(capsys, table, "--labels", gold, "--seed", "9", "--sample", "100")
    sample_gold = tmp_path / "decisions.validation-gold.csv"
    assert run_cli("agree", table, "--gold", sample_gold, "--allow-missing", "--json") == 0
    agreement = json.loads(capsys.readouterr().out)
    sample = agreement["sample"]
    assert "validation sample" in sample["note"] and sample["labelled"] == 100
    # The weighted sensitivity is the stratified recall estimate validate reports.
    assert sample["sensitivity"] == pytest.approx(report["estimate"]["recall"])
    assert sample["weighted_records"] == pytest.approx(200)
    assert run_cli("audit", table, "--gold", sample_gold, "--allow-missing", "--json") == 0
    assert "is a validation sample" in capsys.readouterr().err


def test_labels_for_merged_duplicates_count_for_the_kept_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reviewer's export still has every copy's id; the run kept r000 for itself, d900 and d901."""
    table, _ = make_run(tmp_path, ["exclude"] * 20 + ["include"] * 5, [False] * 25)
    with table.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["duplicates"] = "d900;d901" if row["record_id"] == "r000" else ""
    write_csv(table, rows)
    labels = [{"record_id": "d901" if r["record_id"] == "r000" else r["record_id"], "label": "exclude"} for r in rows]
    labels[0]["label"] = "include"  # given under the copy's id only
    report = validate_json(capsys, table, "--labels", write_csv(tmp_path / "labels.csv", labels), "--sample", "25")
    assert report["labelled"] == 25 and report["complete"]
    with sqlite3.connect(tmp_path / "decisions.ledger.sqlite") as conn:
        assert conn.execute("SELECT answer FROM validation_labels WHERE record_id = 'r000'").fetchall() == [
            ("include",)
        ]
    # Two copies of one paper labelled differently are refused, naming both.
    clash = write_csv(tmp_path / "clash.csv", [*labels, {"record_id": "r000", "label": "exclude"}])
    assert run_cli("validate", table, "--labels", clash) == 1
    assert "records d901 and r000 are one paper" in error_line(capsys)


def test_a_jsonl_table_gives_its_duplicates_as_ids(tmp_path: Path) -> None:
    table = tmp_path / "decisions.jsonl"
    rows = [
        {"record_id": "a", "decision": "include", "duplicates": ["b", "c"]},
        {"record_id": "d", "decision": "exclude", "duplicates": []},
    ]
    table.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert load_run(table).kept_of == {"b": "a", "c": "a"}
