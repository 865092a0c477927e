"""``winnow synthesise`` on the hand-labelled extraction gold, every count and CI checked independently.

Usage: python bench/synthesis_gold.py [--work DIR] [--out FILE]

The nine papers of ``gold/pdf_extraction_sample/gold.jsonl`` use two forms; each
form's papers become an extraction table (a value with a human-checked quote is
``verified``, a null value ``not_reported``), ``winnow synthesise`` runs on it with
that form, and every count, share and Wilson interval is compared with a count made
here straight from the JSON lines (``collections.Counter``) and statsmodels'
``proportion_confint(method="wilson")``. Seconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import ROOT, run_winnow, write_results

GOLD = ROOT / "gold" / "pdf_extraction_sample"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def write_table(lines: list[dict[str, Any]], path: Path) -> None:
    names = list(dict.fromkeys(n for line in lines for n in line["fields"]))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "status", *(c for n in names for c in (f"field:{n}", f"evidence:{n}"))])
        for line in lines:
            cells = []
            for n in names:
                value = line["fields"].get(n, {}).get("value")
                cells += [_cell(value), "not_reported" if value is None else "verified"]
            writer.writerow([line["file"], "ok", *cells])


def independent(lines: list[dict[str, Any]], form: dict[str, Any]) -> list[dict[str, Any]]:
    from statsmodels.stats.proportion import proportion_confint

    expected = []
    for spec in form["fields"]:
        kind = spec["type"]
        if kind not in ("categorical", "boolean"):
            continue
        values = [line["fields"][spec["name"]]["value"] for line in lines if spec["name"] in line["fields"]]
        values = [("true" if v else "false") if isinstance(v, bool) else v for v in values if v is not None]
        counts = Counter(values)
        categories = spec.get("allowed_values") or ["true", "false"]
        for category in categories:
            low, high = proportion_confint(counts[category], len(values), method="wilson")
            expected.append(
                {
                    "field": spec["name"],
                    "category": category,
                    "papers": counts[category],
                    "of": len(values),
                    "ci_low": round(low, 4),
                    "ci_high": round(high, 4),
                }
            )
    return expected


def main(argv: list[str] | None = None) -> int:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/winnow-bench-synthesis-gold"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    lines = [json.loads(t) for t in (GOLD / "gold.jsonl").read_text(encoding="utf-8").splitlines() if t.strip()]
    figures: dict[str, Any] = {}
    mismatches = 0
    for form_name in sorted({line["form"] for line in lines}):
        form_path = GOLD / f"{form_name}.yaml"
        form = yaml.safe_load(form_path.read_text(encoding="utf-8"))
        mine = [line for line in lines if line["form"] == form_name]
        table = args.work / f"{form_name}.csv"
        write_table(mine, table)
        out = args.work / form_name
        run = run_winnow(["synthesise", str(table), "-p", str(form_path), "-o", str(out), "--json"])
        data = json.loads(run["stdout"])
        got = {(r["field"], r["category"]): r for r in data["counts"]}
        checked = 0
        for want in independent(mine, form):
            row = got.get((want["field"], want["category"]))
            same = row is not None and all(row[k] == want[k] for k in ("papers", "of", "ci_low", "ci_high"))
            if not same:
                mismatches += 1
                print(f"MISMATCH {form_name} {want} != {row}", file=sys.stderr)
            checked += 1
        figures[form_name] = {
            "papers": len(mine),
            "category_rows_checked": checked,
            "counts": data["counts"],
            "trends": data["trends"],
            "top_names": data["top_names"][:10],
            "merges": data["merges"],
            "files": sorted(p.name for p in out.iterdir()),
            "wall_s": round(run["wall_s"], 2),
        }
        print(f"{form_name}: {len(mine)} papers, {checked} category rows checked against Counter + statsmodels")
    figures["mismatches"] = mismatches
    write_results("synthesis_gold", figures, out=args.out)
    print(f"mismatches: {mismatches}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
