"""The Hedge ranker on the 17 shared sets: a small grid, chosen leave-one-dataset-out, against ASReview.

    nice -n 10 python bench/prioritise/features.py                 # once: TF-IDF, MiniLM, priors per set
    nice -n 10 python bench/prioritise/learners_loo.py run [--configs NAME ...] [--datasets ...] [--seeds 5]
    python bench/prioritise/learners_loo.py report                  # LOO choice, table, bench/results JSON

``run`` simulates every (config, dataset, seed) not yet cached in
``bench/prioritise/cache/learners/`` with ``winnow.screening.simulate.simulate_one`` on the
saved features, so nothing is embedded or vectorised twice. ``report`` picks, for each
held-out set, the config with the best mean WSS@95 over the other 16 sets (on their first
``--select-seeds`` seeds: CPU is scarce, so the grid is scored on seed 0 and only the chosen
config is run on every seed) and reports that config's figures on the held-out set over all
``--seeds`` seeds (leave-one-dataset-out), beside ASReview's orders from
``bench/results/asreview.json`` scored by the same function (``compare_asreview.figures``,
over every row of the CSV, as section 8's first table) and with the
best-in-hindsight config shown only for comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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

from winnow.screening.learners import LEARNED  # noqa: E402
from winnow.screening.ranking import Features, Ranker, RankerConfig, zero_shot_prior  # noqa: E402
from winnow.screening.simulate import CurveFigures, simulate_one  # noqa: E402
from winnow.screening.stopping import StoppingRule  # noqa: E402

FEATURES = HERE / "cache" / "features"
RUNS = HERE / "cache" / "learners"
ASREVIEW = ROOT / "bench" / "results" / "asreview.json"

# The grid: kept small because the machine is two cores shared by five developers.
TFIDF_ONLY = ("tfidf-logistic", "tfidf-svm", "tfidf-bayes")
BASE: dict[str, Any] = {"learners": TFIDF_ONLY, "eta": 4.0, "half_life": 10.0, "share": 0.05, "embedding_prior": False}
# The grid scored leave-one-dataset-out. The MiniLM learner is not in it: embedding the 17 sets
# (about 20,000 records) on the shared machine ran at 1.5 records/s, too slow for the session.
CONFIGS: dict[str, dict[str, Any]] = {
    "tfidf-eta4": BASE,
    "tfidf-eta16": {**BASE, "eta": 16.0},
    "tfidf-eta4-h3": {**BASE, "half_life": 3.0},
}
# Run only on the sets whose embeddings were finished: not part of the LOO grid.
EXTRA: dict[str, dict[str, Any]] = {
    "all-eta4": {**BASE, "learners": LEARNED},
}


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
    prior_features = features if embedding_prior else Features(tfidf=tfidf, query_tfidf=query)
    prior = zero_shot_prior(prior_features)
    return [str(i) for i in saved["ids"]], saved["truth"].astype(bool), saved["priors"], features, prior


def config_of(name: str) -> RankerConfig:
    spec = {**CONFIGS, **EXTRA}[name]
    return RankerConfig(
        learners=tuple(spec["learners"]), eta=spec["eta"], half_life=spec["half_life"], share=spec["share"]
    )


def run_one(config_name: str, dataset: str, seed: int) -> dict[str, Any]:
    out = RUNS / config_name / f"{dataset}__seed{seed}.json"
    if out.is_file():
        return dict(json.loads(out.read_text()))
    spec = {**CONFIGS, **EXTRA}[config_name]
    config = config_of(config_name)
    ids, truth, priors, features, prior = load(
        dataset, spec["embedding_prior"], need_embeddings="embedding-logistic" in config.learners
    )
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


def done(config: str, names: list[str], seeds: int) -> bool:
    return all((RUNS / config / f"{n}__seed{s}.json").is_file() for n in names for s in range(seeds))


def report(seeds: int, select_seeds: int) -> None:
    """Choose on the other sets' first ``select_seeds`` seeds; report the held-out set's ``seeds`` seeds."""
    names = [d.name for d in DATASETS]
    configs = [c for c in CONFIGS if done(c, names, select_seeds)]
    if not configs:
        raise SystemExit("no config has every dataset simulated yet")
    runs = {
        (c, n, s): run_one(c, n, s)
        for c in configs
        for n in names
        for s in range(seeds)
        if (RUNS / c / f"{n}__seed{s}.json").is_file()
    }
    for run in runs.values():
        # Scored over every row of the CSV, as ASReview's orders are (unread rows count as read last).
        run["figures"] = figures(run["order"], csv_labels(run["dataset"])).__dict__
    asr = asreview_figures()

    def mean_wss(config: str, name: str, n_seeds: int) -> float:
        return float(np.mean([runs[(config, name, s)]["figures"]["wss_95"] for s in range(n_seeds)]))

    rows = []
    for held_out in names:
        others = [n for n in names if n != held_out]
        chosen = max(
            configs, key=lambda c: (np.mean([mean_wss(c, n, select_seeds) for n in others]), -configs.index(c))
        )
        missing = [s for s in range(seeds) if (chosen, held_out, s) not in runs]
        if missing:
            raise SystemExit(f"{held_out}: config {chosen} was chosen; run it for seeds {missing}")
        seeds_runs = [runs[(chosen, held_out, s)] for s in range(seeds)]
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
                f"per_config_wss95_first_{select_seeds}_seeds": {
                    c: mean_wss(c, held_out, select_seeds) for c in configs
                },
            }
        )
    hindsight = {c: float(np.mean([mean_wss(c, n, select_seeds) for n in names])) for c in configs}
    all_stops = sum(r["stops"] for r in rows)
    at_target = sum(r["stops_at_target"] for r in rows)
    lower = {r["dataset"]: round(r["wss95"] - r["wss95_asreview"], 4) for r in rows if r["wss95"] < r["wss95_asreview"]}
    summary = {
        "datasets": len(rows),
        "seeds": seeds,
        "configs": {c: CONFIGS[c] for c in configs},
        "mean_wss95_loo": float(np.mean([r["wss95"] for r in rows])),
        "mean_wss95_asreview": float(np.mean([r["wss95_asreview"] for r in rows])),
        "selection_seeds": select_seeds,
        f"mean_wss95_per_config_in_hindsight_first_{select_seeds}_seeds": hindsight,
        "datasets_lower_than_asreview": lower,
        "datasets_lower_by_more_than_0.01": {k: v for k, v in lower.items() if v < -0.01},
        "buscar_stops": all_stops,
        "buscar_stops_at_or_above_target": at_target,
        "buscar_share_at_target": at_target / all_stops if all_stops else None,
        "mean_work_saved_at_stop": float(
            np.mean([r["work_saved_at_stop"] for r in rows if r["work_saved_at_stop"] is not None])
        ),
        "cpu_seconds_per_simulation": {
            c: float(np.mean([r["cpu_seconds"] for k, r in runs.items() if k[0] == c])) for c in configs
        },
    }
    write_results("prioritise_hedge_loo", {"summary": summary, "datasets": rows})
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
    parser.add_argument("action", choices=["run", "report"])
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only-seeds", type=int, nargs="*", default=None, help="run: these seeds only")
    parser.add_argument(
        "--select-seeds", type=int, default=1, help="report: seeds 0..K-1 of the other sets choose the config"
    )
    args = parser.parse_args()
    if args.action == "report":
        report(args.seeds, args.select_seeds)
        return
    names = [d.name for d in DATASETS if args.datasets is None or d.name in args.datasets]
    # Small sets first: early figures from everything, the long runs last.
    names.sort(key=lambda n: (FEATURES / f"{n}.tfidf.npz").stat().st_size)
    for seed in args.only_seeds if args.only_seeds is not None else range(args.seeds):
        for name in names:
            for config in args.configs:
                record = run_one(config, name, seed)
                print(
                    f"{config} {name} seed {seed}: WSS@95 {record['figures']['wss_95']:.3f} "
                    f"({record['cpu_seconds']} s cpu) weights {record['final_weights']}",
                    file=sys.stderr,
                    flush=True,
                )


if __name__ == "__main__":
    main()
