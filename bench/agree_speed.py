"""Time ``winnow agree`` end to end on 5,000 synthetic records (target: under 2 s).

Usage: python bench/agree_speed.py [N]. Writes a realistic decisions table (abstracts,
criteria, reasons, P(include)) and a gold file to a temporary folder, then times the
full terminal report and the ``--json`` output as separate processes, as a user runs them.
"""

from __future__ import annotations

import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRITERIA = ("population", "intervention", "comparator", "design", "protocol_only")


def write_fixture(folder: Path, n: int, prevalence: float = 0.03, seed: int = 1) -> tuple[Path, Path]:
    rng = random.Random(seed)
    decisions, gold = folder / "decisions.csv", folder / "gold.csv"
    columns = [
        "record_id",
        "title",
        "year",
        "decision",
        "model_decision",
        "p_include",
        "confidence_source",
        "rationale",
    ]
    columns += [f"criterion:{c}" for c in CRITERIA] + [f"reason:{c}" for c in CRITERIA]
    columns += [
        "abstract_missing",
        "flags",
        "duplicates",
        "error",
        "abstract",
        "doi",
        "pmid",
        "model",
        "served_model",
        "template_name",
        "template_sha256",
        "run_id",
        "call_id",
    ]
    words = [
        "exercise",
        "depression",
        "older",
        "adults",
        "randomised",
        "trial",
        "cohort",
        "placebo",
        "outcome",
        "scale",
        "follow-up",
    ]
    with decisions.open("w", newline="") as d, gold.open("w", newline="") as g:
        dw, gw = csv.DictWriter(d, fieldnames=columns), csv.writer(g)
        dw.writeheader()
        gw.writerow(["record_id", "title", "label_included"])
        for i in range(n):
            included = rng.random() < prevalence
            p = min(1.0, max(0.0, rng.gauss(0.75 if included else 0.2, 0.18)))
            decision = "include" if p > 0.6 else "exclude" if p < 0.35 else "uncertain"
            row = {
                "record_id": f"rec{i:06d}",
                "title": " ".join(rng.choices(words, k=10)),
                "year": str(rng.randint(1990, 2024)),
                "decision": decision,
                "model_decision": decision,
                "p_include": f"{p:.4f}",
                "confidence_source": "logprobs",
                "rationale": " ".join(rng.choices(words, k=40)),
                "abstract": " ".join(rng.choices(words, k=220)),
                "abstract_missing": "false",
                "model": "openai:gpt-4o-mini",
                "served_model": "gpt-4o-mini",
                "template_name": "screen_v1",
                "template_sha256": "ab" * 32,
                "run_id": "bench",
                "call_id": str(i),
            }
            for c in CRITERIA:
                row[f"criterion:{c}"] = rng.choice(("met", "not_met", "unclear"))
                row[f"reason:{c}"] = " ".join(rng.choices(words, k=15))
            dw.writerow(row)
            gw.writerow([row["record_id"], row["title"], 1 if included else 0])
    return decisions, gold


# The library path of ``winnow agree`` without importing winnow.cli (whose other
# commands import model clients at start-up).
LIBRARY = """
import sys
from rich.console import Console
from winnow.screening.decisions import read_decisions
from winnow.agreement.compare import match_decisions
from winnow.agreement.report import build_agreement, render_agreement
from winnow.gold import load_gold
decisions, gold = sys.argv[1], sys.argv[2]
report = build_agreement(match_decisions(read_decisions(decisions), decisions, load_gold(gold)))
Console(width=80).print(render_agreement(report))
"""


def time_command(args: list[str], *, library: bool = False) -> tuple[float, float]:
    """(wall, CPU) seconds of one process running ``python -m winnow ARGS`` or the library path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", LIBRARY, args[1], args[3]] if library else [sys.executable, "-m", "winnow", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        decisions, gold = write_fixture(Path(tmp), n)
        size = decisions.stat().st_size / 1e6
        print(f"N={n} records, decisions table {size:.1f} MB; best of 3 runs, wall and CPU seconds")
        cases = [
            ("python -m winnow agree (report)", ["agree", str(decisions), "--gold", str(gold), "--no-pager"], False),
            ("python -m winnow agree --json", ["agree", str(decisions), "--gold", str(gold), "--json"], False),
            ("library path of agree (report)", ["agree", str(decisions), "--gold", str(gold)], True),
            ("python -m winnow audit --json", ["audit", str(decisions), "--gold", str(gold), "--json"], False),
        ]
        for label, args, library in cases:
            runs = [time_command(args, library=library) for _ in range(3)]
            wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
            print(f"  {label:34s} wall {wall:.2f} s  cpu {cpu:.2f} s")


if __name__ == "__main__":
    main()
