"""``winnow runs`` on a ledger with a million calls: how long the listing takes, and what it costs.

Usage:
    python bench/runs_scale.py build [--work DIR] [--calls N]     # once (minutes; a ~1 GB ledger)
    python bench/runs_scale.py measure [--work DIR] [--repeats R]  # alone: no other job on the machine

The ledger is made through winnow's own schema (``Ledger`` applies the migrations),
then filled with plain ``sqlite3``: 40 finished screening runs of equal size, each with
its stored summary, and one run killed before it recorded its end that holds a fifth of
all calls (``winnow runs`` must count that one from the calls table). Each call row
carries a ~700-character prompt and a ~250-character answer, so the file has the size of
a real ledger of that many calls. The measure step times whole commands as a reviewer
types them (``python -m winnow ...``, interpreter start included), warm page cache.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from pathlib import Path

from benchlib import ROOT, run_winnow, write_results

FINISHED_RUNS = 40
PROMPT = json.dumps([{"role": "system", "content": "x" * 400}, {"role": "user", "content": "y" * 260}])
ANSWER = json.dumps({"criteria": {"I1": {"verdict": "met", "reason": "z" * 120}}, "rationale": "r" * 60,
                     "decision": "include"})  # fmt: skip


def _summary(run_id: str, records: int) -> str:
    return json.dumps({
        "run_id": run_id, "model": "openai:gpt-4o-mini", "served_model": "gpt-4o-mini-2024-07-18",
        "records": records, "skipped": [], "duplicate_groups": [], "counts": {"include": records // 5,
        "exclude": records - records // 5, "uncertain": 0, "error": 0},
        "stats": {"calls": records, "retried": 0, "failed_attempts": 0, "repairs": 0, "cached": 0, "errors": 0,
                  "prompt_tokens": 900 * records, "completion_tokens": 90 * records, "cached_tokens": 0,
                  "cost_usd": 0.000189 * records, "errors_by_kind": {}, "crashes": 0, "first_crash": None},
        "outputs": {"decisions": f"{run_id}.csv", "ledger": "big.ledger.sqlite"}, "interrupted": False,
        "undecided": [], "warnings": [], "evidence": {}, "stopped": None,
    })  # fmt: skip


def build(work: Path, total: int) -> dict[str, object]:
    sys.path.insert(0, str(ROOT))
    from winnow.ledger import Ledger

    work.mkdir(parents=True, exist_ok=True)
    path = work / "big.ledger.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    Ledger(path).close()  # the schema, through the migrations
    killed = total // 5
    per_run = (total - killed) // FINISHED_RUNS
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    columns = ("run_id, stage, record_id, record_sha256, template_name, template_sha256, model, served_model,"
               " params_json, cache_key, prompt_json, raw_response, parsed_json, ok, attempt, prompt_tokens,"
               " completion_tokens, latency_ms, cost_usd, created_at")  # fmt: skip
    sql = f"INSERT INTO calls ({columns}) VALUES ({', '.join('?' * 20)})"
    runs = [(f"2026010{1 + i // 10}T{i % 10:02d}0000-{i:06x}", per_run, True) for i in range(FINISHED_RUNS)]
    runs.append(("20260110T000000-killed", killed, False))
    argv = ["winnow", "screen", "records.csv", "-p", "protocol.yaml", "-m", "openai:gpt-4o-mini"]
    for run_id, n, finished in runs:
        stamp = f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:00:00.000+00:00"
        conn.execute(
            "INSERT INTO runs (run_id, command, argv, started_at, finished_at, status, model, template_name,"
            " template_sha256, protocol_sha256, params_json, input_path, n_records, summary_json, winnow_version, cwd)"
            " VALUES (?, 'screen', ?, ?, ?, ?, 'openai:gpt-4o-mini', 'screen_title_abstract', ?, ?, ?, 'records.csv',"
            " ?, ?, '0.1.0', '/tmp')",
            (run_id, json.dumps(argv), stamp, stamp if finished else None, "finished" if finished else "running",
             "t" * 64, "p" * 64, json.dumps({"sampling": {"temperature": 0.0}}), n + (0 if finished else n // 4),
             _summary(run_id, n) if finished else None),
        )  # fmt: skip
        for start in range(0, n, 20_000):
            batch = [
                (run_id, "screen", f"r{k}", "h" * 64, "screen_title_abstract", "t" * 64, "openai:gpt-4o-mini",
                 "gpt-4o-mini-2024-07-18", "{}", f"{run_id}-{k}", PROMPT, ANSWER, ANSWER, 1, 1, 900, 90, 800.0,
                 0.000189, stamp)
                for k in range(start, min(n, start + 20_000))
            ]  # fmt: skip
            conn.executemany(sql, batch)
        conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    calls = conn.execute("SELECT count(*) FROM calls").fetchone()[0]
    conn.close()
    return {"calls": calls, "runs": len(runs), "build_s": round(time.perf_counter() - started, 1),
            "ledger_mib": round(path.stat().st_size / 2**20, 1)}  # fmt: skip


def measure(work: Path, repeats: int) -> dict[str, object]:
    path = work / "big.ledger.sqlite"
    commands = {
        "runs": ["runs", str(path)],
        "runs --json -n 0": ["runs", str(path), "--json", "-n", "0"],
        "runs show (killed run, 200k calls counted)": ["runs", "show", "20260110T000000-killed", str(path)],
        "methods": ["methods", str(path)],
        "--version (interpreter and CLI start)": ["--version"],
    }
    figures: dict[str, object] = {}
    for name, args in commands.items():
        walls = [run_winnow(args)["wall_s"] for _ in range(repeats)]
        figures[name] = {"median_s": round(statistics.median(walls), 3), "max_s": round(max(walls), 3),
                         "each_s": [round(w, 3) for w in walls]}  # fmt: skip
        print(f"{name:45} median {statistics.median(walls):6.2f} s  max {max(walls):6.2f} s")
    listed = json.loads(run_winnow(["runs", str(path), "--json", "-n", "0"])["stdout"])
    killed = next(r for r in listed if r["run_id"].endswith("killed"))
    return {"timings": figures, "runs_listed": len(listed), "killed_run": {k: killed[k] for k in
            ("state", "calls_made", "left", "left_note", "resume")}}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["build", "measure"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/winnow-bench-runs"))
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.step == "build":
        built = build(args.work, args.calls)
        (args.work / "built.json").write_text(json.dumps(built), encoding="utf-8")
        print(json.dumps(built))
        return 0
    built = (args.work / "built.json").read_text() if (args.work / "built.json").exists() else "{}"
    result = measure(args.work, args.repeats)
    figures = {"ledger": json.loads(built), **result, "target": "winnow runs under 5 s on 1,000,000 calls"}
    write_results("runs_scale", figures, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
