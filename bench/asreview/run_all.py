"""ASReview's default simulation on every benchmark dataset x seed; writes bench/results/asreview.json.

Run from the repository root with winnow's python, after ``bash bench/asreview/setup.sh``:

    nice -n 10 python bench/asreview/run_all.py [--datasets NAME ...] [--seeds 5]

Each (dataset, seed) runs ``run_asreview.py`` in the asreview venv with the priors of
``datasets.py`` (the rule winnow shares) and is cached as
``bench/asreview/cache/<dataset>__seed<k>.json``; a re-run only does what is missing
(``--force`` redoes it). The results file holds every reading order and timing, plus per
run and per dataset the records read to reach 95% of the includes (priors counted as
read) and WSS@95 = (N - read95) / N - 0.05.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import datasets as ds  # noqa: E402

VENV_PY = HERE / ".venv" / "bin" / "python"
RUNNER = HERE / "run_asreview.py"
CACHE = HERE / "cache"
VERSION = "3.0.8"


def read_at_recall(order_labels: list[int], n_includes: int, recall: float = 0.95) -> int:
    """Records read (1-based position) when ceil(recall * includes) includes have been found."""
    need = math.ceil(recall * n_includes - 1e-9)
    found = 0
    for i, lab in enumerate(order_labels, 1):
        found += lab
        if found >= need:
            return i
    raise ValueError("order never reaches the requested recall")


def metrics(res: dict) -> dict:
    n = res["n_records"]
    r95 = read_at_recall(res["order_labels"], res["n_includes"])
    return {
        "read95": r95,
        "wss95": round((n - r95) / n - 0.05, 4),
        "read_all": len(res["order"]),  # position of the last include
    }


def cache_path(name: str, seed: int) -> Path:
    return CACHE / f"{name}__seed{seed}.json"


def load_cached(name: str, seed: int, prior: tuple[str, str]) -> dict | None:
    p = cache_path(name, seed)
    if not p.exists():
        return None
    try:
        res = json.loads(p.read_text())
    except json.JSONDecodeError:
        return None
    if res.get("version") != VERSION or res.get("prior") != list(prior) or res.get("seed") != seed:
        return None
    return res


def run_one(d: ds.Dataset, seed: int, prior: tuple[str, str]) -> dict:
    out = cache_path(d.name, seed)
    cmd = [
        str(VENV_PY),
        str(RUNNER),
        str(d.csv),
        "--seed",
        str(seed),
        "--prior",
        *prior,
        "--dataset",
        d.name,
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{d.name} seed {seed} failed:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def write_compact(figures: dict, out: Path | None) -> Path:
    """benchlib.write_results' payload (machine header, command), per-run lists on one line."""
    import benchlib

    target = out or benchlib.RESULTS / "asreview.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "asreview",
        "command": " ".join(["python", *[benchlib._relative(a) for a in sys.argv]]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": benchlib.machine(),
        "figures": figures,
    }
    lists: dict[str, str] = {}
    for i, run in enumerate(figures["runs"]):
        for key in ("order", "order_labels"):
            tag = f"@@{i}:{key}@@"
            lists[json.dumps(tag)] = json.dumps(run[key], separators=(",", ":"))
            run[key] = tag
    text = json.dumps(payload, indent=2)
    for tag, compact in lists.items():
        text = text.replace(tag, compact, 1)
    json.loads(text)  # still valid JSON
    target.write_text(text + "\n", encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", metavar="NAME", help="restrict to these (default: all)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    ap.add_argument("--force", action="store_true", help="ignore the cache")
    ap.add_argument("--out", type=Path, help="results file (default bench/results/asreview.json)")
    args = ap.parse_args(argv)

    if not VENV_PY.exists():
        sys.exit(f"no asreview venv at {VENV_PY}: run bash bench/asreview/setup.sh first")
    chosen = [ds.get(n) for n in args.datasets] if args.datasets else ds.DATASETS
    seeds = list(range(args.seeds))
    CACHE.mkdir(exist_ok=True)

    runs, t_start = [], time.perf_counter()
    total, k = len(chosen) * len(seeds), 0
    for d in chosen:
        for seed in seeds:
            k += 1
            prior = d.priors(seed)
            res = None if args.force else load_cached(d.name, seed, prior)
            how = "cached"
            if res is None:
                t0 = time.perf_counter()
                res = run_one(d, seed, prior)
                how = f"ran {time.perf_counter() - t0:.1f}s"
            m = metrics(res)
            print(
                f"[{k}/{total}] {d.name} seed {seed}: N={res['n_records']} inc={res['n_includes']} "
                f"read95={m['read95']} wss95={m['wss95']:.3f} read_all={m['read_all']} "
                f"sim {res['seconds']:.1f}s ({how})",
                flush=True,
            )
            runs.append({**res, **m})

    per_dataset = {}
    for d in chosen:
        rs = [r for r in runs if r["dataset"] == d.name]
        per_dataset[d.name] = {
            "n_records": rs[0]["n_records"],
            "n_includes": rs[0]["n_includes"],
            "seeds": [r["seed"] for r in rs],
            "wss95_mean": round(statistics.mean(r["wss95"] for r in rs), 4),
            "read95_mean": round(statistics.mean(r["read95"] for r in rs), 1),
            "read_all_mean": round(statistics.mean(r["read_all"] for r in rs), 1),
            "seconds_mean": round(statistics.mean(r["seconds"] for r in rs), 2),
        }
    model = runs[0]["model"] if runs else None
    figures = {
        "tool": "asreview",
        "version": VERSION,
        "model": model,
        "prior_rule": "bench/asreview/datasets.py Dataset.priors (shared with winnow)",
        "metric": "read95 = records read (priors included) to reach ceil(0.95*includes); wss95 = (N - read95)/N - 0.05",
        "per_dataset": per_dataset,
        "runs": [{k: v for k, v in r.items() if k != "model"} for r in runs],
    }
    target = write_compact(figures, args.out)
    print(f"\n{'dataset':36s} {'N':>5s} {'inc':>4s} {'read95':>7s} {'WSS@95':>7s} {'s/sim':>6s}")
    for name, s in per_dataset.items():
        print(
            f"{name:36s} {s['n_records']:5d} {s['n_includes']:4d} {s['read95_mean']:7.1f} "
            f"{s['wss95_mean']:7.3f} {s['seconds_mean']:6.1f}"
        )
    print(f"wrote {target} ({len(runs)} runs, {time.perf_counter() - t_start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
