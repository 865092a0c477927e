"""Benchmark 19c: ``winnow agree`` and ``winnow audit --json`` on a million-record decisions table.

Usage: python bench/million_reports.py [--sizes 100000 1000000] [--python PY] [--out FILE]

The decisions tables (every column winnow writes: real abstracts varied from the
shared screening sets, five criteria with verdicts and reasons, P(include)) and
their gold files are built once by ``bench/scale_records.py`` in
``$WINNOW_BENCH_TMP/winnow-bench-scale-data``, never in the repository. Each command
runs as its own process with its output to /dev/null: wall and CPU seconds and its
own peak RSS. ``--python`` measures another interpreter's winnow (a before/after).
Targets at 1,000,000 records: under 30 s and 2 GiB each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import write_results
from million_records import data_folder
from scale_records import write_decisions

TARGET_S = 30.0
TARGET_MIB = 2048.0
COMMANDS = {
    "agree --json": ["agree", "{decisions}", "--gold", "{gold}", "--json"],
    "agree (terminal report)": ["agree", "{decisions}", "--gold", "{gold}", "--no-pager"],
    "audit --json": ["audit", "{decisions}", "--gold", "{gold}", "--json"],
}


def tables(n: int) -> tuple[Path, Path]:
    """The decisions table and gold file of ``n`` records, built on first use."""
    folder = data_folder() / f"decisions-{n}"
    decisions, gold = folder / "decisions.csv", folder / "gold.csv"
    if not (decisions.is_file() and gold.is_file() and (folder / "complete").is_file()):
        write_decisions(folder, n)
        (folder / "complete").write_text("")
    return decisions, gold


def run_command(python: str, args: list[str]) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if key not in ("OPENAI_API_KEY", "PYTHONPATH")}
    with tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [python, "-m", "winnow", *args], stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=data_folder()
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        err.seek(0)
        problem = err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"winnow {' '.join(args)} failed: {problem[-2000:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose winnow is measured")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    sizes = sorted(args.sizes)
    for n in sizes:
        tables(n)
    runs: list[dict[str, Any]] = []
    for n in sizes:
        decisions, gold = tables(n)
        for label, template in COMMANDS.items():
            command = [part.format(decisions=decisions, gold=gold) for part in template]
            run = {"command": label, "records": n, "decisions_mb": round(decisions.stat().st_size / 1e6, 1)}
            run.update(run_command(args.python, command))
            runs.append(run)
            print(f"{label:24s} {n:>9,} records: {run['wall_s']:6.1f} s wall {run['cpu_s']:6.1f} s CPU, "
                  f"peak {run['peak_rss_mib']:7.1f} MiB")  # fmt: skip
    largest = [r for r in runs if r["records"] == sizes[-1]]
    figures = {
        "python": args.python if args.python != sys.executable else "this checkout",
        "sizes": sizes,
        "runs": runs,
        "targets": {"wall_s": TARGET_S, "peak_rss_mib": TARGET_MIB},
        "met": {r["command"]: r["wall_s"] < TARGET_S and r["peak_rss_mib"] < TARGET_MIB for r in largest},
    }
    path = write_results("million_reports", figures, out=args.out)
    print(f"targets met at {sizes[-1]:,}: {figures['met']}")
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
