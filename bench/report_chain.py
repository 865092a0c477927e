"""The real chain behind ``winnow methods`` and ``winnow report``, with every number checked independently.

Usage: python bench/report_chain.py [--work DIR] [--out FILE] [--model-steps-only]

Ten records of the Dennstädt gold set (five includes, five excludes) are screened on
title and abstract by the embedded model (SmolLM2-135M) as a panel of one model asked
twice (``--samples 2 --temperature 0.7``). The gold labels then serve as the validation
labels (``winnow validate --labels``, every record read), as the calibration set of
``winnow decide --calibrate`` (a 70 % recall target at 70 % confidence: ten records cannot
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
import shutil
import sys
import time
from pathlib import Path

from benchlib import ROOT, run_winnow

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
    excludes = [r for r in rows if r["label_included"] in ("0", "exclude", "false")][:5]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/winnow-bench-report-chain"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--model-steps-only", action="store_true")
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    chosen = write_inputs(work)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    model_steps(work, timings)
    timings["model_steps_s"] = time.perf_counter() - start
    print(json.dumps({"chosen": chosen, "timings": timings}))
    if args.model_steps_only:
        return 0
    raise SystemExit("the checks follow")


if __name__ == "__main__":
    sys.exit(main())
