"""Active learning with simulated model answers of every quality: the grid, chosen leave-one-dataset-out.

    python bench/prioritise/llm_grid.py select [--designs ...] [--qualities ...] [--seeds 10] [--jobs 2]
    python bench/prioritise/llm_grid.py full --designs NAME ...   # on to the buscar stop as well
    python bench/prioritise/llm_grid.py report [--stop-seeds N]   # LOO choice, tables -> bench/results JSON
    python bench/prioritise/llm_grid.py pilot                     # the first screen of every design, 7 small sets

Every run starts from the seed's two prior records (the shared rule of ``simulate``), with
answers from ``llm_prior.py`` seeded by the same seed, and ranks with the product's
default ranker (``ts-svm-jsvm-mean-qp-c5``, docs/benchmarks.md 8.3) given those answers
through the ``ModelUse`` the design names (``al`` is the default ranker without answers).
``select`` reads until 95 % of the includes are found, which is all WSS@95 needs; ``full``
reads on until the buscar stop (target 95 %, confidence 95 %) has fired as well, and keeps
where it fired and the recall there. A full run answers a select job too. Results are
cached one file per (design, quality, set, seed) in ``bench/prioritise/cache/llm/``, so an
interrupted grid resumes where it stopped. ``report`` chooses the design for each held-out
set from the other 16 (fewest qualities whose mean falls more than 0.01 below active
learning alone, then the best mean WSS@95 over every quality) and writes
``bench/results/prioritise_llm_grid.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "bench"), str(ROOT / "bench" / "asreview")]

import learners_loo as loo  # noqa: E402
import llm_prior  # noqa: E402
from benchlib import run_pool  # noqa: E402
from datasets import DATASETS, get  # noqa: E402

from winnow.screening.ranking.ranker import ModelUse, Ranker, RankerConfig  # noqa: E402
from winnow.screening.ranking.simulate import simulate_one  # noqa: E402
from winnow.screening.ranking.stopping import StoppingRule  # noqa: E402

CACHE = HERE / "cache" / "llm"
DEFAULT = "ts-svm-jsvm-mean-qp-c5"
AL = "al"
# The ways in that issue 24 names, each a setting of the product's ModelUse.
DESIGNS: dict[str, ModelUse | None] = {
    AL: None,
    "before": ModelUse(arm=True, prior=True, blend=True),
    "arm": ModelUse(arm=True),
    "arm-explore": ModelUse(arm=True, explore=True),
    "features": ModelUse(arm=False, features=1.0, features_in=("tfidf-svm", "joint-svm")),
    "arm-features": ModelUse(arm=True, features=1.0, features_in=("tfidf-svm", "joint-svm")),
    "arm-prior": ModelUse(arm=True, prior=True),
    "arm-fjoint": ModelUse(arm=True, features=1.0, features_in=("joint-svm",)),
    # Added after the grid's first three seeds showed arm-fjoint's joint SVM leaning on a random
    # model's answers (10-30 % of its scores' spread at AUC 0.55): the same with the block at 0.3.
    "arm-fjoint03": ModelUse(arm=True, features=0.3, features_in=("joint-svm",)),
    "arm-twin": ModelUse(arm=True, features=1.0, features_in=(), twin="tfidf-svm"),
    "arm-features03": ModelUse(arm=True, features=0.3, features_in=("tfidf-svm", "joint-svm")),
}


@cache
def base_config() -> RankerConfig:
    return loo.config_of(DEFAULT)


@cache
def load(name: str) -> tuple[list[str], np.ndarray, Any, Any]:
    ids, truth, _, features, prior = loo.load(name, embedding_prior=False, need_embeddings=True)
    return ids, truth, features, prior


def priors(name: str, ids: list[str], seed: int) -> tuple[int, int]:
    index = {rid: i for i, rid in enumerate(ids)}
    include, exclude = get(name).priors(seed)
    return index[include], index[exclude]


def cache_file(mode: str, design: str, quality: str, dataset: str, seed: int) -> Path:
    return CACHE / mode / design / quality / f"{dataset}__seed{seed}.json"


def cached(design: str, quality: str, dataset: str, seed: int, *, full: bool) -> dict[str, Any] | None:
    modes = ("full",) if full else ("full", "select")
    for mode in modes:
        path = cache_file(mode, design, quality, dataset, seed)
        if path.is_file():
            return dict(json.loads(path.read_text()))
    return None


def run(job: tuple[str, str, str, int, bool]) -> dict[str, Any]:
    """One simulated screening: to 95 % recall, and with ``full`` on to the buscar stop."""
    design, quality_name, dataset, seed, full = job
    done = cached(design, quality_name, dataset, seed, full=full)
    if done is not None:
        return done
    started = time.process_time()
    ids, truth, features, prior = load(dataset)
    use = DESIGNS[design]
    sim = (
        None
        if use is None
        else llm_prior.simulate(llm_prior.set_inputs(dataset), llm_prior.BY_NAME[quality_name], seed)
    )
    config = base_config() if use is None else replace(base_config(), model=use)
    answers = None if sim is None else sim.answers
    first = priors(dataset, ids, seed)
    result = simulate_one(
        ids,
        truth,
        lambda: Ranker(features, prior, seed=seed, config=config, model=answers),
        StoppingRule() if full else None,
        (ids[first[0]], ids[first[1]]),
        seed,
        until_recall=0.95,
    )
    n = len(ids)
    stop = result.stop
    index = {rid: i for i, rid in enumerate(ids)}
    record = {
        "design": design,
        "quality": quality_name,
        "dataset": dataset,
        "seed": seed,
        "n": n,
        "includes": int(truth.sum()),
        "read_to_95": result.figures.read_to_95,
        "wss_95": result.figures.wss_95,
        "stop": None if stop is None else {"read": stop.read, "recall": stop.recall, "work_saved": stop.work_saved},
        # Every include read, with the read count at which it was found (the priors are 1 and 2).
        "found": [[index[rid], k + 1] for k, rid in enumerate(result.order) if truth[index[rid]]],
        "weights": result.weights,
        "model_weight": result.model_weight,
        "answers_in_learners": result.answers_in_learners,
        "model_auc": None if sim is None else sim.auc,
        "model_alone_wss_95": None if sim is None else llm_prior.model_alone_wss(sim.score, truth, first, seed),
        "cpu_seconds": round(time.process_time() - started, 2),
    }
    out = cache_file("full" if full else "select", design, quality_name, dataset, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record))
    return record


def jobs_for(designs: list[str], qualities: list[str], names: list[str], seeds: list[int], full: bool) -> list[Any]:
    jobs = []
    for seed in seeds:
        for design in designs:
            for quality in [AL] if design == AL else qualities:
                for name in names:
                    if cached(design, quality, name, seed, full=full) is None:
                        jobs.append((design, quality, name, seed, full))
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["select", "full", "report", "pilot"])
    parser.add_argument("--designs", nargs="*", default=list(DESIGNS))
    parser.add_argument("--qualities", nargs="*", default=[q.name for q in llm_prior.QUALITIES])
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--only-seeds", type=int, nargs="*", default=None)
    parser.add_argument("--stop-seeds", type=int, default=None, help="report: seeds 0..N-1 of the full runs")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.action in ("report", "pilot"):
        import llm_report

        if args.action == "report":
            llm_report.report(args.seeds, args.stop_seeds)
        else:
            llm_report.pilot()
        return
    names = [d.name for d in DATASETS if args.datasets is None or d.name in args.datasets]
    names.sort(key=lambda n: -(loo.FEATURES / f"{n}.tfidf.npz").stat().st_size)
    seeds = args.only_seeds if args.only_seeds is not None else list(range(args.seeds))
    jobs = jobs_for(args.designs, args.qualities, names, seeds, args.action == "full")
    print(f"{len(jobs)} runs to do", file=sys.stderr, flush=True)
    run_pool(
        run,
        jobs,
        args.jobs,
        lambda r: (
            f"{r['design']} {r['quality']} {r['dataset']} seed {r['seed']}: WSS@95 {r['wss_95']:.3f} "
            f"({r['cpu_seconds']} s cpu)"
        ),
    )


if __name__ == "__main__":
    main()
