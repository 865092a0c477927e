"""The 20 PDFs of the shared set (287 pages), parsed once for the three checks that read them all.

Parsing is the slow part (~30 s at ~10 pages/s with pypdf), so the module parses
each file once and every check reads the same result: the parser never raises and
its page counts match the manifest (with a timing table written to
``$WINNOW_PDF_TABLE`` or ``/tmp/winnow_pdf_table.md``), every file becomes
page-marked chunks or a status, and every hand-labelled gold quote is found on its
stated page. The whole module is skipped where ``../shared`` is absent.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from winnow.extraction.papers import prepare_papers
from winnow.extraction.pdf import ParsedPdf, parse_pdf
from winnow.extraction.quotes import verify_quote

from support import SHARED_PDFS, gold_quotes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHARED_PDFS.is_dir(), reason=f"{SHARED_PDFS} not present"),
]
SHARED_GOLD = SHARED_PDFS.parent / "extraction" / "pdf_gold" / "gold.jsonl"

# pypdf warns about fonts it cannot fully parse without fontTools; the page text is the same either way.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class Parsed(NamedTuple):
    parsed: ParsedPdf
    seconds: float


@pytest.fixture(scope="module")
def shared() -> dict[Path, Parsed]:
    out = {}
    for path in sorted(SHARED_PDFS.glob("*.pdf")):
        start = time.perf_counter()
        parsed = parse_pdf(path)
        out[path] = Parsed(parsed, time.perf_counter() - start)
    assert out, f"no PDF in {SHARED_PDFS}"
    return out


def _manifest() -> dict[str, int]:
    with (SHARED_PDFS / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        return {row["file"]: int(row["pages"]) for row in csv.DictReader(handle)}


def test_every_shared_pdf_parses_without_exception(shared: dict[Path, Parsed]) -> None:
    manifest = _manifest()
    files = sorted(shared)
    rows = [
        "| file | status | pages | manifest pages | chars | seconds | pages/s | reason |",
        "|---|---|---|---|---|---|---|---|",
    ]
    total_pages, total_time = 0, 0.0
    for path in files:
        parsed, seconds = shared[path]
        total_pages += parsed.page_count
        total_time += seconds
        expected = manifest.get(path.name)
        if parsed.status == "ok":
            assert parsed.page_count == expected, path.name
        else:
            assert parsed.reason.startswith(str(path)), parsed.reason
        for page in parsed.pages:  # lone surrogates would break any UTF-8 writer downstream
            page.raw_text.encode("utf-8")
            page.text.encode("utf-8")
        rate = parsed.page_count / seconds if seconds else 0.0
        rows.append(
            f"| {path.name} | {parsed.status} | {parsed.page_count} | {expected} | {parsed.char_count} "
            f"| {seconds:.2f} | {rate:.1f} | {parsed.reason} |"
        )
    rows.append(
        f"\n{len(files)} files, {total_pages} pages in {total_time:.1f} s ({total_pages / total_time:.1f} pages/s)"
    )
    out = Path(os.environ.get("WINNOW_PDF_TABLE", "/tmp/winnow_pdf_table.md"))
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_every_shared_pdf_becomes_page_marked_chunks_or_a_status(tmp_path: Path, shared: dict[Path, Parsed]) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really a pdf")
    paths = [*sorted(shared), empty, broken]

    def parse(path: Path) -> ParsedPdf:
        return shared[path].parsed if path in shared else parse_pdf(path)

    papers = prepare_papers(paths, chunk_tokens=1800, max_chunks=1, parse=parse)
    assert len(papers) == len(paths) >= 22
    for paper in papers:
        if paper.usable:
            assert paper.chunks[0].text.startswith("[page 1"), paper.record_id
            assert paper.total_chunks == 1 or paper.left_out, "pages not sent are recorded"
        else:
            assert paper.parsed.reason.startswith(paper.parsed.path), paper.record_id
    assert {p.parsed.status for p in papers[-2:]} == {"empty_file", "damaged"}


@pytest.mark.skipif(not SHARED_GOLD.is_file(), reason=f"{SHARED_GOLD} not present")
def test_every_shared_gold_quote_verifies(shared: dict[Path, Parsed]) -> None:
    quotes = gold_quotes(SHARED_GOLD)
    failures = []
    statuses: dict[str, int] = {}
    for file, field, quote, page in quotes:
        check = verify_quote(quote, shared[SHARED_PDFS / file].parsed, page)
        statuses[check.status] = statuses.get(check.status, 0) + 1
        if check.status != "verified":
            failures.append((file, field, quote, page, check))
    passed = len(quotes) - len(failures)
    summary = f"{passed}/{len(quotes)} gold quotes verified on their stated page; statuses {statuses}"
    assert not failures, summary + "\n" + "\n".join(map(str, failures))
