"""The 20 shared PDFs through ``winnow extract`` with the embedded model: how every value and PDF ended.

Usage: python bench/extraction_embedded.py [--pdfs DIR] [--protocol P] [--max-chunks N] [--work DIR] [--out FILE]

Runs the command a reviewer runs (``winnow extract PDFS --protocol
foundation_models_medical_imaging``, the embedded SmolLM2 by default, 3 chunks per
PDF), then reads the extraction table and the ledger: each PDF's status, every
field's evidence status, and the model calls (answered, repaired, failed, seconds).
SmolLM2-135M's values mean nothing for a review; this shows that every value ends
as "not reported" or with a quote whose check is visible, and what happened to the
PDFs that have no usable text. About an hour on 2 cores (~50-70 s a call). The
ledger in ``--work`` makes a second run free: it re-reads what is there.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import ROOT, run_winnow, scratch, write_results

SHARED_PDFS = ROOT.parent / "shared" / "data" / "pdfs"


def figures_from(table_path: Path, ledger_path: Path, form_names: list[str]) -> dict[str, Any]:
    from winnow.extraction.evidence import CONFIDENT
    from winnow.extraction.evidence_report import evidence_tally
    from winnow.screening.decisions import read_table

    table = read_table(table_path, what="extraction").astype(object).fillna("")
    rows = table.to_dict("records")
    evidence = evidence_tally(rows, form_names)
    reported = sum(n for counts in evidence.values() for s, n in counts.items() if s != "not_reported")
    confident = sum(n for counts in evidence.values() for s, n in counts.items() if s in CONFIDENT)
    with sqlite3.connect(ledger_path) as conn:
        conn.row_factory = sqlite3.Row
        calls = [dict(r) for r in conn.execute("SELECT ok, error_kind, latency_ms, completion_tokens FROM calls")]
    answered = [c for c in calls if c["ok"]]
    seconds = sorted(c["latency_ms"] / 1000 for c in answered if c["latency_ms"] is not None)
    return {
        "pdfs": len(rows),
        "pdf_status": dict(Counter(str(r["status"]) for r in rows)),
        "pdfs_without_text": {
            str(r["record_id"]): f"{r['status']}: {r['error']}" for r in rows if r["status"] not in ("ok", "partial")
        },
        "pages_left_out": {str(r["record_id"]): str(r["left_out"]) for r in rows if r["left_out"]},
        "evidence_per_field": evidence,
        "values_reported": reported,
        "values_with_verified_quote": confident,
        "values_unverified_and_flagged": reported - confident,
        "every_value_has_evidence_status": all(
            str(r[f"evidence:{f}"]) for r in rows if r["status"] in ("ok", "partial") for f in form_names
        ),
        "conflicts": int(sum(1 for r in rows if r["conflicts"])),
        "calls": len(calls),
        "calls_answered": len(answered),
        "calls_failed_by_kind": dict(Counter(c["error_kind"] for c in calls if not c["ok"])),
        "seconds_per_answer_median": round(seconds[len(seconds) // 2], 1) if seconds else None,
        "completion_tokens_per_answer_mean": round(sum(c["completion_tokens"] or 0 for c in answered) / len(answered))
        if answered
        else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", type=Path, default=SHARED_PDFS)
    parser.add_argument("--protocol", default="foundation_models_medical_imaging")
    parser.add_argument("--model", default="local")
    parser.add_argument("--max-chunks", type=int, default=None, help="chunks per PDF (default: winnow's, 3)")
    parser.add_argument("--work", type=Path, default=None, help="keep the table and ledger here (default: scratch)")
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default bench/results/NAME.json)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from winnow.protocol import load_form

    work = args.work or scratch("extraction-embedded")
    work.mkdir(parents=True, exist_ok=True)
    table = work / "extraction.csv"
    command = ["extract", str(args.pdfs), "--protocol", args.protocol, "--model", args.model, "--out", str(table)]
    if args.max_chunks is not None:
        command += ["--max-chunks", str(args.max_chunks)]
    run = run_winnow([*command, "--no-progress"])
    names = list(load_form(args.protocol).form.names)
    figures = {
        "protocol": args.protocol,
        "model": args.model,
        "this_run_wall_s": round(run["wall_s"], 1),
        "this_run_summary": run["stderr"].splitlines()[-40:],
        **figures_from(table, work / "extraction.ledger.sqlite", names),
    }
    path = write_results("extraction_embedded", figures, out=args.out)
    print(json.dumps({k: v for k, v in figures.items() if k != "this_run_summary"}, indent=2))
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
