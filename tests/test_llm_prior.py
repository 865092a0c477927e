"""The simulated model answers of ``bench/prioritise/llm_prior.py`` have the quality they claim."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix

BENCH = Path(__file__).resolve().parent.parent / "bench" / "prioritise"
sys.path.insert(0, str(BENCH))
import llm_prior  # noqa: E402


@pytest.fixture(scope="module")
def data() -> llm_prior.SetInputs:
    """3,000 records, 10 % includes, random 'text' and a zero-shot similarity that knows a little."""
    rng = np.random.default_rng(0)
    n = 3000
    truth = rng.random(n) < 0.1
    # Terms from rare to common (in 1 % to 60 % of the records), so a term can mark a share of the includes.
    present = rng.random((n, 200)) < np.linspace(0.01, 0.6, 200)
    tfidf = csr_matrix(present * rng.random((n, 200)))
    similarity = rng.normal(size=n) + truth
    return llm_prior.SetInputs(
        name="synthetic", truth=truth, tfidf=tfidf, similarity=similarity, criteria=("I1", "I2", "I3")
    )


@pytest.mark.parametrize("auc", [0.55, 0.75, 0.95])
def test_the_realised_auc_is_the_asked_one(data: llm_prior.SetInputs, auc: float) -> None:
    realised = [llm_prior.simulate(data, llm_prior.Quality("q", auc), seed).auc for seed in range(5)]
    assert np.mean(realised) == pytest.approx(auc, abs=0.02)


def test_coarse_scales_use_their_levels(data: llm_prior.SetInputs) -> None:
    for scale, levels in (("likert5", {0, 0.25, 0.5, 0.75, 1}), ("likert2", {0, 0.75}), ("votes5", None)):
        sim = llm_prior.simulate(data, llm_prior.Quality("q", 0.85, scale), 0)
        used = set(np.unique(sim.score).tolist())
        assert used <= (levels or {k / 5 for k in range(6)})
        assert sim.answers.levels == len(used)


@pytest.mark.parametrize("miss", ["criterion", "cluster"])
def test_a_systematic_miss_puts_its_includes_at_the_bottom_with_one_stated_reason(
    data: llm_prior.SetInputs, miss: str
) -> None:
    sim = llm_prior.simulate(data, llm_prior.Quality("q", 0.9, "likert5", miss, 0.3), 0)
    includes = int(data.truth.sum())
    assert sim.missed.sum() / includes == pytest.approx(0.3, abs=0.1)
    assert (sim.score[sim.missed] <= 0.25).all()
    assert sim.criterion in data.criteria
    columns = sim.answers.columns
    misread = sim.answers.signals[:, columns.index(f"{sim.criterion}=not_met")]
    others = [columns.index(f"{c}=not_met") for c in data.criteria if c != sim.criterion]
    assert (misread[sim.missed] == 1).all()
    assert (sim.answers.signals[np.ix_(sim.missed, others)] == 0).all()
    # Excludes rejected for the misread criterion alone show the same pattern: the verdicts are no giveaway.
    alone = (misread == 1) & (sim.answers.signals[:, others].sum(axis=1) == 0)
    assert (alone & ~data.truth).sum() > 0


def test_verdicts_explain_the_score(data: llm_prior.SetInputs) -> None:
    sim = llm_prior.simulate(data, llm_prior.Quality("q", 0.85, "likert5"), 1)
    columns = sim.answers.columns
    not_met = sim.answers.signals[:, [columns.index(f"{c}=not_met") for c in data.criteria]].sum(axis=1)
    assert (not_met[sim.score < 0.25] >= 1).all()
    assert (not_met[sim.score >= 0.25] == 0).all()


def test_scores_only_answers_have_no_verdicts(data: llm_prior.SetInputs) -> None:
    sim = llm_prior.simulate(data, llm_prior.Quality("q", 0.9, "likert5", verdicts=False), 0)
    assert sim.answers.columns == ("score",)


def test_the_same_seed_gives_the_same_answers(data: llm_prior.SetInputs) -> None:
    quality = llm_prior.Quality("q", 0.9, "likert5", "cluster", 0.3)
    first, again = llm_prior.simulate(data, quality, 3), llm_prior.simulate(data, quality, 3)
    assert np.array_equal(first.score, again.score) and np.array_equal(first.missed, again.missed)
    assert np.array_equal(first.answers.signals, again.answers.signals)
