"""Benchmark 19a: read, de-duplicate and render a million records, and price them with ``--dry-run``.

Usage: python bench/million_records.py [--sizes 10000 100000 1000000] [--python PY] [--out FILE]

Search exports of each size are built once by ``bench/scale_records.py`` (real
titles and abstracts varied into distinct papers, 2 % exported twice) in
``$WINNOW_BENCH_TMP/winnow-bench-scale-data`` (the system temp folder by default),
never in the repository. Each step runs as its own process, timed with its own peak
RSS:

- ``read``: ``read_records`` (decode, parse, de-duplicate);
- ``render``: the same, then every screening prompt rendered with its cache key
  (``TitleAbstractStage.tasks``, what a batch file is written from), one at a time;
- ``dry-run``: ``winnow screen RECORDS -p PROTOCOL -m openai:gpt-4o-mini --dry-run``.

Time per record is CPU seconds beyond the same step on 10 records (start-up and
imports), so linear time shows as the same figure at every size. ``--python`` runs
the steps with another interpreter (another checkout's venv), for a before/after.
Targets at 1,000,000 records on this 2-core machine: under 300 s and 2 GiB each,
and time per record at 1,000,000 within 1.5 times that at 10,000.
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

from benchlib import PROTOCOL, write_results
from scale_records import write_records

TARGET_S = 300.0
TARGET_MIB = 2048.0
TARGET_GROWTH = 1.5

READ = """
import sys
from winnow.records import read_records
result = read_records(sys.argv[1])
print(len(result.records), len(result.skipped), len(result.duplicate_groups))
"""

RENDER = """
import sys
from pathlib import Path
from winnow.lifecycle import ModelChoice, RunSpec
from winnow.screening.run import RecordSelection, title_abstract_stage
spec = RunSpec(input_path=Path(sys.argv[1]), protocol_path=Path(sys.argv[2]), template="screen_title_abstract",
               model=ModelChoice(model_id="openai:gpt-4o-mini", require_key=False))
stage = title_abstract_stage(spec, RecordSelection())
model = spec.model.build()
tasks = stage.tasks(model) if hasattr(stage, "tasks") else (t for u in stage.units(model) for t in u.tasks)
calls = chars = 0
for task in tasks:
    calls += 1
    chars += sum(len(m["content"]) for m in task.request.messages) + len(task.cache_key)
print(calls, chars)
"""


def data_folder() -> Path:
    folder = Path(os.environ.get("WINNOW_BENCH_TMP") or tempfile.gettempdir()) / "winnow-bench-scale-data"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def records_file(n: int) -> Path:
    """The export of ``n`` records, built on first use (the build is not part of any figure)."""
    path = data_folder() / f"records-{n}.csv"
    if not path.is_file():
        partial = path.with_suffix(".partial")
        write_records(partial, n)
        partial.replace(path)
    return path


def run_step(python: str, step: str, path: Path, work: Path) -> dict[str, Any]:
    """One step in its own process: wall and CPU seconds, peak RSS (its own, from wait4), what it printed."""
    if step == "dry-run":
        command = [python, "-m", "winnow", "screen", str(path), "-p", str(PROTOCOL), "-m", "openai:gpt-4o-mini",
                   "--dry-run", "-o", str(work / "dry.decisions.csv")]  # fmt: skip
    else:
        command = [python, "-c", READ if step == "read" else RENDER, str(path), str(PROTOCOL)]
    env = {key: value for key, value in os.environ.items() if key not in ("OPENAI_API_KEY", "PYTHONPATH")}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=work)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        printed, problem = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{step} on {path.name} failed: {problem[-2000:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "output": printed.strip().splitlines()[:8] if step == "dry-run" else printed.strip(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--steps", nargs="+", default=["read", "render", "dry-run"])
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose winnow is measured")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    work = data_folder() / "work"
    work.mkdir(exist_ok=True)
    tiny = records_file(10)
    sizes = sorted(args.sizes)
    for n in sizes:
        records_file(n)
    runs: list[dict[str, Any]] = []
    for step in args.steps:
        startup = run_step(args.python, step, tiny, work)
        for n in sizes:
            path = records_file(n)
            run = {"step": step, "records": n, "file_mb": round(path.stat().st_size / 1e6, 1)}
            run.update(run_step(args.python, step, path, work))
            run["startup_cpu_s"] = startup["cpu_s"]
            run["cpu_us_per_record"] = round(max(0.0, run["cpu_s"] - startup["cpu_s"]) / n * 1e6, 1)
            runs.append(run)
            print(f"{step:8s} {n:>9,} records: {run['wall_s']:7.1f} s wall {run['cpu_s']:7.1f} s CPU "
                  f"({run['cpu_us_per_record']} us/record), peak {run['peak_rss_mib']:7.1f} MiB")  # fmt: skip
    growth = {}
    for step in args.steps:
        mine = [r for r in runs if r["step"] == step]
        first, last = mine[0]["cpu_us_per_record"], mine[-1]["cpu_us_per_record"]
        growth[step] = round(last / first, 3) if first else None
    largest = [r for r in runs if r["records"] == sizes[-1]]
    figures: dict[str, Any] = {
        "python": args.python if args.python != sys.executable else "this checkout",
        "sizes": sizes,
        "runs": runs,
        "growth_per_record_largest_over_smallest": growth,
        "targets": {"wall_s": TARGET_S, "peak_rss_mib": TARGET_MIB, "growth": TARGET_GROWTH},
        "met": {
            r["step"]: r["wall_s"] < TARGET_S
            and r["peak_rss_mib"] < TARGET_MIB
            and (growth[r["step"]] or 0) <= TARGET_GROWTH
            for r in largest
        },
    }
    path = write_results("million_records", figures, out=args.out)
    print(f"growth of CPU per record, {sizes[0]:,} to {sizes[-1]:,}: {growth}; targets met: {figures['met']}")
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
