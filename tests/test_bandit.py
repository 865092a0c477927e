"""Thompson sampling over rankers: draws, credit, decay, saved state, and the ranker that uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from winnow.ledger import Ledger
from winnow.protocol import load_protocol
from winnow.records import read_records
from winnow.screening.ranking.bandit import ThompsonArms
from winnow.screening.ranking.prioritise import Session
from winnow.screening.ranking.ranker import Features, Prior, Ranker, RankerConfig, ranking_inputs

from support import STATIN_TEXTS, answer_as_gold, screened_session

FIXTURE = Path(__file__).parent / "fixtures" / "prioritise"

TEXTS = [*STATIN_TEXTS, "simvastatin cholesterol in older adults", "knee pain in football players"]
INCLUDES = {0, 1, 4, 6}


def test_the_arm_that_finds_includes_wins_the_picks() -> None:
    arms = ThompsonArms(("good", "poor"))
    rng = np.random.default_rng(7)
    chosen = []
    for step in range(300):
        arm = arms.choose(np.array([True, True]), (0, step))
        chosen.append(arm)
        hit = rng.random() < (0.5 if arm == 0 else 0.1)
        arms.update(np.array([arm == 0, arm == 1]), hit)
    assert np.mean(np.array(chosen[-100:]) == 0) > 0.9
    assert arms.hits.sum() + arms.misses.sum() == 300  # one arm credited per label, no decay


def test_a_sleeping_arm_is_never_drawn_and_draws_repeat_for_the_same_seed() -> None:
    arms = ThompsonArms(("a", "b", "c"))
    arms.update(np.array([True, False, False]), True)
    assert all(arms.choose(np.array([False, True, True]), (1, s)) != 0 for s in range(50))
    assert [arms.choose(np.array([True] * 3), (3, s)) for s in range(20)] == [
        arms.choose(np.array([True] * 3), (3, s)) for s in range(20)
    ]
    with pytest.raises(ValueError):
        arms.choose(np.zeros(3, dtype=bool), (0, 0))


def test_counts_decay_and_only_credited_arms_take_the_label() -> None:
    arms = ThompsonArms(("a", "b"), discount=0.5)
    arms.update(np.array([True, True]), True)
    arms.update(np.array([False, True]), False)
    assert arms.hits == pytest.approx([0.5, 0.5])
    assert arms.misses == pytest.approx([0.0, 1.0])
    with pytest.raises(ValueError):
        ThompsonArms(("a",), discount=0.0)


def test_state_round_trips_and_is_refused_for_other_arms() -> None:
    arms = ThompsonArms(("a", "b"))
    arms.update(np.array([True, False]), True)
    again = ThompsonArms(("a", "b"))
    assert again.restore(arms.state())
    assert again.hits.tolist() == arms.hits.tolist()
    other = ThompsonArms(("a", "c"))
    assert not other.restore(arms.state())
    assert other.hits.tolist() == [0.0, 0.0]


def run(config: RankerConfig, seed: int) -> tuple[list[int], dict[str, float]]:
    matrix = TfidfVectorizer().fit_transform(TEXTS).tocsr()
    query = TfidfVectorizer().fit(TEXTS).transform(["statin cholesterol"])
    prior = Prior(score=np.linspace(0.1, 0.9, len(TEXTS))[::-1].copy(), components=("tfidf-similarity",))
    ranker = Ranker(Features(tfidf=matrix, query_tfidf=query), prior, seed=seed, config=config)  # type: ignore[arg-type]
    order, labels = [0, 2], [True, False]
    read = np.zeros(len(TEXTS), dtype=bool)
    read[order] = True
    while not read.all():
        ranker.learn(order, labels)
        nxt = ranker.next_unread(read, len(labels))
        assert not read[nxt]
        read[nxt] = True
        order.append(nxt)
        labels.append(nxt in INCLUDES)
    ranker.learn(order, labels)
    return order, ranker.weights(len(labels))


def test_thompson_ranker_is_reproducible_from_its_seed_and_names_every_learner() -> None:
    config = RankerConfig(learners=("tfidf-logistic", "tfidf-bayes"), combiner="thompson", half_life=1.0)
    first, weights = run(config, seed=3)
    assert run(config, seed=3)[0] == first
    assert sorted(first) == list(range(len(TEXTS)))
    assert set(weights) == {"zero-shot-prior", "tfidf-logistic", "tfidf-bayes", "mean-of-learners"}
    assert sum(weights.values()) == pytest.approx(1.0)
    # Every include is found before the last exclude on this easy set.
    assert max(first.index(i) for i in INCLUDES) < len(TEXTS) - 1


def test_credit_depth_decides_which_learners_take_a_label() -> None:
    """Depth 1 credits the learners that would have shown the record; depth 3 also one that had it third."""

    def credited(depth: int) -> list[bool]:
        config = RankerConfig(
            learners=("tfidf-logistic", "tfidf-bayes"), combiner="thompson", credit_depth=depth, half_life=1e-9
        )
        matrix = TfidfVectorizer().fit_transform(TEXTS).tocsr()
        query = TfidfVectorizer().fit(TEXTS).transform(["statin cholesterol"])
        prior = Prior(score=np.linspace(0.9, 0.1, len(TEXTS)), components=("tfidf-similarity",))
        ranker = Ranker(Features(tfidf=matrix, query_tfidf=query), prior, config=config)  # type: ignore[arg-type]
        ranker._awake[:] = True
        # Record 5 is first for the first learner, third for the second, last for the mean.
        ranker._percentiles[0] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 0.6, 0.7]
        ranker._percentiles[1] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.8, 0.9]
        ranker._percentiles[2] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.05, 0.3, 0.2]
        return ranker._would_show(5, 10).tolist()

    assert credited(1) == [True, False, False]
    assert credited(3) == [True, True, False]
    assert credited(len(TEXTS)) == [True, True, True]


def test_the_mean_arm_is_the_mean_of_the_other_learners() -> None:
    from winnow.screening.ranking.ranker import percentile

    config = RankerConfig(learners=("tfidf-logistic", "tfidf-bayes"), combiner="thompson", mean_arm=True)
    matrix = TfidfVectorizer().fit_transform(TEXTS).tocsr()
    query = TfidfVectorizer().fit(TEXTS).transform(["statin cholesterol"])
    prior = Prior(score=np.linspace(0.9, 0.1, len(TEXTS)), components=("tfidf-similarity",))
    ranker = Ranker(Features(tfidf=matrix, query_tfidf=query), prior, config=config)  # type: ignore[arg-type]
    assert ranker.names == ("tfidf-logistic", "tfidf-bayes", "mean-of-learners")
    ranker.learn([0, 2, 3], [True, False, False])
    rows = ranker._percentiles
    assert rows[2] == pytest.approx(percentile(rows[:2].mean(axis=0)))
    assert ranker._awake.all()


def test_a_resumed_session_keeps_the_arms_counts_and_draws_the_same_next_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default ranker with every arm (MiniLM on): stop after 30 answers, open again, same state and next record."""
    monkeypatch.setenv("WINNOW_CACHE_DIR", str(tmp_path / "cache"))
    records = list(read_records(FIXTURE / "records.csv").records)
    protocol = load_protocol(FIXTURE / "protocol.yaml")
    inputs = ranking_inputs(records, protocol, embeddings="on")
    gold = pd.read_csv(FIXTURE / "records.csv", dtype=str, keep_default_na=False)
    label = dict(zip(gold["record_id"], gold["label_included"] == "1", strict=True))

    def session(ledger: Ledger) -> Session:
        return screened_session(ledger, records, protocol, inputs)

    with Ledger(tmp_path / "p.sqlite") as ledger:
        live = session(ledger)
        answer_as_gold(live, label, 30)
        assert live._ranker.names == ("tfidf-svm", "joint-svm", "mean-of-learners")
        expected, weights = live.next_record(), live.weights()
        hits = live._ranker.arms.hits.copy()
        assert hits.sum() > 0
    with Ledger(tmp_path / "p.sqlite") as ledger:
        resumed = session(ledger)
        assert resumed._ranker.arms.hits.tolist() == hits.tolist()
        assert resumed.next_record() == expected
        assert resumed.weights() == pytest.approx(weights, abs=1e-6)
