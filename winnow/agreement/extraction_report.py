"""The terminal view of extraction agreement: one line per field, the PDFs, and what was left out."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

__all__ = ["render_extraction_agreement"]

_SHORT = {
    "verified": "ok",
    "verified_fuzzy": "fuzzy",
    "wrong_page": "wrong page",
    "not_found": "NOT FOUND",
    "no_quote": "no quote",
    "not_reported": "n/r",
    "no_answer": "no answer",
}


def _pct(share: dict[str, Any] | None, *, ci: bool = False) -> str:
    if not share or share.get("value") is None:
        return "-"
    text = f"{share['hits']}/{share['n']} {100 * share['value']:.0f}%"
    if ci:
        low, high = share["ci"]
        text += f" [{100 * low:.0f}-{100 * high:.0f}]"
    return text


def _coef(estimate: dict[str, Any] | None) -> str:
    if not estimate or estimate.get("value") is None:
        return "-"
    return f"{estimate['value']:.2f}"


def _values(item: dict[str, Any]) -> str:
    values = item["values"]
    kind = item["type"]
    if kind in ("one_of", "boolean"):
        return f"acc {_pct(values['accuracy'])}; κ {_coef(values['kappa'])}; AC1 {_coef(values['ac1'])}"
    if kind in ("integer", "number"):
        return f"exact {_pct(values['exact'])}; ±tol {_pct(values['within_tolerance'])}"
    if kind in ("list", "many_of"):
        jac = values["mean_jaccard"]
        shown = "-" if jac is None else f"{jac:.2f}"
        return f"P {_pct(values['precision'])}; R {_pct(values['recall'])}; Jaccard {shown}"
    return f"exact {_pct(values['exact'])}; fuzzy {_pct(values['fuzzy'])}"


def _evidence(counts: dict[str, int]) -> str:
    return ", ".join(f"{_SHORT.get(k, k)} {v}" for k, v in counts.items())


def _nr(item: dict[str, Any]) -> str:
    nr = item["not_reported"]
    return f"{_pct(nr['agreement'])} ({nr['both']}/{nr['gold_only']}/{nr['model_only']})"


def _forms(sources: list[str]) -> str:
    named = [s for s in sources if "inferred from the gold values" not in s]
    inferred = [s.split(":", 1)[0] for s in sources if "inferred from the gold values" in s]
    if inferred:
        named.append(f"types inferred from gold values for {len(inferred)} field(s): {', '.join(inferred)}")
    return "; ".join(named) or "-"


def render_extraction_agreement(report: dict[str, Any]) -> Group:
    """Header, per-field table, per-PDF table and notes; every figure also in ``--json``."""
    header = Table.grid(padding=(0, 1))
    for key, value in (
        ("extraction", report["extraction"]),
        ("gold", report["gold"]),
        ("model", report["model"] or "-"),
        ("forms", _forms(report["forms"])),
        ("compared", f"{report['n_pdfs']} PDFs, {report['n_pairs']} (PDF, field) pairs"),
        ("rules", f"numbers within {100 * report['tolerance']:g}%, strings fuzzy >= {report['fuzzy_threshold']:g}"),
    ):
        header.add_row(f"[bold]{key}[/]", Text(str(value)))
    fields = Table(title="Per field", title_justify="left", show_lines=False, expand=True)
    fields.add_column("field", no_wrap=True)
    for column in ("type", "agree", "not reported", "values (both reported)", "evidence"):
        fields.add_column(column, overflow="fold")
    for item in report["fields"]:
        fields.add_row(
            item["field"],
            item["type"],
            _pct(item["agreement"], ci=True),
            _nr(item),
            _values(item),
            _evidence(item["evidence"]),
        )
    overall = report["overall"]
    fields.add_row(
        "[bold]overall[/]",
        "",
        _pct(overall["agreement"], ci=True),
        _nr({"not_reported": overall["not_reported"]}),
        f"values agree {_pct(overall['values_agree'])}",
        _evidence(overall["evidence"]),
    )
    pdfs = Table(title="Per PDF", title_justify="left", expand=True)
    for column in ("pdf", "status", "agree", "left out / truncated / reason"):
        pdfs.add_column(column, overflow="fold")
    for pdf in report["pdfs"]:
        notes = " | ".join(x for x in (pdf["left_out"], pdf["truncated"], pdf["reason"]) if x)
        pdfs.add_row(pdf["record_id"], pdf["status"] or pdf["pdf_status"], f"{pdf['agreed']}/{pdf['n']}", notes or "-")
    parts: list[RenderableType] = [header, fields, pdfs]
    for label, items in (
        ("in the table, not in the gold", report["not_in_gold"]),
        ("in the gold, not in the table", report["not_in_table"]),
        ("gold fields with no column in the table", report["fields_missing"]),
    ):
        if items:
            parts.append(Text(f"{label} ({len(items)}): {', '.join(items)}", style="yellow"))
    parts.append(
        Text(
            "agree: a pair agrees when both sides say not reported, or both report matching values (95% CI)."
            " not reported: agreement on whether a value is reported (both n/r / gold only / model only)."
            " evidence: the model's quote checks; only 'ok' and 'fuzzy' quotes were found on the stated page.",
            style="dim",
        )
    )
    return Group(*parts)
