"""``winnow agree`` on panel tables: reading the reviewer columns, and every multi-reviewer figure
checked against an independent computation (sklearn, statsmodels, the krippendorff package).

Fixtures in ``tests/fixtures/panel``: ``two_models_human.csv`` (two models and a person who
labelled 7 of 12 records, rule ``any``) and ``three_reviewers.csv`` (three model reviewers,
rule ``majority``), each with a gold file.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

from winnow.agreement.compare import Matched, match_decisions
from winnow.agreement.multirater import fleiss_kappa
from winnow.agreement.multirater import krippendorff as alpha_across
from winnow.agreement.panel import PanelTable, as_binary, read_panel
from winnow.agreement.panel_report import build_panel, build_reviewer_agreement, render_reviewer_agreement
from winnow.agreement.report import build_agreement, render_agreement
from winnow.cli import main
from winnow.cli.agree import agree
from winnow.errors import InputError
from winnow.gold import load_gold
from winnow.screening.decisions import read_decisions

from support import render_text

PANEL = Path(__file__).parent / "fixtures" / "panel"
SINGLE = Path(__file__).parent / "fixtures" / "agreement"
CASES = [("two_models_human.csv", "gold.csv"), ("three_reviewers.csv", "gold3.csv")]


def panel_of(name: str) -> PanelTable:
    panel = read_panel(read_decisions(PANEL / name), PANEL / name)
    assert panel is not None
    return panel


def matched_of(name: str, gold: str) -> Matched:
    return match_decisions(read_decisions(PANEL / name), PANEL / name, load_gold(PANEL / gold))


def test_reading_the_reviewer_columns() -> None:
    panel = panel_of("two_models_human.csv")
    assert panel.names == ["gpt-4o-mini", "llama3.1-8b", "human"]
    assert [r.kind for r in panel.reviewers] == ["model", "model", "human"]
    assert [int(r.answered.sum()) for r in panel.reviewers] == [12, 12, 7]
    assert panel.combine == "any"
    assert panel.record_ids[panel.conflict].tolist() == ["r02", "r04", "r05", "r06", "r09", "r11", "r12"]
    human = panel.reviewers[2]
    assert human.decisions.tolist()[:3] == ["include", "include", ""]
    assert np.isnan(human.p_include[0]) and panel.reviewers[0].p_include[0] == pytest.approx(0.9)
    assert panel.reviewers[0].verdicts[1] == "I1=met; I2=met; E1=not_met"
    assert read_panel(read_decisions(SINGLE / "decisions.csv"), SINGLE / "decisions.csv") is None


def test_error_and_uncertain_scored_both_ways() -> None:
    decisions = np.array(["include", "exclude", "uncertain", "error", ""], dtype=object)
    assert as_binary(decisions, undecided_as="include").tolist()[:4] == [1.0, 0.0, 1.0, 1.0]
    assert as_binary(decisions, undecided_as="exclude").tolist()[:4] == [1.0, 0.0, 0.0, 0.0]
    assert np.isnan(as_binary(decisions, undecided_as="include")[4])


def test_bad_reviewer_value_names_record_and_line() -> None:
    path = PANEL / "bad_reviewer_value.csv"
    with pytest.raises(InputError) as caught:
        read_panel(read_decisions(path), path)
    assert caught.value.line == 5
    assert "record r04: decision:llama3.1-8b is 'maybe'; expected include, exclude, uncertain, error or empty" in str(
        caught.value
    )


@pytest.mark.parametrize(("name", "gold"), CASES)
@pytest.mark.parametrize("way", ["include", "exclude"])
def test_pairs_match_sklearn_and_krippendorff(name: str, gold: str, way: str) -> None:
    panel = panel_of(name)
    report = build_reviewer_agreement(panel)
    pairs = {(p["a"], p["b"]): p for p in report["pairs"]}
    for a, b in itertools.combinations(panel.reviewers, 2):
        both = a.answered & b.answered
        x = as_binary(a.decisions[both], undecided_as=way)
        y = as_binary(b.decisions[both], undecided_as=way)
        pair = pairs[(a.name, b.name)]
        figures = pair if way == "include" else pair["as_exclude"]
        assert pair["n"] == int(both.sum())
        expected_kappa = cohen_kappa_score(x, y) if len(set(x) | set(y)) > 1 else None
        if expected_kappa is None or np.isnan(expected_kappa):
            assert figures["kappa"] is None
        else:
            assert figures["kappa"] == pytest.approx(expected_kappa, abs=1e-12)
        po = float(np.mean(x == y))
        assert figures["pabak"] == pytest.approx(2 * po - 1, abs=1e-12)
        share = (x.mean() + y.mean()) / 2
        chance = 2 * share * (1 - share)
        assert figures["ac1"] == pytest.approx((po - chance) / (1 - chance), abs=1e-12)
        alpha = krippendorff.alpha(reliability_data=np.vstack([x, y]), level_of_measurement="nominal")
        assert figures["alpha"] == pytest.approx(alpha, abs=1e-12)
        assert figures["kappa_ci"][0] <= figures["kappa"] <= figures["kappa_ci"][1]


@pytest.mark.parametrize(("name", "gold"), CASES)
@pytest.mark.parametrize("way", ["include", "exclude"])
def test_fleiss_and_alpha_match_statsmodels_and_krippendorff(name: str, gold: str, way: str) -> None:
    panel = panel_of(name)
    across = build_reviewer_agreement(panel)["all_reviewers"]
    figures = across if way == "include" else across["as_exclude"]
    ratings = np.vstack([as_binary(r.decisions, undecided_as=way) for r in panel.reviewers])
    complete = ~np.isnan(ratings).any(axis=0)
    table, _ = aggregate_raters(ratings[:, complete].T.astype(int))
    assert figures["fleiss_kappa"]["n"] == int(complete.sum())
    assert figures["fleiss_kappa"]["value"] == pytest.approx(statsmodels_fleiss(table), abs=1e-12)
    expected_alpha = krippendorff.alpha(reliability_data=ratings, level_of_measurement="nominal")
    assert figures["krippendorff_alpha"]["value"] == pytest.approx(expected_alpha, abs=1e-12)
    assert figures["krippendorff_alpha"]["n"] == (12 if name.startswith("two") else 20)
    for key in ("fleiss_kappa", "krippendorff_alpha"):
        low, high = figures[key]["ci"]
        assert low < figures[key]["value"] < high


def test_human_gaps_change_the_records_each_figure_uses() -> None:
    across = build_reviewer_agreement(panel_of("two_models_human.csv"))["all_reviewers"]
    assert across["fleiss_kappa"]["n"] == 7  # the records the person labelled
    assert across["krippendorff_alpha"]["n"] == 12  # alpha takes missing answers


def test_bootstrap_is_reproducible_and_widens_with_fewer_records() -> None:
    rng = np.random.default_rng(3)
    truth = rng.random(400) < 0.3
    ratings = np.vstack([np.where(rng.random(400) < 0.85, truth, ~truth) for _ in range(3)]).astype(float)
    first, _ = fleiss_kappa(ratings)
    again, _ = fleiss_kappa(ratings)
    assert first == again
    small, _ = fleiss_kappa(ratings[:, :50])
    assert small.low is not None and small.high is not None and first.low is not None and first.high is not None
    assert (small.high - small.low) > (first.high - first.low)
    alpha, n = alpha_across(ratings)
    assert alpha.low is not None and alpha.value is not None and alpha.high is not None
    assert n == 400 and alpha.low < alpha.value < alpha.high


def test_all_one_category_is_undefined_not_invented() -> None:
    estimate, n = fleiss_kappa(np.ones((3, 10)))
    assert n == 10 and estimate.value is None and "one category" in estimate.note


def test_each_reviewer_against_gold() -> None:
    panel = build_panel(matched_of("two_models_human.csv", "gold.csv"))
    assert panel is not None
    rows = {row["name"]: row for row in panel["reviewers_against_gold"]}
    # gpt-4o-mini: includes r01 r02 r08 r11, uncertain r05, error r09; gold includes r01 r02 r05 r06 r11 r12.
    gpt = rows["gpt-4o-mini"]
    assert (gpt["tp"], gpt["fp"], gpt["fn"], gpt["tn"]) == (4, 2, 2, 4)
    assert gpt["sensitivity"] == pytest.approx(4 / 6)
    assert (gpt["as_exclude"]["tp"], gpt["as_exclude"]["fp"]) == (3, 1)
    human = rows["human"]
    assert human["kind"] == "human" and human["n"] == 7
    assert (human["tp"], human["fp"], human["fn"], human["tn"]) == (4, 0, 0, 3)


def test_combination_gain_against_the_best_single_model() -> None:
    panel = build_panel(matched_of("two_models_human.csv", "gold.csv"))
    assert panel is not None
    gain = panel["combination"]
    assert gain["best_reviewer"] == "gpt-4o-mini"  # the person is never the baseline
    assert gain["rule"] == "any" and gain["n"] == 12
    # combined includes r01 r02 r04 r06 r08 r11 r12, uncertain r05 r09 (both count as include).
    assert gain["sensitivity"]["combined"] == pytest.approx(1.0)
    assert gain["sensitivity"]["change"] == pytest.approx(1 - 4 / 6)
    assert gain["specificity"]["best"] == pytest.approx(4 / 6)
    assert gain["specificity"]["combined"] == pytest.approx(3 / 6)
    assert gain["precision"]["change"] == pytest.approx(6 / 9 - 4 / 6)
    assert (gain["extra_includes_found"], gain["includes_lost"], gain["extra_false_includes"]) == (2, 0, 1)
    assert gain["extra_human_reads"] == 3


def test_single_model_table_has_no_panel_section() -> None:
    matched = match_decisions(
        read_decisions(SINGLE / "decisions.csv"), SINGLE / "decisions.csv", load_gold(SINGLE / "gold.csv")
    )
    report = build_agreement(matched)
    assert "panel" not in report
    assert "Panel:" not in render_text(render_agreement(report, curve=False))


@pytest.mark.parametrize(("name", "gold"), CASES)
def test_panel_report_fits_80_columns(name: str, gold: str) -> None:
    report = build_agreement(matched_of(name, gold))
    text = render_text(render_agreement(report, curve=False), width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "Each reviewer against gold" in text and "Reviewers against each other" in text
    assert "Combination rule" in text
    assert ("Fleiss' kappa" in text) and ("Krippendorff's alpha" in text)
    reviewers = render_text(render_reviewer_agreement(build_reviewer_agreement(panel_of(name))), width=80)
    assert max(len(line) for line in reviewers.splitlines()) <= 80


def test_cli_gold_json_and_reviewers_json() -> None:
    runner = CliRunner()
    result = runner.invoke(agree, [str(PANEL / "three_reviewers.csv"), "--gold", str(PANEL / "gold3.csv"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["panel"]["combine"] == "majority"
    assert len(data["panel"]["between"]["pairs"]) == 3
    alone = runner.invoke(agree, [str(PANEL / "three_reviewers.csv"), "--reviewers", "--json"])
    assert alone.exit_code == 0, alone.output
    reviewers = json.loads(alone.output)
    assert reviewers["schema"] == "winnow.agree.reviewers/1"
    assert reviewers["pairs"] == data["panel"]["between"]["pairs"]
    assert reviewers["n_conflict"] == 10


def test_cli_reviewers_text_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    runner = CliRunner()
    text = runner.invoke(agree, [str(PANEL / "two_models_human.csv"), "--reviewers", "--no-pager"], terminal_width=80)
    assert text.exit_code == 0, text.output
    assert "gpt-4o-mini vs human" in text.output
    both = runner.invoke(agree, [str(PANEL / "two_models_human.csv"), "--reviewers", "--gold", "x.csv"])
    assert both.exit_code == 2 and "--reviewers takes one decisions file and no --gold" in both.output
    neither = runner.invoke(agree, [str(PANEL / "two_models_human.csv")])
    assert neither.exit_code == 2 and "give --gold GOLD, or --reviewers" in neither.output
    assert main(["agree", str(SINGLE / "decisions.csv"), "--reviewers"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("winnow: error: ") and "not a panel table: no decision:<reviewer> columns" in err
    assert len(err.strip().splitlines()) == 1


def test_coverage_bench_runs_on_tiny_sizes(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import multirater_coverage

    figures = multirater_coverage.main(["--reps", "5", "--scenarios", "1", "--out", str(tmp_path / "r.json")])
    row = figures["scenarios"][0]
    assert row["reps"] == 5 and 0 <= row["fleiss_kappa"]["coverage"] <= 1
    assert row["target"]["fleiss_kappa"] == pytest.approx(0.471, abs=0.01)
    assert json.loads((tmp_path / "r.json").read_text())["benchmark"] == "multirater_coverage"


@pytest.mark.parametrize("suffix", [".jsonl", ".xlsx"])
def test_panel_read_from_every_table_format(tmp_path: Path, suffix: str) -> None:
    from winnow.screening.decisions import write_table

    frame = read_decisions(PANEL / "two_models_human.csv")
    rows = [
        {**row, "conflict": row["conflict"] == "true"}  # as a writer holding booleans would store them
        for row in frame.to_dict("records")
    ]
    path = write_table(tmp_path / f"panel{suffix}", rows, list(frame.columns))
    again = read_panel(read_decisions(path), path)
    assert again is not None
    original = panel_of("two_models_human.csv")
    assert again.conflict.tolist() == original.conflict.tolist()
    assert [r.decisions.tolist() for r in again.reviewers] == [r.decisions.tolist() for r in original.reviewers]
