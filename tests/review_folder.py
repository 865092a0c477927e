"""A whole small review in one folder, built through the real CLI against a local instant server.

Screening (one model asked twice, so a panel with P(include) from votes), validation
with a labels file, a calibrated threshold, human verdicts imported into the audit,
full-text screening and extraction of two fixture PDFs. The instant server
(tests/instant_server.py) answers at once with schema-valid answers derived from the
record, so the folder takes seconds; its decisions mean nothing, and tests that use
this folder check how winnow reports the ledgers, never how good the answers are.

One record's abstract carries markup (``<script>``, an ``<img onerror>``) to show the
report keeps record text inert.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from instant_server import InstantServer

from support import DENNSTAEDT, REPO, run_cli

PDFS = REPO / "tests" / "fixtures" / "pdfs"
PDF_NAMES = ("edgecase_1page_table_fragment_SciBERT.pdf", "phytochemical_phoenix_paludosa.pdf")
HOSTILE_ID = "hostile1"
HOSTILE_ABSTRACT = (
    'A radiotherapy planning system. <script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2">'
    " Ends here & < > \" '."
)
EXTRACTION = """
extraction:
  name: test_form
  fields:
    - name: model_type
      type: one_of
      categories: [cnn, transformer, other]
      description: Main kind of model.
    - name: datasets
      type: list
      description: Datasets used.
"""


def cli(*args: object) -> None:
    """Run winnow in this process; the run rows store these arguments as its command line."""
    code = run_cli(*args)
    assert code == 0, f"winnow {' '.join(map(str, args))} exited {code}"


def build_review(folder: Path) -> dict[str, object]:
    """Write the inputs and run the chain in ``folder``; returns the ids that matter to the tests."""
    folder.mkdir(parents=True, exist_ok=True)
    with (DENNSTAEDT / "records.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    includes = [r for r in rows if r["label_included"] == "1"][:4]
    excludes = [r for r in rows if r["label_included"] == "0"][:5]
    chosen = [*includes, *excludes]
    records = folder / "records.csv"
    with records.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "title", "abstract"])
        for r in chosen:
            writer.writerow([r["record_id"], r["title"], r["abstract"][:400]])
        writer.writerow([HOSTILE_ID, "A <b>bold</b> planning system", HOSTILE_ABSTRACT])
    labels = {r["record_id"]: ("include" if r in includes else "exclude") for r in chosen}
    labels[HOSTILE_ID] = "include"
    gold = folder / "gold.csv"
    gold.write_text("record_id,label\n" + "".join(f"{k},{v}\n" for k, v in labels.items()), encoding="utf-8")
    protocol = folder / "protocol.yaml"
    text = (DENNSTAEDT / "protocol.yaml").read_text(encoding="utf-8").split("\nnotes:")[0]
    protocol.write_text(text.rstrip() + "\n" + EXTRACTION, encoding="utf-8")
    pdfs = folder / "pdfs"
    pdfs.mkdir(exist_ok=True)
    for record, name in zip(includes, PDF_NAMES, strict=False):
        shutil.copy(PDFS / name, pdfs / f"{record['record_id']}.pdf")
    with InstantServer() as server:
        model = ["--model", "openai:instant", "--base-url", server.base_url, "--api-key", "test-key"]
        common = ["-p", protocol, *model, "--no-progress"]
        decisions = folder / "decisions.csv"
        cli("screen", records, *common, "--samples", "2", "--temperature", "0.7", "-o", decisions)
        cli("validate", decisions, "--labels", gold, "--sample", len(labels), "--seed", 7, "--who", "rev_a")
        cli("decide", decisions, "--calibrate", gold, "--recall-target", "0.5", "--confidence", "0.5")
        decided = folder / "decisions.decided.csv"
        with decided.open(newline="", encoding="utf-8") as handle:
            disagreements = [
                row["record_id"] for row in csv.DictReader(handle) if row["decision"] != labels[row["record_id"]]
            ]
        verdicts = folder / "verdicts.csv"
        verdicts.write_text(
            "record_id,verdict,note\n" + "".join(f"{rid},gold,checked\n" for rid in disagreements), encoding="utf-8"
        )
        if disagreements:
            cli("audit", decided, "--gold", gold, "--import-verdicts", verdicts, "--who", "rev_b")
        chunks = ["--max-chunks", "1", "--chunk-tokens", "600"]
        cli("screen", pdfs, "--full-text", *common, *chunks, "-o", folder / "fulltext.csv")
        cli("extract", pdfs, *common, *chunks, "-o", folder / "extraction.csv")
    return {
        "includes": [r["record_id"] for r in includes],
        "labels": labels,
        "hostile": HOSTILE_ID,
        "adjudicated": disagreements,
    }
