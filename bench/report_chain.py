"""The real chain behind ``winnow methods`` and ``winnow report``, with every number checked independently.

Usage: python bench/report_chain.py [--work DIR] [--out FILE] [--model-steps-only]

Six records of the Dennstädt gold set (five includes, one exclude) are screened on
title and abstract by the embedded model (SmolLM2-135M) as a panel of one model asked
twice (``--samples 2 --temperature 0.7``). The gold labels then serve as the validation
labels (``winnow validate --labels``, every record read), as the calibration set of
``winnow decide --calibrate`` (a 70 % recall target at 70 % confidence: five includes cannot
certify more), and as a reviewer's verdicts on the disagreements (``winnow audit
--import-verdicts``). Two shared PDFs, named after two gold includes, go through
``winnow screen --full-text`` and ``winnow extract`` (``--max-chunks 1``); ``winnow prisma``
and ``winnow synthesise`` finish the review. Then ``winnow methods`` and ``winnow report``
are run, and every number in the methods text and on the page is compared with a count
made here from the ledgers and tables with ``sqlite3`` and ``csv`` only (no winnow code).
The small model's decisions mean nothing for a review; the point is that every number
follows the ledgers. The ledgers in ``--work`` make a re-run free of model calls.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sqlite3
import sys
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from benchlib import ROOT, run_winnow, write_results

GOLD = ROOT / "gold" / "dennstaedt_2024_cdss_ro"
PDFS = ROOT.parent / "shared" / "data" / "pdfs"
SHARED_PDFS = ("arxiv_1505.04597_U-Net_biomedical_segmentation.pdf", "arxiv_1409.1556_VGG.pdf")
EXTRACTION_YAML = """
extraction:
  name: chain_form
  fields:
    - name: model_type
      type: one_of
      categories: [cnn, transformer, other]
      description: The main kind of neural network the paper proposes or uses.
    - name: imaging_modality
      type: many_of
      categories: [radiography, ct, mri, microscopy, natural_images, other]
      description: Kinds of images the model is trained or evaluated on.
    - name: datasets
      type: list
      description: Names of the datasets used, as written in the paper.
"""


def write_inputs(work: Path) -> dict[str, object]:
    """Records, protocol, gold labels and PDFs for the chain; returns what was chosen."""
    with (GOLD / "records.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    includes = [r for r in rows if r["label_included"] in ("1", "include", "true")][:5]
    excludes = [r for r in rows if r["label_included"] in ("0", "exclude", "false")][:1]
    chosen = includes + excludes
    with (work / "records.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["record_id", "title", "abstract"])
        writer.writeheader()
        for r in chosen:
            writer.writerow({"record_id": r["record_id"], "title": r["title"], "abstract": r["abstract"]})
    with (work / "gold.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "label"])
        for r in chosen:
            writer.writerow([r["record_id"], "include" if r in includes else "exclude"])
    protocol = (GOLD / "protocol.yaml").read_text(encoding="utf-8").split("\nnotes:")[0]
    (work / "protocol.yaml").write_text(protocol.rstrip() + "\n" + EXTRACTION_YAML, encoding="utf-8")
    pdfs = work / "pdfs"
    pdfs.mkdir(exist_ok=True)
    named = {}
    for record, name in zip(includes, SHARED_PDFS, strict=False):
        target = pdfs / f"{record['record_id']}.pdf"
        if not target.exists():
            shutil.copy(PDFS / name, target)
        named[record["record_id"]] = name
    return {
        "includes": [r["record_id"] for r in includes],
        "excludes": [r["record_id"] for r in excludes],
        "pdfs": named,
    }


def model_steps(work: Path, timings: dict[str, float]) -> None:
    """The three steps that ask the embedded model; a re-run answers from the ledgers."""
    p = ["-p", str(work / "protocol.yaml"), "--no-progress"]
    screen = [
        "screen",
        str(work / "records.csv"),
        *p,
        "--samples",
        "2",
        "--temperature",
        "0.7",
        "-o",
        str(work / "decisions.csv"),
    ]
    timings["screen_s"] = run_winnow(screen)["wall_s"]
    chunks = ["--max-chunks", "1", "--chunk-tokens", "600"]
    full = ["screen", str(work / "pdfs"), "--full-text", *p, *chunks, "-o", str(work / "fulltext.csv")]
    timings["full_text_s"] = run_winnow(full)["wall_s"]
    extract = ["extract", str(work / "pdfs"), *p, *chunks, "-o", str(work / "extraction.csv")]
    timings["extract_s"] = run_winnow(extract)["wall_s"]


def human_steps(work: Path, gold: dict[str, str]) -> None:
    """Validation, the calibrated threshold and a reviewer's verdicts, through the CLI as a reviewer types them."""
    decisions = work / "decisions.csv"
    done = {row[0] for row in sql(work / "decisions.ledger.sqlite", "SELECT DISTINCT command FROM runs")}
    if {"validate", "decide"} <= done:  # a re-run of the bench does not repeat the human steps
        return
    run_winnow(["validate", str(decisions), "--labels", str(work / "gold.csv"), "--sample", str(len(gold)),
                "--seed", "11", "--who", "bench_reviewer"])  # fmt: skip
    run_winnow(["decide", str(decisions), "--calibrate", str(work / "gold.csv"), "--recall-target", "0.7",
                "--confidence", "0.7"])  # fmt: skip
    # A reviewer settles the records the model and the labels disagree on, in the run's own table
    # (the model's uncertain records) and in the decided one, as `winnow audit --import-verdicts` stores them.
    for table in (decisions, work / "decisions.decided.csv"):
        disagreements = [r["record_id"] for r in rows_of(table) if r["decision"] != gold[r["record_id"]]]
        ledger = table.with_name(f"{table.stem}.ledger.sqlite")
        done = set()
        if ledger.is_file():
            with sqlite3.connect(ledger) as conn:
                key = table.name
                done = {row[0] for row in conn.execute("SELECT record_id FROM adjudications WHERE decisions_path = ?",
                                                       (key,))}  # fmt: skip
        todo = [rid for rid in disagreements if rid not in done]
        if todo:
            verdicts = work / f"{table.stem}.verdicts.csv"
            verdicts.write_text("record_id,verdict,note\n" + "".join(f"{rid},gold,bench\n" for rid in todo), "utf-8")
            run_winnow(["audit", str(table), "--gold", str(work / "gold.csv"), "--import-verdicts", str(verdicts),
                        "--who", "bench_adjudicator"])  # fmt: skip


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def sql(db: Path, query: str) -> list[sqlite3.Row]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(query))


# -- the independent count ------------------------------------------------------------------------


def independent(work: Path, gold: dict[str, str]) -> dict[str, Any]:
    """Every figure the methods text and the page show, counted from the files with csv and sqlite3 only."""
    out: dict[str, Any] = {"runs": {}}
    for db in sorted(work.glob("*.sqlite")):
        for run in sql(db, "SELECT * FROM runs ORDER BY started_at"):
            summary = json.loads(run["summary_json"] or "null") or {}
            stats = summary.get("stats") or {}
            calls, reused = stats.get("calls"), stats.get("cached")
            prompt, completion = stats.get("prompt_tokens"), stats.get("completion_tokens")
            if not summary and run["command"] in ("screen", "screen --full-text", "extract"):
                # A run that never recorded its end: its own call rows are all there is to count.
                rows = sql(db, f"SELECT * FROM calls WHERE run_id = '{run['run_id']}'")
                calls, reused = len(rows), None
                prompt = sum(r["prompt_tokens"] or 0 for r in rows)
                completion = sum(r["completion_tokens"] or 0 for r in rows)
            out["runs"][run["run_id"]] = {
                "command": run["command"], "records": run["n_records"], "calls": calls, "reused": reused,
                "prompt_tokens": prompt, "completion_tokens": completion, "summary": summary,
                "params": json.loads(run["params_json"] or "null") or {},
            }  # fmt: skip
    decided = rows_of(work / "decisions.decided.csv")
    adjudications = work / "decisions.decided.ledger.sqlite"  # written only when there was a verdict to store
    verdicts = (
        {r["record_id"]: r["final_label"] for r in sql(adjudications, "SELECT * FROM adjudications ORDER BY 1")}
        if adjudications.is_file()
        else {}
    )
    final = {r["record_id"]: verdicts.get(r["record_id"], r["decision"]) for r in decided}
    sought = [rid for rid, d in final.items() if d != "exclude"]
    fulltext = {r["record_id"].removesuffix(".pdf"): r for r in rows_of(work / "fulltext.csv")}
    status = {r["record_id"].removesuffix(".pdf"): r["pdf_status"] for r in rows_of(work / "extraction.csv")}
    unreadable = {rid for rid, row in fulltext.items() if status.get(rid, "ok") not in ("ok", "partial")
                  or (row["decision"] == "error" and not row["error"].startswith("pages "))}  # fmt: skip
    assessed = [rid for rid in sought if rid in fulltext and rid not in unreadable]
    out["prisma"] = {
        "identified": len(rows_of(work / "records.csv")), "duplicates_removed": 0, "removed_other": 0,
        "screened": len(decided), "excluded": sum(d == "exclude" for d in final.values()), "sought": len(sought),
        "not_retrieved": len(sought) - len(assessed), "assessed": len(assessed),
        "reports_excluded": sum(fulltext[r]["decision"] == "exclude" for r in assessed),
        "included": sum(fulltext[r]["decision"] == "include" for r in assessed),
    }  # fmt: skip
    # Agreement of the decided table with the validation labels in force (uncertain and error count as include).
    sample = sql(work / "decisions.ledger.sqlite", "SELECT sample_id FROM validation_samples ORDER BY rowid")[-1][0]
    labels = {r["record_id"]: r["answer"] for r in sql(work / "decisions.ledger.sqlite",
              f"SELECT * FROM validation_labels WHERE sample_id = '{sample}' ORDER BY label_id")}  # fmt: skip
    model = {r["record_id"]: r["decision"] for r in decided}
    said = {rid: ("exclude" if model[rid] == "exclude" else "include") for rid in labels}
    out["confusion"] = {
        "TP": sum(said[r] == "include" and labels[r] == "include" for r in labels),
        "FP": sum(said[r] == "include" and labels[r] == "exclude" for r in labels),
        "FN": sum(said[r] == "exclude" and labels[r] == "include" for r in labels),
        "TN": sum(said[r] == "exclude" and labels[r] == "exclude" for r in labels),
    }
    out["audit_records"] = sorted(r for r in labels if model[r] in ("uncertain", "error") or said[r] != labels[r])
    out["labels_by_who"] = dict(Counter(r["who"] for r in sql(work / "decisions.ledger.sqlite",
                                f"SELECT * FROM validation_labels WHERE sample_id = '{sample}'")))  # fmt: skip
    settled: dict[str, dict[str, str]] = {}
    for db in sorted(work.glob("*.sqlite")):
        for r in sql(db, "SELECT * FROM adjudications ORDER BY adjudication_id"):
            settled.setdefault(r["decisions_path"], {})[r["record_id"]] = r["final_label"]
    out["adjudicated"] = {table: len(records) for table, records in settled.items()}
    extraction = rows_of(work / "extraction.csv")
    fields = [c.split(":", 1)[1] for c in extraction[0] if c.startswith("field:")]
    out["evidence_rows"] = sum(
        1 for row in extraction for f in fields
        if row.get(f"field:{f}") or row.get(f"evidence:{f}", "") not in ("", "not_reported")
    )  # fmt: skip
    verified = {(row["record_id"], f) for row in extraction for f in fields
                if row.get(f"field:{f}") and row.get(f"evidence:{f}") in ("verified", "verified_fuzzy")}  # fmt: skip
    out["verified_values"] = len(verified)
    return out


# -- reading the page back ---------------------------------------------------------------------------


class Tables(HTMLParser):
    """Cell texts of every table with an id, row by row (stdlib only)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current: str | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.sections: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "section" and attr.get("id"):
            self.sections.append(str(attr["id"]))
        if tag == "table" and attr.get("id"):
            self.current = str(attr["id"])
            self.tables[self.current] = []
        elif tag == "tr" and self.current:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.current and self.row is not None:
            self.tables[self.current].append(self.row)
            self.row = None
        elif tag == "table":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


NUMBER = re.compile(r"(?<![\w.:-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?(?![\w-])")


def check_page(html: str, truth: dict[str, Any]) -> dict[str, Any]:
    """Every number in the page's runs, agreement, audit, validation, PRISMA and evidence tables, against the count."""
    parsed = Tables()
    parsed.feed(html)
    t = parsed.tables
    mismatches: dict[str, Any] = {}
    checked = 0
    for row in t["runs-table"][1:]:
        run_id = row[0].split()[-1]
        want = truth["runs"][run_id]
        for index, key in ((3, "records"), (4, "calls"), (5, "reused")):
            got = row[index]
            expected = "" if want[key] is None else str(want[key])
            checked += 1
            if got != expected:
                mismatches[f"runs {run_id} {key}"] = (got, expected)
        if want["prompt_tokens"] is not None:
            checked += 1
            tokens = f"{want['prompt_tokens']:,} / {want['completion_tokens']:,}"
            if row[6] != tokens:
                mismatches[f"runs {run_id} tokens"] = (row[6], tokens)
    confusion = {cell.split()[0]: int(cell.split()[1]) for row in t["confusion"][1:] for cell in row[1:]}
    for key, value in truth["confusion"].items():
        checked += 1
        if confusion[key] != value:
            mismatches[f"confusion {key}"] = (confusion[key], value)
    audit = sorted(row[2] for row in t.get("audit-table", [])[1:])
    checked += 1
    if audit != truth["audit_records"]:
        mismatches["audit records"] = (audit, truth["audit_records"])
    labelled = sum(int(row[2]) for row in t["validation-strata"][1:])
    checked += 1
    if labelled != sum(truth["labels_by_who"].values()):
        mismatches["validation labelled"] = (labelled, sum(truth["labels_by_who"].values()))
    boxes = {row[1]: int(row[2]) for row in t["prisma-table"][1:]}
    names = {"records screened": "screened", "records excluded": "excluded", "reports sought": "sought",
             "reports not retrieved": "not_retrieved", "reports assessed": "assessed",
             "reports excluded": "reports_excluded", "studies included": "included",
             "duplicates removed": "duplicates_removed", "removed, other reasons": "removed_other"}  # fmt: skip
    for box, key in names.items():
        checked += 1
        if boxes.get(box) != truth["prisma"][key]:
            mismatches[f"prisma {key}"] = (boxes.get(box), truth["prisma"][key])
    evidence = len(t.get("evidence-table", [])[1:])
    checked += 1
    if evidence != truth["evidence_rows"]:
        mismatches["evidence rows"] = (evidence, truth["evidence_rows"])
    return {"checked": checked, "mismatches": mismatches, "sections": parsed.sections}


def check_methods(methods: dict[str, Any], truth: dict[str, Any]) -> dict[str, Any]:
    """The figures each paragraph must state, and no number in the prose that the count does not hold."""
    text = {p["key"]: p["text"] for p in methods["paragraphs"]}
    runs = truth["runs"]
    expected: list[tuple[str, str]] = []
    by_command: dict[str, list[dict[str, Any]]] = {}
    for run in runs.values():
        by_command.setdefault(run["command"], []).append(run)
    for key, command in (("title_abstract", "screen"), ("full_text", "screen --full-text"),
                         ("extraction", "extract")):  # fmt: skip
        done = [r for r in by_command.get(command, []) if r["calls"] is not None]
        if done:
            calls = sum(r["calls"] for r in done)
            expected.append((key, f"made {calls:,} model calls"))
            expected.append((key, f"{done[-1]['records']:,}"))
    p = truth["prisma"]
    expected += [
        ("prisma", f"Of {p['identified']:,} records identified"),
        ("prisma", f"{p['screened']:,} records were screened and {p['excluded']:,} excluded"),
        ("prisma", f"{p['sought']:,} reports were sought and {p['not_retrieved']:,} not retrieved"),
        ("prisma", f"{p['assessed']:,} were assessed in full text and {p['reports_excluded']:,} excluded"),
        ("prisma", f"leaving {p['included']:,} studies included"),
    ]
    expected += [("human", f"Disagreements in {t} were") for t in truth["adjudicated"]]
    expected += [("human", f"settled {n} records") for n in truth["adjudicated"].values()]
    for who, n in truth["labels_by_who"].items():
        expected.append(("validation", f"{who} ({n} records)"))
    missing = [(k, phrase) for k, phrase in expected if phrase not in text.get(k, "")]
    return {"checked": len(expected), "missing": missing, "paragraphs": list(text)}


DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
CITATIONS = ("Cochran 1977", "Wright 1991", "Pearson 1934", "Frieder 2021")


def _numbers(value: Any, out: set[str]) -> None:
    """Every way the text may print a number the ledgers hold: 12,340; 0.7; 60.0%; 95%."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        out.update({str(value), f"{value:,}"})
    elif isinstance(value, float):
        out.update({f"{value:g}", f"{value:.1f}", f"{value:.4f}", f"{value:.6g}", f"{100 * value:.1f}%",
                    f"{100 * value:g}%"})  # fmt: skip
    elif isinstance(value, dict):
        for item in value.values():
            _numbers(item, out)
        _numbers(len(value), out)
    elif isinstance(value, list):
        for item in value:
            _numbers(item, out)
        _numbers(len(value), out)


def stray_numbers(methods: dict[str, Any], work: Path, truth: dict[str, Any]) -> list[str]:
    """Numbers in the methods prose that neither a ledger row nor the independent count holds."""
    allowed: set[str] = set()
    idents: set[str] = set()
    for db in sorted(work.glob("*.sqlite")):
        for run in sql(db, "SELECT * FROM runs"):
            idents.update(filter(None, (run["run_id"], run["winnow_version"], (run["protocol_sha256"] or "")[:12])))
            for column in ("summary_json", "params_json"):
                _numbers(json.loads(run[column] or "null"), allowed)
            _numbers(run["n_records"], allowed)
        for call in sql(db, "SELECT DISTINCT model, served_model, template_sha256 FROM calls"):
            idents.update(filter(None, (call["model"], call["served_model"], call["template_sha256"][:12])))
    _numbers({k: v for k, v in truth.items() if k != "runs"}, allowed)
    for command in ("screen", "screen --full-text", "extract"):  # a stage's totals over its runs
        runs = [r for r in truth["runs"].values() if r["command"] == command]
        for key in ("calls", "reused", "prompt_tokens", "completion_tokens"):
            _numbers(sum(r[key] or 0 for r in runs), allowed)
    evidence = Counter()
    extracts = [run for run in truth["runs"].values() if run["command"] == "extract" and run["summary"]]
    for counts in (extracts[-1]["summary"].get("evidence") or {}).values() if extracts else ():
        evidence.update(counts)
    reported = sum(n for k, n in evidence.items() if k not in ("not_reported", "conflict"))
    verified = evidence["verified"] + evidence["verified_fuzzy"]
    _numbers([reported, verified, evidence["wrong_page"] + evidence["not_found"] + evidence["no_quote"]], allowed)
    if reported:
        _numbers(verified / reported, allowed)
    prose = " ".join(p["text"] for p in methods["paragraphs"])
    for ident in sorted(idents, key=len, reverse=True):
        prose = prose.replace(ident, " ")
    for citation in CITATIONS:
        prose = prose.replace(citation, " ")
    prose = DATE.sub(" ", prose)
    return sorted({n for n in NUMBER.findall(prose) if n not in allowed})


def screenshot(html: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(html.as_uri())
        page.screenshot(path=str(out), full_page=False)
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/winnow-bench-report-chain"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--model-steps-only", action="store_true")
    parser.add_argument(
        "--skip-model-steps", action="store_true", help="Use the tables and ledgers in --work as they are."
    )
    parser.add_argument("--screenshot", type=Path, default=None, help="Save a screenshot of the page (PNG).")
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    chosen = write_inputs(work)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    if not args.skip_model_steps:
        model_steps(work, timings)
        timings["model_steps_s"] = round(time.perf_counter() - start, 1)
    if args.model_steps_only:
        print(json.dumps({"chosen": chosen, "timings": timings}))
        return 0
    gold = {r["record_id"]: r["label"] for r in rows_of(work / "gold.csv")}
    human_steps(work, gold)
    prisma = json.loads(run_winnow(["prisma", "--screen", str(work / "decisions.decided.csv"), "--full-text",
                                    str(work / "fulltext.csv"), "--extract", str(work / "extraction.csv"),
                                    "--records", str(work / "records.csv"), "-p", str(work / "protocol.yaml"),
                                    "--out", str(work / "prisma.svg"), "--json"])["stdout"])  # fmt: skip
    run_winnow(["synthesise", str(work / "extraction.csv"), "-p", str(work / "protocol.yaml"), "--out",
                str(work / "synthesis"), "--include-unverified"])  # fmt: skip
    methods_run = run_winnow(["methods", str(work), "--out", str(work / "methods.md")])
    methods = json.loads(run_winnow(["methods", str(work), "--json"])["stdout"])
    report_run = run_winnow(["report", str(work), "--out", str(work / "review.html")])
    truth = independent(work, gold)
    page = check_page((work / "review.html").read_text(encoding="utf-8"), truth)
    text = check_methods(methods, truth)
    text["stray_numbers"] = stray_numbers(methods, work, truth)
    prisma_mismatch = {k: (prisma["counts"][k], v) for k, v in truth["prisma"].items() if prisma["counts"][k] != v}
    if args.screenshot:
        screenshot(work / "review.html", args.screenshot)
    calls = {db.name: [dict(r) for r in sql(db, "SELECT stage, ok, round(latency_ms / 1000) AS s FROM calls")]
             for db in sorted(work.glob("*.sqlite"))}  # fmt: skip
    figures = {
        "model": "local (SmolLM2-135M, embedded)",
        "chosen": chosen,
        "timings_s_this_run": timings,
        "methods_s": round(methods_run["wall_s"], 2),
        "report_s": round(report_run["wall_s"], 2),
        "report_bytes": (work / "review.html").stat().st_size,
        "independent_count": {k: v for k, v in truth.items() if k != "runs"},
        "runs": {
            rid: {k: v for k, v in r.items() if k not in ("summary", "params")} for rid, r in truth["runs"].items()
        },
        "page_check": page,
        "methods_check": text,
        "prisma_json_vs_count": prisma_mismatch,
        "methods_paragraphs": {p["key"]: p["text"] for p in methods["paragraphs"]},
        "model_calls": calls,
    }
    write_results("report_chain", figures, out=args.out)
    failed = page["mismatches"] or text["missing"] or text["stray_numbers"] or prisma_mismatch
    print(json.dumps({"page": page, "methods": text, "prisma": prisma_mismatch}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
