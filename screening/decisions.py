"""The decisions table: the contract between a screening run and everything after it.

Reviewers' scripts, ``winnow agree`` and ``winnow audit`` read these columns by
name, so the fixed columns below only ever grow; none is renamed or removed.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from winnow.errors import InputError

DECISIONS = ("include", "exclude", "uncertain", "error")

LEADING_COLUMNS = (
    "record_id",
    "title",
    "year",
    "decision",
    "model_decision",
    "p_include",
    "confidence_source",
    "rationale",
)
TRAILING_COLUMNS = (
    "abstract_missing",
    "flags",
    "duplicates",
    "error",
    "abstract",
    "doi",
    "pmid",
    "model",
    "served_model",
    "template_name",
    "template_sha256",
    "run_id",
    "call_id",
)
FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl"}
_XLSX_CELL_LIMIT = 32_000
_CHUNK_ROWS = 100_000

ColumnFilter = Callable[[str], bool]
"""Which columns of a table a reader needs: a million-row table's abstracts and reasons are most of
its bytes, and a report that never shows them should not hold them."""


def criterion_columns(criterion_ids: Sequence[str], *, with_quotes: bool = False) -> list[str]:
    """``criterion:<id>`` then ``reason:<id>`` for each criterion, in protocol order.

    Full-text screening adds ``quote:<id>``, ``page:<id>`` and ``evidence:<id>`` (the quote check).
    """
    columns = [f"criterion:{cid}" for cid in criterion_ids] + [f"reason:{cid}" for cid in criterion_ids]
    if with_quotes:
        for prefix in ("quote", "page", "evidence"):
            columns += [f"{prefix}:{cid}" for cid in criterion_ids]
    return columns


def decision_columns(criterion_ids: Sequence[str], *, with_quotes: bool = False) -> list[str]:
    return [*LEADING_COLUMNS, *criterion_columns(criterion_ids, with_quotes=with_quotes), *TRAILING_COLUMNS]


def output_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(FORMATS)
        raise InputError(path, f"unknown decisions format {path.suffix or '(none)'!r}; use one of {known}") from None


def write_decisions(
    path: str | Path, rows: Iterable[dict[str, Any]], criterion_ids: Sequence[str], *, with_quotes: bool = False
) -> Path:
    """Write atomically (temp file then rename) so a crash never leaves half a table; rows are read once."""
    return write_table(path, rows, decision_columns(criterion_ids, with_quotes=with_quotes))


def write_table(
    path: str | Path, rows: Iterable[dict[str, Any]], columns: Sequence[str], *, what: str = "decisions"
) -> Path:
    """Write any winnow result table (CSV, XLSX or JSONL by suffix) atomically, columns in order.

    CSV and JSONL stream ``rows`` (a generator is read once and never held); XLSX holds them.
    """
    target = Path(path)
    fmt = output_format(target)
    columns = list(columns)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            with tmp.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns)
                if len(columns) > 1:
                    handle.writelines(_csv_line([_cell(row.get(k)) for k in columns]) for row in rows)
                else:  # csv quotes a lone empty cell ('""'); a one-column table is left to it
                    writer.writerows([_cell(row.get(k)) for k in columns] for row in rows)
        elif fmt == "jsonl":
            with tmp.open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps({k: row.get(k) for k in columns}, ensure_ascii=False) + "\n")
        else:
            frame = pd.DataFrame([{k: _xlsx_cell(row.get(k)) for k in columns} for row in rows], columns=columns)
            frame.to_excel(tmp, index=False, engine="openpyxl")
        tmp.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):  # the same broken location may refuse the clean-up too
            tmp.unlink(missing_ok=True)
        raise InputError(target, f"cannot write {what}: {exc.strerror or exc}") from exc
    return target


def read_decisions(path: str | Path, *, columns: ColumnFilter | None = None) -> pd.DataFrame:
    """Read a decisions table in any written format, every column as text ('' for empty).

    Args:
        path: The table (.csv, .jsonl or .xlsx).
        columns: Read only the columns it accepts (all when None); ``record_id`` and
            ``decision`` must be among them.
    """
    source = Path(path)
    frame = read_table(source, columns=columns)
    missing = [c for c in ("record_id", "decision") if c not in frame.columns]
    if missing:
        raise InputError(source, f"not a winnow decisions table: missing column(s) {', '.join(missing)}")
    bad = sorted(set(frame["decision"]) - set(DECISIONS))
    if bad:
        raise InputError(
            source, f"unknown decision value(s) {', '.join(map(repr, bad))}; expected {', '.join(DECISIONS)}"
        )
    return frame


def read_table(path: str | Path, *, what: str = "decisions", columns: ColumnFilter | None = None) -> pd.DataFrame:
    """Read any winnow result table in any written format, every column as text ('' for empty).

    ``columns`` keeps only the columns it accepts. A CSV then converts nothing else
    (its other cells are tokenised and dropped); JSONL and XLSX are read whole first.
    """
    source = Path(path)
    fmt = output_format(source)
    if not source.is_file():
        raise InputError(source, f"no such {what} file")
    try:
        if fmt == "csv":
            frame = pd.read_csv(source, dtype=str, keep_default_na=False, usecols=columns)
        elif fmt == "jsonl":
            frame = pd.read_json(source, lines=True, dtype=False)
            if columns is not None:
                frame = frame[[c for c in frame.columns if columns(str(c))]]
            # Lists (the `duplicates` column) as the CSV writes them, not as Python's repr of a list.
            frame = frame.map(lambda v: ";".join(map(str, v)) if isinstance(v, list) else v)
            frame = frame.astype(object).where(frame.notna(), "").astype(str)
        else:
            frame = pd.read_excel(source, dtype=str, engine="openpyxl").fillna("")
            if columns is not None:
                frame = frame[[c for c in frame.columns if columns(str(c))]]
    except (ValueError, OSError) as exc:
        raise InputError(source, f"cannot read {what} table: {exc}") from exc
    return frame


def read_table_rows(path: str | Path, rows: Sequence[int], record_ids: Sequence[str]) -> pd.DataFrame:
    """Every column of some data rows of a table (0-based, ascending), without converting the others.

    ``record_ids`` are the ids those rows were read with before; a CSV's rows are
    picked by position and checked against them. Blank lines shift the positions
    pandas skips by, so when the ids differ the table is read again in chunks of
    ``_CHUNK_ROWS`` rows and the rows are picked from those.
    """
    source = Path(path)
    wanted = [int(row) for row in rows]
    if output_format(source) != "csv":
        return read_table(source).iloc[wanted].reset_index(drop=True)
    keep = {row + 1 for row in wanted}  # pandas counts the header as row 0
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, skiprows=lambda i: i != 0 and i not in keep)
        if _ids(frame) == [str(r).strip() for r in record_ids]:
            return frame
        chunks = pd.read_csv(source, dtype=str, keep_default_na=False, chunksize=_CHUNK_ROWS)
        picked = [chunk[chunk.index.isin(wanted)] for chunk in chunks]
    except (ValueError, OSError) as exc:
        raise InputError(source, f"cannot read decisions table: {exc}") from exc
    return pd.concat(picked).reset_index(drop=True) if picked else frame.iloc[0:0]


def _ids(frame: pd.DataFrame) -> list[str]:
    return frame["record_id"].astype(str).str.strip().tolist() if "record_id" in frame.columns else []


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return value


# What makes the csv module's default (excel) dialect quote a cell: the delimiter, the
# quote character, or a character of its line terminator "\r\n".
_CSV_QUOTE_IF = re.compile(r'[,"\r\n]')


def _csv_line(cells: Sequence[Any]) -> str:
    """One row as ``csv.writer``'s excel dialect writes it (minimal quoting, quotes doubled, CRLF).

    The same bytes in a quarter of the time: the csv module looks at a cell one
    character at a time, ~50 us a decisions row with its abstract, a sixth of a
    million-record batch ingest. A float is written as its repr and anything else
    but text as ``str``, as the csv module does.
    """
    fields = []
    for cell in cells:
        text = cell if isinstance(cell, str) else repr(cell) if isinstance(cell, float) else str(cell)
        fields.append('"' + text.replace('"', '""') + '"' if _CSV_QUOTE_IF.search(text) else text)
    return ",".join(fields) + "\r\n"


def _xlsx_cell(value: Any) -> Any:
    value = _cell(value)
    if isinstance(value, str) and len(value) > _XLSX_CELL_LIMIT:
        return value[:_XLSX_CELL_LIMIT] + " [truncated for xlsx]"
    return value
