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

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

from winnow.errors import RecordParseError, RecordSkip
from winnow.prefetch import prefetched
from winnow.records.assemble import RawRecord, assemble_record
from winnow.records.dedupe import DuplicateIndex, RepeatedIds
from winnow.records.encoding import open_text
from winnow.records.formats import BINARY_EXTENSIONS, text_reader_for
from winnow.records.model import ReadResult, Record
from winnow.records.store import RecordStore
from winnow.records.tables import read_xlsx

# A record assembled from an export, with the line it starts on; or why one was skipped.
Assembled = tuple[Record, int | None] | RecordSkip
# From an export this large on (about 2,500 records), records are parsed and assembled ahead by a forked child.
PREFETCH_MIN_BYTES = 4 << 20

__all__ = ["ReadResult", "Record", "read_records"]


def read_records(path: str | Path, *, merge_duplicates: bool = True) -> ReadResult:
    """Read one search export.

    The file is read as a stream: records are assembled, checked for repeated ids and
    merged with earlier copies one at a time, and kept in a ``RecordStore``, so memory
    grows by a few short keys per record, not by its text.

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
    warnings: list[str] = []
    if suffix in BINARY_EXTENSIONS:
        try:
            data = Path(shown).read_bytes()
        except OSError as exc:
            raise RecordParseError(shown, f"cannot read file ({exc.strerror or exc})") from exc
        if not data:
            raise RecordParseError(shown, "file is empty")
        size = len(data)

        def raw() -> Iterable[RawRecord | RecordSkip]:
            return read_xlsx(shown, data)
    else:
        source = open_text(shown)
        if source.warning:
            warnings.append(source.warning)
        reader = text_reader_for(shown, suffix, source)
        size = Path(shown).stat().st_size

        def raw() -> Iterable[RawRecord | RecordSkip]:
            return reader(shown, source)  # each call opens the file anew, with an offset of its own

    def assembled(start: int, ahead: bool) -> Iterator[Assembled]:
        return itertools.islice(_assembled(shown, raw()), start, None)

    items = prefetched(assembled, worth_it=size >= PREFETCH_MIN_BYTES)
    return _collect(shown, items, warnings, merge=merge_duplicates)


def _assembled(path: str, items: Iterable[RawRecord | RecordSkip]) -> Iterator[Assembled]:
    """Each raw record as a Record with the line it starts on, or why it is skipped: per-record work
    that needs nothing read before it, so a forked child can do it ahead (``winnow.prefetch``)."""
    for item in items:
        if isinstance(item, RecordSkip):
            yield item
            continue
        try:
            yield assemble_record(path, item), item.line
        except RecordSkip as skip:
            yield skip


def _collect(path: str, items: Iterable[Assembled], warnings: list[str], *, merge: bool) -> ReadResult:
    skips: list[RecordSkip] = []
    repeats: list[RecordSkip] = []
    store = RecordStore(path)
    repeated = RepeatedIds(path)
    duplicates = DuplicateIndex(store)
    for item in items:
        if isinstance(item, RecordSkip):
            skips.append(item)
            continue
        record, line = item
        repeat = repeated.check(record, line)
        if repeat is not None:
            repeats.append(repeat)
        elif not merge or duplicates.place(record, len(store)) == len(store):
            store.append(record)
    ordered = sorted(skips + repeats, key=lambda skip: (skip.line is None, skip.line or 0))
    if not store:
        first = ordered[0]
        raise RecordParseError(
            path, f"no usable record ({len(ordered)} skipped); first problem: {first.problem}", line=first.line
        )
    for index, ids in duplicates.absorbed.items():
        store.set_duplicates(index, tuple(ids))
    return ReadResult(
        path=path,
        records=store,
        skipped=[skip.one_line() for skip in ordered],
        duplicate_groups=duplicates.groups(),
        warnings=warnings,
    )
