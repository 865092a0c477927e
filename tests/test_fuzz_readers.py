"""Fuzz every reader: the only outcomes allowed are a result or winnow's own typed error.

Inputs are valid files cut, spliced, mutated and re-encoded (UTF-8, UTF-8 with BOM,
UTF-16, Latin-1, cp1252) plus raw bytes. A typed error must name the file. A hang
is caught by an alarm and fails the example. ``WINNOW_FUZZ_EXAMPLES`` scales the
example counts (``bench/reliability.py`` runs more); ``WINNOW_FUZZ_COUNT`` names a
file that gets one line per case run, so the figure in docs/reliability.md is a
count, not an estimate.
``WINNOW_HUGE_MB`` sets the size of the large-file cases (4 MB by default;
``bench/reader_scale.py`` reads them at 10 to 100 MB against a seconds-per-MB bound).
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from huge_files import KINDS, MB, build_huge, huge_path, read_in_child
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winnow.errors import WinnowError
from winnow.extraction.pdf import ParsedPdf, parse_pdf
from winnow.gold import load_gold
from winnow.protocol import load_protocol
from winnow.records import ReadResult, read_records

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = {
    ".ris": (FIXTURES / "records" / "same.ris").read_text(encoding="utf-8"),
    ".nbib": (FIXTURES / "records" / "same.nbib").read_text(encoding="utf-8"),
    ".bib": (FIXTURES / "records" / "same.bib").read_text(encoding="utf-8"),
    ".csv": (FIXTURES / "records" / "same.csv").read_text(encoding="utf-8"),
    ".tsv": (FIXTURES / "records" / "records.tsv").read_text(encoding="utf-8"),
}
PROTOCOL_TEXT = (FIXTURES / "agreement" / "protocol.yaml").read_text(encoding="utf-8")
GOLD_TEXT = (FIXTURES / "agreement" / "gold.csv").read_text(encoding="utf-8")
XLSX = (FIXTURES / "records" / "same.xlsx").read_bytes()
SCALE = float(os.environ.get("WINNOW_FUZZ_EXAMPLES", "1"))
HANG_S = 20
HUGE_MB = int(os.environ.get("WINNOW_HUGE_MB", "4"))


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


def tiny_pdf(text: str = "Hello reliability, this page has a text layer.", lines: int = 8) -> bytes:
    """A one-page PDF with a text layer, built by hand so its bytes are small and known."""
    shown = " ".join(f"({text}) Tj 0 -14 Td" for _ in range(lines))
    stream = f"BT /F1 12 Tf 72 720 Td {shown} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


PDF = tiny_pdf()


class Hang(Exception):
    pass


@contextmanager
def hang_guard(seconds: int = HANG_S) -> Iterator[None]:
    def alarm(*_: object) -> None:
        raise Hang(f"reader still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def count_case(reader: str) -> None:
    target = os.environ.get("WINNOW_FUZZ_COUNT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(reader + "\n")


def check(reader: str, path: Path, call: Callable[[Path], Any], ok: type | tuple[type, ...]) -> None:
    """The reader returns ``ok`` or raises a WinnowError naming the file; nothing else."""
    count_case(reader)
    try:
        with hang_guard():
            result = call(path)
    except WinnowError as exc:
        assert path.name in str(exc), f"typed error without the file's name: {exc}"
        assert "\n" not in exc.one_line()
        return
    assert isinstance(result, ok), type(result)


ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252")


def encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace")


@st.composite
def mutated_text(draw: st.DrawFn, source: str) -> str:
    """A valid file with lines dropped, repeated, cut or replaced by arbitrary text."""
    lines = source.split("\n")
    for _ in range(draw(st.integers(0, 6))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "dup", "cut", "junk", "huge"]))
        if action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "cut":
            lines[i] = lines[i][: draw(st.integers(0, max(0, len(lines[i]))))]
        elif action == "junk":
            lines[i] = draw(st.text(max_size=80))
        else:
            lines[i] = lines[i] + "x" * draw(st.integers(1_000, 200_000))
    text = "\n".join(lines)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut]
    return text.replace("\n", draw(st.sampled_from(["\n", "\r\n", "\r"])))


def write(tmp: str, name: str, data: bytes) -> Path:
    path = Path(tmp) / name
    path.write_bytes(data)
    return path


def fuzz(n: int) -> settings:
    """Bounded, database-free settings: CI runs the same number of cases every time."""
    return settings(max_examples=examples(n), deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.mark.parametrize("suffix", [".ris", ".nbib", ".bib", ".csv", ".tsv"])
@fuzz(40)
@given(data=st.data())
def test_text_record_readers(suffix: str, data: st.DataObject) -> None:
    text = data.draw(mutated_text(SAMPLES[suffix]))
    encoding = data.draw(st.sampled_from(ENCODINGS))
    name_suffix = data.draw(st.sampled_from([suffix, ".txt", ".dat"]))
    with tempfile.TemporaryDirectory() as tmp:
        check(f"records{suffix}", write(tmp, f"export{name_suffix}", encode(text, encoding)), read_records, ReadResult)


@fuzz(80)
@given(blob=st.binary(max_size=4096), suffix=st.sampled_from([".ris", ".nbib", ".bib", ".csv", ".txt", ".xlsx"]))
def test_record_readers_on_raw_bytes(blob: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check("records-bytes", write(tmp, f"junk{suffix}", blob), read_records, ReadResult)


@fuzz(40)
@given(
    cuts=st.lists(st.tuples(st.integers(0, len(XLSX) - 1), st.integers(0, 255)), max_size=8),
    keep=st.integers(0, len(XLSX)),
)
def test_xlsx_reader_on_damaged_workbooks(cuts: list[tuple[int, int]], keep: int) -> None:
    data = bytearray(XLSX)
    for offset, value in cuts:
        data[offset] = value
    with tempfile.TemporaryDirectory() as tmp:
        check("records.xlsx", write(tmp, "export.xlsx", bytes(data[: max(keep, 1)])), read_records, ReadResult)


@fuzz(15)
@given(
    rows=st.lists(st.lists(st.text(max_size=40), min_size=1, max_size=4), min_size=1, max_size=6),
    header=st.sampled_from([["title", "abstract"], ["TI", "AB", "id"], ["x"]]),
)
def test_xlsx_reader_on_odd_cells(rows: list[list[str]], header: list[str]) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        try:
            sheet.append(row)
        except openpyxl.utils.exceptions.IllegalCharacterError:
            sheet.append([repr(cell) for cell in row])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cells.xlsx"
        book.save(path)
        check("records.xlsx-cells", path, read_records, ReadResult)


@fuzz(60)
@given(data=st.data())
def test_protocol_reader(data: st.DataObject) -> None:
    text = data.draw(st.one_of(mutated_text(PROTOCOL_TEXT), st.text(max_size=300)))
    with tempfile.TemporaryDirectory() as tmp:
        path = write(tmp, "protocol.yaml", encode(text, data.draw(st.sampled_from(ENCODINGS))))
        check("protocol", path, load_protocol, object)


@fuzz(60)
@given(data=st.data())
def test_gold_reader(data: st.DataObject) -> None:
    text = data.draw(st.one_of(mutated_text(GOLD_TEXT), st.text(max_size=300)))
    suffix = data.draw(st.sampled_from([".csv", ".tsv", ".xlsx"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = write(tmp, f"gold{suffix}", encode(text, data.draw(st.sampled_from(ENCODINGS))))
        check("gold", path, load_gold, object)


@fuzz(60)
@given(
    cuts=st.lists(st.tuples(st.integers(0, len(PDF) - 1), st.binary(min_size=1, max_size=8)), max_size=6),
    keep=st.integers(0, len(PDF)),
)
def test_pdf_reader_on_damaged_pdfs(cuts: list[tuple[int, bytes]], keep: int) -> None:
    data = bytearray(PDF)
    for offset, chunk in cuts:
        data[offset : offset + len(chunk)] = chunk
    with tempfile.TemporaryDirectory() as tmp:
        check("pdf", write(tmp, "paper.pdf", bytes(data[:keep])), parse_pdf, ParsedPdf)


def test_tiny_pdf_is_a_real_pdf() -> None:
    """The fuzz seed must parse, or the PDF fuzzing only ever sees garbage."""
    with tempfile.TemporaryDirectory() as tmp:
        parsed = parse_pdf(write(tmp, "ok.pdf", PDF))
    assert parsed.status == "ok" and "Hello reliability" in parsed.pages[0].text


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_multi_megabyte_files_end_in_records_or_a_typed_error(tmp_path: Path, kind: str) -> None:
    """The shapes that once took a reader apart, at 4 MB; bench/reader_scale.py reads them at 10-100 MB
    and holds the seconds per MB to a bound."""
    path = huge_path(tmp_path, kind)
    build_huge(path, kind, HUGE_MB * MB)
    assert path.stat().st_size >= HUGE_MB * MB
    count_case(f"huge-{kind}")
    child = read_in_child(path)
    stdout, stderr = child.communicate(timeout=600)
    assert child.returncode == 0, stderr[-2000:]
    outcome = stdout.split()[0]
    assert outcome in ("records", "error"), stdout
    if outcome == "error":
        assert path.name in stdout
