"""Decisions back out to reference managers and other screening tools.

- ``ris``: each record with its original fields (from the ``--records`` export when
  given, else what the decisions table holds) plus winnow's decision in fields
  Zotero and EndNote keep: ``LB`` (label: the decision), ``KW`` (``winnow:include``),
  ``N1`` notes (``winnow decision: include``, the criteria verdicts with reasons,
  the run id and model). ``winnow.records.labels`` reads these notes back.
- ``asreview``: ASReview LAB's labelled table (``included`` 1/0, empty for records
  not decided, so ASReview treats them as unlabelled) plus ``winnow_*`` columns.
- ``csv``: winnow's gold format, ``record_id,label`` with the decision's details.

A human verdict in the ledger (``winnow audit --adjudicate``) is the decision in force.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from winnow.errors import InputError, RecordSkip

__all__ = ["EXPORT_FORMATS", "decision_rows", "export_decisions", "ris_entries"]

EXPORT_FORMATS = ("ris", "asreview", "csv")
_SUFFIX = {"ris": ".ris", "asreview": ".asreview.csv", "csv": ".labels.csv"}
_SCALAR_FROM_TABLE = {"title": "title", "abstract": "abstract", "year": "year", "doi": "doi"}


def decision_rows(decisions: Path, ledger: Path | None) -> list[dict[str, str]]:
    """The decisions table's rows with ``final`` (the decision in force) and ``reasons`` filled in."""
    from winnow.audit.adjudicate import default_ledger_path
    from winnow.prisma import adjudicated_verdicts, read_rows

    rows = read_rows(decisions, "decisions")
    verdicts = adjudicated_verdicts(ledger or default_ledger_path(decisions), decisions)
    for row in rows:
        verdict = verdicts.get(row["record_id"])
        row["final"] = verdict[0] if verdict else row["decision"]
        row["adjudicated"] = "true" if verdict else "false"
        row["reasons"] = "; ".join(
            f"{c.split(':', 1)[1]}={v}"
            + (f": {row.get('reason:' + c.split(':', 1)[1], '')}" if row.get("reason:" + c.split(":", 1)[1]) else "")
            for c, v in row.items()
            if c.startswith("criterion:") and v
        )
    return rows


def _winnow_notes(row: Mapping[str, str]) -> list[str]:
    notes = [f"winnow decision: {row['final']}"]
    if row.get("adjudicated") == "true":
        notes.append(f"winnow model decision: {row['decision']} (overridden by a reviewer)")
    if row.get("reasons"):
        notes.append(f"winnow reasons: {row['reasons']}")
    run = ", ".join(f"{k} {row[k]}" for k in ("run_id", "model") if row.get(k))
    if run:
        notes.append(f"winnow run: {run}")
    return notes


def _original_entries(records: Path) -> dict[str, dict[str, Any]]:
    """rispy entries keyed by winnow's record id, for RIS inputs; other formats give normalised fields."""
    from winnow.records import read_records

    read = read_records(records, merge_duplicates=False)
    if records.suffix.lower() != ".ris":
        return {r.record_id: _entry_from_record(r) for r in read.records}
    import rispy

    from winnow.records.assemble import assemble_record
    from winnow.records.encoding import open_text
    from winnow.records.ris import read_ris

    text = open_text(str(records)).read()
    lines = text.split("\n")
    entries: dict[str, dict[str, Any]] = {}
    for item in read_ris(str(records), text):
        if isinstance(item, RecordSkip) or item.line is None:
            continue
        try:
            rid = assemble_record(str(records), item).record_id
        except InputError:
            continue
        end = next(i for i in range(item.line - 1, len(lines)) if lines[i].startswith("ER  -"))
        parsed = rispy.loads("\n".join(lines[item.line - 1 : end + 1]))
        if parsed:
            entries.setdefault(rid, parsed[0])
    return entries


def _entry_from_record(record: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"type_of_reference": "JOUR", "id": record.record_id, "title": record.title}
    for key, value in (
        ("abstract", record.abstract),
        ("year", record.year),
        ("doi", record.doi),
        ("journal_name", record.journal),
        ("accession_number", record.pmid),
    ):
        if value:
            entry[key] = value
    if record.authors:
        entry["authors"] = list(record.authors)
    if record.keywords:
        entry["keywords"] = list(record.keywords)
    return entry


def ris_entries(rows: Sequence[Mapping[str, str]], originals: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One rispy entry per decision: the original fields, then winnow's label, keyword and notes."""
    entries = []
    for row in rows:
        entry = dict(originals.get(row["record_id"]) or {})
        if not entry:
            entry = {"type_of_reference": "JOUR", "id": row["record_id"]}
            entry.update({key: row[col] for key, col in _SCALAR_FROM_TABLE.items() if row.get(col)})
            if row.get("pmid"):
                entry["accession_number"] = row["pmid"]
        entry.setdefault("id", row["record_id"])
        entry["label"] = row["final"]
        entry["keywords"] = [*entry.get("keywords", []), f"winnow:{row['final']}"]
        entry["notes"] = [*entry.get("notes", []), *_winnow_notes(row)]
        entries.append(entry)
    return entries


def _asreview_rows(rows: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    return [
        {
            "record_id": row["record_id"],
            "title": row.get("title", ""),
            "abstract": row.get("abstract", ""),
            "year": row.get("year", ""),
            "doi": row.get("doi", ""),
            "pmid": row.get("pmid", ""),
            "included": {"include": "1", "exclude": "0"}.get(row["final"], ""),
            "winnow_decision": row["final"],
            "winnow_reasons": row.get("reasons", ""),
            "winnow_run_id": row.get("run_id", ""),
        }
        for row in rows
    ]


def _plain_writer() -> type:
    import rispy

    class PlainRisWriter(rispy.RisWriter):  # type: ignore[misc]  # rispy ships no type hints
        """rispy's writer without the ``1.`` line it puts before each record, which is not RIS."""

        def set_header(self, count: int) -> str:
            return ""

    return PlainRisWriter


def export_decisions(
    decisions: Path, to: str, *, records: Path | None = None, out: Path | None = None, ledger: Path | None = None
) -> Path:
    """Write the decisions as RIS, an ASReview labelled table or a gold CSV; returns the file written.

    Raises:
        InputError: unknown format, unreadable inputs, or the output cannot be written.
    """
    if to not in EXPORT_FORMATS:
        raise InputError(None, f"unknown export format {to!r}; use one of {', '.join(EXPORT_FORMATS)}")
    rows = decision_rows(decisions, ledger)
    target = out or decisions.with_name(decisions.stem + _SUFFIX[to])
    if to == "ris":
        import rispy

        originals = _original_entries(records) if records else {}
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="utf-8") as handle:
                rispy.dump(ris_entries(rows, originals), handle, implementation=_plain_writer())
        except OSError as exc:
            raise InputError(target, f"cannot write RIS: {exc.strerror or exc}") from exc
        return target
    from winnow.screening.decisions import write_table

    if to == "asreview":
        table = _asreview_rows(rows)
        return write_table(target, table, list(table[0]) if table else ["record_id", "included"], what="export")
    table = [
        {
            "record_id": r["record_id"],
            "title": r.get("title", ""),
            "label": r["final"],
            "model_decision": r["decision"],
            "adjudicated": r["adjudicated"],
            "reasons": r["reasons"],
            "run_id": r.get("run_id", ""),
        }
        for r in rows
    ]
    columns = ["record_id", "title", "label", "model_decision", "adjudicated", "reasons", "run_id"]
    return write_table(target, table, columns, what="export")
