"""``build_agreement`` against independent computations written out longhand here.

The independent formulas deliberately use different algebra from the library:
Wilson from its closed form, kappa's variance in the 2x2 form of Fleiss, Cohen and
Everitt (1969), AC1's variance in the expanded form of Gwet (2008, Br J Math Stat
Psychol 61:29-48, eq. 7), alpha from raw ratings through the krippendorff package.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm, t

from winnow.agreement.compare import match_decisions
from winnow.agreement.report import build_agreement, render_agreement
from winnow.agreement.workload import compute_workload
from winnow.errors import GoldSetError, InputError
from winnow.gold import GoldRow, GoldSet, load_gold
from winnow.screening.decisions import read_decisions

from support import render_text

FIXTURES = Path(__file__).parent / "fixtures" / "agreement"
Z = float(norm.ppf(0.975))


# -- independent computations -------------------------------------------------


def wilson_ci(k: float, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / (1 + Z**2 / n)
    return centre - half, centre + half


def t_ci(value: float, se: float, n: int) -> tuple[float, float]:
    half = float(t.ppf(0.975, n - 1)) * se
    return max(-1, value - half), min(1, value + half)


def kappa_2x2(a: int, b: int, c: int, d: int) -> tuple[float, float, float]:
    """a = both include, b = model include/gold exclude, c = model exclude/gold include, d = both exclude."""
    n = a + b + c + d
    p11, p12, p21, p22 = a / n, b / n, c / n, d / n
    r1, r2 = p11 + p12, p21 + p22
    c1, c2 = p11 + p21, p12 + p22
    po = p11 + p22
    pe = r1 * c1 + r2 * c2
    k = (po - pe) / (1 - pe)
    diag = p11 * (1 - (r1 + c1) * (1 - k)) ** 2 + p22 * (1 - (r2 + c2) * (1 - k)) ** 2
    off = (1 - k) ** 2 * (p12 * (c1 + r2) ** 2 + p21 * (c2 + r1) ** 2)
    var = (diag + off - (k - pe * (1 - k)) ** 2) / (n * (1 - pe) ** 2)
    return (k, *t_ci(k, math.sqrt(var), n))


def ac1_2x2(a: int, b: int, c: int, d: int) -> tuple[float, float, float]:
    n = a + b + c + d
    p = np.array([[a, b], [c, d]]) / n
    pa = p[0, 0] + p[1, 1]
    pi = (p.sum(0) + p.sum(1)) / 2
    pe = float((pi * (1 - pi)).sum())  # q - 1 = 1
    g = (pa - pe) / (1 - pe)
    term2 = sum(p[k, k] * (1 - pi[k]) for k in range(2)) - pa * pe
    term3 = sum(p[k, m] * (1 - (pi[k] + pi[m]) / 2) ** 2 for k in range(2) for m in range(2)) - pe**2
    var = (pa * (1 - pa) - 4 * (1 - g) * term2 + 4 * (1 - g) ** 2 * term3) / (n * (1 - pe) ** 2)
    return (g, *t_ci(g, math.sqrt(var), n))


def alpha_raw(a: int, b: int, c: int, d: int) -> float:
    import krippendorff

    model = [1] * a + [1] * b + [0] * c + [0] * d
    gold = [1] * a + [0] * b + [1] * c + [0] * d
    return float(krippendorff.alpha(reliability_data=[model, gold], level_of_measurement="nominal"))


def alpha_ci_2x2(a: int, b: int, c: int, d: int, alpha: float) -> tuple[float, float]:
    n = a + b + c + d
    p = np.array([[a, b], [c, d]]) / n
    pa = p[0, 0] + p[1, 1]
    pi = (p.sum(0) + p.sum(1)) / 2
    pe = float((pi**2).sum())
    s = (pa - pe) / (1 - pe)
    total = 0.0
    for k in range(2):
        for m in range(2):
            total += p[k, m] * ((1.0 if k == m else 0.0) - (1 - s) * (pi[k] + pi[m])) ** 2
    var = (total - (pa - 2 * (1 - s) * pe) ** 2) / (n * (1 - pe) ** 2)
    return t_ci(alpha, math.sqrt(var), n)


# -- building decisions from known counts -------------------------------------


def make_gold(labels: dict[str, bool], path: Path = Path("gold.csv"), standard: str = "title_abstract") -> GoldSet:
    rows = {rid: GoldRow(rid, inc, line=i + 2) for i, (rid, inc) in enumerate(labels.items())}
    return GoldSet(path, rows, "record_id", "label_included", standard, "test")


def make_run(
    tp: int, fp: int, tn: int, fn: int, *, unc_inc: int = 0, unc_exc: int = 0, p: list[float] | None = None
) -> tuple[pd.DataFrame, GoldSet]:
    decisions, labels = [], {}
    spec = [("include", True, tp), ("include", False, fp), ("exclude", False, tn), ("exclude", True, fn)]
    spec += [("uncertain", True, unc_inc), ("uncertain", False, unc_exc)]
    for decision, included, count in spec:
        for _ in range(count):
            rid = f"rec{len(decisions):05d}"
            decisions.append({"record_id": rid, "title": f"Title {rid}", "decision": decision, "p_include": ""})
            labels[rid] = included
    frame = pd.DataFrame(decisions)
    if p is not None:
        frame["p_include"] = [f"{v:.6f}" for v in p]
    return frame, make_gold(labels)


def agree_on(frame: pd.DataFrame, gold: GoldSet, **kw: Any) -> dict[str, Any]:
    return build_agreement(match_decisions(frame, "run.csv", gold), **kw)


def assert_figures(report: dict[str, Any], a: int, b: int, c: int, d: int) -> None:
    """Every figure to 3 decimals, CIs included, against the longhand versions above."""
    n = a + b + c + d

    def check(name: str, value: float, ci: tuple[float, float]) -> None:
        assert report[name] == pytest.approx(value, abs=5e-4), name
        assert report[f"{name}_ci"][0] == pytest.approx(ci[0], abs=5e-4), name
        assert report[f"{name}_ci"][1] == pytest.approx(ci[1], abs=5e-4), name

    assert (report["n"], report["tp"], report["fp"], report["tn"], report["fn"]) == (n, a, b, d, c)
    for name, k, m in (
        ("sensitivity", a, a + c),
        ("specificity", d, d + b),
        ("precision", a, a + b),
        ("npv", d, d + c),
        ("accuracy", a + d, n),
    ):
        if m:
            check(name, k / m, wilson_ci(k, m))
        else:
            assert report[name] is None
    if a + b + c:
        jl, jh = wilson_ci(a, a + b + c)
        check("f1", 2 * a / (2 * a + b + c), (2 * jl / (1 + jl), 2 * jh / (1 + jh)))
    if a + c and b + d:
        sens, spec = a / (a + c), d / (b + d)
        (sl, sh), (pl, ph) = wilson_ci(a, a + c), wilson_ci(d, b + d)
        low = (sens + spec - math.hypot(sens - sl, spec - pl)) / 2
        high = (sens + spec + math.hypot(sh - sens, ph - spec)) / 2
        check("balanced_accuracy", (sens + spec) / 2, (low, high))
    po_l, po_h = wilson_ci(a + d, n)
    check("pabak", 2 * (a + d) / n - 1, (2 * po_l - 1, 2 * po_h - 1))
    row, col = (a + b) / n, (a + c) / n
    pe_kappa = row * col + (1 - row) * (1 - col)
    if not math.isclose(pe_kappa, 1.0):
        k, kl, kh = kappa_2x2(a, b, c, d)
        check("kappa", k, (kl, kh))
        alpha = alpha_raw(a, b, c, d)
        check("alpha", alpha, alpha_ci_2x2(a, b, c, d, alpha))
    g, gl, gh = ac1_2x2(a, b, c, d)
    check("ac1", g, (gl, gh))


# -- tests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tp", "fp", "tn", "fn"),
    [
        (45, 30, 4_900, 5),  # a review at 1% prevalence
        (20, 10, 15, 5),  # balanced
        (12, 22, 958, 8),  # the kappa paradox
        (3, 0, 40, 0),  # perfect agreement
        (0, 5, 40, 5),  # nothing found
    ],
)
def test_every_figure_matches_independent_computation(tp: int, fp: int, tn: int, fn: int) -> None:
    frame, gold = make_run(tp, fp, tn, fn)
    report = agree_on(frame, gold)
    assert_figures(report, tp, fp, fn, tn)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 60),
    st.integers(0, 60),
    st.integers(1, 300),
    st.integers(0, 30),
    st.integers(0, 10),
    st.integers(0, 10),
)
def test_figures_match_for_any_counts_both_ways(tp: int, fp: int, tn: int, fn: int, ui: int, ue: int) -> None:
    frame, gold = make_run(tp, fp, tn, fn, unc_inc=ui, unc_exc=ue)
    report = agree_on(frame, gold)
    assert report["uncertain_counted_as"] == "include"
    assert_figures(report, tp + ui, fp + ue, fn, tn)
    assert_figures(report["as_exclude"], tp, fp, fn + ui, tn + ue)
    assert report["n_uncertain"] == ui + ue


def test_json_top_level_keys_and_cis() -> None:
    frame, gold = make_run(10, 5, 80, 2)
    report = agree_on(frame, gold)
    for key in (
        "n",
        "tp",
        "fp",
        "tn",
        "fn",
        "sensitivity",
        "specificity",
        "precision",
        "npv",
        "f1",
        "kappa",
        "pabak",
        "ac1",
        "alpha",
        "wss95",
    ):
        assert key in report
    for key in (
        "sensitivity",
        "specificity",
        "precision",
        "npv",
        "f1",
        "accuracy",
        "balanced_accuracy",
        "kappa",
        "pabak",
        "ac1",
        "alpha",
    ):
        assert len(report[f"{key}_ci"]) == 2
        assert key in report["ci_methods"]
    assert report["wss95"] is None
    assert "P(include)" in report["workload_note"]


def test_fixture_run_counts_and_reference_standard() -> None:
    gold = load_gold(FIXTURES / "gold.csv")
    report = build_agreement(
        match_decisions(read_decisions(FIXTURES / "decisions.csv"), FIXTURES / "decisions.csv", gold)
    )
    assert (report["tp"], report["fp"], report["fn"], report["tn"]) == (3, 3, 2, 4)
    other = report["as_exclude"]
    assert (other["tp"], other["fp"], other["fn"], other["tn"]) == (2, 2, 3, 5)
    assert report["reference_standard"] == "title_abstract"
    assert report["reference_standard_source"].endswith("protocol.yaml")
    assert report["wss95"] == pytest.approx((12 - 11) / 12 - 0.05)
    assert report["rrf10"] == pytest.approx(2 / 5)
    assert report["run"]["model"] == ["openai:gpt-4o-mini"]


def test_fixture_criteria_use_protocol_kinds() -> None:
    gold = load_gold(FIXTURES / "gold.csv")
    matched = match_decisions(read_decisions(FIXTURES / "decisions.csv"), FIXTURES / "decisions.csv", gold)
    kinds = {
        "population": "inclusion",
        "intervention": "inclusion",
        "design": "inclusion",
        "protocol_only": "exclusion",
    }
    rows = {row["id"]: row for row in build_agreement(matched, criterion_kinds=kinds)["criteria"]}
    # Gold includes r01-r05: design not met in r03; population not met in r05; both are FN.
    assert rows["design"]["excluding"] == 1 and rows["design"]["excluding_in_missed"] == 1
    assert rows["design"]["unclear"] == 1
    assert rows["population"]["excluding"] == 1 and rows["population"]["excluding_in_missed"] == 1
    assert rows["protocol_only"]["excluding_verdict"] == "met"
    assert rows["protocol_only"]["excluding"] == 0
    assert rows["intervention"]["excluding"] == 0


def test_criteria_without_kinds_count_not_met() -> None:
    gold = load_gold(FIXTURES / "gold.csv")
    matched = match_decisions(read_decisions(FIXTURES / "decisions.csv"), FIXTURES / "decisions.csv", gold)
    rows = {row["id"]: row for row in build_agreement(matched)["criteria"]}
    assert rows["protocol_only"]["excluding_verdict"] == "not_met"
    assert rows["protocol_only"]["kind"] == "unknown"
    assert rows["protocol_only"]["excluding"] == 5


def test_mismatched_ids_are_an_error_with_counts() -> None:
    gold = load_gold(FIXTURES / "gold_mismatch.csv")
    frame = read_decisions(FIXTURES / "decisions.csv")
    with pytest.raises(GoldSetError) as caught:
        match_decisions(frame, FIXTURES / "decisions.csv", gold)
    message = caught.value.one_line()
    assert "1 decision(s) not in gold (e.g. r12)" in message
    assert "2 gold record(s) not in decisions (e.g. r99, r98)" in message
    assert "11 in common" in message
    assert "--allow-missing" in message


def test_allow_missing_lists_what_was_left_out() -> None:
    gold = load_gold(FIXTURES / "gold_mismatch.csv")
    matched = match_decisions(read_decisions(FIXTURES / "decisions.csv"), "d.csv", gold, allow_missing=True)
    report = build_agreement(matched)
    assert report["n"] == 11
    assert report["missing"] == {"not_in_gold": ["r12"], "not_in_decisions": ["r99", "r98"]}


def test_disjoint_ids_are_always_an_error() -> None:
    gold = load_gold(FIXTURES / "gold_disjoint.csv")
    with pytest.raises(GoldSetError, match="no record ids in common"):
        match_decisions(read_decisions(FIXTURES / "decisions.csv"), "d.csv", gold, allow_missing=True)


def test_duplicate_decision_ids_are_an_error() -> None:
    frame, gold = make_run(2, 1, 3, 1)
    frame.loc[3, "record_id"] = frame.loc[1, "record_id"]
    with pytest.raises(InputError, match=r"record rec00001 appears 2 times \(data rows 2, 4\)"):
        match_decisions(frame, "d.csv", gold, allow_missing=True)


def test_bad_p_include_names_the_record() -> None:
    frame, gold = make_run(2, 1, 3, 1, p=[0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.4])
    frame.loc[2, "p_include"] = "1.7"
    with pytest.raises(InputError, match=r"record rec00002: p_include '1.7' is not a number in \[0, 1\]"):
        agree_on(frame, gold)


def test_workload_wss_by_hand() -> None:
    # 10 records, 4 includes. Order by P: I I E I E E I E E E.
    p = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    included = [True, True, False, True, False, False, True, False, False, False]
    work = compute_workload(p, included, recall_target=0.75)
    # Recall >= 95% needs all 4: first at position 7, so WSS@95 = 3/10 - 0.05.
    assert work.wss95 == pytest.approx(0.25)
    assert work.wss95_threshold == 0.5
    # Recall 75% needs 3 of 4: position 4.
    assert (work.threshold, work.n_to_read) == (0.8, 4)
    assert work.wss_at_target == pytest.approx(6 / 10 - 0.25)
    # RRF@10: the first record (ceil(1.0)).
    assert work.rrf10.value == pytest.approx(1 / 4)


def test_workload_ties_are_read_together_and_split_for_rrf() -> None:
    p = [0.9, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1]
    included = [True, False, True, False, False, False, False, False, False, True]
    work = compute_workload(p, included, recall_target=0.5)
    assert (work.threshold, work.n_to_read) == (0.5, 5)
    assert work.wss95_n_screened == 10
    assert work.rrf10.value == pytest.approx(1 / 3)
    # ceil(0.1 * 10) = 1 record: the single 0.9, an include of 3.


def test_workload_rrf_tie_at_the_cut_uses_expected_share() -> None:
    p = [0.5] * 20
    included = [True] * 4 + [False] * 16
    work = compute_workload(p, included)
    assert work.rrf10.value == pytest.approx((4 * 2 / 20) / 4)


def test_report_json_has_wss_with_definition() -> None:
    frame, gold = make_run(3, 2, 4, 1, p=[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    report = agree_on(frame, gold)
    # Order: I I I E E E E E E I -> all 4 includes only at position 10.
    assert report["wss95"] == pytest.approx(0 - 0.05)
    assert "Cohen" in report["workload"]["wss_definition"]
    assert len(report["recall_curve"]["share"]) == 101


def test_render_fits_80_columns() -> None:

    gold = load_gold(FIXTURES / "gold.csv")
    report = build_agreement(
        match_decisions(read_decisions(FIXTURES / "decisions.csv"), FIXTURES / "decisions.csv", gold)
    )
    text = render_text(render_agreement(report, width=80))
    assert max(len(line) for line in text.splitlines()) <= 80
    for needle in ("Sensitivity", "PABAK", "Gwet's AC1", "Krippendorff's alpha", "WSS@95", "RRF@10", "title/abstract"):
        assert needle in text
    assert text.index("Sensitivity") < text.index("Specificity")
