"""The learners, the Hedge combiner, cold start, and a resume that does not replay every answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from winnow.ledger import Ledger
from winnow.protocol import load_protocol
from winnow.records import read_records
from winnow.screening.ranking import prioritise as prioritise_module
from winnow.screening.ranking.hedge import Hedge, rank_loss
from winnow.screening.ranking.learners import (
    Fixed,
    LinearLearner,
    TfidfBayes,
    embedding_logistic,
    tfidf_logistic,
    tfidf_svm,
)
from winnow.screening.ranking.prioritise import Session
from winnow.screening.ranking.ranker import Features, Prior, Ranker, RankerConfig, ranking_inputs, zero_shot_prior
from winnow.screening.ranking.stopping import StoppingRule

from support import STATIN_TEXTS

FIXTURE = Path(__file__).parent / "fixtures" / "prioritise"

TEXTS = STATIN_TEXTS
LABELLED = np.array([0, 1, 2, 3])
Y = np.array([1, 1, 0, 0])


def tfidf() -> Any:
    return TfidfVectorizer().fit_transform(TEXTS).tocsr()


@pytest.mark.parametrize("make", [tfidf_logistic, tfidf_svm, TfidfBayes], ids=["logistic", "svm", "bayes"])
def test_each_tfidf_learner_puts_the_unlabelled_include_first(make: Any) -> None:
    learner = make(tfidf())
    scores = learner.scores(LABELLED, Y)
    assert scores is not None and scores.shape == (6,)
    assert scores[4] > scores[5]


def test_embedding_learner_is_fitted_on_the_dense_vectors_alone() -> None:
    rng = np.random.default_rng(0)
    includes = rng.normal(loc=[2, 0, 0], scale=0.3, size=(3, 3))
    excludes = rng.normal(loc=[-2, 0, 0], scale=0.3, size=(3, 3))
    vectors = np.vstack([includes[:2], excludes[:2], includes[2:], excludes[2:]])
    scores = embedding_logistic(vectors).scores(LABELLED, Y)
    assert scores is not None and scores[4] > scores[5]


def test_a_learner_sleeps_until_both_classes_are_labelled() -> None:
    assert tfidf_logistic(tfidf()).scores(np.array([0, 1]), np.array([1, 1])) is None
    fixed = Fixed("llm-p-include", np.arange(6.0))
    assert fixed.scores(np.array([0]), np.array([1])) is not None and not fixed.learned


def test_rank_loss_by_hand() -> None:
    pct = np.array([0.9, 0.5, 0.7, 0.1])
    unread = np.array([True, True, True, False])
    assert rank_loss(pct, 0, unread) == 0.0  # on top of the unread
    assert rank_loss(pct, 1, unread) == 1.0  # below both other unread records
    assert rank_loss(pct, 2, unread) == 0.5


def test_hedge_moves_weight_to_the_learner_that_ranked_the_includes_higher() -> None:
    hedge = Hedge.over(["good", "bad"], [False, False], eta=2.0, prior_share=0.0)
    assert hedge.weights() == pytest.approx([0.5, 0.5])
    for _ in range(3):
        hedge.update(np.array([0.05, 0.6]), np.array([True, True]))
    good, bad = hedge.weights()
    assert good > 0.9 > 0.1 > bad
    assert good == pytest.approx(1 / (1 + np.exp(-2.0 * 3 * 0.55)))


def test_a_sleeping_learner_keeps_its_weight_against_the_mixture() -> None:
    hedge = Hedge.over(["a", "b", "asleep"], [False, False, False], eta=1.0, prior_share=0.0)
    hedge.update(np.array([0.0, 1.0, 0.0]), np.array([True, True, False]))
    a, b, asleep = hedge.weights()
    # Charged the mixture's loss (0.5), the sleeper ends between the better and the worse learner.
    assert a > asleep > b
    assert asleep / a == pytest.approx(np.exp(-0.5))


def test_fixed_share_lets_a_learner_recover() -> None:
    plain = Hedge.over(["a", "b"], [False, False], eta=4.0, prior_share=0.0)
    shared = Hedge.over(["a", "b"], [False, False], eta=4.0, prior_share=0.0, share=0.05)
    for hedge in (plain, shared):
        for _ in range(10):
            hedge.update(np.array([1.0, 0.0]), np.array([True, True]))
    assert plain.weights()[0] < 1e-10
    assert shared.weights()[0] >= 0.05 * 0.5 * 0.95


def small_features() -> Features:
    matrix = tfidf()
    query = TfidfVectorizer().fit(TEXTS).transform(["statin cholesterol"])
    return Features(tfidf=matrix, query_tfidf=query)  # type: ignore[arg-type]


def test_cold_start_is_the_prior() -> None:
    prior = Prior(score=np.array([0.1, 0.2, 0.3, 0.9, 0.5, 0.4]), components=("tfidf-similarity",))
    config = RankerConfig(learners=("tfidf-logistic", "tfidf-bayes"), combiner="hedge", mean_arm=False)
    ranker = Ranker(small_features(), prior, config=config)
    ranker.learn([], [])
    assert np.array_equal(ranker.scores(0), prior.score)
    assert ranker.next_unread(np.zeros(6, dtype=bool), 0) == 3
    assert ranker.weights(0) == {"zero-shot-prior": 1.0, "tfidf-logistic": 0.0, "tfidf-bayes": 0.0}
    # One class only: the learners still sleep and the prior still decides.
    ranker.learn([3], [False])
    assert np.array_equal(ranker.scores(1), prior.score)


def test_ranker_weights_the_learners_by_their_losses_and_names_them() -> None:
    prior = Prior(score=np.array([0.6, 0.5, 0.9, 0.8, 0.2, 0.1]), components=("tfidf-similarity",))
    config = RankerConfig(
        learners=("tfidf-logistic", "tfidf-svm", "tfidf-bayes"),
        eta=4.0,
        half_life=1.0,
        combiner="hedge",
        mean_arm=False,
    )
    ranker = Ranker(small_features(), prior, config=config)
    order, labels = [0, 2], [True, False]
    read = np.zeros(6, dtype=bool)
    read[order] = True
    while not read.all():
        ranker.learn(order, labels)
        nxt = ranker.next_unread(read, len(labels))
        read[nxt] = True
        order.append(nxt)
        labels.append(nxt in (0, 1, 4))
    ranker.learn(order, labels)
    weights = ranker.weights(len(labels))
    assert set(weights) == {"zero-shot-prior", "tfidf-logistic", "tfidf-svm", "tfidf-bayes"}
    assert sum(weights.values()) == pytest.approx(1.0)
    assert ranker.hedge.updates == 2  # two includes found after the first label (records 1 and 4)


@pytest.fixture()
def fixture_session_inputs() -> tuple[list, object, object]:
    records = list(read_records(FIXTURE / "records.csv").records)
    protocol = load_protocol(FIXTURE / "protocol.yaml")
    return records, protocol, ranking_inputs(records, protocol, embeddings="off")


# On 60 records buscar at 95 % fires only a record or two before the end; at 80 % it leaves the
# resumed session records to rank, which is what the resume test needs.
RESUME_RULE = StoppingRule(recall_target=0.8)


def open_session(ledger: Ledger, inputs: tuple[list, object, object]) -> Session:
    records, protocol, ranking = inputs
    return Session.open(
        ledger,
        records=records,
        records_path="records.csv",
        protocol=protocol,  # type: ignore[arg-type]
        inputs=ranking,  # type: ignore[arg-type]
        rule=RESUME_RULE,
        who="test",
    )


def test_resume_runs_the_stopping_test_once_not_once_per_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture_session_inputs: tuple[list, object, object]
) -> None:
    truth = {r.record_id: r for r in fixture_session_inputs[0]}
    import pandas as pd

    gold = pd.read_csv(FIXTURE / "records.csv", dtype=str, keep_default_na=False)
    label = dict(zip(gold["record_id"], gold["label_included"] == "1", strict=True))
    with Ledger(tmp_path / "p.sqlite") as ledger:
        session = open_session(ledger, fixture_session_inputs)
        while session.fired_at is None:
            record = session.next_record()
            assert record is not None and record.record_id in truth
            session.answer(record, "include" if label[record.record_id] else "exclude")
        record = session.next_record()  # one more after the rule fired: its stored p-value shows the firing
        assert record is not None
        session.answer(record, "include" if label[record.record_id] else "exclude")
        fired, read = session.fired_at, session.status().read
        expected_next = session.next_record()
        assert expected_next is not None  # records are left, so the resumed ranker must refit to rank them
        weights = session.weights()

    calls = {"check": 0, "fits": 0}
    real_check = prioritise_module.check

    def counting_check(*args: object, **kwargs: object) -> object:
        calls["check"] += 1
        return real_check(*args, **kwargs)  # type: ignore[arg-type]

    real_fit = LinearLearner.scores

    def counting_fit(self: LinearLearner, labelled: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        calls["fits"] += 1
        return real_fit(self, labelled, y)

    monkeypatch.setattr(prioritise_module, "check", counting_check)
    monkeypatch.setattr(LinearLearner, "scores", counting_fit)
    with Ledger(tmp_path / "p.sqlite") as ledger:
        resumed = open_session(ledger, fixture_session_inputs)
        assert calls["check"] <= 1  # not one per stored answer (there are more than 20)
        assert resumed.fired_at == fired and resumed.status().read == read > 20
        assert resumed.next_record() == expected_next
        assert calls["fits"] <= 2 * 2  # two linear learners, fitted once each: no refit per answer
        assert resumed.weights() == pytest.approx(weights, abs=1e-6)


def test_written_out_bayes_matches_sklearn() -> None:
    from sklearn.naive_bayes import MultinomialNB

    from winnow.screening.ranking.learners import include_heavy_weights

    matrix = tfidf()
    ours = TfidfBayes(matrix).scores(LABELLED, Y)
    model = MultinomialNB(alpha=3.822).fit(matrix[LABELLED], Y, sample_weight=include_heavy_weights(Y, 10.0))
    joint = model.predict_joint_log_proba(matrix)
    assert ours == pytest.approx(joint[:, 1] - joint[:, 0], abs=1e-9)


SEEDED_TEXTS = [
    "aspirin heart trial",  # labelled include
    "dog grooming tips",  # labelled exclude
    "cooking pasta at home",  # labelled exclude
    "cholesterol lowering statin therapy",  # unlabelled: only the protocol shares its words
    "garden flowers in spring",  # unlabelled: shares words with nothing
]
SEEDED_QUERY = "statin therapy for lowering cholesterol"


def test_the_protocol_as_one_more_include_lifts_the_record_only_it_resembles() -> None:
    matrix = TfidfVectorizer().fit_transform([*SEEDED_TEXTS, SEEDED_QUERY]).tocsr()
    records, query = matrix[:-1], matrix[-1:]
    labelled, y = np.array([0, 1, 2]), np.array([1, 0, 0])
    plain = tfidf_svm(records).scores(labelled, y)
    seeded = tfidf_svm(records, query=query).scores(labelled, y)
    assert plain is not None and seeded is not None
    # Without the protocol nothing the model learnt touches records 3 and 4; with it, 3 comes first of the two.
    assert plain[3] == pytest.approx(plain[4])
    assert seeded[3] > seeded[4] + 0.1
    # The protocol is not a label: the learner still sleeps until both classes are labelled.
    assert tfidf_svm(records, query=query).scores(np.array([1, 2]), np.array([0, 0])) is None


def test_the_ranker_seeds_both_svms_with_the_protocol_in_their_own_feature_space() -> None:
    matrix = TfidfVectorizer().fit_transform([*SEEDED_TEXTS, SEEDED_QUERY]).tocsr()
    vectors = np.random.default_rng(0).normal(size=(6, 4))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    features = Features(matrix[:-1], matrix[-1:], embeddings=vectors[:-1], query_embedding=vectors[-1])
    for seeded in (False, True):
        config = RankerConfig(learners=("tfidf-svm", "joint-svm"), query_as_include=seeded)
        ranker = Ranker(features, zero_shot_prior(features), config=config)
        rows = {e.name: getattr(e, "seed_include", None) for e in ranker.experts}
        if not seeded:
            assert rows["tfidf-svm"] is None and rows["joint-svm"] is None
            continue
        assert rows["tfidf-svm"].shape == (1, matrix.shape[1])
        assert rows["joint-svm"].shape == (1, matrix.shape[1] + 4)
        assert rows["joint-svm"].toarray()[0, -4:] == pytest.approx(vectors[-1])
