"""Read search exports into normalised, de-duplicated Records.

Supported: RIS (``.ris``), PubMed MEDLINE (``.nbib``, ``.medline``), BibTeX
(``.bib``), CSV/TSV (``.csv``, ``.tsv``; ``,`` ``;`` tab or ``|`` sniffed from the
header), XLSX (first sheet), and ``.txt`` or unknown extensions whose content is
RIS, MEDLINE or BibTeX. Field names are resolved through ``aliases.py`` only.

record_id rule, the same for every format:

1. the format's own explicit id if present: the ``record_id``/``id``/``key``
   column of a CSV/TSV/XLSX, the RIS ``ID`` tag, the BibTeX entry key, the
   MEDLINE ``PMID``;
2. else the record's PMID (``pmid``/``pubmed_id`` column, RIS ``AN`` when it
   is all digits);
3. else ``n<ordinal>``, the record's 1-based position in the file.

Ids are stripped strings. A later record repeating an id is skipped
("duplicate record id X (first at line N)"). Records that are the same paper
(same DOI, PMID, or normalised title plus year) are merged into the first; see
``dedupe.merge_duplicates``.

Problems with one record never stop the batch: they become one-line entries in
``ReadResult.skipped`` (``file:line: problem``). Problems with the whole file
raise ``RecordParseError``. A file that had to be decoded as cp1252/latin-1
instead of UTF-8 says so in ``ReadResult.warnings``.
"""

from __future__ import annotations

from pathlib import Path

from winnow.errors import RecordParseError, RecordSkip
from winnow.records.assemble import RawRecord, assemble_record
from winnow.records.dedupe import drop_repeated_ids, merge_duplicates
from winnow.records.encoding import decode_text
from winnow.records.formats import BINARY_EXTENSIONS, text_reader_for
from winnow.records.model import ReadResult, Record
from winnow.records.tables import read_xlsx

__all__ = ["ReadResult", "Record", "read_records"]


def read_records(path: str | Path, *, merge_duplicates: bool = True) -> ReadResult:
    """Read one search export.

    Args:
        path: The export file; its extension picks the format (``.txt`` and
            unknown extensions are recognised by content).
        merge_duplicates: Merge records that are the same paper. Off only where
            the rows must stay as given, as when a benchmark compares tools on
            the same rows.

    Returns:
        The unique, screenable records in file order, the one-line reasons for
        every record set aside, the duplicate groups, and encoding warnings.

    Raises:
        RecordParseError: The file is missing, empty, binary, of unknown format,
            lacks a title column, or yields no usable record at all.
    """
    shown = str(path)
    suffix = Path(shown).suffix.lower()
    try:
        data = Path(shown).read_bytes()
    except OSError as exc:
        raise RecordParseError(shown, f"cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise RecordParseError(shown, "file is empty")
    warnings: list[str] = []
    if suffix in BINARY_EXTENSIONS:
        items = read_xlsx(shown, data)
    else:
        decoded = decode_text(shown, data)
        if decoded.warning:
            warnings.append(decoded.warning)
        items = text_reader_for(shown, suffix, decoded.text)(shown, decoded.text)
    return _collect(shown, items, warnings, merge=merge_duplicates)


def _collect(path: str, items: list[RawRecord | RecordSkip], warnings: list[str], *, merge: bool) -> ReadResult:
    skips: list[RecordSkip] = []
    located: list[tuple[Record, int | None]] = []
    for item in items:
        if isinstance(item, RecordSkip):
            skips.append(item)
            continue
        try:
            located.append((assemble_record(path, item), item.line))
        except RecordSkip as skip:
            skips.append(skip)
    unique, repeats = drop_repeated_ids(path, located)
    ordered = sorted(skips + repeats, key=lambda skip: (skip.line is None, skip.line or 0))
    if not unique:
        first = ordered[0]
        raise RecordParseError(
            path, f"no usable record ({len(ordered)} skipped); first problem: {first.problem}", line=first.line
        )
    records, groups = merge_duplicates(unique) if merge else (unique, [])
    return ReadResult(
        path=path,
        records=records,
        skipped=[skip.one_line() for skip in ordered],
        duplicate_groups=groups,
        warnings=warnings,
    )
