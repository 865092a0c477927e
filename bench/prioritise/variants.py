"""Variants of the default ranker that the product cannot run, measured on 5 seeds of all 17 sets.

    python bench/prioritise/variants.py select    # every variant, 17 sets x 5 seeds, read to 95 % recall
    python bench/prioritise/variants.py report    # per-set WSS@95 against ASReview -> bench/results JSON

Issue 15's third session asked whether the default (`ts-svm-jsvm-mean`, docs/benchmarks.md
8.2) could be lifted past 0.56 without losing a set to ASReview. Each idea here is a small
change patched into the product's `Ranker` for this script only: a learner with the MiniLM
block scaled or another C, a learner that is itself the mean of two, refitting after every
label, a handicap on the joint arm's starting counts, a tempered posterior. None beat the
default, so none went into the product, and they are not in `learners_loo.py`'s
leave-one-out grid (that grid is what the product can run). The figures here are 5-seed
means in hindsight over all 17 sets, the same runs `learners_loo.py select` makes (reading
stops at 95 % recall; WSS@95 on winnow's rows), beside ASReview's 5 seeds.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.svm import LinearSVC

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import learners_loo as loo  # noqa: E402

from winnow.screening import bandit, learners, ranking  # noqa: E402

SEEDS = 5
Maker = Callable[[csr_matrix, np.ndarray, int], Any]


def scaled_joint(name: str, alpha: float, c: float = 0.11) -> Maker:
    """``joint-svm`` with the unit-norm MiniLM block multiplied by ``alpha`` (1 is the product's)."""

    def make(tfidf: csr_matrix, vectors: np.ndarray, seed: int) -> Any:
        matrix = hstack([tfidf, csr_matrix(alpha * np.asarray(vectors, dtype=np.float64))], format="csr")
        return learners.LinearLearner(name, matrix, partial(LinearSVC, C=c, random_state=seed), 9.8)

    return make


def svm_c(c: float) -> Maker:
    return lambda tfidf, vectors, seed: learners.LinearLearner(
        f"svm-c{c}", tfidf, partial(LinearSVC, C=c, random_state=seed), 9.8
    )


@dataclass
class MeanOf:
    """One learner that is the mean percentile of two: the mean arm without its parts as arms."""

    name: str
    parts: list[Any]
    learned: bool = field(default=True, init=False)

    weights: tuple[float, ...] | None = None

    def scores(self, labelled: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        outs = [p.scores(labelled, y) for p in self.parts]
        if any(o is None for o in outs):
            return None
        return np.average([ranking.percentile(o) for o in outs], axis=0, weights=self.weights)


def mixed(w: float) -> Maker:
    """The mean arm, weighted ``w`` to the TF-IDF SVM and ``1 - w`` to the joint one."""
    return lambda tfidf, vectors, seed: MeanOf(
        f"mix-svm-jsvm-{w}", [learners.tfidf_svm(tfidf, seed), learners.joint_svm(tfidf, vectors, seed)], (w, 1 - w)
    )


EXTRA: dict[str, Maker] = {
    **{f"jsvm-a{a}": scaled_joint(f"jsvm-a{a}", a) for a in (0.25, 0.5, 0.7, 1.5)},
    **{f"jsvm-c{c}": scaled_joint(f"jsvm-c{c}", 1.0, c) for c in (0.03, 0.3, 1.0)},
    **{f"svm-c{c}": svm_c(c) for c in (0.03, 0.3, 1.0)},
    "emb-svm": lambda t, v, s: learners.LinearLearner(
        "emb-svm", np.asarray(v, dtype=np.float64), partial(LinearSVC, C=0.11, random_state=s), 9.8
    ),
    "mean-svm-jsvm": lambda t, v, s: MeanOf("mean-svm-jsvm", [learners.tfidf_svm(t, s), learners.joint_svm(t, v, s)]),
    **{f"mix-svm-jsvm-{w}": mixed(w) for w in (0.67, 0.8)},
}
_build = learners.build_learners


def build_with_extra(names: Any, *, tfidf: csr_matrix, embeddings: np.ndarray | None, seed: int) -> list[Any]:
    built: list[Any] = []
    for name in names:
        if name in EXTRA:
            built.append(EXTRA[name](tfidf, embeddings, seed))  # type: ignore[arg-type]
        else:
            built.extend(_build([name], tfidf=tfidf, embeddings=embeddings, seed=seed))
    return built


class EveryLabel(ranking.Ranker):
    """Refit after every label, as ASReview does, instead of every 2 % of labels after the first 100."""

    def refit_due(self, n_labels: int, include_since_fit: bool = False) -> bool:
        return n_labels != self._fitted_at


def handicapped(misses: float, who: tuple[str, ...]) -> type[ranking.Ranker]:
    """The named arms start with ``misses`` misses: the TF-IDF SVM is trusted first."""

    class Handicapped(ranking.Ranker):
        def __post_init__(self) -> None:
            super().__post_init__()
            for i, name in enumerate(self.arms.names):
                if name in who:
                    self.arms.misses[i] += misses

    return Handicapped


_choose = bandit.ThompsonArms.choose


def tempered(k: float) -> Callable[..., int]:
    """Draw from Beta(1 + k hits, 1 + k misses): k > 1 explores less, k < 1 more."""

    def choose(self: bandit.ThompsonArms, awake: np.ndarray, seed: Any) -> int:
        draws = np.random.default_rng(list(seed)).beta(1 + k * self.hits, 1 + k * self.misses)
        return int(np.argmax(np.where(np.asarray(awake, dtype=bool), draws, -1.0)))

    return choose


DEFAULT = loo.CONFIGS["ts-svm-jsvm-mean"]
T = loo.THOMPSON
# name -> (config, what the Ranker is, the draw); the names are the cache folders.
VARIANTS: dict[str, dict[str, Any]] = {
    "x-svm": {**T, "learners": ("tfidf-svm",)},
    "x-jsvm": {**T, "learners": ("joint-svm",)},
    "x-mean2": {**loo.BASE, "learners": ("tfidf-svm", "joint-svm"), "eta": 0.0},
    **{f"x-jsvm-a{a}": {**T, "learners": (f"jsvm-a{a}",)} for a in (0.25, 0.5, 0.7, 1.5)},
    **{f"x-jsvm-c{c}": {**T, "learners": (f"jsvm-c{c}",)} for c in (0.03, 0.3, 1.0)},
    **{f"x-svm-c{c}": {**T, "learners": (f"svm-c{c}",)} for c in (0.03, 0.3, 1.0)},
    "x-embsvm": {**T, "learners": ("emb-svm",)},
    "x-m-only": {**T, "learners": ("mean-svm-jsvm",)},
    "x-svm+m": {**T, "learners": ("tfidf-svm", "mean-svm-jsvm")},
    "x-ts-a025": {**T, "learners": ("tfidf-svm", "jsvm-a0.25")},
    "x-ts-a025-mean": {**T, "learners": ("tfidf-svm", "jsvm-a0.25"), "mean_arm": True},
    "x-ts-a05-mean": {**T, "learners": ("tfidf-svm", "jsvm-a0.5"), "mean_arm": True},
    "x-ts-3-mean": {**T, "learners": ("tfidf-svm", "jsvm-a0.25", "joint-svm"), "mean_arm": True},
    **{f"x-ts-mix{w}": {**T, "learners": ("tfidf-svm", "joint-svm", f"mix-svm-jsvm-{w}")} for w in (0.67, 0.8)},
    "x-svm-r1": {**T, "learners": ("tfidf-svm",)},
    "x-default-r1": DEFAULT,
    **{f"x-def-hc{h}": DEFAULT for h in (3, 10, 30)},
    "x-def-hc10m": DEFAULT,
    **{f"x-def-tk{k}": DEFAULT for k in (0.5, 3.0)},
}
DESCRIBED = {
    "x-svm": "tfidf-svm alone (with the zero-shot prior, h = 10)",
    "x-jsvm": "joint-svm alone",
    "x-mean2": "the mean of tfidf-svm and joint-svm percentiles, no bandit",
    "x-jsvm-a{a}": "joint-svm alone, MiniLM block scaled by a",
    "x-jsvm-c{c}": "joint-svm alone with C = c",
    "x-svm-c{c}": "tfidf-svm alone with C = c",
    "x-embsvm": "the SVM on the MiniLM vectors alone",
    "x-m-only": "the mean of the two SVMs as the only learner",
    "x-svm+m": "Thompson over tfidf-svm and the mean (joint-svm not an arm)",
    "x-ts-a025": "Thompson over tfidf-svm and joint-svm with the MiniLM block at 0.25",
    "x-ts-a025-mean": "the same with the mean arm",
    "x-ts-a05-mean": "the same at 0.5",
    "x-ts-3-mean": "Thompson over tfidf-svm, joint-svm at 0.25 and at 1, and their mean",
    "x-ts-mix{w}": "the default with the mean arm weighted w to tfidf-svm and 1 - w to joint-svm",
    "x-svm-r1": "tfidf-svm alone, refit after every label",
    "x-default-r1": "the default, refit after every label",
    "x-def-hc{h}": "the default, joint-svm starting with h misses",
    "x-def-hc10m": "the default, joint-svm and the mean arm starting with 10 misses",
    "x-def-tk{k}": "the default, posterior counts multiplied by k in the draw",
}


def patched(name: str) -> None:
    """Point learners_loo at this variant's learners, Ranker and draw (each worker, per job)."""
    hc = re.search(r"-hc(\d+)(m?)$", name)
    tk = re.search(r"-tk([0-9.]+)$", name)
    if hc:
        who = ("joint-svm", "mean-of-learners") if hc.group(2) else ("joint-svm",)
        loo.Ranker = handicapped(float(hc.group(1)), who)  # type: ignore[misc]
    elif name.endswith("-r1"):
        loo.Ranker = EveryLabel  # type: ignore[misc]
    else:
        loo.Ranker = ranking.Ranker  # type: ignore[misc]
    bandit.ThompsonArms.choose = tempered(float(tk.group(1))) if tk else _choose  # type: ignore[method-assign]


def select(job: tuple[str, str, int]) -> dict[str, Any]:
    patched(job[0])
    return loo.select_one(job)


def report() -> None:
    asr = {}
    for run in json.loads(loo.ASREVIEW.read_text())["figures"]["runs"]:
        asr.setdefault(run["dataset"], {})[run["seed"]] = run["wss95"]
    names = sorted(asr)
    columns = ["ts-svm-jsvm-mean", *VARIANTS]
    table: dict[str, dict[str, float]] = {}
    for config in columns:
        paths = {n: [loo.SELECT / config / f"{n}__seed{s}.json" for s in range(SEEDS)] for n in names}
        if not all(p.is_file() for ps in paths.values() for p in ps):
            raise SystemExit(f"{config}: select runs missing; run `select` first")
        table[config] = {n: float(np.mean([json.loads(p.read_text())["wss_95"] for p in paths[n]])) for n in names}
    asreview = {n: float(np.mean([asr[n][s] for s in range(SEEDS)])) for n in names}
    # How far a set's 5-seed mean difference moves by chance: the standard error of the
    # seed-paired differences (same seed, same two prior records) for the default.
    paired_se = {
        n: float(
            np.std(
                [
                    json.loads((loo.SELECT / "ts-svm-jsvm-mean" / f"{n}__seed{s}.json").read_text())["wss_95"]
                    - asr[n][s]
                    for s in range(SEEDS)
                ],
                ddof=1,
            )
            / np.sqrt(SEEDS)
        )
        for n in names
    }
    summary = {
        c: {
            "mean_wss95": float(np.mean(list(table[c].values()))),
            "sets_lower_by_more_than_0.01": {
                n: round(table[c][n] - asreview[n], 4) for n in names if table[c][n] - asreview[n] < -0.01
            },
        }
        for c in columns
    }
    loo.write_results(
        "prioritise_variants",
        {
            "seeds": SEEDS,
            "asreview_mean_wss95": float(np.mean(list(asreview.values()))),
            "variants": {c: VARIANTS.get(c, DEFAULT) for c in columns},
            "described": DESCRIBED,
            "summary": summary,
            "per_set_wss95": table,
            "asreview_per_set_wss95": asreview,
            "default_minus_asreview_paired_se": paired_se,
            "default_minus_asreview_paired_se_median": float(np.median(list(paired_se.values()))),
        },
    )
    print("| variant | mean WSS@95 | sets lower than ASReview by > 0.01 |")
    print("|---|---|---|")
    for c in columns:
        lower = summary[c]["sets_lower_by_more_than_0.01"]
        print(f"| `{c}` | {summary[c]['mean_wss95']:.4f} | {len(lower)} |")
    print(f"default - ASReview per set, seed-paired standard error: median {np.median(list(paired_se.values())):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["select", "report"])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.action == "report":
        report()
        return
    names = sorted((d.name for d in loo.DATASETS), key=lambda n: -(loo.FEATURES / f"{n}.tfidf.npz").stat().st_size)
    jobs = [(v, n, s) for s in range(SEEDS) for v in args.variants for n in names]
    with loo.Pool(args.jobs) as pool:
        for record in pool.imap_unordered(select, jobs):
            line = f"{record['config']} {record['dataset']} seed {record['seed']}: {record['wss_95']:.3f}"
            print(line, file=sys.stderr)


# Patched at import, so every worker (fork or spawn) sees the extra learners and configs.
ranking.build_learners = build_with_extra  # type: ignore[assignment]
loo.CONFIGS.update(VARIANTS)
loo.EMBEDDED = (*loo.EMBEDDED, *(n for n in EXTRA if not n.startswith("svm-")))  # type: ignore[assignment]

if __name__ == "__main__":
    main()
