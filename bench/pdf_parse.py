"""Benchmark 6: PDF text extraction, pages per second and peak memory, per library.

Usage: python bench/pdf_parse.py [--pdfs DIR] [--runs 3] [--max-files N] [--out FILE]

Each library parses every PDF in DIR (default: the 20 shared PDFs) in its own
process, so its peak RSS is its own: winnow's ``parse_pdf`` (pypdf plus winnow's
text clean-up), pypdf alone, and, only when installed (they are not winnow
dependencies), pypdfium2 and PyMuPDF. A profile of ``parse_pdf`` gives the share
of winnow's own clean-up in its time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from benchlib import ROOT, write_results

SHARED_PDFS = ROOT.parent / "shared" / "data" / "pdfs"
FIXTURE_PDFS = ROOT / "tests" / "fixtures" / "pdfs"

# Each program prints {"pages": N, "chars": N, "seconds": S} for the PDFs named in argv.
PROGRAMS = {
    "winnow parse_pdf (pypdf + clean-up)": (
        None,
        """
from winnow.extraction.pdf import parse_pdf
for path in paths:
    parsed = parse_pdf(path)
    pages += parsed.page_count
    chars += parsed.char_count
""",
    ),
    "pypdf alone": (
        "pypdf",
        """
from pypdf import PdfReader
for path in paths:
    try:
        reader = PdfReader(path)
        for page in reader.pages:
            pages += 1
            chars += len(page.extract_text() or "")
    except Exception:
        pass
""",
    ),
    "pypdfium2": (
        "pypdfium2",
        """
import pypdfium2 as pdfium
for path in paths:
    try:
        doc = pdfium.PdfDocument(path)
    except Exception:
        continue
    for page in doc:
        pages += 1
        chars += len(page.get_textpage().get_text_range())
    doc.close()
""",
    ),
    "PyMuPDF": (
        "pymupdf",
        """
import pymupdf
for path in paths:
    try:
        doc = pymupdf.open(path)
    except Exception:
        continue
    for page in doc:
        pages += 1
        chars += len(page.get_text())
    doc.close()
""",
    ),
}

HARNESS = """
import json, sys, time
paths = sys.argv[1:]
pages = chars = 0
started = time.perf_counter()
{body}
print(json.dumps({{"pages": pages, "chars": chars, "seconds": time.perf_counter() - started}}))
"""


def run_program(body: str, paths: list[Path]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", HARNESS.format(body=body), *map(str, paths)],
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark program failed: {text[-500:]}")
    result = json.loads(text.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return dict(result)


def cleanup_share(paths: list[Path]) -> dict[str, float]:
    """Share of parse_pdf's time spent in extraction/text_cleanup.py (cProfile, this process)."""
    import cProfile
    import pstats

    from winnow.extraction.pdf import parse_pdf

    profiler = cProfile.Profile()
    profiler.enable()
    for path in paths:
        parse_pdf(path)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())  # own time of every function
    cleanup = sum(v[2] for k, v in stats.items() if k[0].endswith("extraction/text_cleanup.py"))
    clean_pages = sum(v[3] for k, v in stats.items() if k[0].endswith("text_cleanup.py") and k[2] == "clean_pages")
    return {
        "cleanup_own_time_pct": round(100 * cleanup / total, 1) if total else 0.0,
        "clean_pages_inclusive_pct": round(100 * clean_pages / total, 1) if total else 0.0,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", type=Path, default=SHARED_PDFS if SHARED_PDFS.is_dir() else FIXTURE_PDFS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-files", type=int, default=None, help="only the first N PDFs (smoke runs)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    paths = sorted(args.pdfs.glob("*.pdf"))[: args.max_files]
    results: dict[str, Any] = {}
    for label, (module, body) in PROGRAMS.items():
        if module is not None and find_spec(module) is None:
            results[label] = {"skipped": f"{module} is not installed (pip install {module}; bench only)"}
            continue
        runs = [run_program(body, paths) for _ in range(args.runs)]
        seconds = statistics.median(r["seconds"] for r in runs)
        results[label] = {
            "pages": runs[0]["pages"],
            "chars": runs[0]["chars"],
            "seconds_median": round(seconds, 3),
            "pages_per_s": round(runs[0]["pages"] / seconds, 1) if seconds else None,
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs), 1),
        }
    base = results["winnow parse_pdf (pypdf + clean-up)"]["pages_per_s"]
    for r in results.values():
        if r.get("pages_per_s") and base:
            r["speed_vs_winnow"] = round(r["pages_per_s"] / base, 2)
    started = time.perf_counter()
    figures = {
        "pdfs": len(paths),
        "folder": str(args.pdfs),
        "runs": args.runs,
        "libraries": results,
        "profile": cleanup_share(paths),
    }
    figures["profile"]["profiled_s"] = round(time.perf_counter() - started, 2)
    path = write_results("pdf_parse", figures, out=args.out)
    for label, r in results.items():
        if "skipped" in r:
            print(f"{label:38s} skipped: {r['skipped']}")
        else:
            print(
                f"{label:38s} {r['pages_per_s']:8.1f} pages/s  {r['peak_rss_mib']:7.1f} MiB  "
                f"({r['pages']} pages, x{r.get('speed_vs_winnow', 1.0)} of winnow)"
            )
    print(f"clean-up share of parse_pdf time: {figures['profile']}")
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
