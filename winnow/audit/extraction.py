"""The extraction audit: every (PDF, field) where the model and the gold disagree, with both quotes.

Order: field by field in gold order; within a field, pairs where the model gave no
answer at all first, then values the model missed (gold reported, model not), then
wrong values, then values the model reported that the gold says are not reported.
The model's evidence status is shown next to its quote, so an unverified quote is
never shown as if it were fine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from winnow.agreement.extraction import MatchedExtraction, Pair

__all__ = ["collect_field_disagreements", "extraction_audit_json", "render_extraction_audit"]

_ORDER = {"no_answer": 0, "gold_only": 1, "value": 2, "model_only": 3}
_KIND_TEXT = {
    "no_answer": "no model answer (PDF or call failed)",
    "gold_only": "model says not reported; gold has a value",
    "value": "values differ",
    "model_only": "model reports a value; gold says not reported",
}
_EVIDENCE_STYLE = {"verified": "green", "verified_fuzzy": "green", "wrong_page": "yellow"}


def collect_field_disagreements(matched: MatchedExtraction, *, field: str | None = None) -> list[Pair]:
    """The disagreeing pairs, riskiest first within each field (see module docstring)."""
    order = {name: i for i, name in enumerate(dict.fromkeys(p.field for p in matched.pairs))}
    items = [p for p in matched.pairs if not p.agree and (field is None or p.field == field)]
    return sorted(items, key=lambda p: (order[p.field], _ORDER[p.kind], p.record_id))


def _value(value: Any) -> str:
    if value is None or value == []:
        return "not reported"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _gold_quote(pair: Pair) -> str:
    quote, page = pair.gold.quote, pair.gold.page
    if quote is None:
        return "-"
    quotes = quote if isinstance(quote, list) else [quote]
    pages = page if isinstance(page, list) else [page] * len(quotes)
    return " | ".join(f"p{p}: “{q}”" for q, p in zip(quotes, pages, strict=False))


def _pair_json(pair: Pair) -> dict[str, Any]:
    return {
        "record_id": pair.record_id,
        "field": pair.field,
        "type": pair.spec.type,
        "kind": pair.kind,
        "model": {"value": pair.model_value, "quote": pair.model_quote, "page": pair.model_page,
                  "evidence": pair.evidence},
        "gold": {"value": pair.gold.value, "quote": pair.gold.quote, "page": pair.gold.page,
                 "not_reported": pair.gold.not_reported, "note": pair.gold.note},
        "comparison": pair.comparison,
    }  # fmt: skip


def extraction_audit_json(matched: MatchedExtraction, items: Sequence[Pair]) -> dict[str, Any]:
    return {
        "extraction": str(matched.table_path),
        "gold": str(matched.gold.path),
        "n_pairs": len(matched.pairs),
        "n_disagreements": len(items),
        "by_kind": {kind: sum(1 for p in items if p.kind == kind) for kind in _ORDER},
        "disagreements": [_pair_json(p) for p in items],
    }


def render_pair(pair: Pair, index: int, total: int) -> Panel:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    style = _EVIDENCE_STYLE.get(pair.evidence, "red")
    grid.add_row("model", Text(_value(pair.model_value)))
    if pair.model_quote:
        page = f"p{pair.model_page}: " if pair.model_page else ""
        grid.add_row("  quote", Text(f"{page}“{pair.model_quote}”"))
    grid.add_row("  evidence", Text(pair.evidence, style=style))
    grid.add_row("gold", Text(_value(pair.gold.value)))
    grid.add_row("  quote", Text(_gold_quote(pair)))
    if pair.gold.note:
        grid.add_row("  note", Text(pair.gold.note, style="dim"))
    if "ratio" in pair.comparison:
        grid.add_row("match", Text(f"fuzzy ratio {pair.comparison['ratio']:.2f}"))
    if "jaccard" in pair.comparison:
        grid.add_row("match", Text(f"Jaccard {pair.comparison['jaccard']:.2f}"))
    title = f"{index}/{total}  {pair.field} ({pair.spec.type})  {pair.record_id}"
    return Panel(grid, title=Text(title), subtitle=Text(_KIND_TEXT[pair.kind]), title_align="left")


def render_extraction_audit(matched: MatchedExtraction, items: Sequence[Pair]) -> Group:
    """A summary line, then one panel per disagreement."""
    counts = ", ".join(f"{_KIND_TEXT[k]}: {n}" for k in _ORDER if (n := sum(1 for p in items if p.kind == k)))
    head = Text(
        f"{len(items)} disagreement(s) in {len(matched.pairs)} (PDF, field) pairs"
        + (f" — {counts}" if counts else "")
        + f"\n{matched.table_path} vs {matched.gold.path}"
    )
    parts: list[RenderableType] = [head]
    parts += [render_pair(p, i, len(items)) for i, p in enumerate(items, start=1)]
    if not items:
        parts.append(Text("No disagreements."))
    return Group(*parts)
