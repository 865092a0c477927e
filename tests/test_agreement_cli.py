"""``winnow agree`` from the command line: the report, its JSON twin, side by side, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from winnow.cli import main
from winnow.cli.agree import agree

FIXTURES = Path(__file__).parent / "fixtures" / "agreement"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def args(*extra: str, gold: str = "gold.csv") -> list[str]:
    return [str(FIXTURES / "decisions.csv"), "--gold", str(FIXTURES / gold), *extra]


def test_json_has_the_contract_keys(runner: CliRunner) -> None:
    result = runner.invoke(agree, args("--json"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in (
        "n",
        "tp",
        "fp",
        "tn",
        "fn",
        "sensitivity",
        "specificity",
        "precision",
        "npv",
        "f1",
        "kappa",
        "pabak",
        "ac1",
        "alpha",
        "wss95",
    ):
        assert key in data, key
    assert (data["n"], data["tp"], data["fp"], data["tn"], data["fn"]) == (12, 3, 3, 4, 2)
    assert data["sensitivity_ci"][0] < data["sensitivity"] < data["sensitivity_ci"][1]
    assert data["reference_standard"] == "title_abstract"
    assert data["as_exclude"]["tp"] == 2
    criteria = {row["id"]: row for row in data["criteria"]}
    assert criteria["protocol_only"]["kind"] == "exclusion"  # kinds from protocol.yaml beside the gold file


def test_report_text_in_80_columns(runner: CliRunner) -> None:
    result = runner.invoke(agree, args("--no-pager"), terminal_width=80)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "Sensitivity (recall)" in result.output and "Recall curve" in result.output


def test_reference_standard_option_overrides_protocol(runner: CliRunner) -> None:
    data = json.loads(runner.invoke(agree, args("--json", "--reference-standard", "full_text")).output)
    assert data["reference_standard"] == "full_text"
    assert "understated" in data["reference_standard_note"]


def test_recall_target_option(runner: CliRunner) -> None:
    data = json.loads(runner.invoke(agree, args("--json", "--recall-target", "0.6")).output)
    # Ranking: r01 I, r02 I, r06, r12, r04 I -> 3 of 5 includes after 5 records.
    assert data["workload"]["threshold"] == 0.55
    assert data["workload"]["n_to_read"] == 5


def test_two_runs_side_by_side(runner: CliRunner, tmp_path: Path) -> None:
    second = tmp_path / "run-b.csv"
    text = (FIXTURES / "decisions.csv").read_text().replace(",exclude,exclude,0.05,", ",include,include,0.05,")
    second.write_text(text)
    result = runner.invoke(
        agree, [str(FIXTURES / "decisions.csv"), str(second), "--gold", str(FIXTURES / "gold.csv"), "--json"]
    )
    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)["runs"]
    assert [run["fn"] for run in runs] == [2, 1]
    table = runner.invoke(agree, [str(FIXTURES / "decisions.csv"), str(second), "--gold", str(FIXTURES / "gold.csv")])
    assert "Runs side by side" in table.output and "[2]" in table.output


def test_mismatch_is_one_line_error_via_main(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["agree", *args(gold="gold_mismatch.csv")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("winnow: error: ")
    assert "1 decision(s) not in gold (e.g. r12); 2 gold record(s) not in decisions (e.g. r99, r98)" in err


def test_allow_missing_lists_records(runner: CliRunner) -> None:
    result = runner.invoke(agree, args("--allow-missing", "--no-curve", gold="gold_mismatch.csv"))
    assert result.exit_code == 0, result.output
    assert "Not compared: 1 decisions without a gold label: r12" in result.output
    assert "Not compared: 2 gold records without a decision: r99, r98" in result.output


def test_no_p_include_means_null_wss(runner: CliRunner, tmp_path: Path) -> None:
    import csv

    rows = list(csv.DictReader((FIXTURES / "decisions.csv").open()))
    for row in rows:
        row["p_include"] = ""
    target = tmp_path / "d.csv"
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    shutil.copy(FIXTURES / "gold.csv", tmp_path / "gold.csv")
    data = json.loads(runner.invoke(agree, [str(target), "--gold", str(tmp_path / "gold.csv"), "--json"]).output)
    assert data["wss95"] is None and data["workload"] is None and data["recall_curve"] is None
    assert data["reference_standard"] == "unknown"


def test_png_curve(runner: CliRunner, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "curve.png"
    result = runner.invoke(agree, args("--json", "--plot", str(out)))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
