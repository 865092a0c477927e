"""Disagreements as plain records, in the order a reviewer should settle them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from winnow.agreement.compare import UNDECIDED, Matched

__all__ = ["KINDS", "KIND_TITLES", "AuditItem", "collect_disagreements", "selection_columns"]

KINDS = ("fn", "uncertain", "fp", "flagged")
KIND_TITLES = {
    "fn": "gold include, model exclude (missed study)",
    "uncertain": "model uncertain or failed",
    "fp": "gold exclude, model include",
    "flagged": "agrees with gold, but the record contains instruction-like text",
}
FLAG_FOR_HUMAN = "instruction_like_text"


@dataclass(frozen=True)
class AuditItem:
    """One record where the model and the gold set disagree, with everything needed to judge it."""

    kind: str
    record_id: str
    title: str
    year: str
    abstract: str
    decision: str
    gold_included: bool
    p_include: float | None
    rationale: str
    criteria: list[tuple[str, str, str]] = field(default_factory=list)
    model: str = ""
    template_sha256: str = ""
    run_id: str = ""
    call_id: str = ""
    flags: str = ""
    error: str = ""

    @property
    def gold_label(self) -> str:
        return "include" if self.gold_included else "exclude"

    @property
    def decision_source(self) -> str:
        return "model"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "record_id": self.record_id,
            "title": self.title,
            "year": self.year,
            "abstract": self.abstract,
            "gold_label": self.gold_label,
            "model_decision": self.decision,
            "p_include": self.p_include,
            "rationale": self.rationale,
            "criteria": [{"id": cid, "verdict": verdict, "reason": reason} for cid, verdict, reason in self.criteria],
            "model": self.model,
            "template_sha256": self.template_sha256,
            "run_id": self.run_id,
            "call_id": self.call_id,
            "flags": self.flags,
            "error": self.error,
        }


def _kind(decision: str, included: bool, flags: str) -> str | None:
    """A record goes to a human when it disagrees, or when its text tried to steer the model."""
    if decision in UNDECIDED:
        return "uncertain"
    if included and decision == "exclude":
        return "fn"
    if not included and decision == "include":
        return "fp"
    if FLAG_FOR_HUMAN in flags:
        return "flagged"
    return None


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _risk(item: AuditItem, position: int) -> tuple[Any, ...]:
    """Sort key: group, then the most confident wrong answer first, then file order."""
    p = item.p_include
    if item.kind == "fn":
        return (KINDS.index(item.kind), 0, p if p is not None else math.inf, position)
    first = 0 if item.kind == "uncertain" and item.gold_included else 1
    return (KINDS.index(item.kind), first, -(p if p is not None else -math.inf), position)


def selection_columns(name: str) -> bool:
    """The columns that decide which records the audit lists; the rest is read for those records only."""
    return name in ("record_id", "decision", "flags")


def collect_disagreements(matched: Matched, *, only: str | None = None) -> list[AuditItem]:
    """Every disagreement in risk order, then flagged agreements; ``only`` keeps one kind.

    Only the listed records' whole rows are read (``Matched.full_rows``), so a frame of
    ``selection_columns`` suffices.
    """
    frame = matched.frame

    def cell(row: dict[str, Any], name: str) -> str:
        return str(row.get(name, "") or "").strip()

    decisions = frame["decision"].astype(str).str.strip().to_numpy()
    flags = frame["flags"].astype(str).to_numpy() if "flags" in frame.columns else [""] * len(frame)
    kinds = [
        _kind(decision, bool(included), str(flag))
        for decision, included, flag in zip(decisions, matched.included, flags, strict=True)
    ]
    keep = [i for i, kind in enumerate(kinds) if kind is not None and (only is None or kind == only)]
    if not keep:
        return []
    full = matched.full_rows(keep)
    columns = list(full.columns)
    criterion_ids = [c.split(":", 1)[1] for c in columns if c.startswith("criterion:")]
    subset = full.astype(object).to_numpy()
    items: list[tuple[AuditItem, int]] = []
    for position, values in zip(keep, subset, strict=True):
        row = dict(zip(columns, values, strict=True))
        kind = kinds[position]
        assert kind is not None
        record_id = cell(row, "record_id")
        gold_row = matched.gold.rows[record_id]
        item = AuditItem(
            kind=kind,
            record_id=record_id,
            title=cell(row, "title") or gold_row.title,
            year=cell(row, "year"),
            abstract=cell(row, "abstract") or gold_row.abstract,
            decision=cell(row, "decision"),
            gold_included=bool(matched.included[position]),
            p_include=_float(cell(row, "p_include")),
            rationale=cell(row, "rationale"),
            criteria=[(cid, cell(row, f"criterion:{cid}"), cell(row, f"reason:{cid}")) for cid in criterion_ids],
            model=cell(row, "served_model") or cell(row, "model"),
            template_sha256=cell(row, "template_sha256"),
            run_id=cell(row, "run_id"),
            call_id=cell(row, "call_id"),
            flags=cell(row, "flags"),
            error=cell(row, "error"),
        )
        items.append((item, position))
    items.sort(key=lambda pair: _risk(*pair))
    return [item for item, _ in items]
