"""Labelled exports of other screening tools, read as include/exclude labels.

One reader per format, all returning the same ``LabelScan`` so that ``--gold``,
``prioritise --labels`` and a panel's ``--reviewer-labels`` accept any of them
through ``winnow.gold.scan_gold`` without a second reader:

- ``asreview``: ASReview LAB's labelled CSV/TSV/XLSX export (``included`` or
  ``asreview_label`` column next to ``asreview_*`` columns; empty or ``-1`` means
  not seen) and its RIS export (``ASReview_relevant`` / ``ASReview_irrelevant`` /
  ``ASReview_not_seen`` in an ``N1`` note).
- ``rayyan``: Rayyan's CSV (``notes`` column) or RIS (``N1``) export, where each
  reviewer's decision is written as ``RAYYAN-INCLUSION: {"Ann"=>"Included", ...}``.
- ``covidence``: Covidence's CSV export (a ``Covidence #`` column); the label is a
  decision/status column when present, else the list the file was exported from
  (``included``/``excluded``/``irrelevant`` in the file name).
- ``ris``: any RIS file whose label sits in ``LB``, a note (``N1``: ``include``,
  ``winnow: include``) or a keyword (``KW``: ``include``/``exclude``).

The plain ``record_id,label`` table stays in ``winnow.gold``. Records a tool left
undecided (not seen, maybe, reviewers in conflict) are not labels: they are listed
in ``skipped`` rather than guessed. Ids follow the readers' record_id rule; rows
also keep DOI, PMID and title so ``rekey`` can match a tool's own ids (Rayyan
keys, Covidence numbers) to winnow's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from winnow.errors import RecordSkip
from winnow.records.assemble import assemble_record
from winnow.records.encoding import TextSource
from winnow.records.normalise import clean_text, normalise_doi, normalise_pmid, title_key

__all__ = [
    "LABEL_FORMATS",
    "LabelRow",
    "LabelScan",
    "detect_table_format",
    "read_ris_labels",
    "read_tool_table",
    "rekey",
]

LABEL_FORMATS = ("table", "asreview", "rayyan", "covidence", "ris")

_INCLUDE_WORDS = frozenset({"include", "included", "relevant", "yes", "y", "1", "true", "accept", "accepted"})
_EXCLUDE_WORDS = frozenset(
    {"exclude", "excluded", "irrelevant", "no", "n", "0", "false", "reject", "rejected", "not relevant"}
)
_UNDECIDED_WORDS = frozenset({"", "-1", "maybe", "undecided", "not seen", "not_seen", "unsure", "uncertain"})
_RAYYAN = re.compile(r"RAYYAN-INCLUSION:\s*\{([^}]*)\}")
_RAYYAN_VOTE = re.compile(r'"([^"]*)"\s*=>\s*"([^"]*)"')
_ASREVIEW_NOTE = re.compile(r"\bASReview_(relevant|irrelevant|not_seen)\b")
_WINNOW_NOTE = re.compile(r"\bwinnow[ _-]?(?:decision)?\s*[:=]\s*(include|exclude|uncertain|error)\b", re.IGNORECASE)
_COVIDENCE_LISTS = (("irrelevant", False), ("excluded", False), ("included", True))


@dataclass(frozen=True)
class LabelRow:
    """One labelled record, where it was read, and what can match it to winnow's records."""

    record_id: str
    included: bool
    line: int
    title: str = ""
    abstract: str = ""
    doi: str = ""
    pmid: str = ""


@dataclass
class LabelScan:
    """Everything read from one labelled file: labels, problems (with lines) and unlabelled records."""

    format: str
    rows: list[LabelRow] = field(default_factory=list)
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    id_column: str = ""
    label_column: str = ""
    columns: list[str] = field(default_factory=list)


def _lower(columns: Iterable[str]) -> dict[str, str]:
    return {c.strip().strip("\ufeff").lower(): c for c in columns}


def detect_table_format(columns: list[str], first_rows: Sequence[Mapping[str, str]]) -> str:
    """Which tool wrote a table, from its header and first rows; ``table`` when none did.

    ASReview is recognised by its ``asreview_*`` columns, or ``included`` beside
    ``winnow_decision`` (``winnow export --to asreview``); a bare ``included`` column
    is an ordinary gold table, Covidence by ``Covidence #``, Rayyan by
    ``RAYYAN-INCLUSION`` in a ``notes`` column.
    """
    lowered = _lower(columns)
    if "covidence #" in lowered or "covidence number" in lowered:
        return "covidence"
    if any(name.startswith("asreview_") for name in lowered) or {"included", "winnow_decision"} <= set(lowered):
        return "asreview"
    notes = lowered.get("notes")
    if notes is not None and any("RAYYAN-INCLUSION" in (row.get(notes) or "") for row in first_rows):
        return "rayyan"
    return "table"


def _word_label(value: str) -> bool | str | None:
    """True/False for a label word, None for an undecided one, the text itself when unknown."""
    text = clean_text(value).lower()
    if text in _INCLUDE_WORDS:
        return True
    if text in _EXCLUDE_WORDS:
        return False
    if text in _UNDECIDED_WORDS:
        return None
    return value.strip()


def rayyan_label(notes: str) -> bool | str | None:
    """Rayyan's verdict from its notes: every reviewer agreeing, else None (not screened, maybe, or conflict).

    Returns the problem as text when a reviewer's decision is not a word Rayyan writes.
    """
    match = _RAYYAN.search(notes)
    if match is None:  # not screened in Rayyan yet
        return None
    votes = {_word_label(vote) for _, vote in _RAYYAN_VOTE.findall(match.group(1))}
    unknown = [v for v in votes if isinstance(v, str)]
    if unknown:
        return f"unknown Rayyan decision {unknown[0]!r}"
    if votes == {True}:
        return True
    if votes == {False}:
        return False
    return None


def _why_undecided(fmt: str, raw: str) -> str:
    if fmt == "rayyan":
        return "no decision, Maybe, or reviewers in conflict (RAYYAN-INCLUSION)"
    return f"not labelled ({raw.strip() or 'empty'})"


def read_tool_table(path: Path, rows: Iterator[tuple[int, dict[str, str]]], columns: list[str], fmt: str) -> LabelScan:
    """Labels from an ASReview, Rayyan or Covidence table (rows after the header, with their lines)."""
    scan = LabelScan(format=fmt, columns=columns)
    lowered = _lower(columns)
    id_column = _first(lowered, _ID_COLUMNS[fmt])
    label_column = _first(lowered, _LABEL_COLUMNS[fmt])
    file_label: bool | None = None
    if fmt == "covidence" and label_column is None:
        name = path.name.lower()
        file_label = next((value for word, value in _COVIDENCE_LISTS if word in name), None)
        if file_label is None:
            scan.problems.append(
                (
                    1,
                    "Covidence export without a decision column; export one list (included, excluded or"
                    " irrelevant) and keep that word in the file name, or add a 'decision' column",
                )
            )
            return scan
    elif label_column is None:
        scan.problems.append((1, f"{fmt} export without a label column ({', '.join(_LABEL_COLUMNS[fmt])})"))
        return scan
    scan.id_column = id_column or "(row number)"
    scan.label_column = label_column or f"(file name: {path.name})"
    meta = {name: _first(lowered, aliases) for name, aliases in _META_COLUMNS.items()}
    seen: dict[str, int] = {}
    for ordinal, (line, row) in enumerate(rows, start=1):
        doi = normalise_doi(row.get(meta["doi"] or "", "") or "")
        pmid = normalise_pmid(row.get(meta["pmid"] or "", "") or "")
        record_id = clean_text(row.get(id_column or "", "") or "") or pmid or f"n{ordinal}"
        if record_id in seen:
            scan.problems.append((line, f"duplicate {scan.id_column} {record_id!r} (first on line {seen[record_id]})"))
            continue
        seen[record_id] = line
        raw = row.get(label_column or "", "") or ""
        label = file_label if label_column is None else (rayyan_label(raw) if fmt == "rayyan" else _word_label(raw))
        if isinstance(label, str):
            what = label if fmt == "rayyan" else f"unknown label {label!r}"
            scan.problems.append((line, f"record {record_id}: {what} in column {scan.label_column}"))
            continue
        if label is None:
            scan.skipped.append(f"{path}:{line}: record {record_id}: {_why_undecided(fmt, raw)}")
            continue
        scan.rows.append(
            LabelRow(
                record_id=record_id,
                included=label,
                line=line,
                title=clean_text(row.get(meta["title"] or "", "") or ""),
                abstract=clean_text(row.get(meta["abstract"] or "", "") or ""),
                doi=doi,
                pmid=pmid,
            )
        )
    return scan


_ID_COLUMNS = {
    "asreview": ("record_id", "id", "key"),
    "rayyan": ("key", "record_id", "id"),
    "covidence": ("covidence #", "covidence number", "record_id", "id"),
}
_LABEL_COLUMNS = {
    "asreview": ("included", "asreview_label", "label_included", "label"),
    "rayyan": ("notes",),
    "covidence": ("decision", "status", "screening decision", "label", "included"),
}
_META_COLUMNS = {
    "title": ("title", "primary_title"),
    "abstract": ("abstract",),
    "doi": ("doi",),
    "pmid": ("pmid", "pubmed_id", "accession number", "pubmed id"),
}


def _first(lowered: Mapping[str, str], names: Iterable[str]) -> str | None:
    return next((lowered[name] for name in names if name in lowered), None)


def _ris_label(fields: Mapping[str, list[str]]) -> tuple[str, bool | str | None]:
    """(where the label was found, label) for one RIS record; ('', 'no label') when there is none."""
    notes = [v for name in ("notes", "N1") for v in fields.get(name, [])]
    for note in notes:
        if "RAYYAN-INCLUSION" in note:
            return "N1 (Rayyan)", rayyan_label(note)
    for note in notes:
        asreview = _ASREVIEW_NOTE.search(note)
        if asreview:
            word = asreview.group(1)
            return "N1 (ASReview)", None if word == "not_seen" else word == "relevant"
    for note in notes:
        winnow = _WINNOW_NOTE.search(note)
        if winnow:
            word = winnow.group(1).lower()
            return "N1 (winnow)", None if word in ("uncertain", "error") else word == "include"
    for tag in ("label", "LB"):
        for value in fields.get(tag, []):
            return "LB", _word_label(value)
    for note in notes:
        label = _word_label(note)
        if not isinstance(label, str):
            return "N1", label
    for value in fields.get("keywords", []) + fields.get("KW", []):
        label = _word_label(value.removeprefix("winnow:").strip())
        if isinstance(label, bool):
            return "KW", label
    return "", "no label in LB, N1 or KW"


def read_ris_labels(path: Path, text: str | TextSource) -> LabelScan:
    """Labels from an RIS export (ASReview, Rayyan, winnow's own, or LB/N1/KW by hand)."""
    from winnow.records.ris import read_ris

    scan = LabelScan(format="ris", id_column="ID (else PMID, else position)", label_column="LB, N1 or KW")
    seen: dict[str, int] = {}
    for item in read_ris(str(path), text):
        if isinstance(item, RecordSkip):
            scan.problems.append((item.line, item.problem))
            continue
        line = item.line or 0
        where, label = _ris_label(item.fields)
        if where.startswith("N1 ("):
            scan.format = where[4:-1].lower()
        try:
            record = assemble_record(str(path), item)
        except RecordSkip as skip:
            scan.problems.append((skip.line, skip.problem))
            continue
        if record.record_id in seen:
            scan.problems.append(
                (line, f"duplicate record id {record.record_id!r} (first on line {seen[record.record_id]})")
            )
            continue
        seen[record.record_id] = line
        if isinstance(label, str):
            scan.problems.append(
                (
                    line,
                    f"record {record.record_id}: {label}"
                    if not where
                    else f"record {record.record_id}: unknown label {label!r} in {where}",
                )
            )
            continue
        if label is None:
            scan.skipped.append(f"{path}:{line}: record {record.record_id}: not labelled ({where})")
            continue
        scan.rows.append(
            LabelRow(record.record_id, label, line, record.title, record.abstract, record.doi, record.pmid)
        )
    return scan


def rekey(rows: Iterable[LabelRow], known: Iterable[Mapping[str, str]]) -> list[LabelRow]:
    """Give rows winnow's record ids where the tool used its own (Rayyan key, Covidence #).

    A row whose id is already known keeps it; else the first known record with the
    same DOI, then PMID, then normalised title wins. Unmatched rows keep their id,
    so the usual "not in the decisions" check still names them.
    """
    known = list(known)
    ids = {str(k.get("record_id", "")) for k in known}
    by: dict[tuple[str, str], str] = {}
    for k in known:
        rid = str(k.get("record_id", ""))
        for kind, value in (
            ("doi", normalise_doi(str(k.get("doi", "") or ""))),
            ("pmid", normalise_pmid(str(k.get("pmid", "") or ""))),
            ("title", title_key(str(k.get("title", "") or ""))),
        ):
            if value:
                by.setdefault((kind, value), rid)
    out = []
    for row in rows:
        if row.record_id not in ids:
            for kind, value in (("doi", row.doi), ("pmid", row.pmid), ("title", title_key(row.title))):
                if value and (kind, value) in by:
                    row = replace(row, record_id=by[(kind, value)])
                    break
        out.append(row)
    return out
