"""Spreadsheet-shaped exports: CSV, TSV (any common delimiter) and XLSX.

Rows become records through the shared alias table, so a column called
``Title``, ``TI`` or ``primary_title`` all work. CSV is read with the standard
``csv`` module rather than pandas because skip messages must name the physical
line a row starts on, and quoted abstracts span several lines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from winnow.errors import RecordParseError, RecordSkip
from winnow.records.aliases import canonical_field
from winnow.records.assemble import RawRecord
from winnow.records.encoding import TextSource, as_source

_DELIMITERS = (",", ";", "\t", "|")


def sniff_delimiter(text: str | TextSource) -> str:
    """The delimiter used most often, outside quotes, in the header line.

    ``csv.Sniffer`` misjudges files whose first rows hold long quoted abstracts;
    the header line alone is short and unambiguous in practice.
    """
    header = next((line for line in as_source(text, "<text>").lines() if line.strip()), "")
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_delimited(
    path: str, text: str | TextSource, *, delimiter: str | None = None
) -> Iterator[RawRecord | RecordSkip]:
    """Read a CSV/TSV export whose first non-blank row is the header, row by row.

    Args:
        path: Shown in messages.
        text: The decoded file (``\\n`` line ends), or a source that reads it.
        delimiter: Forced delimiter (``\\t`` for ``.tsv``); sniffed when None.

    Yields:
        One item per non-blank data row, tagged with the row's first physical line.

    Raises:
        RecordParseError: No title column, or the CSV quoting is broken.
    """
    source = as_source(text, path)
    chosen = delimiter or sniff_delimiter(source)
    with source.stream() as handle:
        yield from _records_from_rows(path, _rows(path, csv.reader(handle, delimiter=chosen, strict=False)))


def _rows(path: str, reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """Each row with the physical line it starts on."""
    previous_end = 0
    try:
        for row in reader:
            yield previous_end + 1, row
            previous_end = reader.line_num  # type: ignore[attr-defined]
    except csv.Error as exc:
        raise RecordParseError(path, f"broken CSV quoting or field ({exc})", line=previous_end + 1) from exc


def read_xlsx(path: str, data: bytes) -> Iterator[RawRecord | RecordSkip]:
    """Read the first worksheet of an XLSX export; "lines" are spreadsheet row numbers.

    Raises:
        RecordParseError: The bytes are not a readable workbook, or it has no title column.
    """
    import pandas as pd  # deferred: pandas costs a second of import time that other formats never need

    try:
        frame = pd.read_excel(
            io.BytesIO(data), sheet_name=0, header=None, dtype=str, keep_default_na=False, na_filter=False
        )
    # openpyxl/zipfile raise many unrelated types for a damaged or non-XLSX file.
    except Exception as exc:
        problem = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise RecordParseError(path, f"cannot read as an XLSX workbook ({problem})") from exc
    rows = [
        (number, ["" if cell is None else str(cell) for cell in row])
        for number, row in enumerate(frame.values.tolist(), start=1)
    ]
    return _records_from_rows(path, rows)


def _records_from_rows(path: str, rows: Iterable[tuple[int, list[str]]]) -> Iterator[RawRecord | RecordSkip]:
    content = ((line, row) for line, row in rows if any(cell.strip() for cell in row))
    first = next(content, None)
    if first is None:
        raise RecordParseError(path, "file is empty")
    header_line, header = first
    columns = [cell.strip().lstrip("\ufeff") for cell in header]
    if not any(canonical_field(column) == "title" for column in columns):
        for _ in content:  # broken quoting further down is reported first, as when rows were read up front
            pass
        found = ", ".join(repr(column) for column in columns)
        raise RecordParseError(
            path, f"no title column (such as 'title' or 'TI'); columns found: {found}", line=header_line
        )
    made = 0
    for line, row in content:
        made += 1
        extra = [cell for cell in row[len(columns) :] if cell.strip()]
        if extra:
            yield RecordSkip(path, f"row has {len(row)} fields but the header has {len(columns)}", line=line)
            continue
        fields: dict[str, list[str]] = {}
        for column, cell in zip(columns, row, strict=False):
            fields.setdefault(column, []).append(cell)
        yield RawRecord(fields, ordinal=made, line=line)
    if not made:
        raise RecordParseError(path, "no records: the file has a header row but no data rows", line=header_line)
