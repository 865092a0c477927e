"""Benchmark 3: re-running a finished run makes no model calls and takes seconds.

Usage: python bench/cache.py [--records 10000] [--concurrency 16] [--out FILE]

Screens N records against the benchmark server, then runs the identical command
again and times it as a separate process. The server counts requests, so "zero
model calls" is read from the server, not from winnow's own summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchlib import fake_server, make_records, run_winnow, scratch, server_stats, write_results
from overhead import screen_args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    work = scratch("cache")
    records = make_records(work / "records.csv", args.records)
    command = screen_args(records, work / "decisions.csv", "URL", args.concurrency)
    with fake_server() as base_url:
        command[command.index("URL")] = base_url
        first = run_winnow(command)
        after_first = server_stats(base_url)["requests"]
        rerun = run_winnow(command)
        after_rerun = server_stats(base_url)["requests"]
    figures = {
        "records": args.records,
        "first_run_wall_s": round(first["wall_s"], 2),
        "first_run_calls": after_first,
        "rerun_wall_s": round(rerun["wall_s"], 2),
        "rerun_cpu_s": round(rerun["cpu_s"], 2),
        "rerun_peak_rss_mib": round(rerun["peak_rss_mib"], 1),
        "rerun_model_calls": after_rerun - after_first,
        "target_rerun_s": 5.0,
        "target_rerun_calls": 0,
    }
    path = write_results("cache", figures, out=args.out)
    print(
        f"{args.records} records: first run {figures['first_run_wall_s']} s ({after_first} calls); "
        f"re-run {figures['rerun_wall_s']} s wall, {figures['rerun_cpu_s']} s CPU, "
        f"{figures['rerun_model_calls']} model calls"
    )
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
