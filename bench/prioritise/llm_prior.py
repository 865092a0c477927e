"""Simulated model answers of controlled quality for the 17 shared screening sets, from their gold labels.

    python bench/prioritise/llm_prior.py [--seeds 10]   # realised AUC, levels and misses per set and quality

No real model has answered the shared sets, so issue 24's designs are chosen on answers
made here. Each ``Quality`` fixes how good the answers are and how they fail:

- **AUC** of a latent score (binormal: includes ~ N(d, 1), excludes ~ N(0, 1), with
  d = sqrt(2) * Phi^-1(AUC)). Part ``rho`` of the noise variance comes from the record's text
  (its zero-shot TF-IDF similarity to the protocol, as within-class normal scores), so the
  model, like a real one, errs more on records that do not read like the protocol; its
  errors are then partly shared with the text learners, which makes the model worth less to
  them than independent noise would (the pessimistic side).
- **Scale**: ``logprob`` (P(include) from token probabilities, rounded to 3 decimals, so
  confident answers tie at 0.000 and 1.000), ``likert5`` (a 1-5 relevance score, p = (s - 1) / 4:
  half of the excludes at 1, then 30 %, 13 %, 5 %, 2 %), ``likert2`` (a model that uses only
  two of the five levels, 1 and 4), ``votes5`` (five sampled answers, p = share of include votes).
- **Verdicts** or not: a ``-scores`` quality is another tool's export, a score and nothing else.
- **Systematic misses** (``miss_share`` of the includes, given the lowest scores together, not
  random noise): ``criterion``, a misread criterion: every record holding one term (chosen so
  that about ``miss_share`` of the includes hold it) fails criterion c*; ``cluster``, one
  topical cluster: k-means (k = 8) over the includes' LSA vectors, and the clusters whose
  includes add up closest to ``miss_share`` are missed. Missed records take latent scores from
  the lowest fifth of the excludes'.

Per-criterion verdicts (one per inclusion criterion of the set's protocol) explain the score
and, given the score, tell nothing more about the truth: the pessimistic reading of what a
model's verdicts add. A criterion is met (unclear 15 % of the time); a record the model
rejects (p < 0.25) is not_met on one criterion and on each other with probability 0.3, chosen
at random; a record in the middle (0.25 <= p < 0.5) is unclear on them instead. Under a miss
the misread criterion c* is not_met on every record the miss covers, and it is a missed
include's only reason. That pattern is what a consistent misreading leaves, and an exclude
rejected for c* alone shows it too.

Every answer set is seeded by (dataset, quality, seed): the grid's seed s draws both the two
prior records and the answers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import zlib
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np
import yaml
from scipy.sparse import csr_matrix
from scipy.stats import norm, rankdata
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import normalize

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "bench" / "asreview")]

from benchlib import write_results  # noqa: E402
from datasets import DATASETS  # noqa: E402

from winnow.screening.ranking.model_answers import ModelAnswers, answers_from_scores  # noqa: E402

PROTOCOLS = HERE / "protocols"
# A criterion the record meets is still called unclear this often.
UNCLEAR_WHEN_MET = 0.15


@dataclass(frozen=True)
class Quality:
    """How good simulated answers are, on what scale, and how they fail."""

    name: str
    auc: float
    scale: str = "logprob"
    miss: str = "none"
    miss_share: float = 0.0
    rho: float = 0.3
    verdicts: bool = True


# The grid: model quality on a fine scale; coarse scales; systematic misses on a 1-5 scale
# (the real reviews' shape) by a model otherwise good (AUC 0.9 on the includes it does not miss).
QUALITIES: tuple[Quality, ...] = (
    *(Quality(f"auc{int(a * 100)}", a) for a in (0.55, 0.65, 0.75, 0.85, 0.95)),
    Quality("likert5-auc85", 0.85, "likert5"),
    Quality("likert5-auc95", 0.95, "likert5"),
    Quality("likert2-auc85", 0.85, "likert2"),
    Quality("votes5-auc85", 0.85, "votes5"),
    *(Quality(f"criterion{int(f * 100)}", 0.9, "likert5", "criterion", f) for f in (0.1, 0.3, 0.8)),
    *(Quality(f"cluster{int(f * 100)}", 0.9, "likert5", "cluster", f) for f in (0.1, 0.3, 0.8)),
    # Another tool's export: the same misses, a 1-5 score and no verdicts.
    *(Quality(f"criterion{int(f * 100)}-scores", 0.9, "likert5", "criterion", f, verdicts=False) for f in (0.3, 0.8)),
)
BY_NAME = {q.name: q for q in QUALITIES}


@dataclass(frozen=True)
class SetInputs:
    """What the answers are made from: labels, TF-IDF, the zero-shot similarity, the protocol's criteria."""

    name: str
    truth: np.ndarray
    tfidf: csr_matrix
    similarity: np.ndarray
    criteria: tuple[str, ...]


@dataclass(frozen=True)
class Simulated:
    """One answer set: the answers as the ranker reads them, and what was done to make them."""

    answers: ModelAnswers
    score: np.ndarray
    missed: np.ndarray
    auc: float
    criterion: str | None


def rng_for(dataset: str, quality: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(dataset.encode()), zlib.crc32(quality.encode()), seed])


def within_class_normal(values: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Normal scores of ``values``' ranks within each class: mean 0, variance about 1 in both."""
    out = np.zeros(len(values))
    for cls in (False, True):
        idx = np.flatnonzero(truth == cls)
        out[idx] = norm.ppf((rankdata(values[idx]) - 0.5) / len(idx))
    return out


def missed_records(data: SetInputs, quality: Quality, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(records the miss covers, which of them are includes); both all False without a miss."""
    n = len(data.truth)
    none = np.zeros(n, dtype=bool)
    if quality.miss == "none":
        return none, none
    includes = np.flatnonzero(data.truth)
    if quality.miss == "criterion":
        present = data.tfidf > 0
        share_in_includes = np.asarray(present[includes].mean(axis=0)).ravel()
        everywhere = np.asarray(present.sum(axis=0)).ravel()
        eligible = np.flatnonzero(everywhere >= 3)
        closest = eligible[np.argsort(np.abs(share_in_includes[eligible] - quality.miss_share), kind="stable")[:5]]
        term = int(rng.choice(closest))
        covered = np.asarray(present[:, term].toarray()).ravel().astype(bool)
        return covered, covered & data.truth
    if quality.miss == "cluster":
        vectors = lsa(data)[includes]
        k = min(8, len(includes))
        labels = KMeans(n_clusters=k, n_init=4, random_state=int(rng.integers(2**31))).fit_predict(vectors)
        sizes = np.bincount(labels, minlength=k) / len(includes)
        best = min(
            (c for r in range(1, k) for c in itertools.combinations(range(k), r)),
            key=lambda c: (abs(sizes[list(c)].sum() - quality.miss_share), rng.random()),
        )
        chosen = np.zeros(n, dtype=bool)
        chosen[includes[np.isin(labels, best)]] = True
        return chosen, chosen
    raise ValueError(f"unknown miss {quality.miss!r}")


_LSA: dict[str, np.ndarray] = {}


def lsa(data: SetInputs) -> np.ndarray:
    """100-dimensional LSA of the set's TF-IDF, unit length: what 'topical' means for the cluster misses."""
    if data.name not in _LSA:
        dims = min(100, data.tfidf.shape[1] - 1, data.tfidf.shape[0] - 1)
        _LSA[data.name] = np.asarray(normalize(TruncatedSVD(dims, random_state=0).fit_transform(data.tfidf)))
    return _LSA[data.name]


def to_scale(z: np.ndarray, truth: np.ndarray, scale: str, rng: np.random.Generator) -> np.ndarray:
    """The latent score as the answers report it, thresholds at the excludes' quantiles."""
    excluded = z[~truth]

    def cut(q: float) -> float:
        return float(np.quantile(excluded, q))

    if scale == "logprob":
        return np.round(norm.cdf(1.5 * (z - cut(0.9))), 3)
    if scale == "likert5":
        levels = 1 + np.searchsorted([cut(0.5), cut(0.8), cut(0.93), cut(0.98)], z)
        return (levels - 1) / 4
    if scale == "likert2":
        return np.where(z > cut(0.85), 0.75, 0.0)
    if scale == "votes5":
        return rng.binomial(5, norm.cdf(z - cut(0.9))) / 5
    raise ValueError(f"unknown scale {scale!r}")


def verdicts_for(
    p: np.ndarray,
    covered: np.ndarray,
    criteria: tuple[str, ...],
    misread: str | None,
    missed: np.ndarray,
    rng: np.random.Generator,
) -> list[dict[str, str]]:
    """Per-criterion verdicts that explain the score and tell nothing more about the truth (module docstring)."""
    n, k = len(p), len(criteria)
    met, not_met, unclear = 0, 1, 2
    codes = np.where(rng.random((n, k)) < UNCLEAR_WHEN_MET, unclear, met)
    low, middle = p < 0.25, (p >= 0.25) & (p < 0.5)
    for i in np.flatnonzero(low | middle):
        reasons = rng.choice(k, size=1 + rng.binomial(k - 1, 0.3), replace=False)
        codes[i, reasons] = not_met if low[i] else unclear
    if misread is not None:
        j = criteria.index(misread)
        codes[covered, j] = not_met
        # A missed include's one reason is the misread: its other criteria are met.
        others = np.arange(k) != j
        codes[np.ix_(missed, others)] = met
    words = ("met", "not_met", "unclear")
    return [{cid: words[codes[i, j]] for j, cid in enumerate(criteria)} for i in range(n)]


def simulate(data: SetInputs, quality: Quality, seed: int) -> Simulated:
    """One seeded answer set for one dataset at one quality."""
    rng = rng_for(data.name, quality.name, seed)
    truth = data.truth
    d = np.sqrt(2) * norm.ppf(quality.auc)
    noise = np.sqrt(quality.rho) * within_class_normal(data.similarity, truth) + np.sqrt(
        1 - quality.rho
    ) * rng.standard_normal(len(truth))
    z = d * truth + noise
    covered, missed = missed_records(data, quality, rng)
    z_missed = z.copy()
    if covered.any():
        bottom = np.quantile(z[~truth], rng.uniform(0, 0.2, size=int(covered.sum())))
        z_missed[covered] = np.minimum(z[covered], bottom)
    p = to_scale(z_missed, truth, quality.scale, rng)
    misread = str(rng.choice(data.criteria)) if covered.any() else None
    said = verdicts_for(p, covered, data.criteria, misread, missed, rng)
    ids = [str(i) for i in range(len(truth))]
    answers = answers_from_scores(
        ids,
        dict(zip(ids, p.tolist(), strict=True)),
        verdicts=dict(zip(ids, said, strict=True)) if quality.verdicts else None,
        source=f"simulated {quality.name}",
    )
    return Simulated(
        answers=answers,
        score=p,
        missed=missed,
        auc=float(roc_auc_score(truth, p)),
        criterion=misread,
    )


@cache
def set_inputs(name: str) -> SetInputs:
    """Labels, TF-IDF and zero-shot similarity from the saved features (``features.py``), and the criteria."""
    import learners_loo as loo

    _, truth, _, features, prior = loo.load(name, embedding_prior=False, need_embeddings=False)
    protocol = yaml.safe_load((PROTOCOLS / f"{name.lower()}.yaml").read_text(encoding="utf-8"))
    criteria = tuple(c["id"] for c in protocol["criteria"]["inclusion"])
    return SetInputs(name=name, truth=truth, tfidf=features.tfidf, similarity=prior.score, criteria=criteria)


def model_alone_wss(score: np.ndarray, truth: np.ndarray, priors: tuple[int, int], seed: int) -> float:
    """WSS@95 of reading the two prior records, then the model's order (ties in a seeded random order)."""
    tie = np.random.default_rng([seed, 7]).random(len(score))
    order = [i for i in np.lexsort((tie, -score)) if i not in priors]
    labels = np.concatenate([truth[list(priors)], truth[order]])
    n = len(truth)
    need = int(np.ceil(0.95 * truth.sum() - 1e-9))
    read = int(np.searchsorted(np.cumsum(labels), need) + 1)
    return (n - read) / n - 0.05


def describe(seeds: int) -> None:
    """Realised AUC, distinct scores, includes missed and the model's own WSS@95, per quality (mean over sets)."""
    from datasets import get

    rows = []
    for quality in QUALITIES:
        per_set = []
        for dataset in DATASETS:
            data = set_inputs(dataset.name)
            ids = list(np.load(HERE / "cache" / "features" / f"{dataset.name}.npz")["ids"])
            index = {rid: i for i, rid in enumerate(ids)}
            figures = []
            for seed in range(seeds):
                sim = simulate(data, quality, seed)
                priors = tuple(index[p] for p in get(dataset.name).priors(seed))
                figures.append(
                    (
                        sim.auc,
                        sim.answers.levels,
                        sim.missed.sum() / data.truth.sum(),
                        model_alone_wss(sim.score, data.truth, priors, seed),  # type: ignore[arg-type]
                    )
                )
            per_set.append(np.mean(figures, axis=0))
        mean = np.mean(per_set, axis=0)
        rows.append(
            {
                **asdict(quality),
                "realised_auc": round(float(mean[0]), 3),
                "levels": round(float(mean[1]), 1),
                "includes_missed": round(float(mean[2]), 3),
                "model_alone_wss95": round(float(mean[3]), 3),
                "realised_auc_range": [
                    round(float(min(r[0] for r in per_set)), 3),
                    round(float(max(r[0] for r in per_set)), 3),
                ],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    write_results("prioritise_llm_prior", {"seeds": seeds, "qualities": rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    describe(args.seeds)


if __name__ == "__main__":
    main()
