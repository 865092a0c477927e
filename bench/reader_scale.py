"""Benchmark 11: seconds and memory per MB when the record readers meet very large files.

Usage: python bench/reader_scale.py [--sizes 10 100] [--out FILE]

The three shapes of ``tests/huge_files.py`` (one CSV field of the whole size, 100
MEDLINE records with huge abstracts, ~1 KB RIS records up to the size), each read
by ``read_records`` in its own process: wall and CPU seconds, peak RSS, and the
outcome (records or a typed error naming the file). Per MB means beyond what the
same process costs on a 1 KB file of the same shape (Python and imports). The
bound: at every size, CPU seconds per MB stay under ``BOUND_S_PER_MB``, and the
largest size costs per MB at most ``BOUND_GROWTH`` times what the smallest does (a
reader that went quadratic breaks it: the MEDLINE reader did, 0.035 s/MB at 10 MB
and 0.15 s/MB at 100 MB, until continuation lines were joined once). The suite
reads the same shapes at 4 MB and asserts only the outcome; this is where the
speed is held.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import ROOT, scratch, write_results

sys.path.insert(0, str(ROOT / "tests"))

from huge_files import KINDS, MB, build_huge, huge_path, read_in_child

BOUND_S_PER_MB = 0.1
BOUND_GROWTH = 2.0


def read_one(path: Path) -> dict[str, Any]:
    child = read_in_child(path)
    started = time.perf_counter()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    assert child.stdout is not None and child.stderr is not None
    stdout, stderr = child.stdout.read(), child.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"reading {path} failed: {stderr[-2000:]}")
    outcome = stdout.split()[0]
    if outcome not in ("records", "error") or (outcome == "error" and path.name not in stdout):
        raise RuntimeError(f"reading {path}: neither records nor a typed error naming the file: {stdout!r}")
    return {
        "outcome": stdout.strip()[:200],
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100], help="file sizes in MB")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    work = scratch("reader-scale")
    runs: list[dict[str, Any]] = []
    for kind in sorted(KINDS):
        path = huge_path(work, kind)
        build_huge(path, kind, 1024)
        startup = read_one(path)  # Python, imports and a 1 KB file: taken off every size below
        for size in sorted(args.sizes):
            build_huge(path, kind, size * MB)
            mb = path.stat().st_size / MB
            run = {"kind": kind, "mb": round(mb, 1), **read_one(path), "startup_cpu_s": startup["cpu_s"]}
            run["cpu_s_per_mb"] = round(max(0.0, run["cpu_s"] - startup["cpu_s"]) / mb, 4)
            run["rss_mib_per_mb"] = round(max(0.0, run["peak_rss_mib"] - startup["peak_rss_mib"]) / mb, 2)
            runs.append(run)
            path.unlink()
            print(f"{kind} {run['mb']} MB: {run['cpu_s']} s CPU ({run['cpu_s_per_mb']} s/MB), "
                  f"peak RSS {run['peak_rss_mib']} MiB; {run['outcome'][:80]}")  # fmt: skip
    growth = {}
    for kind in sorted(KINDS):
        mine = [r for r in runs if r["kind"] == kind]
        growth[kind] = round(mine[-1]["cpu_s_per_mb"] / mine[0]["cpu_s_per_mb"], 2) if mine[0]["cpu_s_per_mb"] else None
    worst = max(r["cpu_s_per_mb"] for r in runs)
    figures = {
        "sizes_mb": sorted(args.sizes),
        "runs": runs,
        "worst_cpu_s_per_mb": worst,
        "growth_largest_over_smallest": growth,
        "bound_s_per_mb": BOUND_S_PER_MB,
        "bound_growth": BOUND_GROWTH,
        "within_bound": worst <= BOUND_S_PER_MB and all(g is None or g <= BOUND_GROWTH for g in growth.values()),
    }
    path = write_results("reader_scale", figures, out=args.out)
    verdict = "within" if figures["within_bound"] else "OUTSIDE"
    print(f"worst {worst} s CPU per MB (bound {BOUND_S_PER_MB}); growth {growth} (bound {BOUND_GROWTH}x): {verdict}")
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
