"""``winnow simulate``: figures from a reading order, seeded priors, and reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from winnow.gold import load_gold
from winnow.screening.ranking.simulate import CurveFigures, draw_priors

from support import run_cli

FIXTURE = Path(__file__).parent / "fixtures" / "prioritise"


def test_curve_figures_by_hand() -> None:
    # 10 records, 4 includes read at positions 1, 2, 5 and 9.
    labels = [True, True, False, False, True, False, False, False, True, False]
    figures = CurveFigures.of(labels, 10)
    assert figures.read_to_95 == 9  # ceil(0.95 * 4) = 4 includes
    assert figures.read_to_100 == 9
    assert figures.wss_95 == pytest.approx((10 - 9) / 10 - 0.05)
    assert figures.rrf_10 == pytest.approx(1 / 4)  # first 10% = 1 record, 1 include


def test_priors_follow_the_shared_rule() -> None:
    """The ASReview benchmark draws the same two records; the rule is spelt out here."""
    gold = load_gold(FIXTURE / "records.csv")
    frame = pd.read_csv(FIXTURE / "records.csv", dtype=str, keep_default_na=False)
    includes = list(frame.loc[frame.label_included == "1", "record_id"])
    excludes = list(frame.loc[frame.label_included == "0", "record_id"])
    for seed in range(3):
        rng = np.random.default_rng(seed)
        expected = (includes[int(rng.integers(len(includes)))], excludes[int(rng.integers(len(excludes)))])
        assert draw_priors(gold, seed) == expected


def simulate(*extra: object, gold: Path = FIXTURE / "records.csv") -> int:
    """``winnow simulate`` on the fixture, TF-IDF only."""
    return run_cli(
        "simulate",
        FIXTURE / "records.csv",
        "--gold",
        gold,
        "--protocol",
        FIXTURE / "protocol.yaml",
        "--embeddings",
        "off",
        *extra,
    )


def simulate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    code = simulate("--seeds", "2", "--json", "--orders", "--plot", tmp_path / "curve.png", *extra)
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_simulate_reproduces_its_figures_from_a_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = simulate_json(tmp_path, capsys)
    second = simulate_json(tmp_path, capsys)
    for report in (first, second):
        report.pop("plot", None)
    assert first == second
    assert first["n_records"] == 60 and first["n_includes"] == 12
    for seed in first["seeds"]:
        order = seed["order"]
        assert order[:2] == seed["prior"]
        assert len(order) == len(set(order))
        assert seed["stop"] is not None and 0 < seed["stop"]["p_value"] < 0.05
        assert 1 <= seed["read_to_95"] <= seed["read_to_100"] <= 60
    # The ranking must beat reading in file order, where the 12th include is the 60th... or near it.
    assert first["summary"]["mean_wss_95"] > 0.1
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heuristic_rule_is_labelled_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = simulate_json(tmp_path, capsys, "--rule", "heuristic", "--excludes-in-a-row", "5")
    assert report["rule"]["heuristic"] is True
    assert "no statistical guarantee" in report["rule"]["description"]


def test_terminal_report_shows_table_and_curve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = simulate("--seeds", "1", "--plot", tmp_path / "c.png")
    out = capsys.readouterr().out
    assert code == 0
    assert "WSS@95" in out and "Recall curve" in out and "buscar" in out


def test_records_without_gold_labels_are_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.read_csv(FIXTURE / "records.csv", dtype=str, keep_default_na=False)
    frame.iloc[:50].to_csv(tmp_path / "gold.csv", index=False)
    code = simulate("--no-plot", gold=tmp_path / "gold.csv")
    err = capsys.readouterr().err
    assert code == 1
    assert "gold.csv" in err and "10 record(s) have no gold label" in err
    assert len(err.strip().splitlines()) == 1


def test_llm_run_ranks_as_an_arm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --from-run, the LLM's P(include) is one more arm, not in the zero-shot prior; a perfect one shows it."""
    frame = pd.read_csv(FIXTURE / "records.csv", dtype=str, keep_default_na=False)
    run = pd.DataFrame(
        {
            "record_id": frame["record_id"],
            "title": frame["title"],
            "decision": np.where(frame["label_included"] == "1", "include", "exclude"),
            "p_include": np.where(frame["label_included"] == "1", "0.99", "0.01"),
        }
    )
    run.to_csv(tmp_path / "decisions.csv", index=False)
    plain = simulate_json(tmp_path, capsys)
    helped = simulate_json(tmp_path, capsys, "--from-run", str(tmp_path / "decisions.csv"))
    assert helped["ranking"]["zero_shot"] == ["tfidf-similarity"]
    assert "model-answers" in helped["ranking"]["learners"]
    assert helped["summary"]["mean_read_to_100"] < plain["summary"]["mean_read_to_100"]


def test_simulate_names_the_learners_and_their_final_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(FIXTURE / "records.csv", dtype=str, keep_default_na=False)
    run = pd.DataFrame({"record_id": frame["record_id"], "decision": "exclude", "p_include": "0.2"})
    run.to_csv(tmp_path / "decisions.csv", index=False)
    report = simulate_json(tmp_path, capsys, "--from-run", str(tmp_path / "decisions.csv"))
    # The default learners less the one that needs embeddings (off here), and the model's answers as an arm.
    expected = ["zero-shot-prior", "model-answers", "tfidf-svm"]
    assert report["ranking"]["learners"] == expected
    assert "Thompson sampling" in report["ranking"]["combiner"]
    for seed in report["seeds"]:
        assert list(seed["final_weights"]) == expected
        assert sum(seed["final_weights"].values()) == pytest.approx(1.0, abs=1e-5)
    code = simulate("--seeds", "1", "--no-plot")
    out = capsys.readouterr().out
    assert code == 0 and "tfidf-svm" in out and "Combiner: Thompson sampling" in out
