"""The learner combiners on the 17 shared sets: a grid, chosen leave-one-dataset-out, against ASReview.

    nice -n 10 python bench/prioritise/features.py                 # once: TF-IDF, MiniLM, priors per set
    python bench/prioritise/learners_loo.py select --only-seeds 0  # every config, read to 95 % recall
    python bench/prioritise/learners_loo.py run --configs NAME     # the chosen config, full simulations
    python bench/prioritise/learners_loo.py report                 # LOO choice, table, bench/results JSON
    python bench/prioritise/learners_loo.py report --finalists 5   # two rounds: best 5 on seed 0, then 5 seeds

``select`` reads every (config, dataset, seed) only until 95 % recall, which is all WSS@95
needs, and caches it in ``bench/prioritise/cache/select/``. ``run`` simulates in full with
``winnow.screening.ranking.simulate.simulate_one`` (on to the last include and the buscar stop) and
caches in ``bench/prioritise/cache/learners/``; both use the saved features, so nothing is
embedded or vectorised twice, and both run ``--jobs`` processes (one per core; run nothing
beside them). ``report`` picks, for each held-out set, the config with the best mean WSS@95
over the other 16 sets' ``select`` runs (their first ``--select-seeds`` seeds) and reports
that config's full runs on the held-out set over all ``--seeds`` seeds (leave-one-dataset-out),
beside ASReview's orders from ``bench/results/asreview.json`` scored by the same function
(``compare_asreview.figures``, over every row of the CSV, as section 8's first table), with
the best-in-hindsight configs shown only for comparison. ``--finalists K`` chooses in two
rounds of successive halving instead: the best K on the first round's seeds go on to all
``--seeds`` seeds of the other sets (their ``select`` runs must exist for those seeds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import cache
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, load_npz

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "bench"), str(ROOT / "bench" / "asreview")]

from benchlib import write_results  # noqa: E402
from compare_asreview import figures  # noqa: E402
from datasets import DATASETS, get  # noqa: E402

from winnow.screening.ranking.ranker import Features, Ranker, RankerConfig, zero_shot_prior  # noqa: E402
from winnow.screening.ranking.simulate import CurveFigures, simulate_one  # noqa: E402
from winnow.screening.ranking.stopping import StoppingRule  # noqa: E402

FEATURES = HERE / "cache" / "features"
RUNS = HERE / "cache" / "learners"
SELECT = HERE / "cache" / "select"
ASREVIEW = ROOT / "bench" / "results" / "asreview.json"

TFIDF3 = ("tfidf-logistic", "tfidf-svm", "tfidf-bayes")
# Every setting spelt out, so a change of the product's defaults cannot change a grid point.
BASE: dict[str, Any] = {
    "learners": TFIDF3,
    "eta": 4.0,
    "half_life": 10.0,
    "share": 0.05,
    "embedding_prior": False,
    "combiner": "hedge",
    "refit_on_include": False,
    "discount": 1.0,
    "credit_depth": 1,
    "mean_arm": False,
    "query_as_include": False,
}
THOMPSON: dict[str, Any] = {**BASE, "combiner": "thompson"}
SVM_JSVM_MEAN: dict[str, Any] = {**THOMPSON, "learners": ("tfidf-svm", "joint-svm"), "mean_arm": True}
# The grid scored leave-one-dataset-out: every setting tried in either session that the code
# can still run. "-ep" puts the MiniLM similarity in the zero-shot prior as well, which is what
# `winnow prioritise --embeddings on` does; the others keep the TF-IDF prior.
CONFIGS: dict[str, dict[str, Any]] = {
    # Hedge over learners (issue 15, first session).
    "tfidf-eta4": BASE,
    "tfidf-eta16": {**BASE, "eta": 16.0},
    "tfidf-eta4-h3": {**BASE, "half_life": 3.0},
    "tfidf-eta1": {**BASE, "eta": 1.0},
    "tfidf-eta0": {**BASE, "eta": 0.0},
    "tfidf-eta4-refit-on-include": {**BASE, "refit_on_include": True},
    "lr-only": {**BASE, "learners": ("tfidf-logistic",)},
    "joint-only": {**BASE, "learners": ("joint-logistic",)},
    "joint-only-ep": {**BASE, "learners": ("joint-logistic",), "embedding_prior": True},
    "tfidf+joint": {**BASE, "learners": (*TFIDF3, "joint-logistic")},
    "tfidf+joint+emb": {**BASE, "learners": (*TFIDF3, "joint-logistic", "embedding-logistic")},
    # Thompson sampling over learners (second session).
    "ts-all": {**THOMPSON, "learners": (*TFIDF3, "joint-logistic", "embedding-logistic")},
    "ts-all-d99": {**THOMPSON, "learners": (*TFIDF3, "joint-logistic", "embedding-logistic"), "discount": 0.99},
    "ts-tfidf": THOMPSON,
    "ts-lr-joint": {**THOMPSON, "learners": ("tfidf-logistic", "joint-logistic")},
    "ts-lr-joint-h3": {**THOMPSON, "learners": ("tfidf-logistic", "joint-logistic"), "half_life": 3.0},
    "ts-lr-joint-nb": {**THOMPSON, "learners": ("tfidf-logistic", "joint-logistic", "tfidf-bayes")},
    "ts-lr-joint-emb": {**THOMPSON, "learners": ("tfidf-logistic", "joint-logistic", "embedding-logistic")},
    "ts-lr-svm-joint": {**THOMPSON, "learners": ("tfidf-logistic", "tfidf-svm", "joint-logistic")},
    "ts-lr-svm-joint-ep": {
        **THOMPSON,
        "learners": ("tfidf-logistic", "tfidf-svm", "joint-logistic"),
        "embedding_prior": True,
    },
    "ts-lr-svm-joint-d995": {
        **THOMPSON,
        "learners": ("tfidf-logistic", "tfidf-svm", "joint-logistic"),
        "discount": 0.995,
    },
    "ts-lr-svm-joint-jsvm": {**THOMPSON, "learners": ("tfidf-logistic", "tfidf-svm", "joint-logistic", "joint-svm")},
    "ts-lr-joint-c5": {**THOMPSON, "learners": ("tfidf-logistic", "joint-logistic"), "credit_depth": 5},
    "ts-lr-joint-c20": {**THOMPSON, "learners": ("tfidf-logistic", "joint-logistic"), "credit_depth": 20},
    "ts-lr-svm-joint-c5": {
        **THOMPSON,
        "learners": ("tfidf-logistic", "tfidf-svm", "joint-logistic"),
        "credit_depth": 5,
    },
    "ts-lr-svm-joint-c20": {
        **THOMPSON,
        "learners": ("tfidf-logistic", "tfidf-svm", "joint-logistic"),
        "credit_depth": 20,
    },
    "ts-lr-svm-joint-mean": {
        **THOMPSON,
        "learners": ("tfidf-logistic", "tfidf-svm", "joint-logistic"),
        "mean_arm": True,
    },
    "ts-svm-jsvm": {**THOMPSON, "learners": ("tfidf-svm", "joint-svm")},
    "ts-svm-jsvm-c5": {**THOMPSON, "learners": ("tfidf-svm", "joint-svm"), "credit_depth": 5},
    "ts-svm-jsvm-ep": {**THOMPSON, "learners": ("tfidf-svm", "joint-svm"), "embedding_prior": True},
    "ts-svm-jsvm-mean": {**THOMPSON, "learners": ("tfidf-svm", "joint-svm"), "mean_arm": True},
    "ts-svm-joint": {**THOMPSON, "learners": ("tfidf-svm", "joint-logistic")},
    "ts-lr-jsvm": {**THOMPSON, "learners": ("tfidf-logistic", "joint-svm")},
    "ts-svm-jsvm-mean-c5": {**THOMPSON, "learners": ("tfidf-svm", "joint-svm"), "mean_arm": True, "credit_depth": 5},
    "ts-svm-jsvm-mean-h3": {**THOMPSON, "learners": ("tfidf-svm", "joint-svm"), "mean_arm": True, "half_life": 3.0},
    "ts-svm-jsvm-mean-h30": {**THOMPSON, "learners": ("tfidf-svm", "joint-svm"), "mean_arm": True, "half_life": 30.0},
    "ts-svm-jsvm-mean-d99": {**THOMPSON, "learners": ("tfidf-svm", "joint-svm"), "mean_arm": True, "discount": 0.99},
    "ts-svm-jsvm-mean-ep": {
        **THOMPSON,
        "learners": ("tfidf-svm", "joint-svm"),
        "mean_arm": True,
        "embedding_prior": True,
    },
    "ts-svm-jsvm-mean-c3": {**THOMPSON, "learners": ("tfidf-svm", "joint-svm"), "mean_arm": True, "credit_depth": 3},
    "ts-svm-jsvm-mean-c10": {**THOMPSON, "learners": ("tfidf-svm", "joint-svm"), "mean_arm": True, "credit_depth": 10},
    "ts-svm-jsvm-mean-c5-h30": {
        **THOMPSON,
        "learners": ("tfidf-svm", "joint-svm"),
        "mean_arm": True,
        "credit_depth": 5,
        "half_life": 30.0,
    },
    "ts-four-mean": {
        **THOMPSON,
        "learners": ("tfidf-logistic", "tfidf-svm", "joint-logistic", "joint-svm"),
        "mean_arm": True,
    },
    "ts-five-mean": {
        **THOMPSON,
        "learners": (*TFIDF3, "joint-logistic", "joint-svm"),
        "mean_arm": True,
    },
    # Fourth session: the protocol's text as one more include for both SVMs ("-qp"; BMI's seed
    # document), with the credit depths and prior half-lives already in the grid.
    **{
        f"ts-svm-jsvm-mean-qp{suffix}": {**SVM_JSVM_MEAN, "query_as_include": True, **extra}
        for suffix, extra in {
            "": {},
            "-c3": {"credit_depth": 3},
            "-c5": {"credit_depth": 5},
            "-c10": {"credit_depth": 10},
            "-h3": {"half_life": 3.0},
            "-h30": {"half_life": 30.0},
            "-c5-h3": {"credit_depth": 5, "half_life": 3.0},
            "-h0": {"half_life": 1e-9},
            # Fifth session: recent picks count more (discounted Thompson sampling, aimed at the last
            # includes), and the MiniLM similarity in the prior with the protocol as an include.
            "-c5-d99": {"credit_depth": 5, "discount": 0.99},
            "-c5-d995": {"credit_depth": 5, "discount": 0.995},
            "-c5-ep": {"credit_depth": 5, "embedding_prior": True},
        }.items()
    },
}
EMBEDDED = ("embedding-logistic", "joint-logistic", "joint-svm")


def load(
    name: str, embedding_prior: bool, need_embeddings: bool
) -> tuple[list[str], np.ndarray, np.ndarray, Features, Any]:
    saved = np.load(FEATURES / f"{name}.npz")
    tfidf = load_npz(FEATURES / f"{name}.tfidf.npz").tocsr()
    query = csr_matrix(saved["query_tfidf"][None, :])
    vectors = query_vector = None
    if need_embeddings or embedding_prior:
        dense = np.load(FEATURES / f"{name}.emb.npz")
        vectors, query_vector = dense["embeddings"], dense["query_embedding"]
    features = Features(tfidf=tfidf, query_tfidf=query, embeddings=vectors, query_embedding=query_vector)
    prior = zero_shot_prior(features, embedding_similarity=embedding_prior)
    return [str(i) for i in saved["ids"]], saved["truth"].astype(bool), saved["priors"], features, prior


def config_of(name: str) -> RankerConfig:
    spec = CONFIGS[name]
    return RankerConfig(**{k: (tuple(v) if k == "learners" else v) for k, v in spec.items() if k != "embedding_prior"})


def inputs_of(config_name: str, dataset: str) -> tuple[list[str], np.ndarray, np.ndarray, Features, Any]:
    config = config_of(config_name)
    need = any(name in EMBEDDED for name in config.learners)
    return load(dataset, CONFIGS[config_name]["embedding_prior"], need_embeddings=need)


def read_to_95(config_name: str, dataset: str, seed: int) -> tuple[int, Ranker, list[bool]]:
    """Screen from the seed's two prior records until 95 % of the includes are found.

    Returns the set's size, the ranker and the labels in reading order (the priors first).
    """
    ids, truth, priors, features, prior = inputs_of(config_name, dataset)
    ranker = Ranker(features, prior, seed=seed, config=config_of(config_name))
    order = [int(i) for i in priors[seed]]
    read = np.zeros(len(ids), dtype=bool)
    read[order] = True
    labels = [bool(truth[i]) for i in order]
    need = int(np.ceil(0.95 * truth.sum()))
    while sum(labels) < need:
        ranker.learn(order, labels)
        nxt = ranker.next_unread(read, len(labels))
        read[nxt] = True
        order.append(nxt)
        labels.append(bool(truth[nxt]))
    return len(ids), ranker, labels


def select_one(job: tuple[str, str, int]) -> dict[str, Any]:
    """Read until 95 % recall only: enough for the WSS@95 that chooses the config, at a third of the cost."""
    config_name, dataset, seed = job
    out = SELECT / config_name / f"{dataset}__seed{seed}.json"
    if out.is_file():
        return dict(json.loads(out.read_text()))
    started = time.process_time()
    n, ranker, labels = read_to_95(config_name, dataset, seed)
    record = {
        "config": config_name,
        "dataset": dataset,
        "seed": seed,
        # The order stops at the 95 % point, so WSS@95 is read straight off its length.
        "wss_95": (n - len(labels)) / n - 0.05,
        "weights": ranker.weights(len(labels)),
        "cpu_seconds": round(time.process_time() - started, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record))
    return record


def run_one(config_name: str, dataset: str, seed: int) -> dict[str, Any]:
    out = RUNS / config_name / f"{dataset}__seed{seed}.json"
    if out.is_file():
        return dict(json.loads(out.read_text()))
    config = config_of(config_name)
    ids, truth, priors, features, prior = inputs_of(config_name, dataset)
    started = time.process_time()
    result = simulate_one(
        ids,
        truth,
        lambda: Ranker(features, prior, seed=seed, config=config),
        StoppingRule(),
        (ids[priors[seed][0]], ids[priors[seed][1]]),
        seed,
    )
    record = {
        "config": config_name,
        "dataset": dataset,
        "seed": seed,
        "order": result.order,
        "figures": result.figures.__dict__,
        "stop": result.stop.__dict__ if result.stop else None,
        "final_weights": result.weights,
        "cpu_seconds": round(time.process_time() - started, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record))
    return record


@cache
def csv_labels(name: str) -> dict[str, bool]:
    """Gold labels of every row of the CSV, the records winnow skips (no title, no abstract) too."""
    frame = get(name).frame()
    return dict(zip(frame["record_id"].astype(str), frame["label_included"].astype(str) == "1", strict=True))


def asreview_figures() -> dict[tuple[str, int], CurveFigures]:
    runs = json.loads(ASREVIEW.read_text())["figures"]["runs"]
    return {
        (run["dataset"], run["seed"]): figures([str(r) for r in run["order"]], csv_labels(run["dataset"]))
        for run in runs
    }


@cache
def selected(config: str, name: str, seeds: int) -> float | None:
    """Mean WSS@95 of a config on a set over its first ``seeds`` seeds, from the select runs."""
    paths = [SELECT / config / f"{name}__seed{s}.json" for s in range(seeds)]
    if not all(p.is_file() for p in paths):
        return None
    return float(np.mean([json.loads(p.read_text())["wss_95"] for p in paths]))


def choose(configs: list[str], others: list[str], select_seeds: int, finalists: int, seeds: int) -> str:
    """The config for a held-out set, from the other sets only.

    With ``finalists`` = 0: the best mean WSS@95 over the other sets' first
    ``select_seeds`` seeds. Otherwise two rounds of successive halving (Karnin, Koren
    and Somekh 2013, ICML; Jamieson and Talwalkar 2016, AISTATS): the best
    ``finalists`` on those seeds go on to all ``seeds`` seeds of the other sets, and
    the best mean there is chosen. One seed's noise is then not enough to win.
    """

    def mean(config: str, n_seeds: int) -> float:
        values = [selected(config, n, n_seeds) for n in others]
        if any(v is None for v in values):
            raise SystemExit(f"{config}: select runs missing for seeds 0-{n_seeds - 1}; run `select` for them")
        return float(np.mean(values))  # type: ignore[arg-type]

    ranked = sorted(configs, key=lambda c: (-mean(c, select_seeds), configs.index(c)))
    if finalists <= 0:
        return ranked[0]
    final = ranked[:finalists]
    return max(final, key=lambda c: (mean(c, seeds), -configs.index(c)))


def report(seeds: int, select_seeds: int, finalists: int = 0) -> None:
    """Choose on the other sets' select runs; report the held-out set's full runs."""
    names = [d.name for d in DATASETS]
    configs = [c for c in CONFIGS if all(selected(c, n, select_seeds) is not None for n in names)]
    if not configs:
        raise SystemExit("no config has every dataset selected yet: run `select` first")
    score = {(c, n): float(selected(c, n, select_seeds)) for c in configs for n in names}  # type: ignore[arg-type]
    asr = asreview_figures()
    rows = []
    runs: dict[tuple[str, str, int], dict[str, Any]] = {}
    for held_out in names:
        others = [n for n in names if n != held_out]
        chosen = choose(configs, others, select_seeds, finalists, seeds)
        missing = [s for s in range(seeds) if not (RUNS / chosen / f"{held_out}__seed{s}.json").is_file()]
        if missing:
            raise SystemExit(f"{held_out}: config {chosen} was chosen; run it for seeds {missing}")
        seeds_runs = [run_one(chosen, held_out, s) for s in range(seeds)]
        for s, run in enumerate(seeds_runs):
            # Scored over every row of the CSV, as ASReview's orders are (unread rows count as read last).
            run["figures"] = figures(run["order"], csv_labels(held_out)).__dict__
            runs[(chosen, held_out, s)] = run
        stops = [r["stop"] for r in seeds_runs if r["stop"]]
        weights = {
            k: float(np.mean([r["final_weights"].get(k, 0.0) for r in seeds_runs]))
            for k in seeds_runs[0]["final_weights"]
        }
        rows.append(
            {
                "dataset": held_out,
                "n": seeds_runs[0]["figures"]["n_records"],
                "includes": seeds_runs[0]["figures"]["n_includes"],
                "chosen_config": chosen,
                "wss95": float(np.mean([r["figures"]["wss_95"] for r in seeds_runs])),
                "wss95_asreview": float(np.mean([asr[(held_out, s)].wss_95 for s in range(seeds)])),
                "read95": float(np.mean([r["figures"]["read_to_95"] for r in seeds_runs])),
                "read95_asreview": float(np.mean([asr[(held_out, s)].read_to_95 for s in range(seeds)])),
                "stops": len(stops),
                "stops_at_target": sum(s["recall"] >= 0.95 for s in stops),
                "work_saved_at_stop": float(np.mean([s["work_saved"] for s in stops])) if stops else None,
                "recall_at_stop": float(np.mean([s["recall"] for s in stops])) if stops else None,
                "mean_final_weights": weights,
                f"select_wss95_first_{select_seeds}_seeds": {c: score[(c, held_out)] for c in configs},
            }
        )
    hindsight = {c: float(np.mean([score[(c, n)] for n in names])) for c in configs}
    # Configs simulated in full on every set and seed: their 5-seed means, in hindsight (not LOO).
    full = {
        c: float(
            np.mean([figures(run_one(c, n, s)["order"], csv_labels(n)).wss_95 for n in names for s in range(seeds)])
        )
        for c in CONFIGS
        if all((RUNS / c / f"{n}__seed{s}.json").is_file() for n in names for s in range(seeds))
    }
    all_stops = sum(r["stops"] for r in rows)
    at_target = sum(r["stops_at_target"] for r in rows)
    lower = {r["dataset"]: round(r["wss95"] - r["wss95_asreview"], 4) for r in rows if r["wss95"] < r["wss95_asreview"]}
    summary = {
        "datasets": len(rows),
        "seeds": seeds,
        "configs": {c: CONFIGS[c] for c in configs},
        "selection": "WSS@95 on winnow's rows, reading stopped at 95 % recall (`select`)",
        "mean_wss95_loo": float(np.mean([r["wss95"] for r in rows])),
        "mean_wss95_asreview": float(np.mean([r["wss95_asreview"] for r in rows])),
        "selection_seeds": select_seeds,
        "finalists": finalists,
        f"mean_wss95_per_config_in_hindsight_first_{select_seeds}_seeds": hindsight,
        f"mean_wss95_in_hindsight_full_runs_{seeds}_seeds": full,
        "datasets_lower_than_asreview": lower,
        "datasets_lower_by_more_than_0.01": {k: v for k, v in lower.items() if v < -0.01},
        "buscar_stops": all_stops,
        "buscar_stops_at_or_above_target": at_target,
        "buscar_share_at_target": at_target / all_stops if all_stops else None,
        "mean_work_saved_at_stop": float(
            np.mean([r["work_saved_at_stop"] for r in rows if r["work_saved_at_stop"] is not None])
        ),
        "cpu_seconds_per_simulation": {
            c: float(np.mean([r["cpu_seconds"] for k, r in runs.items() if k[0] == c])) for c in {k[0] for k in runs}
        },
    }
    name = "prioritise_learners_loo" + (f"_finalists{finalists}" if finalists else "")
    write_results(name, {"summary": summary, "datasets": rows})
    print(
        "| dataset | N | inc | config (LOO) | WSS@95 winnow | WSS@95 ASReview | read to 95% winnow | ASReview "
        "| buscar stops ≥ target | work saved at stop |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        saved = "-" if r["work_saved_at_stop"] is None else f"{r['work_saved_at_stop']:.1%}"
        print(
            f"| {r['dataset']} | {r['n']} | {r['includes']} | {r['chosen_config']} | {r['wss95']:.3f} "
            f"| {r['wss95_asreview']:.3f} "
            f"| {r['read95']:.1f} | {r['read95_asreview']:.1f} | {r['stops_at_target']}/{r['stops']} | {saved} |"
        )
    print(json.dumps(summary, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["select", "run", "report"])
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only-seeds", type=int, nargs="*", default=None, help="select/run: these seeds only")
    parser.add_argument(
        "--select-seeds", type=int, default=1, help="report: seeds 0..K-1 of the other sets choose the config"
    )
    parser.add_argument(
        "--finalists",
        type=int,
        default=0,
        help="report: the best K on --select-seeds go on to all --seeds seeds of the other sets (0: one round)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="processes (one per core; no other job beside it)")
    args = parser.parse_args()
    if args.action == "report":
        report(args.seeds, args.select_seeds, args.finalists)
        return
    names = [d.name for d in DATASETS if args.datasets is None or d.name in args.datasets]
    # Large sets first, so the pool ends on short jobs.
    names.sort(key=lambda n: -(FEATURES / f"{n}.tfidf.npz").stat().st_size)
    seeds = args.only_seeds if args.only_seeds is not None else list(range(args.seeds))
    jobs = [(c, n, s) for s in seeds for c in args.configs for n in names]
    work = select_one if args.action == "select" else run_job
    with Pool(args.jobs) as pool:
        for record in pool.imap_unordered(work, jobs):
            wss = record["wss_95"] if "wss_95" in record else record["figures"]["wss_95"]
            print(
                f"{record['config']} {record['dataset']} seed {record['seed']}: WSS@95 {wss:.3f} "
                f"({record['cpu_seconds']} s cpu)",
                file=sys.stderr,
                flush=True,
            )


def run_job(job: tuple[str, str, int]) -> dict[str, Any]:
    return run_one(*job)


if __name__ == "__main__":
    main()
