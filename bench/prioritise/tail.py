"""Where WSS@95 is won and lost: records read to reach each share of the includes, winnow against ASReview.

    python bench/prioritise/tail.py     # 17 sets x 5 seeds -> bench/results/prioritise_tail.json

WSS@95 counts the records read until 95 % of a set's includes are found. Issue 15's fifth
session asked where along that path the default ranker (`ts-svm-jsvm-mean-qp-c5`) gains and
loses against ASReview and against its two SVMs alone: the TF-IDF SVM with the protocol as an
include (`x-svm-qp`, what winnow runs without the embeddings extra) and the joint SVM (`x-jsvm`).
Each run is the `select` run of `learners_loo.py` (read to 95 % recall from the same two prior
records per seed) with the position of every include found kept; ASReview's positions come from
its own orders in `bench/results/asreview.json`.
The report gives, per set, the mean records read to reach 50 %, 90 % and 95 % recall.
"""

from __future__ import annotations

import json
import sys
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import learners_loo as loo  # noqa: E402
import variants  # noqa: E402  (registers the x- configs and patches the product for them)

CONFIGS = ("ts-svm-jsvm-mean-qp-c5", "x-svm-qp", "x-jsvm")
SEEDS = 5
SHARES = (0.5, 0.9, 0.95)
CACHE = HERE / "cache" / "tail"


def found_at(job: tuple[str, str, int]) -> dict[str, Any]:
    """The 1-based read count at which each include was found, up to 95 % recall."""
    config, dataset, seed = job
    out = CACHE / config / f"{dataset}__seed{seed}.json"
    if out.is_file():
        return dict(json.loads(out.read_text()))
    variants.patched(config)
    n, _, labels = loo.read_to_95(config, dataset, seed)
    record = {
        "config": config,
        "dataset": dataset,
        "seed": seed,
        "n": n,
        "found_at": [k + 1 for k, y in enumerate(labels) if y],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record))
    return record


def reads_to(found: list[int], includes: int, share: float) -> int:
    return found[int(np.ceil(share * includes)) - 1]


def main() -> None:
    names = sorted(d.name for d in loo.DATASETS)
    jobs = [(c, n, s) for s in range(SEEDS) for c in CONFIGS for n in names]
    with Pool(2) as pool:
        runs = pool.map(found_at, jobs)
    asreview_runs = json.loads(loo.ASREVIEW.read_text())["figures"]["runs"]
    asreview = {(r["dataset"], r["seed"]): [k + 1 for k, y in enumerate(r["order_labels"]) if y] for r in asreview_runs}
    includes = {r["dataset"]: r["n_includes"] for r in asreview_runs}
    per_set: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        rows = {"asreview": [asreview[(name, s)] for s in range(SEEDS)]}
        for config in CONFIGS:
            rows[config] = [r["found_at"] for r in runs if r["config"] == config and r["dataset"] == name]
        per_set[name] = {
            who: {f"{share:g}": float(np.mean([reads_to(f, includes[name], share) for f in found])) for share in SHARES}
            for who, found in rows.items()
        }
    who_all = ("asreview", *CONFIGS)
    print("| dataset | " + " | ".join(f"{w} {share:g}" for w in who_all for share in SHARES) + " |")
    for name in names:
        cells = [f"{per_set[name][w][f'{share:g}']:.0f}" for w in who_all for share in SHARES]
        print(f"| {name} | " + " | ".join(cells) + " |")
    # Where the default's lead or lag on ASReview builds up: before 90 % recall or in the last 5 %.
    lead = {
        share: float(
            np.mean([per_set[n]["asreview"][f"{share:g}"] - per_set[n][CONFIGS[0]][f"{share:g}"] for n in names])
        )
        for share in SHARES
    }
    print(
        "records fewer than ASReview to reach each share, mean over the sets:",
        {k: round(v, 1) for k, v in lead.items()},
    )
    loo.write_results(
        "prioritise_tail",
        {"seeds": SEEDS, "shares": SHARES, "reads_to_recall": per_set, "default_fewer_than_asreview": lead},
    )


if __name__ == "__main__":
    main()
