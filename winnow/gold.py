"""Gold sets: human screening labels that model decisions are measured against.

Column aliases and label normalisation live here and nowhere else, so ``agree``,
``audit`` and ``gold validate`` all read a gold file the same way.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.errors import GoldSetError, InputError, WinnowError
from winnow.records.labels import LabelRow, LabelScan, detect_table_format, read_ris_labels, read_tool_table, rekey

__all__ = [
    "GOLD_ID_ALIASES",
    "GOLD_LABEL_ALIASES",
    "REFERENCE_STANDARDS",
    "GoldRow",
    "GoldSet",
    "GoldValidation",
    "describe_reference_standard",
    "find_protocol",
    "load_gold",
    "normalise_label",
    "resolve_reference_standard",
    "scan_gold",
    "validate_gold_dir",
]

GOLD_ID_ALIASES = ("record_id", "id", "key", "record")
GOLD_LABEL_ALIASES = ("label_included", "label", "included", "decision", "label_abstract_included")
_INCLUDE = frozenset({"include", "included", "yes", "y", "1", "true", "t", "1.0"})
_EXCLUDE = frozenset({"exclude", "excluded", "no", "n", "0", "false", "f", "0.0"})
_ACCEPTED = "include/exclude, yes/no, 1/0 or true/false"

REFERENCE_STANDARDS = {
    "title_abstract": "title/abstract screening decisions",
    "full_text": "final inclusion after full-text review",
    "unknown": "unknown (not stated)",
}
_REFERENCE_ALIASES = {
    "title_abstract": "title_abstract",
    "title/abstract": "title_abstract",
    "tiab": "title_abstract",
    "abstract": "title_abstract",
    "full_text": "full_text",
    "full-text": "full_text",
    "fulltext": "full_text",
    "final": "full_text",
    "final_inclusion": "full_text",
    "unknown": "unknown",
}
_SPECIFICITY_MEANING = {
    "title_abstract": (
        "Gold excludes are records humans rejected on title and abstract, so a false"
        " positive is a record the model passed that humans did not."
    ),
    "full_text": (
        "Gold excludes include records that passed title/abstract screening and were"
        " dropped only after reading the full text; some 'false positives' are therefore"
        " correct abstract-level includes, and specificity is understated."
    ),
    "unknown": "The reference standard is not stated, so specificity cannot be interpreted safely.",
}


def normalise_label(value: Any) -> bool | None:
    """Map a gold label to True (include), False (exclude) or None (not a label).

    Accepts include/exclude, included/excluded, yes/no, y/n, 1/0, true/false in any case.
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in _INCLUDE:
        return True
    if text in _EXCLUDE:
        return False
    return None


def _pick_column(columns: list[str], aliases: tuple[str, ...]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    for alias in aliases:
        if alias in lowered:
            return lowered[alias]
    return None


GoldRow = LabelRow  # one labelled record and the line it came from, whichever tool wrote it


@dataclass
class GoldSet:
    """Labels keyed by record id, in file order, with where they came from."""

    path: Path
    rows: dict[str, GoldRow]
    id_column: str
    label_column: str
    reference_standard: str = "unknown"
    reference_source: str = "not stated"
    format: str = "table"
    skipped: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def n_included(self) -> int:
        return sum(row.included for row in self.rows.values())

    def label(self, record_id: str) -> bool:
        return self.rows[record_id].included


@dataclass
class _Scan:
    rows: list[GoldRow] = field(default_factory=list)
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    id_column: str = ""
    label_column: str = ""
    columns: list[str] = field(default_factory=list)
    format: str = "table"
    skipped: list[str] = field(default_factory=list)


def iter_table(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line or sheet row, row) pairs; the first item carries the header only."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xls"):
        import pandas as pd

        try:
            frame = pd.read_excel(path, dtype=str, engine="openpyxl").fillna("")
        # zipfile/openpyxl raise many unrelated types for a damaged or non-XLSX file.
        except Exception as exc:
            raise ValueError(f"not a readable XLSX workbook ({type(exc).__name__}: {exc})") from exc
        yield 1, {c: c for c in frame.columns}
        for offset, record in enumerate(frame.to_dict(orient="records")):
            yield offset + 2, {str(k): str(v) for k, v in record.items()}
        return
    delimiter = "\t" if suffix in (".tsv", ".tab") else ","
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        yield 1, {c: c for c in header}
        line = reader.line_num + 1
        for values in reader:
            if any(v.strip() for v in values):
                yield line, dict(zip(header, values, strict=False))
            line = reader.line_num + 1


def scan_gold(path: str | Path) -> _Scan:
    """Read a gold file and collect every problem (with its line) instead of stopping at the first."""
    source = Path(path)
    scan = _Scan()
    if not source.is_file():
        scan.problems.append((None, "no such gold file"))
        return scan
    try:
        if source.suffix.lower() in (".ris", ".txt"):
            return _from_labels(_read_ris_labels(source))
        rows = iter_table(source)
        header_line, header = next(rows, (1, {}))
        scan.columns = list(header)
        first = list(itertools.islice(rows, 20))
        rows = itertools.chain(first, rows)
        fmt = detect_table_format(scan.columns, [row for _, row in first])
        if fmt != "table":
            return _from_labels(read_tool_table(source, rows, scan.columns, fmt))
        id_column = _pick_column(scan.columns, GOLD_ID_ALIASES)
        label_column = _pick_column(scan.columns, GOLD_LABEL_ALIASES)
        if id_column is None or label_column is None:
            missing = []
            if id_column is None:
                missing.append(f"an id column ({', '.join(GOLD_ID_ALIASES)})")
            if label_column is None:
                missing.append(f"a label column ({', '.join(GOLD_LABEL_ALIASES)})")
            found = ", ".join(scan.columns) or "none"
            scan.problems.append((header_line, f"missing {' and '.join(missing)}; columns found: {found}"))
            return scan
        scan.id_column, scan.label_column = id_column, label_column
        title_column = _pick_column(scan.columns, ("title", "primary_title"))
        abstract_column = _pick_column(scan.columns, ("abstract", "abstract_note"))
        seen: dict[str, int] = {}
        for line, row in rows:
            record_id = (row.get(id_column) or "").strip()
            raw_label = row.get(label_column) or ""
            if not record_id:
                scan.problems.append((line, f"empty {id_column}"))
                continue
            if record_id in seen:
                scan.problems.append((line, f"duplicate {id_column} {record_id!r} (first on line {seen[record_id]})"))
                continue
            seen[record_id] = line
            included = normalise_label(raw_label)
            if included is None:
                what = "empty label" if not raw_label.strip() else f"unknown label {raw_label.strip()!r}"
                scan.problems.append(
                    (line, f"record {record_id}: {what} in column {label_column}; expected {_ACCEPTED}")
                )
                continue
            scan.rows.append(
                GoldRow(
                    record_id=record_id,
                    included=included,
                    line=line,
                    title=(row.get(title_column) or "") if title_column else "",
                    abstract=(row.get(abstract_column) or "") if abstract_column else "",
                )
            )
    except UnicodeDecodeError as exc:
        scan.problems.append((None, f"not UTF-8 text (byte {exc.start})"))
    except csv.Error as exc:
        scan.problems.append((None, f"malformed CSV: {exc}"))
    except (OSError, ValueError) as exc:
        scan.problems.append((None, f"cannot read gold file: {exc}"))
    except InputError as exc:
        scan.problems.append((exc.line, exc.problem))
    return scan


def _read_ris_labels(source: Path) -> LabelScan:
    from winnow.records.encoding import open_text

    with source.open("rb"):  # an unreadable file is this reader's "cannot read gold file", as before
        pass
    return read_ris_labels(source, open_text(str(source)))


def _from_labels(labels: LabelScan) -> _Scan:
    """A tool export's labels in the gold set's shape (``winnow.records.labels`` reads them)."""
    return _Scan(
        rows=list(labels.rows),
        problems=list(labels.problems),
        id_column=labels.id_column,
        label_column=labels.label_column,
        columns=list(labels.columns),
        format=labels.format,
        skipped=list(labels.skipped),
    )


def load_gold(
    path: str | Path,
    *,
    reference_standard: str | None = None,
    match_to: Iterable[Mapping[str, str]] | None = None,
) -> GoldSet:
    """Read a gold file; any bad row is a GoldSetError naming its line.

    Args:
        path: CSV, TSV or XLSX with an id column and a label column (see the aliases), or a
            labelled export of ASReview, Rayyan or Covidence, or an RIS file with labels
            (see ``winnow.records.labels``).
        reference_standard: overrides the one read from a ``protocol.yaml`` beside the file.
        match_to: winnow's records (dicts with record_id, doi, pmid, title); labels filed under
            a tool's own id are moved to the record with the same DOI, PMID or title.

    Raises:
        GoldSetError: missing columns, duplicate ids, unknown labels or an empty file.
    """
    source = Path(path)
    scan = scan_gold(source)
    if scan.problems:
        line, problem = scan.problems[0]
        more = len(scan.problems) - 1
        if more:
            problem += f" (and {more} more problem(s); `winnow gold validate` lists them all)"
        raise GoldSetError(source, problem, line=line)
    if match_to is not None and scan.format != "table":
        _rekey(source, scan, match_to)
    if not scan.rows:
        raise GoldSetError(source, "no labelled records")
    standard, origin = resolve_reference_standard(source, reference_standard)
    return GoldSet(
        path=source,
        rows={row.record_id: row for row in scan.rows},
        id_column=scan.id_column,
        label_column=scan.label_column,
        reference_standard=standard,
        reference_source=origin,
        format=scan.format,
        skipped=scan.skipped,
    )


def _rekey(source: Path, scan: _Scan, known: Iterable[Mapping[str, str]]) -> None:
    moved = rekey(scan.rows, known)
    first: dict[str, int] = {}
    for row in moved:
        if row.record_id in first:
            problem = f"two labels match record {row.record_id} (lines {first[row.record_id]} and {row.line})"
            raise GoldSetError(source, problem, line=row.line)
        first[row.record_id] = row.line
    scan.rows = moved


def find_protocol(gold_path: str | Path) -> Path | None:
    """The ``protocol.yaml`` (or ``.yml``) that sits next to a gold file, if any."""
    folder = Path(gold_path).parent
    for name in ("protocol.yaml", "protocol.yml"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def _canonical_standard(value: str) -> str | None:
    return _REFERENCE_ALIASES.get(value.strip().lower().replace(" ", "_"))


def resolve_reference_standard(gold_path: str | Path, explicit: str | None = None) -> tuple[str, str]:
    """Which reference standard the gold set is, and where that was learned.

    Order: the explicit option, else ``reference_standard`` in the protocol beside the
    gold file, else ``unknown``.
    """
    if explicit:
        canonical = _canonical_standard(explicit)
        if canonical is None:
            raise GoldSetError(
                None, f"unknown reference standard {explicit!r}; use title_abstract, full_text or unknown"
            )
        return canonical, "--reference-standard"
    protocol_path = find_protocol(gold_path)
    if protocol_path is None:
        return "unknown", "not stated (no --reference-standard, no protocol.yaml beside the gold file)"
    from winnow.protocol import load_protocol

    loaded = load_protocol(protocol_path)
    return loaded.protocol.reference_standard, str(protocol_path)


def describe_reference_standard(standard: str) -> tuple[str, str]:
    """A reader's name for the reference standard and what it does to specificity."""
    key = standard if standard in REFERENCE_STANDARDS else "unknown"
    return REFERENCE_STANDARDS[key], _SPECIFICITY_MEANING[key]


@dataclass
class GoldValidation:
    """What ``winnow gold validate`` found: errors fail the check, warnings do not."""

    folder: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "ok": self.ok,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            **self.summary,
        }


def _where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line is not None else str(path)


def validate_gold_dir(folder: str | Path) -> GoldValidation:
    """Check a gold set folder: records.csv, protocol.yaml and a SOURCE.md/README.md note.

    Every problem is collected, so one run lists all that needs fixing.
    """
    root = Path(folder)
    result = GoldValidation(folder=root)
    if not root.is_dir():
        result.errors.append(f"{root}: not a folder")
        return result
    records = root / "records.csv"
    scan = scan_gold(records)
    result.errors.extend(f"{_where(records, line)}: {problem}" for line, problem in scan.problems)
    n = len(scan.rows)
    n_included = sum(row.included for row in scan.rows)
    result.summary.update(
        n=n,
        n_included=n_included,
        n_excluded=n - n_included,
        prevalence=round(n_included / n, 4) if n else None,
    )
    if records.is_file() and not scan.problems:
        _check_records(records, scan, result)
    criterion_ids = _check_protocol(root, result)
    result.summary["criteria"] = criterion_ids
    _check_note(root, n, n_included, result)
    return result


def _check_records(records: Path, scan: _Scan, result: GoldValidation) -> None:
    n = len(scan.rows)
    if n == 0:
        result.errors.append(f"{records}: no labelled records")
        return
    n_included = sum(row.included for row in scan.rows)
    if n_included == 0:
        result.errors.append(f"{records}: no gold includes, so sensitivity cannot be estimated")
    if n_included == n:
        result.errors.append(f"{records}: no gold excludes, so specificity cannot be estimated")
    if not _pick_column(scan.columns, ("title", "primary_title")):
        result.errors.append(f"{records}: no title column")
    else:
        untitled = [row for row in scan.rows if not row.title.strip()]
        if untitled:
            result.errors.append(
                f"{_where(records, untitled[0].line)}: record {untitled[0].record_id} has no title"
                + (f" ({len(untitled)} records in all)" if len(untitled) > 1 else "")
            )
    if not _pick_column(scan.columns, ("abstract", "abstract_note")):
        result.warnings.append(f"{records}: no abstract column; screening would see titles only")
    else:
        empty = sum(1 for row in scan.rows if not row.abstract.strip())
        if empty:
            result.warnings.append(f"{records}: {empty} of {n} records have no abstract")


def _check_protocol(root: Path, result: GoldValidation) -> list[str]:
    path = find_protocol(root / "records.csv")
    if path is None:
        result.errors.append(f"{root}: no protocol.yaml")
        return []
    from winnow.protocol import load_protocol

    try:
        loaded = load_protocol(path)
    except WinnowError as exc:
        result.errors.append(exc.one_line())
        return []
    protocol = loaded.protocol
    result.summary["reference_standard"] = protocol.reference_standard
    if protocol.reference_standard == "unknown":
        result.errors.append(f"{path}: reference_standard is not set (title_abstract or full_text)")
    if not protocol.criteria.inclusion:
        result.warnings.append(f"{path}: no inclusion criteria, only exclusion criteria")
    return protocol.criterion_ids


_NOTE_TOPICS = {
    "origin": ("source", "origin", "derived", "written", "doi", "http"),
    "licence": ("licence", "license", "cc-by", "cc by", "cc0", "public domain"),
    "reference standard": (
        "reference standard",
        "title/abstract",
        "title_abstract",
        "full text",
        "full-text",
        "full_text",
    ),
    "prevalence": ("prevalence", "%"),
}


def _check_note(root: Path, n: int, n_included: int, result: GoldValidation) -> None:
    note = next(
        (root / name for name in ("SOURCE.md", "README.md", "SOURCE.txt", "README") if (root / name).is_file()), None
    )
    if note is None:
        result.errors.append(f"{root}: no SOURCE.md or README.md giving origin, licence and reference standard")
        return
    text = note.read_text(encoding="utf-8", errors="replace")
    lowered = text.lower()
    for topic, words in _NOTE_TOPICS.items():
        if not any(word in lowered for word in words):
            result.warnings.append(f"{note}: does not mention the {topic}")
    numbers = {int(m.replace(",", "")) for m in re.findall(r"\d[\d,]*", text) if m.replace(",", "").isdigit()}
    if n and n not in numbers:
        result.warnings.append(f"{note}: does not state the record count ({n}) found in records.csv")
    if n and n_included not in numbers:
        result.warnings.append(f"{note}: does not state the number of includes ({n_included}) found in records.csv")
