"""Duplicate handling: repeated record ids, and the same paper exported twice.

Two records with one id would make every decision and gold label ambiguous, so
the later one is set aside. Two records describing the same paper would be
screened (and paid for) twice and inflate agreement figures, so they are merged
into the first one, which remembers the others' ids.

Both checks look only at records seen before, so they run as the reader hands
records over, one at a time, keeping short keys rather than the records: a
million-record export is de-duplicated without holding its abstracts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from winnow.errors import RecordSkip
from winnow.records.model import Record
from winnow.records.normalise import title_key


class RepeatedIds:
    """Where each record id was first seen; a later record with the same id is skipped."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._first: dict[str, int] = {}  # a line (> 0), or minus the record's position when no line is known
        self._position = 0

    def check(self, record: Record, line: int | None) -> RecordSkip | None:
        """The skip for a repeated id (naming where the first one was), or None for a new id."""
        self._position += 1
        first = self._first.get(record.record_id)
        if first is not None:
            where = f"line {first}" if first > 0 else f"record #{-first}"
            return RecordSkip(self.path, f"duplicate record id {record.record_id} (first at {where})", line=line)
        self._first[record.record_id] = line if line is not None else -self._position
        return None


class DuplicateIndex:
    """Finds, for each new record, the earlier kept record that is the same paper.

    Two records are the same paper when they share a DOI (case- and
    prefix-insensitive), a PMID, or a normalised title plus year. The title
    match is refused when the two records carry different DOIs or different
    PMIDs, which is how a preprint and its journal version, or two errata with
    the same title, stay apart.
    """

    def __init__(self, kept: Sequence[Record]) -> None:
        self._kept = kept
        self._owner: dict[str, int] = {}
        self.absorbed: dict[int, list[str]] = {}

    def place(self, record: Record, new_index: int) -> int:
        """Where ``record`` belongs: the index of the kept record it duplicates, else ``new_index``.

        When ``new_index`` comes back, the caller keeps the record there before placing the next.
        """
        keys = _keys(record)
        owner = self._find(record, keys)
        if owner is None:
            owner = new_index
        else:
            self.absorbed.setdefault(owner, []).append(record.record_id)
        for key in keys:
            self._owner.setdefault(key, owner)
        return owner

    def _find(self, record: Record, keys: list[str]) -> int | None:
        for key in keys:
            index = self._owner.get(key)
            if index is None:
                continue
            if key[0] == "t" and _conflicting_ids(record, self._kept[index]):
                continue
            return index
        return None

    def groups(self) -> list[tuple[str, ...]]:
        """One ``(kept_id, *duplicate_ids)`` group per kept record that absorbed others, in file order."""
        return [(self._kept[index].record_id, *ids) for index, ids in sorted(self.absorbed.items())]


def merge_duplicates(records: Iterable[Record]) -> tuple[list[Record], list[tuple[str, ...]]]:
    """Fold records that are the same paper (see ``DuplicateIndex``) into the first of them.

    Returns:
        The kept records in file order, each with ``duplicates`` filled in, and
        one ``(kept_id, *duplicate_ids)`` group per kept record that absorbed others.
    """
    kept: list[Record] = []
    index = DuplicateIndex(kept)
    for record in records:
        if index.place(record, len(kept)) == len(kept):
            kept.append(record)
    groups = index.groups()
    for position, ids in index.absorbed.items():
        kept[position] = replace(kept[position], duplicates=tuple(ids))
    return kept, groups


def _keys(record: Record) -> list[str]:
    """The record's match keys, each led by its kind: d(oi), p(mid), t(itle and year)."""
    keys = []
    if record.doi:
        keys.append("d" + record.doi.casefold())
    if record.pmid:
        keys.append("p" + record.pmid)
    title = title_key(record.title)
    if title:
        keys.append(f"t{title}|{record.year}")
    return keys


def _conflicting_ids(a: Record, b: Record) -> bool:
    return bool((a.doi and b.doi and a.doi.casefold() != b.doi.casefold()) or (a.pmid and b.pmid and a.pmid != b.pmid))
