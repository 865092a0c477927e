"""A model's answers in the ranking: one more arm that earns its picks, from every source, in both commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from winnow.ledger import Ledger
from winnow.protocol import load_protocol
from winnow.records import read_records
from winnow.screening.ranking.model_answers import answers_from_scores
from winnow.screening.ranking.prioritise import Session
from winnow.screening.ranking.ranker import MODEL_ARM, ModelUse, Ranker, RankerConfig, ranking_inputs

from support import answer_as_gold, run_cli, screened_session

FIXTURE = Path(__file__).parent / "fixtures" / "prioritise"


def fixture() -> tuple[list, np.ndarray]:
    records = list(read_records(FIXTURE / "records.csv", merge_duplicates=False).records)
    frame = pd.read_csv(FIXTURE / "records.csv", dtype=str, keep_default_na=False)
    truth = (frame["label_included"] == "1").to_numpy()
    return records, truth


def ranker_with(scores: np.ndarray, seed: int = 0) -> tuple[Ranker, np.ndarray]:
    records, truth = fixture()
    ids = [r.record_id for r in records]
    answers = answers_from_scores(ids, dict(zip(ids, scores.tolist(), strict=True)))
    inputs = ranking_inputs(records, load_protocol(FIXTURE / "protocol.yaml"), model=answers, embeddings="off")
    return inputs.ranker(seed), truth


def screen(ranker: Ranker, truth: np.ndarray, first: tuple[int, int]) -> list[bool]:
    """Read until every include is found, from one include and one exclude."""
    order = list(first)
    read = np.zeros(len(truth), dtype=bool)
    read[order] = True
    labels = [bool(truth[i]) for i in order]
    while sum(labels) < truth.sum():
        ranker.learn(order, labels)
        nxt = ranker.next_unread(read, len(labels))
        read[nxt] = True
        order.append(nxt)
        labels.append(bool(truth[nxt]))
    return labels


def first_pair(truth: np.ndarray) -> tuple[int, int]:
    return int(np.flatnonzero(truth)[0]), int(np.flatnonzero(~truth)[0])


def test_a_right_model_earns_its_weight_and_a_wrong_one_loses_it() -> None:
    _, truth = fixture()
    right, _ = ranker_with(np.where(truth, 0.9, 0.1))
    wrong, _ = ranker_with(np.where(truth, 0.1, 0.9))
    right_labels = screen(right, truth, first_pair(truth))
    wrong_labels = screen(wrong, truth, first_pair(truth))
    assert right.weights(len(right_labels))[MODEL_ARM] > 0.5
    assert wrong.weights(len(wrong_labels))[MODEL_ARM] < 0.1
    # A right model: every include among the first records read (12 includes, 2 read as priors; the
    # learners' arms are still tried now and then).
    assert len(right_labels) <= 16
    # A wrong model that ranks every include last: the learners still find them well before the end.
    assert len(wrong_labels) < 45


def test_with_no_label_the_model_shows_the_first_records() -> None:
    _, truth = fixture()
    scores = np.linspace(0, 1, len(truth))
    ranker, _ = ranker_with(scores)
    read = np.zeros(len(truth), dtype=bool)
    assert ranker.next_unread(read, 0) == len(truth) - 1
    assert ranker.weights(0)[MODEL_ARM] == 1.0


def test_records_the_model_scores_alike_go_in_the_learners_order() -> None:
    """A two-level model: within a level, the arm's order is the learners' (here, the prior's) order."""
    _, truth = fixture()
    scores = np.where(np.arange(len(truth)) % 2 == 0, 0.75, 0.0)
    ranker, _ = ranker_with(scores)
    shown = ranker._arm_scores(0, 0)
    top_level = np.flatnonzero(scores == 0.75)
    assert (shown[top_level].min() > shown[scores == 0.0].max()) is np.True_
    prior = ranker.prior.score[top_level]
    assert list(np.argsort(-shown[top_level], kind="stable")) == list(np.argsort(-prior, kind="stable"))


def test_a_resumed_session_with_answers_keeps_every_arm_and_the_next_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default with MiniLM on and a model's answers: one more arm, and the joint SVM fits them beside the text."""
    monkeypatch.setenv("WINNOW_CACHE_DIR", str(tmp_path / "cache"))
    records, truth = fixture()
    ids = [r.record_id for r in records]
    verdicts = {rid: {"I1": "met" if t else "not_met", "I2": "unclear"} for rid, t in zip(ids, truth, strict=True)}
    scores = dict(zip(ids, np.where(truth, 0.75, 0.25).tolist(), strict=True))
    answers = answers_from_scores(ids, scores, verdicts=verdicts)
    protocol = load_protocol(FIXTURE / "protocol.yaml")
    inputs = ranking_inputs(records, protocol, model=answers, embeddings="on")
    label = dict(zip(ids, truth, strict=True))

    def session(ledger: Ledger) -> Session:
        return screened_session(ledger, records, protocol, inputs)

    with Ledger(tmp_path / "p.sqlite") as ledger:
        live = session(ledger)
        answer_as_gold(live, label, 20)
        names = live._ranker.names
        assert names == (MODEL_ARM, "tfidf-svm", "joint-svm+answers", "mean-of-learners")
        assert set(live._ranker.answers_in_learners()) == {"joint-svm+answers"}
        assert 0 < live._ranker.answers_in_learners()["joint-svm+answers"] < 1
        expected, weights = live.next_record(), live.weights()
    with Ledger(tmp_path / "p.sqlite") as ledger:
        resumed = session(ledger)
        assert resumed.next_record() == expected
        assert resumed.weights() == pytest.approx(weights, abs=1e-6)


SIMULATE = (
    "simulate",
    FIXTURE / "records.csv",
    "--gold",
    FIXTURE / "records.csv",
    "--protocol",
    FIXTURE / "protocol.yaml",
)


def simulate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: object) -> dict:
    code = run_cli(
        *SIMULATE,
        "--embeddings",
        "off",
        "--seeds",
        "2",
        "--json",
        "--no-plot",
        *extra,
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    return dict(json.loads(out.out))


def test_simulate_reads_a_panel_table_and_reports_the_models_weight(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(FIXTURE / "records.csv", dtype=str, keep_default_na=False)
    included = frame["label_included"] == "1"
    pd.DataFrame(
        {
            "record_id": frame["record_id"],
            "decision": np.where(included, "include", "exclude"),
            "p_include": np.where(included, "0.8", "0.3"),
            "decision:a": np.where(included, "include", "exclude"),
            "p_include:a": np.where(included, "0.9", "0.1"),
            "verdicts:a": np.where(included, "I1=met; I2=met", "I1=met; I2=not_met"),
            "decision:b": "exclude",
            "p_include:b": "",
            "verdicts:b": "I3=unclear",
        }
    ).to_csv(tmp_path / "panel.csv", index=False)
    plain = simulate_json(tmp_path, capsys)
    report = simulate_json(tmp_path, capsys, "--from-run", tmp_path / "panel.csv")
    assert "panel.csv" in report["ranking"]["model_answers"] and "2 reviewers" in report["ranking"]["model_answers"]
    assert MODEL_ARM in report["ranking"]["learners"]
    for seed in report["seeds"]:
        assert seed["model_weight"] == seed["final_weights"][MODEL_ARM]
        assert 0 < seed["model_weight"] <= 1
    assert report["summary"]["mean_model_weight"] == pytest.approx(
        np.mean([s["model_weight"] for s in report["seeds"]])
    )
    assert plain["summary"]["mean_model_weight"] is None and plain["ranking"]["model_answers"] is None
    assert report["summary"]["mean_read_to_100"] < plain["summary"]["mean_read_to_100"]


def test_simulate_and_prioritise_read_another_tools_likert_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(FIXTURE / "records.csv", dtype=str, keep_default_na=False)
    # Another tool's export: its own column names, a 1-5 relevance score, rows in another order.
    export = pd.DataFrame(
        {
            "ID": frame["record_id"],
            "Title": frame["title"],
            "Relevance (1-5)": np.where(frame["label_included"] == "1", 5, 2),
        }
    ).iloc[::-1]
    export.to_csv(tmp_path / "export.csv", index=False)
    report = simulate_json(tmp_path, capsys, "--from-run", tmp_path / "export.csv", "--score-column", "relevance (1-5)")
    assert "rescaled from 2-5 to 0-1" in report["ranking"]["model_answers"]
    assert report["summary"]["mean_read_to_100"] <= 16

    code = run_cli(
        "prioritise",
        FIXTURE / "records.csv",
        "--protocol",
        FIXTURE / "protocol.yaml",
        "--embeddings",
        "off",
        "--labels",
        FIXTURE / "records.csv",
        "--from-run",
        tmp_path / "export.csv",
        "--score-column",
        "Relevance (1-5)",
        "--db",
        tmp_path / "p.sqlite",
        "--report",
        tmp_path / "p.md",
    )
    assert code == 0
    stopping = json.loads((tmp_path / "p.json").read_text())
    assert "export.csv" in stopping["ranking"]["model_answers"]
    assert MODEL_ARM in stopping["ranking"]["learners"]


def test_score_column_needs_from_run_and_a_real_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = SIMULATE
    assert run_cli(*base, "--embeddings", "off", "--no-plot", "--score-column", "x") == 2
    assert "--score-column names a column of the --from-run file" in capsys.readouterr().err
    code = run_cli(
        *base, "--embeddings", "off", "--no-plot", "--from-run", FIXTURE / "records.csv", "--score-column", "score"
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "records.csv" in err and "no column 'score'" in err and len(err.strip().splitlines()) == 1


def test_a_default_config_uses_the_model_as_an_arm() -> None:
    assert RankerConfig().model.arm


@pytest.mark.parametrize(
    ("use", "names", "zero_shot"),
    [
        (ModelUse(), (MODEL_ARM, "tfidf-svm"), ("tfidf-similarity",)),
        (ModelUse(arm=False, features=1.0, features_in=("tfidf-svm",)), ("tfidf-svm+answers",), ("tfidf-similarity",)),
        (
            ModelUse(features=1.0, twin="tfidf-svm"),
            (MODEL_ARM, "tfidf-svm", "tfidf-svm+answers", "mean-of-learners"),
            ("tfidf-similarity",),
        ),
        (ModelUse(prior=True), (MODEL_ARM, "tfidf-svm"), ("tfidf-similarity", MODEL_ARM)),
        (ModelUse(explore=True), (MODEL_ARM, "tfidf-svm", "model-excluded"), ("tfidf-similarity",)),
    ],
)
def test_each_way_in_builds_its_arms(use: ModelUse, names: tuple[str, ...], zero_shot: tuple[str, ...]) -> None:
    """The settings the benchmark measured (docs/benchmarks.md, 20), each a seam of the ranker, not a patch."""
    records, truth = fixture()
    ids = [r.record_id for r in records]
    scores = np.where(truth, 0.6, 0.2)
    answers = answers_from_scores(ids, dict(zip(ids, scores.tolist(), strict=True)))
    inputs = ranking_inputs(records, load_protocol(FIXTURE / "protocol.yaml"), model=answers, embeddings="off")
    ranker = inputs.ranker(0, RankerConfig(learners=("tfidf-svm",), model=use))
    assert ranker.names == names
    assert ranker.prior.components == zero_shot
    labels = screen(ranker, truth, first_pair(truth))
    assert sum(labels) == truth.sum()
    if "tfidf-svm+answers" in names:
        assert 0 <= ranker.answers_in_learners()["tfidf-svm+answers"] <= 1
    if use.explore:
        # The explorer's own top record is one the model would exclude.
        top = int(np.argmax(ranker._arm_scores(names.index("model-excluded"), len(labels))))
        assert answers.would_exclude()[top]
