"""From one reader's raw fields to a Record, with the record_id rule applied.

Readers only split a file into records and report where each starts; they do not
know about aliases, years, DOIs or ids. Keeping that here means every format
gets exactly the same normalisation, which is what makes the same records
exported as RIS, MEDLINE, BibTeX, CSV and XLSX compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from winnow.errors import RecordSkip
from winnow.records.aliases import resolve_fields
from winnow.records.model import Record
from winnow.records.normalise import clean_text, normalise_doi, normalise_pmid, normalise_year


@dataclass
class RawRecord:
    """One record as a reader found it, before aliases are resolved.

    Attributes:
        fields: Field name as the export spelled it, to its values in order.
        ordinal: 1-based position among the records of the file.
        line: Physical line (or spreadsheet row) where the record starts, if known.
        explicit_id: An id the format carries outside its fields (BibTeX key,
            MEDLINE PMID); empty when the id, if any, is one of the fields.
    """

    fields: dict[str, list[str]]
    ordinal: int
    line: int | None = None
    explicit_id: str = ""


def locate(path: str, raw: RawRecord) -> str:
    """``file:line`` where the line is known, else ``file#ordinal``."""
    return f"{path}:{raw.line}" if raw.line is not None else f"{path}#{raw.ordinal}"


def assemble_record(path: str, raw: RawRecord) -> Record:
    """Build the Record, or explain in one line why this record cannot be screened.

    Args:
        path: The export the record came from, for ``source`` and messages.
        raw: What the reader found.

    Returns:
        The normalised record. Its ``record_id`` is the format's explicit id,
        else the PMID, else ``n<ordinal>``.

    Raises:
        RecordSkip: The record has neither a title nor an abstract.
    """
    values = resolve_fields(raw.fields)

    def first(name: str) -> str:
        return clean_text(values[name][0]) if name in values else ""

    title = first("title")
    abstract = first("abstract")
    pmid = next((p for p in map(normalise_pmid, values.get("pmid", [])) if p), "")
    record_id = clean_text(raw.explicit_id) or first("record_id") or pmid or f"n{raw.ordinal}"
    if not title and not abstract:
        raise RecordSkip(path, "no title and no abstract", line=raw.line, record=record_id)
    return Record(
        record_id=record_id,
        title=title,
        abstract=abstract,
        year=next((y for y in map(normalise_year, values.get("year", [])) if y), ""),
        doi=next((d for d in map(normalise_doi, values.get("doi", [])) if d), ""),
        pmid=pmid,
        authors=_split_list(values.get("authors", [])),
        journal=first("journal"),
        keywords=_split_list(values.get("keywords", [])),
        source=locate(path, raw),
    )


def _split_list(values: list[str]) -> tuple[str, ...]:
    """Spreadsheets put a whole list in one cell, separated by semicolons."""
    if len(values) == 1 and ";" in values[0]:
        values = values[0].split(";")
    return tuple(item for item in (clean_text(v) for v in values) if item)
