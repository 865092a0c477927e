"""winnow simulate against ASReview's default simulation, on the same rows, priors and seeds.

One command:

    python bench/prioritise/compare_asreview.py [--embeddings off|auto] [--datasets NAME ...]

It makes ASReview's virtual environment if needed (bench/asreview/setup.sh), runs
ASReview's default (ELAS u4) for every dataset and seed that is not cached, runs
``winnow simulate --keep-duplicates --json --orders`` per dataset, and scores both
tools' reading orders with the same function (winnow.screening.ranking.simulate.CurveFigures), so
the figures differ only by the order each tool chose. Results go to
bench/results/prioritise_vs_asreview[-VARIANT].json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "bench" / "asreview")]

from benchlib import write_results  # noqa: E402
from datasets import DATASETS, Dataset  # noqa: E402

from winnow.screening.ranking.simulate import CurveFigures  # noqa: E402

CACHE = HERE / "cache"
PROTOCOLS = HERE / "protocols"
SEEDS = 5


def protocol_for(dataset: Dataset) -> Path:
    return PROTOCOLS / f"{dataset.name.lower()}.yaml"


def asreview_runs(names: list[str], seeds: int) -> dict[tuple[str, int], list[str]]:
    """ASReview's reading order per (dataset, seed), running what is not cached."""
    subprocess.run(["bash", str(ROOT / "bench" / "asreview" / "setup.sh")], check=True)
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "asreview" / "run_all.py"), "--seeds", str(seeds), "--datasets", *names],
        check=True,
    )
    orders: dict[tuple[str, int], list[str]] = {}
    for name in names:
        for seed in range(seeds):
            run = json.loads((ROOT / "bench" / "asreview" / "cache" / f"{name}__seed{seed}.json").read_text())
            orders[(name, seed)] = [str(r) for r in run["order"]]
    return orders


def winnow_run(dataset: Dataset, seeds: int, embeddings: str) -> dict[str, Any]:
    """``winnow simulate`` on the dataset's rows as given, cached per dataset and variant."""
    CACHE.mkdir(exist_ok=True)
    # The ranker's source is part of the key: a changed ranker must not reuse old orders.
    code = hashlib.sha256(b"".join((ROOT / "screening" / n).read_bytes() for n in ("ranking.py", "simulate.py")))
    cached = CACHE / f"{dataset.name}__{embeddings}__{seeds}__{code.hexdigest()[:10]}.json"
    if cached.is_file():
        return dict(json.loads(cached.read_text()))
    command = [
        sys.executable,
        "-m",
        "winnow",
        "simulate",
        str(dataset.csv),
        "--gold",
        str(dataset.csv),
        "--protocol",
        str(protocol_for(dataset)),
        "--seeds",
        str(seeds),
        "--embeddings",
        embeddings,
        "--keep-duplicates",
        "--json",
        "--orders",
        "--no-plot",
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE)
    if done.returncode != 0:
        raise SystemExit(f"{dataset.name}: winnow simulate failed: {done.stderr.strip()[-2000:]}")
    report = dict(json.loads(done.stdout))
    report["seconds"] = round(time.monotonic() - started, 1)
    cached.write_text(json.dumps(report))
    return report


def figures(order: list[str], labels: dict[str, bool]) -> CurveFigures:
    """Score a reading order over the full set; unread records count as read last."""
    seen = [labels[rid] for rid in order]
    missing = sum(labels.values()) - sum(seen)
    return CurveFigures.of(seen + [True] * missing, len(labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--embeddings", choices=["off", "auto", "on"], default="off")
    args = parser.parse_args()
    chosen = [d for d in DATASETS if args.datasets is None or d.name in args.datasets]
    chosen = [d for d in chosen if protocol_for(d).is_file()]
    asreview = asreview_runs([d.name for d in chosen], args.seeds)
    rows = []
    for dataset in chosen:
        frame = pd.read_csv(dataset.csv, dtype=str, keep_default_na=False)
        labels = dict(zip(frame["record_id"], frame["label_included"] == "1", strict=True))
        print(f"winnow simulate {dataset.name} …", file=sys.stderr, flush=True)
        ours = winnow_run(dataset, args.seeds, args.embeddings)
        per_seed = []
        for seed_report in ours["seeds"]:
            seed = seed_report["seed"]
            if tuple(seed_report["prior"]) != dataset.priors(seed):
                raise SystemExit(f"{dataset.name} seed {seed}: priors differ: {seed_report['prior']}")
            w = figures(seed_report["order"], labels)
            a = figures(asreview[(dataset.name, seed)], labels)
            stop = seed_report["stop"]
            per_seed.append(
                {
                    "seed": seed,
                    "winnow": w.__dict__,
                    "asreview": a.__dict__,
                    "stop": stop,
                }
            )
        stops = [s["stop"] for s in per_seed if s["stop"]]
        rows.append(
            {
                "dataset": dataset.name,
                "n": len(labels),
                "includes": sum(labels.values()),
                "protocol": protocol_for(dataset).name,
                "wss95_winnow": float(np.mean([s["winnow"]["wss_95"] for s in per_seed])),
                "wss95_asreview": float(np.mean([s["asreview"]["wss_95"] for s in per_seed])),
                "read95_winnow": float(np.mean([s["winnow"]["read_to_95"] for s in per_seed])),
                "read95_asreview": float(np.mean([s["asreview"]["read_to_95"] for s in per_seed])),
                "stops": len(stops),
                "stops_at_target": sum(s["recall"] >= 0.95 for s in stops),
                "work_saved_at_stop": float(np.mean([s["work_saved"] for s in stops])) if stops else None,
                "recall_at_stop": float(np.mean([s["recall"] for s in stops])) if stops else None,
                "winnow_seconds": ours.get("seconds"),
                "ranking": ours["ranking"],
                "seeds": per_seed,
            }
        )
    for row in rows:
        row["read95_ratio"] = row["read95_winnow"] / row["read95_asreview"]
    all_stops = sum(r["stops"] for r in rows)
    at_target = sum(r["stops_at_target"] for r in rows)
    summary = {
        "datasets": len(rows),
        "seeds": args.seeds,
        "embeddings": args.embeddings,
        "mean_wss95_winnow": float(np.mean([r["wss95_winnow"] for r in rows])),
        "mean_wss95_asreview": float(np.mean([r["wss95_asreview"] for r in rows])),
        "datasets_where_winnow_wss95_is_lower": [r["dataset"] for r in rows if r["wss95_winnow"] < r["wss95_asreview"]],
        "buscar_stops": all_stops,
        "buscar_stops_at_or_above_target": at_target,
        "buscar_share_at_target": at_target / all_stops if all_stops else None,
    }
    name = "prioritise_vs_asreview" + ("" if args.embeddings == "off" else f"-{args.embeddings}")
    write_results(name, {"summary": summary, "datasets": rows})
    print(
        "| dataset | N | inc | WSS@95 winnow | WSS@95 ASReview | read to 95% winnow | ASReview | ratio "
        "| buscar stops ≥ target | work saved at stop |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        saved = "-" if r["work_saved_at_stop"] is None else f"{r['work_saved_at_stop']:.1%}"
        print(
            f"| {r['dataset']} | {r['n']} | {r['includes']} | {r['wss95_winnow']:.3f} | {r['wss95_asreview']:.3f} "
            f"| {r['read95_winnow']:.1f} | {r['read95_asreview']:.1f} | {r['read95_ratio']:.2f} "
            f"| {r['stops_at_target']}/{r['stops']} | {saved} |"
        )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
