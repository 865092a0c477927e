"""What a second reviewer costs: calls and time of a two-model panel against one model, from the ledger.

Screens the same records three ways, each into its own ledger: the embedded model alone,
a ``llama_cpp.server`` alone (the same GGUF over HTTP), and both as a panel. Calls, answer
latency summed over calls, and wall time come from the ledgers and the clock; tokens from
the ledger. Both models share the same two cores, so the panel's wall time shows how much
of the second reviewer's work runs beside the first's on this machine.

Usage: ``python bench/panel_cost.py [--records 10]``
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from benchlib import GOLD, PROTOCOL, write_results

from support import LlamaServer


def ledger_figures(ledger: Path) -> dict[str, Any]:
    with sqlite3.connect(ledger) as conn:
        rows = conn.execute(
            "SELECT model, COUNT(*), SUM(ok), SUM(latency_ms), SUM(prompt_tokens), SUM(completion_tokens) "
            "FROM calls GROUP BY model ORDER BY model"
        ).fetchall()
    return {
        model: {"attempts": n, "answers": ok, "latency_s": round((lat or 0) / 1000, 1), "tokens": (p or 0) + (c or 0)}
        for model, n, ok, lat, p, c in rows
    }


def screen(work: Path, name: str, records: int, extra: list[str]) -> dict[str, Any]:
    out = work / f"{name}.csv"
    command = [
        sys.executable, "-m", "winnow", "screen", str(GOLD / "records.csv"), "--protocol", str(PROTOCOL),
        "--limit", str(records), "--out", str(out), "--no-progress", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 1), "by_model": ledger_figures(work / f"{name}.ledger.sqlite")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10)
    args = parser.parse_args()
    from winnow.backends.local import bundled_gguf

    server = LlamaServer(bundled_gguf())
    try:
        server.wait_ready()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            reviewers = work / "panel.yaml"
            reviewers.write_text(
                "reviewers:\n  - {name: embedded, model: local}\n"
                f"  - {{name: served, model: 'openai:smollm2', base_url: '{server.base_url}'}}\n",
                encoding="utf-8",
            )
            served = ["-m", "openai:smollm2", "--base-url", server.base_url]
            figures = {
                "records": args.records,
                "embedded_alone": screen(work, "embedded", args.records, []),
                "served_alone": screen(work, "served", args.records, served),
                "panel_of_both": screen(work, "panel", args.records, ["--reviewers", str(reviewers)]),
            }
    finally:
        server.stop()
    single = figures["embedded_alone"]["wall_s"] + figures["served_alone"]["wall_s"]
    figures["panel_wall_over_both_alone"] = round(figures["panel_of_both"]["wall_s"] / single, 3)
    path = write_results("panel_cost", figures)
    for key in ("embedded_alone", "served_alone", "panel_of_both"):
        print(f"{key:16} {figures[key]['wall_s']:>7.1f} s  {figures[key]['by_model']}")
    print(f"panel wall / (embedded + served alone): {figures['panel_wall_over_both_alone']}  -> {path}")


if __name__ == "__main__":
    main()
