"""Benchmark 5: tokens per record for the default template, against the floor; prompt caching.

Usage: python bench/tokens.py [--records 200] [--out FILE]

Screens N records against the benchmark server (which counts tokens as
characters/4 and reports cached tokens from a simulated prefix cache, as OpenAI
does in ``prompt_tokens_details``), then reads the ledger: prompt, completion and
cached tokens per call. The floor is the record's own text plus the criteria, at
the same four characters per token. The same records are first estimated with
``winnow screen --dry-run`` to compare its estimate with what was reported.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import statistics
import sys
from pathlib import Path
from typing import Any

from benchlib import PROTOCOL, fake_server, make_records, run_winnow, scratch, write_results
from overhead import screen_args

CHARS_PER_TOKEN = 4


def floor_tokens(records: Path) -> dict[str, float]:
    """The record's fenced text plus the criteria: what any prompt must carry."""
    from winnow.protocol import load_protocol
    from winnow.records import read_records
    from winnow.screening.screen import render_criteria, render_record

    protocol = load_protocol(PROTOCOL).protocol
    criteria = len(render_criteria(protocol)) / CHARS_PER_TOKEN
    per_record = {
        r.record_id: len(render_record(r)) / CHARS_PER_TOKEN + criteria for r in read_records(records).records
    }
    return per_record


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    work = scratch("tokens")
    records = make_records(work / "records.csv", args.records)
    out = work / "decisions.csv"
    with fake_server() as base_url:
        command = screen_args(records, out, base_url, concurrency=1)
        dry = run_winnow([*command, "--dry-run"])
        run_winnow(command)
    with sqlite3.connect(work / "decisions.ledger.sqlite") as conn:
        rows = conn.execute(
            "SELECT record_id, prompt_tokens, completion_tokens, cached_tokens, prompt_json FROM calls WHERE ok = 1"
        ).fetchall()
    floor = floor_tokens(records)
    prompt = [r[1] for r in rows]
    completion = [r[2] for r in rows]
    cached = [r[3] or 0 for r in rows]
    systems = {json.loads(r[4])[0]["content"] for r in rows}
    ratio = [r[1] / floor[r[0]] for r in rows]
    estimated = re.search(r"~([\d,]+) \(~([\d,]+) per call", dry["stdout"])
    figures = {
        "records": len(rows),
        "prompt_tokens_per_call": round(statistics.fmean(prompt), 1),
        "completion_tokens_per_call": round(statistics.fmean(completion), 1),
        "floor_tokens_per_call": round(statistics.fmean(floor[r[0]] for r in rows), 1),
        "prompt_over_floor": round(statistics.fmean(ratio), 3),
        "cached_tokens_per_call": round(statistics.fmean(cached), 1),
        "cached_share_of_prompt": round(sum(cached) / sum(prompt), 3),
        "distinct_system_messages": len(systems),
        "dry_run_prompt_tokens_per_call": int(estimated.group(2).replace(",", "")) if estimated else None,
        "dry_run_stdout": dry["stdout"],
        "note": "tokens are characters/4 on both sides (the benchmark server counts that way)",
    }
    path = write_results("tokens", figures, out=args.out)
    print(
        f"prompt {figures['prompt_tokens_per_call']} (floor {figures['floor_tokens_per_call']}, "
        f"x{figures['prompt_over_floor']}), completion {figures['completion_tokens_per_call']}, "
        f"cached {figures['cached_tokens_per_call']} ({figures['cached_share_of_prompt']:.0%} of prompt); "
        f"{len(systems)} distinct system message(s); dry run said {figures['dry_run_prompt_tokens_per_call']}/call"
    )
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
