"""``winnow audit``: risk order, the JSON twin, verdict import/export and resume."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from winnow.agreement.compare import Matched, match_decisions
from winnow.audit import (
    AuditItem,
    adjudicate_interactively,
    adjudication_key,
    audit_json,
    collect_disagreements,
    default_ledger_path,
    export_adjudicated_gold,
    import_verdicts,
    latest_verdicts,
    record_verdict,
    render_audit,
    resolve_label,
)
from winnow.cli.agree import audit as audit_command
from winnow.errors import InputError
from winnow.gold import load_gold
from winnow.ledger import Ledger
from winnow.screening.decisions import read_decisions

from support import render_text

FIXTURES = Path(__file__).parent / "fixtures" / "agreement"
RISK_ORDER = ["r05", "r03", "r04", "r09", "r06", "r12"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in ("decisions.csv", "gold.csv", "protocol.yaml", "verdicts.csv", "verdicts_bad.csv"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path


def matched_for(folder: Path = FIXTURES) -> Matched:
    gold = load_gold(folder / "gold.csv")
    return match_decisions(read_decisions(folder / "decisions.csv"), folder / "decisions.csv", gold)


def test_riskiest_first() -> None:
    items = collect_disagreements(matched_for())
    assert [item.record_id for item in items] == RISK_ORDER
    assert [item.kind for item in items] == ["fn", "fn", "uncertain", "uncertain", "fp", "fp"]


@pytest.mark.parametrize(
    ("only", "ids"), [("fn", ["r05", "r03"]), ("uncertain", ["r04", "r09"]), ("fp", ["r06", "r12"])]
)
def test_only_one_kind(only: str, ids: list[str]) -> None:
    assert [item.record_id for item in collect_disagreements(matched_for(), only=only)] == ids


def test_item_carries_everything_to_judge() -> None:
    item = collect_disagreements(matched_for())[0]
    assert item.title.startswith("Exercise versus sertraline")
    assert item.year == "2015"
    assert item.p_include == pytest.approx(0.05)
    assert ("population", "not_met", "Participants are younger than 65.") in item.criteria
    assert item.rationale.startswith("Age range not reported")
    assert item.gold_label == "include" and item.decision == "exclude"
    assert item.model == "gpt-4o-mini-2024-07-18"
    assert item.template_sha256.startswith("3f1c2a9b7d6e")
    assert item.run_id == "run-20250101-0001"


def test_rendering_fits_80_columns_and_keeps_order() -> None:
    matched = matched_for()
    items = collect_disagreements(matched)
    text = render_text(render_audit(matched, items))
    assert max(len(line) for line in text.splitlines()) <= 80
    positions = [text.index(f"  {rid}") for rid in RISK_ORDER]
    assert positions == sorted(positions)
    assert "Participants are younger than 65." in text
    assert "template 3f1c2a9b7d6e" in text
    assert "run run-20250101-0001" in text


def test_json_twin() -> None:
    matched = matched_for()
    data = audit_json(matched, collect_disagreements(matched))
    assert data["counts"] == {"fn": 2, "uncertain": 2, "fp": 2, "flagged": 0}
    assert [r["record_id"] for r in data["records"]] == RISK_ORDER
    first = data["records"][0]
    assert first["gold_label"] == "include" and first["model_decision"] == "exclude"
    assert first["criteria"][0] == {
        "id": "population",
        "verdict": "not_met",
        "reason": "Participants are younger than 65.",
    }
    assert first["adjudication"] is None


def test_resolve_label() -> None:
    fn, unc = collect_disagreements(matched_for())[0], collect_disagreements(matched_for())[2]
    assert resolve_label(fn, "model") == ("exclude", "model")
    assert resolve_label(fn, "gold") == ("include", "gold")
    assert resolve_label(fn, "exclude") == ("exclude", "new")
    with pytest.raises(ValueError, match="the model decision is 'uncertain'"):
        resolve_label(unc, "model")


def test_default_ledger_path_matches_screening() -> None:
    assert default_ledger_path(Path("/x/run.csv")) == Path("/x/run.ledger.sqlite")
    assert adjudication_key(Path("/x/run.csv")) == "run.csv"


def test_import_then_export(workdir: Path) -> None:
    matched = matched_for(workdir)
    items = collect_disagreements(matched)
    with Ledger(workdir / "l.sqlite") as ledger:
        stored = import_verdicts(workdir / "verdicts.csv", items, ledger, "decisions.csv", who="ana")
        assert [v.record_id for v in stored] == ["r05", "r03", "r04"]
        found = latest_verdicts(ledger, "decisions.csv")
        rows = ledger.adjudications("decisions.csv")
    assert found["r05"].final_label == "include" and found["r05"].choice == "gold"
    assert found["r03"].final_label == "exclude" and found["r03"].choice == "model"
    assert found["r04"].final_label == "include" and found["r04"].choice == "new"
    assert rows[0]["who"] == "ana" and rows[0]["model_decision"] == "exclude" and rows[0]["gold_label"] == "include"
    assert rows[0]["run_id"] == "run-20250101-0001"
    out = export_adjudicated_gold(matched.gold, found, workdir / "adjudicated.csv")
    with out.open() as handle:
        exported = {row["record_id"]: row for row in csv.DictReader(handle)}
    assert exported["r03"]["label_included"] == "0" and exported["r03"]["original_label"] == "include"
    assert exported["r04"]["label_included"] == "1" and exported["r04"]["adjudicated"] == "yes"
    assert exported["r01"]["label_included"] == "1" and exported["r01"]["adjudicated"] == ""
    # The export is itself a valid gold file.
    assert load_gold(out).label("r03") is False


def test_bad_verdicts_file_stores_nothing(workdir: Path) -> None:
    items = collect_disagreements(matched_for(workdir))
    with Ledger(workdir / "l.sqlite") as ledger:
        with pytest.raises(InputError) as caught:
            import_verdicts(workdir / "verdicts_bad.csv", items, ledger, "decisions.csv", who="ana")
        assert ledger.adjudications() == []
    assert caught.value.one_line().endswith(
        "verdicts_bad.csv:3: record r04: the model decision is 'uncertain'; choose include or exclude"
    )


def test_unknown_record_in_verdicts(workdir: Path) -> None:
    (workdir / "v.csv").write_text("record_id,verdict\nr01,gold\n")
    items = collect_disagreements(matched_for(workdir))
    with (
        Ledger(workdir / "l.sqlite") as ledger,
        pytest.raises(InputError, match=r"v\.csv:2: record 'r01' is not one of"),
    ):
        import_verdicts(workdir / "v.csv", items, ledger, "decisions.csv", who="ana")


def test_latest_verdict_wins(workdir: Path) -> None:
    item = collect_disagreements(matched_for(workdir))[0]
    with Ledger(workdir / "l.sqlite") as ledger:
        record_verdict(ledger, "k", item, "model", who="a")
        record_verdict(ledger, "k", item, "gold", who="b", note="second look")
        verdict = latest_verdicts(ledger, "k")[item.record_id]
    assert (verdict.final_label, verdict.who, verdict.note) == ("include", "b", "second look")


def test_interactive_walk_resumes(workdir: Path) -> None:
    items = collect_disagreements(matched_for(workdir))
    answers = iter(["g", "ok", "x", "m", "", "q"])
    shown: list[str] = []

    def show(item: AuditItem, index: int, total: int) -> None:
        shown.append(item.record_id)

    with Ledger(workdir / "l.sqlite") as ledger:
        tally = adjudicate_interactively(
            items, ledger, "k", who="ana", show=show, ask=lambda prompt: next(answers), say=lambda line: None
        )
        assert tally == {"settled": 2, "skipped": 0, "already": 0}
        assert [row["record_id"] for row in ledger.adjudications("k")] == ["r05", "r03"]
        # The uncertain record does not accept "m": the walk asks again.
        answers = iter(["m", "i", "registered RCT", "s", "q"])
        said: list[str] = []
        tally = adjudicate_interactively(
            items, ledger, "k", who="ana", show=show, ask=lambda prompt: next(answers), say=said.append
        )
    assert tally == {"settled": 1, "skipped": 1, "already": 2}
    assert shown == ["r05", "r03", "r04", "r04", "r09", "r06"]
    assert any("resuming" in line for line in said)
    assert any("Please answer one of g/i/e/s/q" in line for line in said)


def test_cli_audit_json_and_flags(workdir: Path) -> None:
    runner = CliRunner()
    args = [str(workdir / "decisions.csv"), "--gold", str(workdir / "gold.csv")]
    result = runner.invoke(audit_command, [*args, "--json", "--only", "fn"])
    assert result.exit_code == 0, result.output
    assert [r["record_id"] for r in json.loads(result.output)["records"]] == ["r05", "r03"]
    clash = runner.invoke(audit_command, [*args, "--json", "--adjudicate"])
    assert clash.exit_code == 2 and "--adjudicate and --json cannot be used together" in clash.output


def test_cli_import_export_and_show_verdicts(workdir: Path) -> None:
    runner = CliRunner()
    args = [str(workdir / "decisions.csv"), "--gold", str(workdir / "gold.csv")]
    result = runner.invoke(
        audit_command,
        [
            *args,
            "--import-verdicts",
            str(workdir / "verdicts.csv"),
            "--who",
            "ana",
            "--export",
            str(workdir / "adj.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (workdir / "decisions.ledger.sqlite").is_file()
    assert load_gold(workdir / "adj.csv").label("r03") is False
    shown = runner.invoke(audit_command, [*args, "--json"])
    records = {r["record_id"]: r for r in json.loads(shown.output)["records"]}
    assert records["r05"]["adjudication"]["who"] == "ana"
    assert records["r06"]["adjudication"] is None
    text = runner.invoke(audit_command, [*args, "--no-pager"])
    assert "3 of 6 settled in the ledger" in text.output
