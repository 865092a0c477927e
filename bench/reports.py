"""Benchmark 7: ``winnow agree`` and ``winnow audit --json`` on 100,000 records: time and memory.

Usage: python bench/reports.py [--records 100000] [--runs 3] [--out FILE]

Writes a realistic decisions table and gold file (``agree_speed.write_fixture``:
abstracts, five criteria with reasons, P(include), 3 % prevalence) and runs each
report as its own process, as a user would; the median of RUNS runs is kept, with
the process's own peak RSS. ``bench/agree_speed.py`` is the 5,000-record variant.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from agree_speed import write_fixture
from benchlib import run_winnow, scratch, write_results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    work = scratch("reports")
    decisions, gold = write_fixture(work, args.records)
    cases = {
        "agree (terminal report)": ["agree", str(decisions), "--gold", str(gold), "--no-pager"],
        "agree --json": ["agree", str(decisions), "--gold", str(gold), "--json"],
        "audit --json": ["audit", str(decisions), "--gold", str(gold), "--json"],
    }
    results: dict[str, Any] = {}
    for label, command in cases.items():
        runs = [run_winnow(command) for _ in range(args.runs)]
        results[label] = {
            "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 2),
            "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 2),
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs), 1),
        }
    figures = {
        "records": args.records,
        "decisions_mb": round(decisions.stat().st_size / 1e6, 1),
        "runs": args.runs,
        "commands": results,
    }
    path = write_results("reports", figures, out=args.out)
    for label, r in results.items():
        print(
            f"{label:26s} {r['wall_s_median']:6.2f} s wall {r['cpu_s_median']:6.2f} s CPU {r['peak_rss_mib']:7.1f} MiB"
        )
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
