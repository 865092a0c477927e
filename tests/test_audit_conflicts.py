"""``winnow audit --conflicts``: panel conflicts riskiest first, the JSON twin, adjudication
(scripted, and in a real pseudo-terminal killed halfway), resume and export.
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from winnow.agreement.panel import PanelTable, read_panel
from winnow.audit import adjudicate_interactively, latest_verdicts
from winnow.audit.conflicts import collect_conflicts, conflicts_json, render_conflicts
from winnow.cli import main
from winnow.cli.agree import audit
from winnow.ledger import Ledger
from winnow.screening.decisions import read_decisions

from support import render_text, spawn_winnow

PANEL = Path(__file__).parent / "fixtures" / "panel"
TWO_ORDER = ["r02", "r12", "r11", "r04", "r06", "r05", "r09"]


def panel_of(path: Path) -> PanelTable:
    panel = read_panel(read_decisions(path), path)
    assert panel is not None
    return panel


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(PANEL / "two_models_human.csv", tmp_path / "decisions.csv")
    return tmp_path


def test_riskiest_first_any_rule() -> None:
    items = collect_conflicts(panel_of(PANEL / "two_models_human.csv"))
    assert [item.record_id for item in items] == TWO_ORDER
    assert [item.kind for item in items] == ["include_vs_exclude"] * 5 + ["uncertain"] * 2
    r06 = items[4]
    assert [(a.name, a.kind, a.decision) for a in r06.answers] == [
        ("gpt-4o-mini", "model", "exclude"),
        ("llama3.1-8b", "model", "exclude"),
        ("human", "human", "include"),
    ]
    assert r06.answers[0].verdicts == "I1=met; I2=not_met; E1=not_met"
    r11 = items[2]
    assert [a.name for a in r11.answers] == ["gpt-4o-mini", "llama3.1-8b"]  # no answer from the person: left out


def test_riskiest_first_majority_rule_puts_combined_excludes_first() -> None:
    items = collect_conflicts(panel_of(PANEL / "three_reviewers.csv"))
    # include-vs-exclude whose combined decision is exclude (a study could be lost), then uncertain;
    # then conflicts without an include-exclude clash: combined exclude, uncertain, include.
    assert [item.record_id for item in items] == ["s13", "s17", "s19", "s06", "s02", "s18", "s03", "s09", "s01", "s20"]
    assert [item.decision for item in items[:4]] == ["exclude", "exclude", "exclude", "uncertain"]


def test_json_twin_and_80_columns() -> None:
    panel = panel_of(PANEL / "two_models_human.csv")
    items = collect_conflicts(panel)
    data = conflicts_json(panel, items)
    assert data["schema"] == "winnow.audit.conflicts/1"
    assert data["counts"] == {"include_vs_exclude": 5, "uncertain": 2}
    assert [r["record_id"] for r in data["records"]] == TWO_ORDER
    assert data["records"][0]["reviewers"][1] == {
        "name": "llama3.1-8b",
        "kind": "model",
        "decision": "exclude",
        "p_include": 0.1,
        "verdicts": "I1=met; I2=not_met; E1=not_met",
    }
    assert data["records"][0]["adjudication"] is None
    text = render_text(render_conflicts(panel, items), width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.index("r02") < text.index("r12") < text.index("r09")
    assert "5 include vs exclude, 2 uncertain of 12 records (rule 'any')" in text


def test_scripted_adjudication_offers_keep_combined_only_for_a_decision(workdir: Path) -> None:
    panel = panel_of(workdir / "decisions.csv")
    items = collect_conflicts(panel)
    prompts: list[str] = []
    answers = iter(["c", "kept", "e", "", "s", "s", "s", "i", "no usable model answer", "q"])

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    with Ledger(workdir / "decisions.ledger.sqlite") as ledger:
        tally = adjudicate_interactively(
            items, ledger, "decisions.csv", who="t", show=lambda *a: None, ask=ask, say=lambda line: None
        )
        found = latest_verdicts(ledger, "decisions.csv")
    assert tally == {"settled": 3, "skipped": 3, "already": 0}
    assert prompts[0] == "verdict [c/i/e/s/q]"  # no gold: no [g]
    assert "verdict [i/e/s/q]" in prompts  # r05 is combined uncertain: nothing to keep
    assert {rid: (v.final_label, v.choice) for rid, v in found.items()} == {
        "r02": ("include", "combined"),
        "r12": ("exclude", "new"),
        "r05": ("include", "new"),
    }


def test_export_labels_after_adjudication(workdir: Path) -> None:
    with Ledger(workdir / "decisions.ledger.sqlite") as ledger:
        ledger.add_adjudication(
            decisions_path="decisions.csv", record_id="r04", final_label="exclude", choice="new", who="t"
        )
    result = CliRunner().invoke(
        audit, [str(workdir / "decisions.csv"), "--conflicts", "--export", str(workdir / "labels.csv")]
    )
    assert result.exit_code == 0, result.output
    rows = {row["record_id"]: row for row in csv.DictReader((workdir / "labels.csv").open())}
    assert rows["r04"]["label_included"] == "0" and rows["r04"]["adjudicated"] == "yes"  # settled
    assert rows["r01"]["label_included"] == "1" and rows["r01"]["adjudicated"] == ""  # all agreed
    assert rows["r03"]["label_included"] == "0"
    assert rows["r02"]["label_included"] == "" and rows["r02"]["conflict"] == "true"  # still open
    shown = CliRunner().invoke(audit, [str(workdir / "decisions.csv"), "--conflicts", "--json"])
    record = {r["record_id"]: r for r in json.loads(shown.output)["records"]}
    assert record["r04"]["adjudication"]["final_label"] == "exclude"


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    runner = CliRunner()
    path = str(PANEL / "two_models_human.csv")
    with_gold = runner.invoke(audit, [path, "--conflicts", "--gold", str(PANEL / "gold.csv")])
    assert with_gold.exit_code == 2 and "--conflicts needs no gold; drop --gold" in with_gold.output
    neither = runner.invoke(audit, [path])
    assert neither.exit_code == 2 and "give --gold GOLD, or --conflicts" in neither.output
    single = Path(__file__).parent / "fixtures" / "agreement" / "decisions.csv"
    assert main(["audit", str(single), "--conflicts"]) == 1
    err = capsys.readouterr().err
    assert "not a panel table" in err and len(err.strip().splitlines()) == 1


def _spawn(workdir: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("pexpect")
    return spawn_winnow(workdir, ["audit", "decisions.csv", "--conflicts", "--adjudicate", "--who", "tester"])


def test_pty_kill_halfway_keeps_answers_and_resumes(workdir: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = _spawn(workdir)
    child.expect("r02")
    child.expect(r"verdict \[c/i/e/s/q\]")
    child.sendline("e")
    child.expect("note")
    child.sendline("adults only, not older adults")
    child.expect("saved: r02 -> exclude")
    child.expect("r12")
    child.expect(r"verdict \[c/i/e/s/q\]")
    child.sendline("c")
    child.expect("note")
    child.sendline("")
    child.expect("saved: r12 -> include")
    child.expect("r11")
    child.expect(r"verdict \[c/i/e/s/q\]")
    child.kill(signal.SIGKILL)
    child.wait()
    assert child.signalstatus == signal.SIGKILL
    with sqlite3.connect(workdir / "decisions.ledger.sqlite") as conn:
        rows = list(
            conn.execute(
                "SELECT decisions_path, record_id, final_label, choice, note, who, model_decision, gold_label"
                " FROM adjudications ORDER BY adjudication_id"
            )
        )
    assert rows == [
        ("decisions.csv", "r02", "exclude", "new", "adults only, not older adults", "tester", "include", None),
        ("decisions.csv", "r12", "include", "combined", "", "tester", "include", None),
    ]
    again = _spawn(workdir)
    again.expect("2 of 7 already settled")
    again.expect("r11")
    again.expect(r"verdict \[c/i/e/s/q\]")
    again.sendline("q")
    again.expect("0 settled now, 2 before, 5 still open")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0
