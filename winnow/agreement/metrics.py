"""Screening metrics and agreement coefficients: counts in, estimates with CIs out.

Everything here is pure. Proportions get Wilson score intervals; the
chance-corrected coefficients use the closed-form large-sample variances given in
Gwet (2014), *Handbook of Inter-Rater Reliability*, 4th ed., with a Student t
interval on n - 1 degrees of freedom, as Gwet does. For Cohen's kappa that variance
is the Fleiss, Cohen and Everitt (1969) one. Krippendorff's alpha comes from the
``krippendorff`` package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = [
    "CI_LEVEL",
    "Counts",
    "Estimate",
    "ac1",
    "agreement_coefficients",
    "balanced_accuracy",
    "f1",
    "kappa",
    "krippendorff_alpha",
    "mover_sum",
    "pabak",
    "screening_metrics",
    "wilson",
]

CI_LEVEL = 0.95

WILSON = "Wilson score"
T_GWET = "analytic SE (Gwet 2014), t interval, n-1 df"


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval; None where undefined."""

    value: float | None
    low: float | None
    high: float | None
    method: str
    se: float | None = None
    note: str = ""

    @property
    def ci(self) -> list[float | None]:
        return [self.low, self.high]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "ci": self.ci, "method": self.method}
        if self.se is not None:
            out["se"] = self.se
        if self.note:
            out["note"] = self.note
        return out


def _undefined(method: str, note: str) -> Estimate:
    return Estimate(None, None, None, method, note=note)


@dataclass(frozen=True)
class Counts:
    """A 2x2 table: model decision (rows) against the gold label (columns)."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def table(self) -> np.ndarray:
        """Rows: model include, model exclude. Columns: gold include, gold exclude."""
        return np.array([[self.tp, self.fp], [self.fn, self.tn]], dtype=float)


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def t_quantile(probability: float, df: float) -> float:
    """Student t quantile.

    For df >= 20 the Cornish-Fisher expansion (Abramowitz and Stegun 26.7.5) is exact
    to better than 1e-6 and keeps scipy.stats (seconds to import) off the start-up path;
    smaller samples ask scipy.
    """
    if df >= 20:
        z = NormalDist().inv_cdf(probability)
        g1 = (z**3 + z) / 4
        g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
        g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
        g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
        return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4
    from scipy.special import stdtrit

    return float(stdtrit(df, probability))


def wilson(successes: float, trials: int, level: float = CI_LEVEL) -> Estimate:
    """A proportion with its Wilson score interval (Wilson 1927; Newcombe 1998, method 3).

    The closed form is the one ``scipy.stats.binomtest(...).proportion_ci(method="wilson")``
    computes (the tests check they agree); it also takes the fractional counts that
    arise when tied ranks are split.

    Args:
        successes: count of successes.
        trials: count of trials; 0 gives an undefined estimate.
        level: confidence level.
    """
    if trials <= 0:
        return _undefined(WILSON, "no records in the denominator")
    z = _z(level)
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Estimate(share, low, high, WILSON)


def mover_sum(first: Estimate, second: Estimate, *, weight: float = 1.0, sign: float = 1.0) -> Estimate:
    """``weight * (first + sign * second)`` with a MOVER interval built from two independent CIs.

    Newcombe (1998b, method 10) for a difference; Zou and Donner (2008) for the sum.
    """
    parts = [first.value, first.low, first.high, second.value, second.low, second.high]
    known = [part for part in parts if part is not None]
    if len(known) != len(parts):
        return _undefined("MOVER (Wilson)", "a component is undefined")
    p1, l1, u1, p2, l2, u2 = known
    point = p1 + sign * p2
    if sign > 0:
        low = point - math.sqrt((p1 - l1) ** 2 + (p2 - l2) ** 2)
        high = point + math.sqrt((u1 - p1) ** 2 + (u2 - p2) ** 2)
    else:
        low = point - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        high = point + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Estimate(weight * point, weight * low, weight * high, "MOVER from Wilson intervals")


def balanced_accuracy(counts: Counts, level: float = CI_LEVEL) -> Estimate:
    """(sensitivity + specificity) / 2 with a MOVER-Wilson interval."""
    return mover_sum(
        wilson(counts.tp, counts.tp + counts.fn, level), wilson(counts.tn, counts.tn + counts.fp, level), weight=0.5
    )


def f1(counts: Counts, level: float = CI_LEVEL) -> Estimate:
    """F1 = 2TP / (2TP + FP + FN).

    The interval is the Wilson interval of the Jaccard index J = TP / (TP + FP + FN),
    a binomial proportion given the records either side called include, mapped through
    the monotone identity F1 = 2J / (1 + J).
    """
    method = "Wilson on TP/(TP+FP+FN), mapped by F1 = 2J/(1+J)"
    trials = counts.tp + counts.fp + counts.fn
    if trials == 0:
        return _undefined(method, "neither side included any record")
    jac = wilson(counts.tp, trials, level)

    def to_f1(j: float) -> float:
        return 2 * j / (1 + j)

    assert jac.value is not None and jac.low is not None and jac.high is not None
    return Estimate(to_f1(jac.value), to_f1(jac.low), to_f1(jac.high), method)


def screening_metrics(counts: Counts, level: float = CI_LEVEL) -> dict[str, Estimate]:
    """Sensitivity first, then the rest of the usual screening figures, each with a CI."""
    tp, fp, tn, fn = counts.tp, counts.fp, counts.tn, counts.fn
    return {
        "sensitivity": wilson(tp, tp + fn, level),
        "specificity": wilson(tn, tn + fp, level),
        "precision": wilson(tp, tp + fp, level),
        "npv": wilson(tn, tn + fn, level),
        "f1": f1(counts, level),
        "accuracy": wilson(tp + tn, counts.n, level),
        "balanced_accuracy": balanced_accuracy(counts, level),
        "prevalence": wilson(tp + fn, counts.n, level),
    }


def _t_interval(value: float, se: float, n: float, level: float) -> tuple[float, float]:
    half = t_quantile(0.5 + level / 2, n - 1) * se if n > 1 else math.inf
    return max(-1.0, value - half), min(1.0, value + half)


def _square(table: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    matrix = np.asarray(table, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"agreement table must be square, got shape {matrix.shape}")
    return matrix


def kappa(table: Sequence[Sequence[float]] | np.ndarray, level: float = CI_LEVEL) -> Estimate:
    """Cohen's kappa for two raters on a q x q table of counts (rater A rows, rater B columns).

    Variance: Fleiss, Cohen and Everitt (1969), as in Gwet (2014) section 5.
    """
    counts = _square(table)
    n = counts.sum()
    if n == 0:
        return _undefined(T_GWET, "no records")
    p = counts / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    pa = float(np.trace(p))
    pe = float(rows @ cols)
    if math.isclose(pe, 1.0):
        return _undefined(T_GWET, "both raters used one category only: chance agreement is 1")
    value = (pa - pe) / (1 - pe)
    weights = np.eye(len(p))
    spread = weights - (1 - value) * (cols[:, None] + rows[None, :])
    total = float((p * spread**2).sum())
    variance = (total - (pa - 2 * (1 - value) * pe) ** 2) / (n * (1 - pe) ** 2)
    se = math.sqrt(max(variance, 0.0))
    low, high = _t_interval(value, se, n, level)
    return Estimate(value, low, high, T_GWET, se=se)


def ac1(table: Sequence[Sequence[float]] | np.ndarray, level: float = CI_LEVEL) -> Estimate:
    """Gwet's AC1 (Gwet 2008) for two raters on a q x q table, with its analytic variance."""
    counts = _square(table)
    n = counts.sum()
    q = len(counts)
    if n == 0 or q < 2:
        return _undefined(T_GWET, "no records")
    p = counts / n
    pi = (p.sum(axis=1) + p.sum(axis=0)) / 2
    pa = float(np.trace(p))
    pe = float((pi * (1 - pi)).sum() / (q - 1))
    value = (pa - pe) / (1 - pe)
    weights = np.eye(q)
    spread = weights - 2 * (1 - value) * (1 - (pi[:, None] + pi[None, :]) / 2) / (q - 1)
    total = float((p * spread**2).sum())
    variance = (total - (pa - 2 * (1 - value) * pe) ** 2) / (n * (1 - pe) ** 2)
    se = math.sqrt(max(variance, 0.0))
    low, high = _t_interval(value, se, n, level)
    return Estimate(value, low, high, T_GWET, se=se)


def pabak(table: Sequence[Sequence[float]] | np.ndarray, level: float = CI_LEVEL) -> Estimate:
    """Prevalence- and bias-adjusted kappa, 2 * po - 1 for two categories (Byrt, Bishop and Carlin 1993).

    In general q * po - 1 over q - 1. The interval maps the Wilson interval of the observed
    agreement po through the same linear function.
    """
    counts = _square(table)
    n = round(float(counts.sum()))
    q = len(counts)
    agreed = round(float(np.trace(counts)))
    po = wilson(agreed, n, level)
    if po.value is None or po.low is None or po.high is None:
        return _undefined("Wilson on observed agreement", "no records")

    def scale(x: float) -> float:
        return (q * x - 1) / (q - 1)

    return Estimate(scale(po.value), scale(po.low), scale(po.high), "Wilson on observed agreement, mapped by 2po-1")


def krippendorff_alpha(table: Sequence[Sequence[float]] | np.ndarray, level: float = CI_LEVEL) -> Estimate:
    """Krippendorff's alpha (nominal) for two raters with no missing ratings.

    The value comes from the ``krippendorff`` package; the interval uses the large-sample
    variance Gwet (2014) gives for alpha with two raters.
    """
    counts = _square(table)
    n = counts.sum()
    q = len(counts)
    if n == 0:
        return _undefined(T_GWET, "no records")
    p = counts / n
    pi = (p.sum(axis=1) + p.sum(axis=0)) / 2
    pa = float(np.trace(p))
    pe = float((pi**2).sum())
    if math.isclose(pe, 1.0):
        return _undefined(T_GWET, "both raters used one category only: alpha is undefined")
    value = _alpha_value(counts)
    scott = (pa - pe) / (1 - pe)
    weights = np.eye(q)
    spread = weights - (1 - scott) * (pi[:, None] + pi[None, :])
    total = float((p * spread**2).sum())
    variance = (total - (pa - 2 * (1 - scott) * pe) ** 2) / (n * (1 - pe) ** 2)
    se = math.sqrt(max(variance, 0.0))
    low, high = _t_interval(value, se, n, level)
    return Estimate(value, low, high, "krippendorff package; " + T_GWET, se=se)


def _alpha_value(counts: np.ndarray) -> float:
    import krippendorff

    q = len(counts)
    value_counts = []
    for a in range(q):
        for b in range(q):
            cell = round(float(counts[a, b]))
            if cell:
                unit = np.zeros(q, dtype=int)
                unit[a] += 1
                unit[b] += 1
                value_counts.append(np.repeat(unit[None, :], cell, axis=0))
    matrix = np.concatenate(value_counts, axis=0)
    return float(krippendorff.alpha(value_counts=matrix, level_of_measurement="nominal"))


def agreement_coefficients(counts: Counts, level: float = CI_LEVEL) -> dict[str, Estimate]:
    """Kappa, PABAK, AC1 and alpha for the model-versus-gold 2x2 table, side by side."""
    table = counts.table
    return {
        "kappa": kappa(table, level),
        "pabak": pabak(table, level),
        "ac1": ac1(table, level),
        "alpha": krippendorff_alpha(table, level),
    }
