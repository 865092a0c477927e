"""How the evidence of a full-text run went, item by item (extraction field or criterion).

A reviewer decides which columns of an extraction table to trust, and a methods
section has to say how many values rested on a quote found in the paper. The
table already holds an ``evidence:ITEM`` status per PDF; this counts them, so the
end of every full-text run shows, per item, how many values verified, which
quotes were not found or sat on another page, and what was not reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from winnow.extraction.evidence import EVIDENCE_STATUSES

# Full-text screening adds "conflict": verified quotes that support opposite verdicts.
TALLY_STATUSES: tuple[str, ...] = (*EVIDENCE_STATUSES, "conflict")
ANSWERED_ROW_STATUSES = frozenset({"ok", "partial"})


def evidence_tally(rows: Iterable[Mapping[str, Any]], items: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per item, how many answered PDFs had each evidence status.

    PDFs that were never answered (unreadable, needs OCR, every call failed) have
    no evidence to count; the run summary lists them as skipped or undecided.
    Extraction rows carry ``status``; full-text screening rows carry ``decision``.
    """
    tally = {item: dict.fromkeys(TALLY_STATUSES, 0) for item in items}
    for row in rows:
        if not _answered(row):
            continue
        for item in items:
            status = str(row.get(f"evidence:{item}") or "")
            if status:
                counts = tally[item]
                counts[status] = counts.get(status, 0) + 1
    return tally


def _answered(row: Mapping[str, Any]) -> bool:
    if "status" in row and row["status"] is not None:
        return str(row["status"]) in ANSWERED_ROW_STATUSES
    return row.get("decision") not in (None, "", "error")
