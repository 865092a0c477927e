"""Conflicts between the reviewers of a panel, riskiest first, for ``winnow audit --conflicts``.

No gold set is needed: a conflict is a record where the reviewers who answered gave
different decisions (the table's ``conflict`` column). Order:

1. someone included and someone excluded; among those, records the panel's combined
   decision excluded come first (a study could be lost), then uncertain, then include;
   then the larger share of includes first, then table order;
2. the rest (uncertain or failed against a decision), in the same order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from winnow.agreement.panel import PanelTable
from winnow.audit.adjudicate import Verdict
from winnow.audit.report import records_with_verdicts, settled_note

__all__ = [
    "CONFLICTS_SCHEMA",
    "CONFLICT_KINDS",
    "ConflictItem",
    "ReviewerAnswer",
    "collect_conflicts",
    "conflicts_json",
    "export_conflict_labels",
    "render_conflict",
    "render_conflicts",
]

CONFLICTS_SCHEMA = "winnow.audit.conflicts/1"
CONFLICT_KINDS = ("include_vs_exclude", "uncertain")
KIND_TITLES = {
    "include_vs_exclude": "one reviewer includes, another excludes",
    "uncertain": "uncertain or failed against a decision",
}
_COMBINED_RISK = {"exclude": 0, "uncertain": 1, "error": 1, "include": 2}
_DECISION_STYLE = {"include": "green", "exclude": "red", "uncertain": "yellow", "error": "yellow"}


@dataclass(frozen=True)
class ReviewerAnswer:
    """One reviewer's answer on a conflicting record."""

    name: str
    kind: str
    decision: str
    p_include: float | None
    verdicts: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "decision": self.decision,
            "p_include": self.p_include,
            "verdicts": self.verdicts,
        }


@dataclass(frozen=True)
class ConflictItem:
    """A record the reviewers disagree on, with each reviewer's answer."""

    kind: str
    record_id: str
    title: str
    year: str
    abstract: str
    decision: str
    combine: str
    answers: list[ReviewerAnswer] = field(default_factory=list)
    run_id: str = ""

    @property
    def decision_source(self) -> str:
        return "combined"

    @property
    def gold_label(self) -> None:
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "record_id": self.record_id,
            "title": self.title,
            "year": self.year,
            "abstract": self.abstract,
            "combined_decision": self.decision,
            "combine": self.combine,
            "reviewers": [answer.as_dict() for answer in self.answers],
            "run_id": self.run_id,
        }


def _float(value: float) -> float | None:
    return None if value != value else float(value)


def _kind(answers: Sequence[ReviewerAnswer]) -> str:
    given = {answer.decision for answer in answers}
    return "include_vs_exclude" if {"include", "exclude"} <= given else "uncertain"


def _risk(item: ConflictItem, position: int) -> tuple[int, int, float, int]:
    share = sum(answer.decision == "include" for answer in item.answers) / max(len(item.answers), 1)
    return (CONFLICT_KINDS.index(item.kind), _COMBINED_RISK.get(item.decision, 1), -share, position)


def collect_conflicts(panel: PanelTable) -> list[ConflictItem]:
    """Every conflicting record, riskiest first (see the module docstring)."""
    frame = panel.frame

    def cell(name: str, row: int) -> str:
        return str(frame[name].iloc[row]).strip() if name in frame.columns else ""

    found: list[tuple[ConflictItem, int]] = []
    for row in [int(i) for i in panel.conflict.nonzero()[0]]:
        answers = [
            ReviewerAnswer(r.name, r.kind, str(r.decisions[row]), _float(float(r.p_include[row])), str(r.verdicts[row]))
            for r in panel.reviewers
            if r.decisions[row]
        ]
        item = ConflictItem(
            kind=_kind(answers),
            record_id=cell("record_id", row),
            title=cell("title", row),
            year=cell("year", row),
            abstract=cell("abstract", row),
            decision=cell("decision", row),
            combine=panel.combine,
            answers=answers,
            run_id=cell("run_id", row),
        )
        found.append((item, row))
    found.sort(key=lambda pair: _risk(*pair))
    return [item for item, _ in found]


def render_conflict(item: ConflictItem, index: int, total: int, *, verdict: Mapping[str, Any] | None = None) -> Panel:
    """One conflict as a panel: the record, then each reviewer's decision and criterion verdicts."""
    heading = Text()
    heading.append(item.title or "(no title)", style="bold")
    if item.year:
        heading.append(f" ({item.year})")
    answers = Table(show_header=True, header_style="dim", box=None, padding=(0, 1), expand=True)
    answers.add_column("reviewer", ratio=2, overflow="fold")
    answers.add_column("decision", no_wrap=True)
    answers.add_column("P(incl.)", justify="right", no_wrap=True)
    answers.add_column("verdicts", ratio=3, overflow="fold")
    for answer in item.answers:
        answers.add_row(
            answer.name + (" (human)" if answer.kind == "human" and answer.name != "human" else ""),
            Text(answer.decision, style=_DECISION_STYLE.get(answer.decision, "")),
            "—" if answer.p_include is None else f"{answer.p_include:.2f}",
            answer.verdicts or "—",
        )
    combined = Text.assemble(("combined: ", "dim"), (item.decision, "bold"), f" (rule '{item.combine or '?'}')")
    body: list[RenderableType] = [heading, combined, answers]
    if verdict is not None:
        body.append(
            Text(
                f"settled: {verdict['final_label']} ({verdict['choice']}) by {verdict['who']} {verdict['created_at']}",
                style="green",
            )
        )
    body += [Text("Abstract", style="dim"), Text(item.abstract or "(no abstract)")]
    title = Text.assemble((f"{index}/{total} ", "dim"), ("CONFLICT", "bold red"), f"  {item.record_id}")
    return Panel(Group(*body), title=title, title_align="left", subtitle=KIND_TITLES[item.kind], subtitle_align="right")


def render_conflicts(
    panel: PanelTable, items: Sequence[ConflictItem], *, verdicts: Mapping[str, Mapping[str, Any]] | None = None
) -> Group:
    """The conflict audit: a summary, then one panel per conflict."""
    verdicts = verdicts or {}
    counts = Counter(item.kind for item in items)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("Decisions", str(panel.path))
    grid.add_row("Reviewers", ", ".join(r.label for r in panel.reviewers))
    grid.add_row(
        "Conflicts",
        f"{counts.get('include_vs_exclude', 0)} include vs exclude, {counts.get('uncertain', 0)} uncertain"
        f" of {len(panel.frame)} records (rule '{panel.combine or '?'}')",
    )
    grid.add_row("Order", "include against exclude first (combined exclude first), then uncertain")
    parts: list[RenderableType] = [Text("winnow audit --conflicts", style="bold underline"), grid]
    if not items:
        parts.append(Text("No conflicts.", style="green"))
    for index, item in enumerate(items, start=1):
        parts.append(render_conflict(item, index, len(items), verdict=verdicts.get(item.record_id)))
    if verdicts:
        parts.append(settled_note(items, verdicts))
    return Group(*parts)


def conflicts_json(
    panel: PanelTable, items: Sequence[ConflictItem], *, verdicts: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The ``--json`` twin of :func:`render_conflicts`."""
    counts = Counter(item.kind for item in items)
    return {
        "schema": CONFLICTS_SCHEMA,
        "decisions": str(panel.path),
        "combine": panel.combine,
        "reviewers": [{"name": r.name, "kind": r.kind} for r in panel.reviewers],
        "n_records": len(panel.frame),
        "counts": {kind: counts.get(kind, 0) for kind in CONFLICT_KINDS},
        "order": list(CONFLICT_KINDS),
        "records": records_with_verdicts(items, verdicts or {}),
    }


def export_conflict_labels(panel: PanelTable, verdicts: Mapping[str, Verdict], path: str | Path) -> Path:
    """Write every record's label after adjudication (CSV, XLSX or JSONL by suffix).

    ``label_included`` is the verdict where one was given, else the combined decision
    where the reviewers agreed on include or exclude, else empty (still open).
    """
    from winnow.screening.decisions import write_table

    columns = [
        "record_id", "title", "combined_decision", "conflict", "label_included",
        "adjudicated", "choice", "note", "who", "adjudicated_at",
    ]  # fmt: skip
    frame = panel.frame
    titles = frame["title"].astype(str).tolist() if "title" in frame.columns else [""] * len(frame)
    decisions = frame["decision"].astype(str).str.strip().tolist()
    rows = []
    for row, record_id in enumerate(panel.record_ids):
        verdict = verdicts.get(str(record_id))
        conflict = bool(panel.conflict[row])
        label = decisions[row] if not conflict and decisions[row] in ("include", "exclude") else ""
        if verdict is not None:
            label = verdict.final_label
        rows.append(
            {
                "record_id": record_id,
                "title": titles[row],
                "combined_decision": decisions[row],
                "conflict": conflict,
                "label_included": {"include": 1, "exclude": 0}.get(label),
                "adjudicated": "yes" if verdict else "",
                **(
                    {"choice": verdict.choice, "note": verdict.note, "who": verdict.who,
                     "adjudicated_at": verdict.created_at}
                    if verdict
                    else {}
                ),
            }
        )  # fmt: skip
    return write_table(path, rows, columns, what="adjudicated labels")
