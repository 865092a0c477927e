"""Terminal and JSON views of the audit; both built from the same items."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from winnow.agreement.compare import Matched
from winnow.agreement.report import model_warnings
from winnow.audit.items import KIND_TITLES, KINDS, AuditItem

__all__ = ["SCHEMA", "audit_json", "records_with_verdicts", "render_audit", "render_item", "settled_note"]

SCHEMA = "winnow.audit/1"
_KIND_STYLE = {"fn": "bold red", "uncertain": "bold yellow", "fp": "bold blue", "flagged": "bold magenta"}
_VERDICT_STYLE = {"met": "green", "not_met": "red", "unclear": "yellow"}


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def render_item(item: AuditItem, index: int, total: int, *, verdict: Mapping[str, Any] | None = None) -> Panel:
    """One disagreement as a panel: what the model saw, what it said and why, and the gold label."""
    body: list[RenderableType] = []
    heading = Text()
    heading.append(item.title or "(no title)", style="bold")
    if item.year:
        heading.append(f" ({item.year})")
    body.append(heading)

    facts = Table.grid(padding=(0, 1))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column(overflow="fold")
    facts.add_row(
        "gold",
        Text.assemble(
            (item.gold_label, "bold"), "   model: ", (item.decision, "bold"), f"   P(include): {_p(item.p_include)}"
        ),
    )
    if item.flags:
        facts.add_row("flags", item.flags)
    if item.error:
        facts.add_row("error", Text(item.error, style="red"))
    if verdict is not None:
        facts.add_row(
            "settled",
            Text(
                f"{verdict['final_label']} ({verdict['choice']}) by {verdict['who']} {verdict['created_at']}",
                style="green",
            ),
        )
    body.append(facts)

    body.append(Text("Abstract", style="dim"))
    body.append(Text(item.abstract or "(no abstract)", style="" if item.abstract else "italic dim"))

    if item.criteria:
        criteria = Table(show_header=True, header_style="dim", box=None, padding=(0, 1), expand=True)
        criteria.add_column("criterion", no_wrap=False, ratio=1, overflow="fold")
        criteria.add_column("verdict", no_wrap=True)
        criteria.add_column("reason", ratio=4, overflow="fold")
        for cid, verdict_text, reason in item.criteria:
            criteria.add_row(
                cid, Text(verdict_text.replace("_", " ") or "—", style=_VERDICT_STYLE.get(verdict_text, "")), reason
            )
        body.append(criteria)
    body.append(Text.assemble(("Rationale: ", "dim"), item.rationale or "—"))

    trace = " · ".join(
        part
        for part in (
            f"model {item.model}" if item.model else "",
            f"template {item.template_sha256[:12]}" if item.template_sha256 else "",
            f"run {item.run_id}" if item.run_id else "",
            f"call {item.call_id}" if item.call_id else "",
        )
        if part
    )
    if trace:
        body.append(Text(trace, style="dim"))
    title = Text.assemble(
        (f"{index}/{total} ", "dim"), (item.kind.upper(), _KIND_STYLE[item.kind]), f"  {item.record_id}"
    )
    return Panel(Group(*body), title=title, title_align="left", subtitle=KIND_TITLES[item.kind], subtitle_align="right")


def _summary(matched: Matched, items: Sequence[AuditItem], only: str | None) -> RenderableType:
    counts = Counter(item.kind for item in items)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("Decisions", str(matched.decisions_path))
    grid.add_row("Gold", f"{matched.gold.path} ({matched.gold.reference_standard})")
    grid.add_row(
        "Disagreements",
        ", ".join(f"{counts.get(kind, 0)} {kind}" for kind in KINDS if only in (None, kind))
        + f" of {matched.n} records compared",
    )
    left_out = len(matched.not_in_gold) + len(matched.not_in_decisions)
    if left_out:
        grid.add_row(
            "Not compared",
            f"{len(matched.not_in_gold)} without gold label, {len(matched.not_in_decisions)} without decision",
        )
    grid.add_row("Order", "missed studies (FN) first, then uncertain, then FP; most confident first")
    for warning in model_warnings(sorted({item.model for item in items if item.model})):
        grid.add_row(Text("Warning", style="bold yellow"), Text(warning, style="yellow"))
    return grid


def render_audit(
    matched: Matched,
    items: Sequence[AuditItem],
    *,
    only: str | None = None,
    verdicts: Mapping[str, Mapping[str, Any]] | None = None,
) -> Group:
    """The whole audit report: a summary, then one panel per disagreement."""
    verdicts = verdicts or {}
    parts: list[RenderableType] = [Text("winnow audit", style="bold underline"), _summary(matched, items, only)]
    if not items:
        parts.append(Text("No disagreements.", style="green"))
    for index, item in enumerate(items, start=1):
        parts.append(render_item(item, index, len(items), verdict=verdicts.get(item.record_id)))
    if verdicts:
        parts.append(settled_note(items, verdicts))
    return Group(*parts)


class _Listed(Protocol):
    @property
    def record_id(self) -> str: ...

    def as_dict(self) -> dict[str, Any]: ...


def records_with_verdicts(items: Sequence[_Listed], verdicts: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each item as a dict with the verdict in force (or None) under ``adjudication``."""
    records = []
    for item in items:
        entry = item.as_dict()
        verdict = verdicts.get(item.record_id)
        entry["adjudication"] = dict(verdict) if verdict is not None else None
        records.append(entry)
    return records


def settled_note(items: Sequence[_Listed], verdicts: Mapping[str, Mapping[str, Any]]) -> Text:
    """How many of the listed records have a verdict in the ledger."""
    settled = sum(1 for item in items if item.record_id in verdicts)
    return Text(f"{settled} of {len(items)} settled in the ledger.", style="dim")


def audit_json(
    matched: Matched,
    items: Sequence[AuditItem],
    *,
    only: str | None = None,
    verdicts: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``--json`` twin of :func:`render_audit`."""
    counts = Counter(item.kind for item in items)
    records = records_with_verdicts(items, verdicts or {})
    return {
        "schema": SCHEMA,
        "decisions": str(matched.decisions_path),
        "gold": str(matched.gold.path),
        "reference_standard": matched.gold.reference_standard,
        "only": only,
        "n_compared": matched.n,
        "counts": {kind: counts.get(kind, 0) for kind in KINDS},
        "order": list(KINDS),
        "not_in_gold": matched.not_in_gold,
        "not_in_decisions": matched.not_in_decisions,
        "records": records,
        "warnings": model_warnings(sorted({item.model for item in items if item.model})),
    }
