"""A real chain to the PRISMA 2020 diagram, with every count checked against an independent count of the rows.

Usage: python bench/prisma_chain.py [--work DIR] [--out FILE]

Six records (one a repeat of another by DOI) are screened on title/abstract with the
embedded model (SmolLM2-135M), part of them adjudicated by human verdicts written to the
ledger's ``adjudications`` table (four sent on to full text, one excluded), then three PDFs
go through ``winnow screen --full-text`` and ``winnow extract`` with ``--max-chunks 1``: two
shared ones (U-Net, and a 1994 scanned preprint) and a copy of U-Net cut off after 30 kB (a
failed download: a damaged PDF). One record sent on has no PDF at all. The model leaves both
readable papers "uncertain" at full text, and a human verdict excludes them, with a note.
``winnow prisma`` draws the flow; this script recounts every box from the CSV rows
and the ledger with plain ``csv`` and ``sqlite3`` (not winnow's code) and fails when any
number differs. The small model's verdicts mean nothing for a review: the point is that the
counts follow the rows. The chain is kept this small because each embedded-model call took
4 to 12 minutes on the shared, overloaded 2-core machine it was run on; the ledgers in
``--work`` make a re-run free.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchlib import ROOT, run_winnow, write_results

PDFS = ROOT.parent / "shared" / "data" / "pdfs"
# A compact version of the shipped foundation-models protocol: three criteria and three fields keep
# each embedded-model answer short, so the chain runs in minutes on a shared 2-core machine.
PROTOCOL_YAML = """title: Foundation models in medical image analysis (bench chain)
question: Which foundation models are developed or evaluated on medical images, on which modalities and datasets?
reference_standard: title_abstract
criteria:
  inclusion:
    - id: imaging_data
      text: The model is applied to medical images (radiography, CT, MRI, ultrasound, histopathology, ...).
    - id: model_type
      text: The study develops, adapts or evaluates a large pre-trained foundation model.
  exclusion:
    - id: review_only
      text: The publication is a review, survey or editorial without its own experiments.
extraction:
  name: chain_form
  fields:
    - name: model_type
      type: one_of
      categories: [vision_only, vision_language]
      description: Whether the main model takes images only or images and text.
    - name: imaging_modality
      type: many_of
      categories: [radiography, ct, mri, ultrasound, histopathology, microscopy, other]
      description: Imaging modalities the model is trained or evaluated on.
    - name: datasets
      type: list
      description: Names of the datasets used, as written in the paper.
"""
DENNSTAEDT = ROOT / "gold" / "dennstaedt_2024_cdss_ro" / "records.csv"
PAPERS = {
    "arxiv_1505.04597_U-Net_biomedical_segmentation.pdf": (
        "U-Net: Convolutional Networks for Biomedical Image Segmentation",
        "An encoder-decoder network trained end to end on very few microscopy images segments neuronal"
        " structures and cells.",
        "2015",
        "10.1007/978-3-319-24574-4_28",
    ),
    "hep-ph_9412269_scanned_preprint_1994.pdf": (
        "Scanned preprint of the CEBAF theory group",
        "A physics preprint scanned as images, with no text layer.",
        "1994",
        "",
    ),
    "damaged_download": (
        "A vision-language foundation model for chest radiographs and their reports",
        "Contrastive image-text pretraining on radiograph-report pairs, evaluated zero-shot on chest findings.",
        "2023",
        "",
    ),
    "medsam_2024": (
        "Segment anything in medical images",
        "A foundation model for universal medical image segmentation fine-tuned from SAM on 1.5 million"
        " image-mask pairs across 10 imaging modalities.",
        "2024",
        "10.1038/s41467-024-44824-z",
    ),
}
ADJUDICATED = {  # a human's verdicts: the three papers go on to full text, the CDSS record is excluded
    "arxiv_1505.04597_U-Net_biomedical_segmentation.pdf": "include",
    "hep-ph_9412269_scanned_preprint_1994.pdf": "include",
    "damaged_download": "include",
    "medsam_2024": "include",
}


FULL_TEXT_ADJUDICATED = {  # the model left both "uncertain" at full text; a human decides
    "arxiv_1505.04597_U-Net_biomedical_segmentation.pdf": (
        "exclude",
        "U-Net is trained from scratch, no foundation model",
    ),
    "hep-ph_9412269_scanned_preprint_1994.pdf": ("exclude", "a physics preprint, no medical images"),
}


def write_records(path: Path) -> list[str]:
    """Three papers, a repeat of U-Net under another id (same DOI), one CDSS record from the gold set."""
    lines: list[str] = []

    def entry(rid: str, title: str, abstract: str, year: str, doi: str) -> None:
        lines.extend(["TY  - JOUR", f"ID  - {rid}", f"TI  - {title}", f"AB  - {abstract}", f"PY  - {year}"])
        if doi:
            lines.append(f"DO  - {doi}")
        lines.extend(["ER  - ", ""])

    for rid, (title, abstract, year, doi) in PAPERS.items():
        entry(rid, title, abstract, year, doi)
    title, abstract, year, doi = PAPERS["arxiv_1505.04597_U-Net_biomedical_segmentation.pdf"]
    entry("unet_repeat", title, abstract, year, doi)
    with DENNSTAEDT.open(newline="", encoding="utf-8") as handle:
        cdss = [row for _, row in zip(range(1), csv.DictReader(handle), strict=False)]
    for row in cdss:
        entry(f"cdss_{row['record_id']}", row["title"], " ".join(row["abstract"].split())[:600], "2023", "")
    ADJUDICATED[f"cdss_{cdss[0]['record_id']}"] = "exclude"
    path.write_text("\n".join(lines), encoding="utf-8")
    return [*PAPERS, "unet_repeat", *(f"cdss_{row['record_id']}" for row in cdss)]


def adjudicate(ledger: Path, decisions: Path, verdicts: dict[str, tuple[str, str]]) -> None:
    """Store the human verdicts the way ``winnow audit --adjudicate`` does (one row each, latest wins)."""
    sys.path.insert(0, str(ROOT))
    from winnow.audit.adjudicate import adjudication_key
    from winnow.ledger import Ledger

    with Ledger(ledger) as db:
        done = {row["record_id"] for row in db.adjudications(adjudication_key(decisions))}
        for rid, (label, note) in verdicts.items():
            if rid not in done:
                db.add_adjudication(
                    decisions_path=adjudication_key(decisions),
                    record_id=rid,
                    run_id=None,
                    model_decision=None,
                    gold_label=None,
                    final_label=label,
                    choice=label,
                    note=note,
                    who="bench",
                )


STAGES = ("decisions", "fulltext", "extraction")


def call_times(ledger: Path) -> dict[str, object]:
    """Every model call the stage made over all runs (a re-run answers from the ledger and adds none)."""
    with sqlite3.connect(ledger) as conn:
        rows = conn.execute("SELECT ok, latency_ms, completion_tokens FROM calls").fetchall()
    return {
        "calls": len(rows),
        "answered": sum(1 for ok, _, _ in rows if ok),
        "seconds_each": [round((ms or 0) / 1000) for _, ms, _ in rows],
        "completion_tokens_each": [tokens for _, _, tokens in rows],
    }


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _key(record_id: str) -> str:
    return record_id[:-4].casefold() if record_id.lower().endswith(".pdf") else record_id.casefold()


def _latest_verdicts(ledger: Path, table: str) -> dict[str, str]:
    if not ledger.is_file():
        return {}
    with sqlite3.connect(ledger) as conn:
        rows = conn.execute(
            "SELECT record_id, final_label FROM adjudications WHERE decisions_path = ? ORDER BY adjudication_id",
            (table,),
        ).fetchall()
    return dict(rows)  # later rows overwrite earlier ones: the latest verdict wins


def independent_count(work: Path, records_ris: Path) -> dict[str, int]:
    """Every PRISMA box recounted from the files with csv/sqlite3 only (no winnow code)."""
    identified = sum(1 for line in records_ris.read_text().splitlines() if line.startswith("TY  - "))
    decisions = rows_of(work / "decisions.csv")
    verdicts = _latest_verdicts(work / "decisions.ledger.sqlite", "decisions.csv")
    final = {r["record_id"]: verdicts.get(r["record_id"], r["decision"]) for r in decisions}
    sought = [rid for rid, d in final.items() if d != "exclude"]
    fulltext = {_key(r["record_id"]): r for r in rows_of(work / "fulltext.csv")}
    pdf_status = {_key(r["record_id"]): r["pdf_status"] for r in rows_of(work / "extraction.csv")}
    ft_verdicts = {_key(k): v for k, v in _latest_verdicts(work / "fulltext.ledger.sqlite", "fulltext.csv").items()}
    not_retrieved, assessed = [], []
    for rid in sought:
        row = fulltext.get(_key(rid))
        unreadable = row is not None and (
            pdf_status.get(_key(rid), "ok") not in ("ok", "partial")
            or (row["decision"] == "error" and not row["error"].startswith("pages "))
        )
        if row is None or (unreadable and _key(rid) not in ft_verdicts):
            not_retrieved.append(rid)
        else:
            assessed.append(rid)
    ft_final = {rid: ft_verdicts.get(_key(rid), fulltext[_key(rid)]["decision"]) for rid in assessed}
    return {
        "identified": identified,
        "duplicates_removed": sum(len([d for d in r["duplicates"].split(";") if d]) for r in decisions),
        "removed_other": identified
        - len(decisions)
        - sum(len([d for d in r["duplicates"].split(";") if d]) for r in decisions),
        "screened": len(decisions),
        "excluded": sum(1 for d in final.values() if d == "exclude"),
        "sought": len(sought),
        "not_retrieved": len(not_retrieved),
        "assessed": len(assessed),
        "reports_excluded": sum(1 for d in ft_final.values() if d == "exclude"),
        "included": sum(1 for d in ft_final.values() if d == "include"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/winnow-bench-prisma-chain"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--chain-only", action="store_true", help="Run the model steps only.")
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    protocol = work / "protocol.yaml"
    protocol.write_text(PROTOCOL_YAML, encoding="utf-8")
    records = work / "records.ris"
    write_records(records)
    pdfs = work / "pdfs"
    pdfs.mkdir(exist_ok=True)
    for name in PAPERS:
        if (PDFS / name).is_file() and not (pdfs / name).exists():
            shutil.copy(PDFS / name, pdfs / name)
    unet = (PDFS / "arxiv_1505.04597_U-Net_biomedical_segmentation.pdf").read_bytes()
    (pdfs / "damaged_download.pdf").write_bytes(unet[:30000])  # a download cut short: a damaged PDF
    common = ["-p", str(protocol), "--max-chunks", "1", "--chunk-tokens", "600", "--no-progress"]
    timings: dict[str, float] = {}

    def title_abstract() -> None:
        screen = ["screen", str(records), "-p", str(protocol), "--no-progress", "-o", str(work / "decisions.csv")]
        timings["screen_s"] = run_winnow(screen)["wall_s"]
        verdicts = {rid: (label, "") for rid, label in ADJUDICATED.items()}
        adjudicate(work / "decisions.ledger.sqlite", work / "decisions.csv", verdicts)

    def full_text() -> None:
        screen = ["screen", str(pdfs), "--full-text", *common, "-o", str(work / "fulltext.csv")]
        timings["full_text_s"] = run_winnow(screen)["wall_s"]
        adjudicate(work / "fulltext.ledger.sqlite", work / "fulltext.csv", FULL_TEXT_ADJUDICATED)
        timings["extract_s"] = run_winnow(["extract", str(pdfs), *common, "-o", str(work / "extraction.csv")])["wall_s"]

    with ThreadPoolExecutor(max_workers=2) as pool:  # the two stages share nothing until prisma
        for future in [pool.submit(title_abstract), pool.submit(full_text)]:
            future.result()
    if args.chain_only:
        print(json.dumps(timings))
        return 0
    diagram = work / "prisma.svg"
    run = run_winnow(
        [
            "prisma",
            "--screen",
            str(work / "decisions.csv"),
            "--full-text",
            str(work / "fulltext.csv"),
            "--extract",
            str(work / "extraction.csv"),
            "--records",
            str(records),
            "--out",
            str(diagram),
            "--json",
        ]
    )
    flow = json.loads(run["stdout"])
    expected = independent_count(work, records)
    got = {key: flow["counts"][key] for key in expected}
    mismatches = {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
    for key in expected:
        print(f"{key:18} winnow {got[key]:3}  independent {expected[key]:3}{'  MISMATCH' if key in mismatches else ''}")
    write_results(
        "prisma_chain",
        {
            "model": "local (SmolLM2-135M, embedded)",
            "timings_s_this_run": {k: round(v, 1) for k, v in timings.items()},
            "model_calls": {stage: call_times(work / f"{stage}.ledger.sqlite") for stage in STAGES},
            "counts": flow["counts"],
            "independent_counts": expected,
            "mismatches": mismatches,
            "records": flow["records"],
            "overridden_by_adjudication": flow["overridden_by_adjudication"],
            "warnings": flow["warnings"],
            "diagram": [str(p) for p in flow["diagram"]],
        },
        out=args.out,
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
