"""Duplicate handling: repeated record ids, and the same paper exported twice.

Two records with one id would make every decision and gold label ambiguous, so
the later one is set aside. Two records describing the same paper would be
screened (and paid for) twice and inflate agreement figures, so they are merged
into the first one, which remembers the others' ids.
"""

from __future__ import annotations

from dataclasses import replace

from winnow.errors import RecordSkip
from winnow.records.model import Record
from winnow.records.normalise import title_key


def drop_repeated_ids(path: str, located: list[tuple[Record, int | None]]) -> tuple[list[Record], list[RecordSkip]]:
    """Keep the first record for each id; skip later ones, naming where the first was.

    Args:
        path: Shown in messages.
        located: Records in file order with the line each starts on (None if unknown).

    Returns:
        The records with unique ids, and one skip per repeat.
    """
    first_at: dict[str, str] = {}
    kept: list[Record] = []
    skips: list[RecordSkip] = []
    for position, (record, line) in enumerate(located, start=1):
        where = f"line {line}" if line is not None else f"record #{position}"
        if record.record_id in first_at:
            problem = f"duplicate record id {record.record_id} (first at {first_at[record.record_id]})"
            skips.append(RecordSkip(path, problem, line=line))
            continue
        first_at[record.record_id] = where
        kept.append(record)
    return kept, skips


def merge_duplicates(records: list[Record]) -> tuple[list[Record], list[tuple[str, ...]]]:
    """Fold records that are the same paper into the first of them.

    Two records are the same paper when they share a DOI (case- and
    prefix-insensitive), a PMID, or a normalised title plus year. The title
    match is refused when the two records carry different DOIs or different
    PMIDs, which is how a preprint and its journal version, or two errata with
    the same title, stay apart.

    Returns:
        The kept records in file order, each with ``duplicates`` filled in, and
        one ``(kept_id, *duplicate_ids)`` group per kept record that absorbed others.
    """
    owner: dict[tuple[str, str], int] = {}
    kept: list[Record] = []
    absorbed: dict[int, list[str]] = {}
    for record in records:
        index = _find_owner(record, owner, kept)
        if index is None:
            index = len(kept)
            kept.append(record)
        else:
            absorbed.setdefault(index, []).append(record.record_id)
        for key in _keys(record):
            owner.setdefault(key, index)
    for index, ids in absorbed.items():
        kept[index] = replace(kept[index], duplicates=tuple(ids))
    groups = [(kept[index].record_id, *ids) for index, ids in sorted(absorbed.items())]
    return kept, groups


def _keys(record: Record) -> list[tuple[str, str]]:
    keys = []
    if record.doi:
        keys.append(("doi", record.doi.casefold()))
    if record.pmid:
        keys.append(("pmid", record.pmid))
    title = title_key(record.title)
    if title:
        keys.append(("title", f"{title}|{record.year}"))
    return keys


def _find_owner(record: Record, owner: dict[tuple[str, str], int], kept: list[Record]) -> int | None:
    for kind, value in _keys(record):
        index = owner.get((kind, value))
        if index is None:
            continue
        if kind == "title" and _conflicting_ids(record, kept[index]):
            continue
        return index
    return None


def _conflicting_ids(a: Record, b: Record) -> bool:
    return bool((a.doi and b.doi and a.doi.casefold() != b.doi.casefold()) or (a.pmid and b.pmid and a.pmid != b.pmid))
