"""Panel figures for ``winnow agree``: each reviewer against gold, reviewers against each other,
all reviewers together, and what the combination rule gained over the best single model.

``build_*`` functions return JSON-ready dicts; ``render_*`` functions only lay them out.
Pairwise coefficients reuse :mod:`winnow.agreement.metrics`; three or more reviewers use
:mod:`winnow.agreement.multirater`.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from winnow.agreement.compare import Matched, counts_for
from winnow.agreement.metrics import CI_LEVEL, Estimate, ac1, kappa, krippendorff_alpha, pabak, screening_metrics
from winnow.agreement.multirater import BOOTSTRAP_METHOD, fleiss_kappa, krippendorff, rating_matrix
from winnow.agreement.panel import PanelTable, as_binary

__all__ = [
    "REVIEWERS_SCHEMA",
    "build_between",
    "build_panel",
    "build_reviewer_agreement",
    "render_panel",
    "render_reviewer_agreement",
]

REVIEWERS_SCHEMA = "winnow.agree.reviewers/1"
_WAYS = ("include", "exclude")
_PAIR_COEFFICIENTS = ("kappa", "pabak", "ac1", "alpha")
_PAIR_LABELS = {"kappa": "kappa", "pabak": "PABAK", "ac1": "AC1", "alpha": "alpha"}
_GAIN_METRICS = ("sensitivity", "specificity", "precision")


def _estimate_dict(estimate: Estimate) -> dict[str, Any]:
    return {"value": estimate.value, "ci": estimate.ci}


def _pair(panel: PanelTable, first: int, second: int, level: float) -> dict[str, Any]:
    a, b = panel.reviewers[first], panel.reviewers[second]
    both = a.answered & b.answered
    out: dict[str, Any] = {"a": a.name, "b": b.name, "n": int(both.sum())}
    for way in _WAYS:
        x = as_binary(a.decisions[both], undecided_as=way)
        y = as_binary(b.decisions[both], undecided_as=way)
        table = np.array([[np.sum((x == i) & (y == j)) for j in (1.0, 0.0)] for i in (1.0, 0.0)], dtype=float)
        figures: dict[str, Any] = {"table": table.astype(int).tolist()}
        for name, function in (("kappa", kappa), ("pabak", pabak), ("ac1", ac1), ("alpha", krippendorff_alpha)):
            estimate = function(table, level) if both.any() else Estimate(None, None, None, "", note="no records")
            figures[name] = estimate.value
            figures[f"{name}_ci"] = estimate.ci
        if way == "include":
            out.update(figures)
        else:
            out["as_exclude"] = figures
    return out


def _across(panel: PanelTable, level: float) -> dict[str, Any] | None:
    if len(panel.reviewers) < 3:
        return None
    out: dict[str, Any] = {"method": BOOTSTRAP_METHOD}
    for way in _WAYS:
        ratings = rating_matrix([as_binary(r.decisions, undecided_as=way) for r in panel.reviewers])
        fleiss, n_fleiss = fleiss_kappa(ratings, level)
        alpha, n_alpha = krippendorff(ratings, level)
        figures = {
            "fleiss_kappa": _estimate_dict(fleiss) | {"n": n_fleiss, "note": fleiss.note},
            "krippendorff_alpha": _estimate_dict(alpha) | {"n": n_alpha, "note": alpha.note},
        }
        if way == "include":
            out.update(figures)
        else:
            out["as_exclude"] = figures
    return out


def _reviewer_rows(panel: PanelTable) -> list[dict[str, Any]]:
    rows = []
    for reviewer in panel.reviewers:
        decisions = reviewer.decisions
        rows.append(
            {
                "name": reviewer.name,
                "kind": reviewer.kind,
                "n_answered": int(reviewer.answered.sum()),
                **{
                    f"n_{value}": int((decisions == value).sum())
                    for value in ("include", "exclude", "uncertain", "error")
                },
            }
        )
    return rows


def build_between(panel: PanelTable, level: float = CI_LEVEL) -> dict[str, Any]:
    """Reviewers against each other: every pair, and all of them when there are three or more."""
    pairs = [_pair(panel, i, j, level) for i, j in itertools.combinations(range(len(panel.reviewers)), 2)]
    return {
        "reviewers": _reviewer_rows(panel),
        "combine": panel.combine,
        "n_conflict": int(panel.conflict.sum()),
        "pairs": pairs,
        "all_reviewers": _across(panel, level),
        "scoring_note": (
            "two categories: 'uncertain' and 'error' count as include (a human reads them);"
            " 'as_exclude' counts them as exclude. A pair is compared on the records both answered"
        ),
        "ci_methods": {
            "kappa": "analytic SE (Gwet 2014), t interval, n-1 df",
            "ac1": "analytic SE (Gwet 2014), t interval, n-1 df",
            "alpha": "krippendorff package; analytic SE (Gwet 2014), t interval, n-1 df",
            "pabak": "Wilson on observed agreement, mapped by 2po-1",
            "fleiss_kappa": BOOTSTRAP_METHOD,
            "krippendorff_alpha": BOOTSTRAP_METHOD,
        },
    }


def build_reviewer_agreement(panel: PanelTable, level: float = CI_LEVEL) -> dict[str, Any]:
    """``winnow agree --reviewers``: the between-reviewer figures alone, no gold set needed."""
    return {
        "schema": REVIEWERS_SCHEMA,
        "decisions": str(panel.path),
        "confidence_level": level,
        "n": len(panel.frame),
        **build_between(panel, level),
    }


def _against_gold(panel: PanelTable, matched: Matched, level: float) -> list[dict[str, Any]]:
    from winnow.agreement.report import counts_view

    rows = []
    for reviewer in panel.reviewers:
        answered = reviewer.answered
        row: dict[str, Any] = {"name": reviewer.name, "kind": reviewer.kind}
        decisions, included = reviewer.decisions[answered], matched.included[answered]
        row.update(counts_view(counts_for(decisions, included, undecided_as="include"), level))
        row["as_exclude"] = counts_view(counts_for(decisions, included, undecided_as="exclude"), level)
        rows.append(row)
    return rows


def _gain(panel: PanelTable, matched: Matched, per_reviewer: list[dict[str, Any]], level: float) -> dict[str, Any]:
    models = [(index, row) for index, row in enumerate(per_reviewer) if row["kind"] == "model" and row["n"]]
    if not models:
        return {"best_reviewer": None, "note": "no model reviewer answered any record with a gold label"}
    index, _ = max(models, key=lambda pair: (pair[1]["sensitivity"] or 0, pair[1]["specificity"] or 0))
    reviewer = panel.reviewers[index]
    mask = reviewer.answered
    included = matched.included[mask]
    combined = matched.frame["decision"].astype(str).to_numpy()[mask]
    single_counts = counts_for(reviewer.decisions[mask], included, undecided_as="include")
    combined_counts = counts_for(combined, included, undecided_as="include")
    single_metrics = screening_metrics(single_counts, level)
    combined_metrics = screening_metrics(combined_counts, level)
    single_in = as_binary(reviewer.decisions[mask], undecided_as="include") == 1.0
    combined_in = as_binary(combined, undecided_as="include") == 1.0
    out: dict[str, Any] = {
        "best_reviewer": reviewer.name,
        "rule": panel.combine,
        "n": int(mask.sum()),
        "choice_note": "best single model reviewer: highest sensitivity, then specificity; uncertain as include",
    }
    for name in _GAIN_METRICS:
        one, both = single_metrics[name], combined_metrics[name]
        change = None if one.value is None or both.value is None else both.value - one.value
        out[name] = {"best": one.value, "best_ci": one.ci, "combined": both.value, "combined_ci": both.ci,
                     "change": change}  # fmt: skip
    out["extra_includes_found"] = int((combined_in & ~single_in & included).sum())
    out["includes_lost"] = int((~combined_in & single_in & included).sum())
    out["extra_false_includes"] = int((combined_in & ~single_in & ~included).sum())
    out["extra_human_reads"] = int(combined_in.sum() - single_in.sum())
    out["change_note"] = "change = combined minus best single, on the same records; the CIs are each side's own"
    return out


def build_panel(matched: Matched, level: float = CI_LEVEL) -> dict[str, Any] | None:
    """The panel section of ``winnow agree --gold``; None for a single-model table."""
    from winnow.agreement.panel import read_panel

    panel = read_panel(matched.frame, matched.decisions_path)
    if panel is None:
        return None
    per_reviewer = _against_gold(panel, matched, level)
    return {
        "combine": panel.combine,
        "reviewers_against_gold": per_reviewer,
        "between": build_between(panel, level),
        "combination": _gain(panel, matched, per_reviewer, level),
    }


# -- rendering ----------------------------------------------------------------


def _two_line(value: float | None, ci: list[float | None] | None) -> str:
    if value is None:
        return "—"
    if not ci or ci[0] is None or ci[1] is None:
        return f"{value:.3f}"
    return f"{value:.3f}\n{ci[0]:.2f}–{ci[1]:.2f}"


def _reviewers_table(panel: dict[str, Any]) -> Table:
    table = Table(title="Each reviewer against gold (uncertain as include)", title_justify="left")
    table.add_column("reviewer", overflow="fold")
    table.add_column("n", justify="right")
    for name in ("sensitivity", "specificity", "precision", "F1"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in panel["reviewers_against_gold"]:
        label = row["name"] + (" (human)" if row["kind"] == "human" and row["name"] != "human" else "")
        table.add_row(
            label,
            str(row["n"]),
            *[_two_line(row[key], row[f"{key}_ci"]) for key in ("sensitivity", "specificity", "precision", "f1")],
        )
    return table


def _pairs_table(between: dict[str, Any]) -> Table:
    table = Table(title="Reviewers against each other (uncertain as include)", title_justify="left")
    table.add_column("pair", overflow="fold")
    for name in _PAIR_COEFFICIENTS:
        table.add_column(_PAIR_LABELS[name], justify="right", no_wrap=True)
    for pair in between["pairs"]:
        table.add_row(
            f"{pair['a']} vs {pair['b']}\nn={pair['n']}",
            *[_two_line(pair[name], pair[f"{name}_ci"]) for name in _PAIR_COEFFICIENTS],
        )
    return table


def _across_table(between: dict[str, Any]) -> RenderableType | None:
    across = between["all_reviewers"]
    if across is None:
        return None
    table = Table(title=f"All {len(between['reviewers'])} reviewers (uncertain as include)", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("n", justify="right")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("as excl.", justify="right")
    for key, label in (("fleiss_kappa", "Fleiss' kappa"), ("krippendorff_alpha", "Krippendorff's alpha")):
        entry, other = across[key], across["as_exclude"][key]
        ci = entry["ci"]
        shown = "" if ci[0] is None else f"{ci[0]:.3f}–{ci[1]:.3f}"
        table.add_row(label, str(entry["n"]), _value(entry["value"]), shown, _value(other["value"]))
    note = Text(
        f"CIs: {across['method']}. Fleiss' kappa uses the records every reviewer answered;"
        " alpha every record with two or more answers.",
        style="dim",
    )
    return Group(table, note)


def _value(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _gain_table(gain: dict[str, Any]) -> RenderableType:
    if gain.get("best_reviewer") is None:
        return Text(f"Combination rule: {gain['note']}.", style="dim")
    rule = gain["rule"] or "?"
    table = Table(
        title=f"Combination rule '{rule}' against the best single model ({gain['best_reviewer']})",
        title_justify="left",
    )
    table.add_column("", no_wrap=True)
    table.add_column("best single", justify="right", no_wrap=True)
    table.add_column("combined", justify="right", no_wrap=True)
    table.add_column("change", justify="right", no_wrap=True)
    for name in _GAIN_METRICS:
        entry = gain[name]
        change = entry["change"]
        table.add_row(
            name,
            _two_line(entry["best"], entry["best_ci"]),
            _two_line(entry["combined"], entry["combined_ci"]),
            "—" if change is None else f"{change:+.3f}",
        )
    note = Text(
        f"On {gain['n']} records: the rule found {gain['extra_includes_found']} more gold include(s),"
        f" lost {gain['includes_lost']}, and added {gain['extra_false_includes']} false include(s);"
        f" {gain['extra_human_reads']:+d} record(s) for a human to read.",
        style="dim",
    )
    return Group(table, note)


def _between_parts(between: dict[str, Any]) -> list[RenderableType]:
    parts: list[RenderableType] = [_pairs_table(between)]
    across = _across_table(between)
    if across is not None:
        parts.append(across)
    parts.append(
        Text(
            "Pairs: kappa, AC1, alpha analytic SE (Gwet 2014), t interval; PABAK Wilson on observed"
            " agreement. Each pair is compared on the records both answered. Full figures, and"
            " uncertain as exclude: --json.",
            style="dim",
        )
    )
    return parts


def render_panel(panel: dict[str, Any]) -> Group:
    """The panel part of the agreement report, shown after the combined decision's figures."""
    between = panel["between"]
    parts: list[RenderableType] = [
        Text(
            f"Panel: {len(between['reviewers'])} reviewers, combined by '{panel['combine'] or '?'}';"
            f" {between['n_conflict']} record(s) with a conflict",
            style="bold",
        ),
        _reviewers_table(panel),
        Text(""),
        *_between_parts(between),
        Text(""),
        _gain_table(panel["combination"]),
    ]
    return Group(*parts)


def render_reviewer_agreement(report: dict[str, Any]) -> Group:
    """``winnow agree --reviewers``: who answered what, then agreement between them."""
    summary = Table(title="Reviewers", title_justify="left")
    summary.add_column("reviewer", overflow="fold")
    summary.add_column("kind")
    for key in ("answered", "include", "exclude", "uncertain", "error"):
        summary.add_column(key, justify="right")
    for row in report["reviewers"]:
        summary.add_row(
            row["name"],
            row["kind"],
            *[str(row[f"n_{key}"]) for key in ("answered", "include", "exclude", "uncertain", "error")],
        )
    header = Text(
        f"{report['decisions']}: {report['n']} records, combined by '{report['combine'] or '?'}';"
        f" {report['n_conflict']} with a conflict."
    )
    return Group(Text("winnow agree --reviewers", style="bold underline"), header, summary, *_between_parts(report))
