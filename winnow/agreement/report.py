"""The agreement report: one dict (the ``--json`` output) and rich renderables built from it.

``build_agreement`` computes; ``render_agreement`` and ``render_comparison`` only lay
out what is in the dict, so the terminal and the JSON cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from winnow.agreement.compare import UNDECIDED, Matched, counts_for, p_include_of
from winnow.agreement.metrics import CI_LEVEL, Counts, Estimate, agreement_coefficients, screening_metrics, wilson
from winnow.agreement.panel_report import build_panel, render_panel
from winnow.agreement.sample import sample_section
from winnow.agreement.workload import compute_workload
from winnow.gold import describe_reference_standard

__all__ = [
    "SCHEMA",
    "build_agreement",
    "build_comparison",
    "columns_read",
    "counts_view",
    "curve_points",
    "render_agreement",
    "render_comparison",
]

SCHEMA = "winnow.agree/1"
METRICS = ("sensitivity", "specificity", "precision", "npv", "f1", "accuracy", "balanced_accuracy")
COEFFICIENTS = ("kappa", "pabak", "ac1", "alpha")
LABELS = {
    "sensitivity": "Sensitivity (recall)",
    "specificity": "Specificity",
    "precision": "Precision (PPV)",
    "npv": "NPV",
    "f1": "F1",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "prevalence": "Prevalence (gold)",
    "kappa": "Cohen's kappa",
    "pabak": "PABAK",
    "ac1": "Gwet's AC1",
    "alpha": "Krippendorff's alpha",
}
_RUN_FIELDS = ("model", "served_model", "template_name", "template_sha256", "run_id", "confidence_source")
_READ = frozenset({"record_id", "decision", "p_include", "conflict", "combine", *_RUN_FIELDS})
_READ_PREFIXES = ("criterion:", "decision:", "p_include:", "confidence_source:", "verdicts:")


def columns_read(name: str) -> bool:
    """The decisions-table columns ``build_agreement`` reads (a panel's among them); titles,
    abstracts and reasons, most of a table's bytes, are not."""
    return name in _READ or name.startswith(_READ_PREFIXES)


def _flat(prefix: str, estimates: dict[str, Estimate], out: dict[str, Any]) -> None:
    for name, estimate in estimates.items():
        out[f"{prefix}{name}"] = estimate.value
        out[f"{prefix}{name}_ci"] = estimate.ci
        if estimate.se is not None:
            out[f"{prefix}{name}_se"] = estimate.se


def counts_view(counts: Counts, level: float) -> dict[str, Any]:
    """Counts, every screening metric and coefficient with its CI, flat, as the report shows them."""
    view: dict[str, Any] = {"n": counts.n, "tp": counts.tp, "fp": counts.fp, "tn": counts.tn, "fn": counts.fn}
    _flat("", screening_metrics(counts, level), view)
    _flat("", agreement_coefficients(counts, level), view)
    view["n_human_reads"] = counts.tp + counts.fp
    return view


def _methods(counts: Counts, level: float) -> dict[str, str]:
    estimates = {**screening_metrics(counts, level), **agreement_coefficients(counts, level)}
    return {name: estimate.method for name, estimate in estimates.items()}


def _distinct(matched: Matched, column: str) -> list[str]:
    if column not in matched.frame.columns:
        return []
    values = matched.frame[column].astype(str).str.strip()
    return sorted(set(values[values != ""].unique()))


def _criteria(matched: Matched, kinds: dict[str, str], level: float) -> list[dict[str, Any]]:
    frame = matched.frame
    columns = [c for c in frame.columns if c.startswith("criterion:")]
    includes = matched.included
    missed = includes & (frame["decision"].to_numpy() == "exclude")
    n_includes, n_missed = int(includes.sum()), int(missed.sum())
    rows = []
    for column in columns:
        cid = column.split(":", 1)[1]
        kind = kinds.get(cid, "unknown")
        against = "met" if kind == "exclusion" else "not_met"
        verdicts = frame[column].astype(str).str.strip().to_numpy()
        counted = {v: int(((verdicts == v) & includes).sum()) for v in ("met", "not_met", "unclear")}
        counted["blank"] = n_includes - sum(counted.values())
        against_n = counted[against]
        share = wilson(against_n, n_includes, level)
        rows.append(
            {
                "id": cid,
                "kind": kind,
                "excluding_verdict": against,
                "gold_includes": n_includes,
                "met": counted["met"],
                "not_met": counted["not_met"],
                "unclear": counted["unclear"],
                "blank": counted["blank"],
                "excluding": against_n,
                "excluding_share": share.value,
                "excluding_share_ci": share.ci,
                "missed_includes": n_missed,
                "excluding_in_missed": int(((verdicts == against) & missed).sum()),
            }
        )
    rows.sort(key=lambda row: (-row["excluding"], -row["unclear"]))
    return rows


def curve_points(share: Sequence[float], recall: Sequence[float], steps: int = 100) -> dict[str, list[float]]:
    """The recall curve sampled at every 1/steps of records screened."""
    if not share:
        return {"share": [], "recall": []}
    n = len(share) - 1
    grid = [i / steps for i in range(steps + 1)]
    picks = [min(n, math.ceil(g * n - 1e-9)) for g in grid]
    return {"share": grid, "recall": [round(float(recall[k]), 6) for k in picks]}


def build_agreement(
    matched: Matched,
    *,
    recall_target: float = 0.95,
    criterion_kinds: dict[str, str] | None = None,
    level: float = CI_LEVEL,
) -> dict[str, Any]:
    """Every figure of ``winnow agree`` for one decisions file, as a JSON-ready dict.

    Args:
        matched: decisions joined to the gold set.
        recall_target: recall the threshold must reach on this gold set.
        criterion_kinds: criterion id to ``inclusion``/``exclusion``, from the protocol.
        level: confidence level for every interval.
    """
    decisions = matched.frame["decision"].astype(str).to_numpy()
    included = matched.included
    primary = counts_for(decisions, included, undecided_as="include")
    secondary = counts_for(decisions, included, undecided_as="exclude")
    standard = matched.gold.reference_standard
    standard_name, standard_meaning = describe_reference_standard(standard)
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "decisions": str(matched.decisions_path),
        "gold": str(matched.gold.path),
        "confidence_level": level,
        "reference_standard": standard,
        "reference_standard_name": standard_name,
        "reference_standard_source": matched.gold.reference_source,
        "reference_standard_note": standard_meaning,
        "uncertain_counted_as": "include",
        "uncertain_note": (
            "'uncertain' and 'error' decisions have no usable model answer and go to a human,"
            " so the top-level figures count them as include; 'as_exclude' counts them as exclude"
        ),
        "n_include": int((decisions == "include").sum()),
        "n_exclude": int((decisions == "exclude").sum()),
        "n_uncertain": int((decisions == "uncertain").sum()),
        "n_error": int((decisions == "error").sum()),
        "n_gold_included": int(included.sum()),
    }
    out.update(counts_view(primary, level))
    out["as_exclude"] = counts_view(secondary, level)
    out["ci_methods"] = _methods(primary, level)

    p_include = p_include_of(matched)
    out["wss95"] = None
    out["workload"] = None
    out["recall_curve"] = None
    if p_include is None:
        out["workload_note"] = "no P(include) for every record, so WSS, RRF and thresholds are not computed"
    else:
        workload = compute_workload(p_include, included, recall_target, level)
        out["wss95"] = workload.wss95
        out["workload"] = workload.as_dict()
        out["rrf10"] = workload.rrf10.value
        out["rrf10_ci"] = workload.rrf10.ci
        out["recall_curve"] = curve_points(workload.curve_share, workload.curve_recall)
    out["criteria"] = _criteria(matched, criterion_kinds or {}, level)
    out["criteria_note"] = (
        "per criterion: among gold includes, how often the model gave the verdict that excludes"
        " (not_met for inclusion criteria, met for exclusion criteria; not_met when the kind is unknown)"
    )
    out["run"] = {name: _distinct(matched, name) for name in _RUN_FIELDS}
    out["missing"] = {"not_in_gold": matched.not_in_gold, "not_in_decisions": matched.not_in_decisions}
    undecided = matched.frame.loc[np.isin(decisions, UNDECIDED), "record_id"].tolist()
    out["undecided_records"] = undecided
    out["warnings"] = model_warnings(out["run"].get("model") or [])
    panel = build_panel(matched, level)
    if panel is not None:
        out["panel"] = panel
    out["sample"] = sample_section(matched)
    return out


def model_warnings(models: Sequence[str]) -> list[str]:
    """Said wherever figures from the embedded model are shown, so nobody cites them."""
    from winnow.backends import is_embedded_id
    from winnow.backends.local import EMBEDDED_WARNING

    return [EMBEDDED_WARNING] if any(is_embedded_id(m) for m in models) else []


def build_comparison(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several runs against one gold set, for ``--json`` with more than one decisions file."""
    return {"schema": SCHEMA, "gold": reports[0]["gold"], "runs": list(reports)}


# -- rendering ----------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ci(ci: Sequence[float | None] | None) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"{ci[0]:.3f}–{ci[1]:.3f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _header(report: dict[str, Any]) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    run = report["run"]
    prevalence = report["n_gold_included"] / report["n"] if report["n"] else None
    grid.add_row("Decisions", report["decisions"])
    details = []
    for key, label in (("model", "model"), ("template_sha256", "template"), ("run_id", "run")):
        values = run.get(key) or []
        if values:
            shown = [v[:12] if key == "template_sha256" else v for v in values[:3]]
            details.append(f"{label} {', '.join(shown)}{' …' if len(values) > 3 else ''}")
    if details:
        grid.add_row("", "; ".join(details))
    grid.add_row("Gold", report["gold"])
    grid.add_row(
        "Records",
        f"{report['n']} compared, {report['n_gold_included']} gold includes (prevalence {_pct(prevalence)})",
    )
    grid.add_row(
        "Reference", f"{report['reference_standard_name']} [dim](from {report['reference_standard_source']})[/]"
    )
    grid.add_row("", Text(report["reference_standard_note"], style="dim"))
    grid.add_row(
        "Uncertain",
        f"{report['n_uncertain']} uncertain and {report['n_error']} error decisions are counted as [bold]include[/]"
        " (a human reads them); the right-hand columns count them as exclude.",
    )
    for warning in report.get("warnings", []):
        grid.add_row(Text("Warning", style="bold yellow"), Text(warning, style="yellow"))
    return grid


def _confusion(report: dict[str, Any]) -> Table:
    table = Table(title="Confusion matrix (uncertain as include)", title_justify="left", show_edge=True)
    table.add_column("")
    table.add_column("gold include", justify="right")
    table.add_column("gold exclude", justify="right")
    table.add_column("total", justify="right")
    table.add_row("model include", f"TP {report['tp']}", f"FP {report['fp']}", str(report["tp"] + report["fp"]))
    table.add_row(
        "model exclude", f"[bold red]FN {report['fn']}[/]", f"TN {report['tn']}", str(report["fn"] + report["tn"])
    )
    table.add_row("total", str(report["tp"] + report["fn"]), str(report["fp"] + report["tn"]), str(report["n"]))
    return table


def _two_way(report: dict[str, Any], names: Sequence[str], title: str) -> Table:
    other = report["as_exclude"]
    table = Table(title=title, title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("as excl.", justify="right")
    table.add_column("95% CI", justify="right", no_wrap=True)
    for name in names:
        style = "bold" if name == "sensitivity" else ""
        table.add_row(
            Text(LABELS[name], style=style),
            Text(_num(report[name]), style=style),
            _ci(report[f"{name}_ci"]),
            _num(other[name]),
            _ci(other[f"{name}_ci"]),
        )
    return table


def _coefficient_note(report: dict[str, Any]) -> Text:
    prevalence = report["n_gold_included"] / report["n"] if report["n"] else 0.0
    text = Text(style="dim")
    text.append(
        f"Prevalence is {_pct(prevalence)}. Kappa and alpha fall when one class is rare even if"
        " agreement is high; PABAK and AC1 are less affected. Report them side by side."
    )
    return text


def _methods_note(report: dict[str, Any]) -> Text:
    methods = report["ci_methods"]
    text = Text(style="dim")
    text.append(
        f"CIs ({int(report['confidence_level'] * 100)}%): proportions {methods['sensitivity']};"
        f" F1 {methods['f1']}; balanced accuracy {methods['balanced_accuracy']};"
        f" kappa, AC1, alpha {methods['kappa']}; PABAK {methods['pabak']}."
    )
    return text


def _workload(report: dict[str, Any]) -> RenderableType:
    work = report.get("workload")
    if not work:
        return Text(f"Workload: {report.get('workload_note', 'not computed')}.", style="dim")
    table = Table(title="Workload (records ranked by P(include))", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("", overflow="fold")
    table.add_row("WSS@95", _num(work["wss95"]), f"threshold {_num(work['wss95_threshold'])}")
    rrf = work["rrf10"]
    table.add_row("RRF@10", _num(rrf["value"]), f"95% CI {_ci(rrf['ci'])}")
    target = work["recall_target"]
    if work["threshold"] is None:
        table.add_row(f"Recall {target:.0%}", "—", "not reached at any threshold")
    else:
        recall = work["recall_at_threshold"]
        table.add_row(
            f"Threshold for {target:.0%}",
            _num(work["threshold"]),
            f"recall {_num(recall['value'])} ({_ci(recall['ci'])})",
        )
        table.add_row(
            "Human still reads",
            str(work["n_to_read"]),
            f"of {work['n']} ({_pct(work['share_to_read'])}); WSS {_num(work['wss_at_target'])}",
        )
    table.add_row("Model's own decisions", str(report["n_human_reads"]), "records a human reads (include + uncertain)")
    return Group(table, Text(work["wss_definition"] + ". " + work["threshold_note"].capitalize() + ".", style="dim"))


def _criteria_table(report: dict[str, Any]) -> RenderableType:
    rows = report["criteria"]
    if not rows:
        return Text("Per criterion: the decisions have no criterion:<id> columns.", style="dim")
    table = Table(title="Per criterion, among gold includes (where false exclusions come from)", title_justify="left")
    table.add_column("criterion", overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("n", justify="right")
    table.add_column("share", justify="right")
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("unclear", justify="right")
    table.add_column("in FN", justify="right")
    for row in rows:
        verdict = row["excluding_verdict"].replace("_", " ")
        style = "bold red" if row["excluding_in_missed"] else ""
        table.add_row(
            row["id"],
            verdict,
            f"{row['excluding']}/{row['gold_includes']}",
            _pct(row["excluding_share"]),
            _ci(row["excluding_share_ci"]),
            str(row["unclear"]),
            Text(f"{row['excluding_in_missed']}/{row['missed_includes']}", style=style),
        )
    return Group(
        table,
        Text(
            "'in FN': of the gold includes the model excluded, how many had this verdict."
            " A criterion high here is the wording to fix.",
            style="dim",
        ),
    )


def _missing(report: dict[str, Any]) -> RenderableType | None:
    missing = report["missing"]
    if not missing["not_in_gold"] and not missing["not_in_decisions"]:
        return None
    lines = Text(style="yellow")
    for key, label in (
        ("not_in_gold", "decisions without a gold label"),
        ("not_in_decisions", "gold records without a decision"),
    ):
        ids = missing[key]
        if ids:
            shown = ", ".join(ids[:10]) + (f" … and {len(ids) - 10} more" if len(ids) > 10 else "")
            lines.append(f"Not compared: {len(ids)} {label}: {shown}\n")
    return lines


def render_curve(report: dict[str, Any], *, width: int = 78, height: int = 16) -> RenderableType | None:
    """The recall curve drawn with plotext, as a rich renderable (None without P(include))."""
    curve = report.get("recall_curve")
    if not curve:
        return None
    import plotext

    figure = plotext.figure
    figure.clear()
    figure.plot_size(width, height)
    figure.theme("colorless")
    shares = [100 * s for s in curve["share"]]
    figure.draw(figure.signal(shares, curve["share"], marker="·"))
    figure.draw(figure.signal(shares, curve["recall"], marker="braille"))
    target = report["workload"]["recall_target"]
    figure.line(target)
    figure.ruler("x").lim(0, 100)
    figure.ruler("x").ticks(list(range(0, 101, 10)))
    figure.ruler("y").lim(0, 1.0)
    figure.ruler("y").ticks(sorted({0.0, 0.25, 0.5, 0.75, 1.0, round(target, 2)}))
    figure.title(report.get("curve_title", "Recall curve (dots: random order; line: recall target)"))
    figure.label(report.get("x_label", "% of records screened, in P(include) order"), axis="x")
    figure.label("recall", axis="y")
    drawn = plotext.uncolorize(str(figure.build()))
    figure.clear()
    return Text(drawn.rstrip("\n"), no_wrap=True, overflow="crop")


def save_curve_png(report: dict[str, Any], path: str | Path) -> Path:
    """Save the recall curve as a PNG with matplotlib (an optional dependency)."""
    from winnow.errors import InputError

    curve = report.get("recall_curve")
    target = Path(path)
    if not curve:
        raise InputError(target, "cannot draw a recall curve: there is no ranking (no P(include) for every record)")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        raise InputError(target, "saving the recall curve needs matplotlib: pip install 'winnow[plot]'") from None
    figure, axes = pyplot.subplots(figsize=(6, 4), dpi=150)
    axes.plot([100 * s for s in curve["share"]], curve["recall"], label=report.get("curve_label", "model ranking"))
    axes.plot([0, 100], [0, 1], linestyle=":", color="grey", label="random order")
    axes.axhline(report["workload"]["recall_target"], linestyle="--", color="red", linewidth=0.8, label="recall target")
    axes.set_xlabel(report.get("x_label", "% of records screened (descending P(include))"))
    axes.set_ylabel("recall")
    axes.set_xlim(0, 100)
    axes.set_ylim(0, 1.02)
    axes.set_title(report.get("title") or Path(report["decisions"]).name)
    axes.legend(loc="lower right")
    figure.tight_layout()
    try:
        figure.savefig(target, format="png")
    except OSError as exc:
        raise InputError(target, f"cannot write PNG: {exc.strerror or exc}") from exc
    finally:
        pyplot.close(figure)
    return target


def _sample_note(report: dict[str, Any]) -> Text | None:
    sample = report.get("sample")
    if not sample:
        return None
    figures = ", ".join(
        f"{name} {'-' if sample[name] is None else f'{sample[name]:.3f}'}"
        for name in ("sensitivity", "specificity", "precision")
    )
    return Text(f"Note: {sample['note']}.\nWeighted over the run (uncertain as include): {figures}", style="yellow")


def render_agreement(report: dict[str, Any], *, curve: bool = True, width: int = 80) -> Group:
    """The full terminal report for one decisions file."""
    parts: list[RenderableType] = [Text("winnow agree", style="bold underline"), _header(report)]
    missing = _missing(report)
    if missing is not None:
        parts.append(missing)
    sample = _sample_note(report)
    if sample is not None:
        parts.append(sample)
    parts += [
        Text(""),
        _confusion(report),
        _two_way(report, METRICS, "Screening metrics (uncertain as include | as exclude)"),
        _two_way(report, COEFFICIENTS, "Agreement coefficients (uncertain as include | as exclude)"),
        _coefficient_note(report),
        Text(""),
        _workload(report),
    ]
    if curve:
        drawn = render_curve(report, width=min(width, 80) - 2)
        if drawn is not None:
            parts.append(Padding(drawn, (1, 0, 0, 0)))
    parts += [Text(""), _criteria_table(report), Text(""), _methods_note(report)]
    if "panel" in report:
        parts += [Text(""), render_panel(report["panel"])]
    return Group(*parts)


def render_comparison(reports: Sequence[dict[str, Any]]) -> Group:
    """Several runs side by side, uncertain counted as include."""
    table = Table(title="Runs side by side (uncertain as include)", title_justify="left")
    table.add_column("", no_wrap=True)
    for index in range(1, len(reports) + 1):
        table.add_column(f"[{index}]", justify="right")
    for key in ("n", "tp", "fp", "fn", "tn"):
        table.add_row(key.upper() if key != "n" else "N", *[str(r[key]) for r in reports])
    for name in (*METRICS, *COEFFICIENTS):
        table.add_row(LABELS[name], *[_cell(r[name], r[f"{name}_ci"]) for r in reports])
    table.add_row("WSS@95", *[_num(r["wss95"]) for r in reports])
    table.add_row("Human reads", *[str(r["n_human_reads"]) for r in reports])
    legend = Table.grid(padding=(0, 1))
    legend.add_column(no_wrap=True)
    legend.add_column(overflow="fold")
    for index, report in enumerate(reports, start=1):
        run = report["run"]
        detail = ", ".join(
            filter(
                None, [", ".join(run.get("model") or []), ", ".join(v[:12] for v in run.get("template_sha256") or [])]
            )
        )
        legend.add_row(f"[{index}]", f"{report['decisions']}" + (f" ({detail})" if detail else ""))
    first = reports[0]
    header = Text(
        f"Gold {first['gold']}: {first['reference_standard_name']}."
        " Cells: value (95% CI). Full figures: run each file alone.",
        style="dim",
    )
    return Group(Text("winnow agree", style="bold underline"), legend, header, table)


def _cell(value: float | None, ci: Sequence[float | None]) -> str:
    if value is None:
        return "—"
    shown = _ci(ci)
    return f"{value:.3f} ({shown})" if shown else f"{value:.3f}"
