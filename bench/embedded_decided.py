"""Benchmark 10: how many gold records the embedded model decides, and what happens to the rest.

Usage: python bench/embedded_decided.py [--records 50] [--out FILE]

``winnow screen`` with the bundled SmolLM2-135M on the first N records of the
Dennstaedt gold set, through the CLI in its own process. A 135M model sometimes
cannot produce a valid answer even after repairs; such a record must end as an
error with its cause, never vanish. The figure is the share decided, with every
undecided record's cause; a re-run of the finished command must ask the model
again only for those. tests/test_backend_local.py checks the same things on 8
records; this is the 50-record figure it used to take ~13 minutes of the suite to
measure. SmolLM2's decisions mean nothing for a review: this measures the
pipeline, not the judgement.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

from benchlib import GOLD, PROTOCOL, run_winnow, scratch, write_results

TARGET_DECIDED = 0.9  # the bar the 50-record test held the model to (45 of 50)


def ledger_figures(ledger: Path) -> dict[str, int]:
    with sqlite3.connect(ledger) as conn:
        ok, failed = conn.execute("SELECT sum(ok = 1), sum(ok = 0) FROM calls").fetchone()
        keys = conn.execute("SELECT count(DISTINCT cache_key) FROM calls WHERE ok = 1").fetchone()[0]
    return {"answers": int(ok or 0), "invalid_or_failed_calls": int(failed or 0), "distinct_answered_keys": keys}


def summarise(table: Any) -> dict[str, Any]:
    """Decided and undecided records, and what the decided ones carry."""
    errors = table[table["decision"] == "error"]
    decided = table[table["decision"] != "error"]
    p = decided["p_include"].astype(float)
    return {
        "records": len(table),
        "decided": len(decided),
        "decided_share": round(len(decided) / len(table), 3) if len(table) else None,
        "errors": len(errors),
        "errors_without_cause": int((errors["error"].str.strip() == "").sum()),
        "error_causes": sorted(errors["error"].str.slice(0, 160)),
        "decisions": {str(k): int(v) for k, v in decided["decision"].value_counts().items()},
        "confidence_sources": sorted(set(decided["confidence_source"])),
        "p_include_in_0_1": bool(((p >= 0) & (p <= 1)).all()),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from winnow.screening.decisions import read_decisions

    work = scratch("embedded-decided")
    out = work / "decisions.csv"
    command = ["screen", str(GOLD / "records.csv"), "--protocol", str(PROTOCOL), "--limit", str(args.records)]
    command += ["--out", str(out), "--no-progress"]
    first = run_winnow(command)
    figures = summarise(read_decisions(out))
    figures.update(ledger_figures(work / "decisions.ledger.sqlite"))
    figures["wall_s"] = round(first["wall_s"], 1)
    figures["seconds_per_record"] = round(first["wall_s"] / args.records, 1)
    rerun = run_winnow(command)
    after = ledger_figures(work / "decisions.ledger.sqlite")
    figures["rerun_new_calls"] = after["answers"] + after["invalid_or_failed_calls"]
    figures["rerun_new_calls"] -= figures["answers"] + figures["invalid_or_failed_calls"]
    figures["rerun_wall_s"] = round(rerun["wall_s"], 1)
    figures["target_decided_share"] = TARGET_DECIDED
    path = write_results("embedded_decided", figures, out=args.out)
    print(
        f"{figures['decided']}/{figures['records']} decided ({figures['decided_share']:.0%}, target "
        f"{TARGET_DECIDED:.0%}); {figures['errors']} error(s), {figures['errors_without_cause']} without a cause; "
        f"{figures['seconds_per_record']} s per record; the re-run made {figures['rerun_new_calls']} new call(s)"
    )
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
