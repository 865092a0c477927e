"""The embedded model in a child process against the same model in this process, and one process against two.

Usage: python bench/model_process.py [--records 12] [--rounds 2] [--out FILE]

Crash isolation (winnow/backends/model_process.py) puts a pipe between winnow and
llama.cpp and starts a Python child that loads the model. This measures what that
costs, on the same requests (winnow's own rendered screening prompts, grammar and
settings), arm by arm in turns so drift in the machine's load hits every arm alike:

- ``in_process``: ``LlamaRunner`` called here (what winnow did before), one thread set;
- ``child_1x``: ``LocalModel`` with one child process using every usable core;
- ``child_2x``: ``LocalModel`` with two child processes of half the cores each,
  two calls in flight (what a 2-core machine could do instead).

Figures: seconds to start (load the model, or spawn and load), per-call wall time
(median, p90) and records per minute. SmolLM2's answers mean nothing; this measures
speed only. Run it alone, with no other job on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchlib import llama_cpp_facts, make_records, scratch, screening_tasks, write_results


def requests(n: int) -> list[Any]:
    return [task.request for task in screening_tasks(make_records(scratch("model_process") / "records.csv", n))]


def timed_calls(complete: Any, batch: list[Any], workers: int) -> tuple[float, list[float]]:
    def one(request: Any) -> float:
        started = time.perf_counter()
        complete(request)
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        seconds = list(pool.map(one, batch))
    return time.perf_counter() - started, seconds


def run_arm(arm: str, batch: list[Any]) -> dict[str, Any]:
    from winnow.backends.llama_runner import LlamaRunner
    from winnow.backends.local import LocalModel

    processes = 2 if arm == "child_2x" else 1
    model = LocalModel(processes=processes)
    started = time.perf_counter()
    if arm == "in_process":
        runner = LlamaRunner(model.runner_config())
        runner.load()
        complete, workers = runner.complete, 1
    else:
        model.start()  # spawn every child and wait until each has loaded the model
        complete, workers = model.complete, processes
    start_s = time.perf_counter() - started
    # The first call after loading is slow: every process of every arm gets one, unmeasured.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(complete, batch[:workers]))
    wall, seconds = timed_calls(complete, batch, workers)
    model.close()
    return {
        "arm": arm,
        "processes": processes,
        "threads_per_process": model.n_threads,
        "start_s": round(start_s, 2),
        "wall_s": round(wall, 2),
        "records_per_min": round(len(batch) / wall * 60, 2),
        "median_call_s": round(statistics.median(seconds), 3),
        "p90_call_s": round(sorted(seconds)[int(0.9 * (len(seconds) - 1))], 3),
    }


ARMS = ("in_process", "child_1x", "child_2x")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    batch = requests(args.records)
    rounds = [[run_arm(arm, batch) for arm in ARMS] for _ in range(args.rounds)]
    summary = {}
    for arm in ARMS:
        per_round = [r for rnd in rounds for r in rnd if r["arm"] == arm]
        summary[arm] = {
            "records_per_min": statistics.median(r["records_per_min"] for r in per_round),
            "median_call_s": statistics.median(r["median_call_s"] for r in per_round),
            "start_s": statistics.median(r["start_s"] for r in per_round),
        }
    base = summary["in_process"]
    figures = {
        "records": len(batch),
        "rounds": rounds,
        "median_over_rounds": summary,
        "ratio_records_per_min": {
            arm: round(summary[arm]["records_per_min"] / base["records_per_min"], 3) for arm in ARMS
        },
        "child_1x_extra_s_per_call": round(summary["child_1x"]["median_call_s"] - base["median_call_s"], 3),
        "llama_cpp": llama_cpp_facts(),
    }
    path = write_results("model_process", figures, out=args.out)
    for arm in ARMS:
        s = summary[arm]
        print(
            f"{arm:11} {s['records_per_min']:7.2f} records/min, median call {s['median_call_s']:.3f} s, "
            f"start {s['start_s']:.2f} s"
        )
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
