"""Pure estimators checked against worked examples with published values.

Sources:
- Newcombe RG (1998a). Two-sided confidence intervals for the single proportion:
  comparison of seven methods. Stat Med 17:857-872. Wilson score intervals (method 3).
- Newcombe RG (1998b). Interval estimation for the difference between independent
  proportions: comparison of eleven methods. Stat Med 17:873-890. Method 10
  (square-and-add Wilson, the MOVER used for balanced accuracy).
- Gwet KL (2014). Handbook of Inter-Rater Reliability, 4th ed. Advanced Analytics.
  The 3x3 "abstractors" table (100 pregnant women) and the 4x4 "diagnosis" table
  (223 psychiatric patients), as reproduced in Gwet's irrCAC package documentation.
- Krippendorff K (2011). Computing Krippendorff's alpha-reliability. Annenberg School
  for Communication, Departmental Papers 43. Example A: binary data, two observers.
- Cohen's kappa textbook example (Wikipedia, "Cohen's kappa", worked example: 50
  grant proposals, Yes/Yes 20, Yes/No 5, No/Yes 10, No/No 15; kappa = 0.4).
- Byrt T, Bishop J, Carlin JB (1993). Bias, prevalence and kappa. J Clin Epidemiol
  46:423-429. PABAK = 2 po - 1.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from winnow.agreement.metrics import (
    Counts,
    Estimate,
    ac1,
    agreement_coefficients,
    balanced_accuracy,
    f1,
    kappa,
    krippendorff_alpha,
    mover_sum,
    pabak,
    screening_metrics,
    t_quantile,
    wilson,
)

ABSTRACTORS = [[13, 0, 0], [0, 20, 7], [0, 4, 56]]
DIAGNOSIS = [[40, 4, 4, 17], [6, 25, 2, 13], [4, 1, 21, 12], [15, 5, 9, 45]]


def close(estimate: Estimate, value: float, low: float, high: float, places: int = 3) -> None:
    assert estimate.value is not None and estimate.low is not None and estimate.high is not None
    assert round(estimate.value, places) == pytest.approx(value, abs=10**-places / 2 + 1e-12)
    assert round(estimate.low, places) == pytest.approx(low, abs=10**-places / 2 + 1e-12)
    assert round(estimate.high, places) == pytest.approx(high, abs=10**-places / 2 + 1e-12)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_newcombe_1998_table(k: int, n: int, low: float, high: float) -> None:
    estimate = wilson(k, n)
    assert estimate.value == pytest.approx(k / n)
    assert estimate.low == pytest.approx(low, abs=5e-5)
    assert estimate.high == pytest.approx(high, abs=5e-5)


def test_wilson_matches_scipy_binomtest() -> None:
    from scipy.stats import binomtest

    for n in (1, 2, 7, 30, 148, 263, 5000):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
            estimate = wilson(k, n)
            assert estimate.low == pytest.approx(expected.low, abs=1e-12)
            assert estimate.high == pytest.approx(expected.high, abs=1e-12)


@pytest.mark.parametrize("df", [1, 2, 5, 19, 20, 30, 99, 4999])
def test_t_quantile_matches_scipy(df: int) -> None:
    from scipy.stats import t

    assert t_quantile(0.975, df) == pytest.approx(float(t.ppf(0.975, df)), abs=1e-6)


def test_wilson_fractional_count_uses_the_same_formula() -> None:
    exact = wilson(15, 148)
    nudged = wilson(15.0000001, 148)
    assert nudged.low == pytest.approx(exact.low, abs=1e-6)
    assert nudged.high == pytest.approx(exact.high, abs=1e-6)


def test_wilson_with_no_trials_is_undefined() -> None:
    estimate = wilson(0, 0)
    assert estimate.value is None and estimate.ci == [None, None]
    assert "denominator" in estimate.note


def test_mover_difference_matches_newcombe_1998b_method_10() -> None:
    # Example (a): 56/70 - 48/80 = 0.2000, 95% CI 0.0524 to 0.3339.
    difference = mover_sum(wilson(56, 70), wilson(48, 80), sign=-1)
    assert difference.value == pytest.approx(0.2)
    assert difference.low == pytest.approx(0.0524, abs=5e-5)
    assert difference.high == pytest.approx(0.3339, abs=5e-5)


def test_kappa_gwet_handbook_abstractors() -> None:
    close(kappa(ABSTRACTORS), 0.796, 0.680, 0.913)


def test_kappa_gwet_handbook_diagnosis_with_se() -> None:
    estimate = kappa(DIAGNOSIS)
    close(estimate, 0.432, 0.341, 0.522)
    assert round(estimate.se or 0, 3) == 0.046


def test_ac1_gwet_handbook_abstractors() -> None:
    estimate = ac1(ABSTRACTORS)
    assert estimate.value == pytest.approx(0.84933, abs=5e-6)
    assert estimate.se == pytest.approx(0.04322, abs=5e-6)
    assert estimate.low == pytest.approx(0.76358, abs=5e-6)
    assert estimate.high == pytest.approx(0.93508, abs=5e-6)


def test_ac1_gwet_handbook_diagnosis() -> None:
    estimate = ac1(DIAGNOSIS)
    close(estimate, 0.456, 0.371, 0.542)
    assert round(estimate.se or 0, 3) == 0.043


def test_alpha_gwet_handbook_abstractors() -> None:
    close(krippendorff_alpha(ABSTRACTORS), 0.797, 0.680, 0.914)


def test_alpha_krippendorff_2011_binary_example() -> None:
    # Observer A: 0 1 0 0 0 0 0 0 1 0; observer B: 1 1 1 0 0 1 0 0 0 0; alpha = 0.095.
    table = [[5, 3], [1, 1]]
    assert krippendorff_alpha(table).value == pytest.approx(0.095, abs=5e-4)


def test_alpha_matches_the_krippendorff_package_on_raw_ratings() -> None:
    import krippendorff

    rng = np.random.default_rng(7)
    for _ in range(20):
        a = rng.integers(0, 2, 60)
        b = np.where(rng.random(60) < 0.8, a, 1 - a)
        table = [
            [np.sum((a == 1) & (b == 1)), np.sum((a == 1) & (b == 0))],
            [np.sum((a == 0) & (b == 1)), np.sum((a == 0) & (b == 0))],
        ]
        expected = krippendorff.alpha(reliability_data=np.vstack([a, b]), level_of_measurement="nominal")
        assert krippendorff_alpha(table).value == pytest.approx(expected, abs=1e-12)


def test_alpha_equals_gwet_handbook_closed_form() -> None:
    # Gwet (2014): alpha = (pa' - pe) / (1 - pe), pa' = (1 - 1/2n) pa + 1/2n, pe = sum pi_k^2.
    table = np.array(ABSTRACTORS, dtype=float)
    n = table.sum()
    p = table / n
    pi = (p.sum(0) + p.sum(1)) / 2
    pa = (1 - 1 / (2 * n)) * np.trace(p) + 1 / (2 * n)
    pe = (pi**2).sum()
    assert krippendorff_alpha(table).value == pytest.approx((pa - pe) / (1 - pe), abs=1e-12)


def test_kappa_textbook_binary_example() -> None:
    assert kappa([[20, 5], [10, 15]]).value == pytest.approx(0.4)


def test_pabak_is_two_po_minus_one_with_mapped_wilson() -> None:
    estimate = pabak([[20, 5], [10, 15]])
    po = wilson(35, 50)
    assert estimate.value == pytest.approx(0.4)
    assert estimate.low == pytest.approx(2 * (po.low or 0) - 1)
    assert estimate.high == pytest.approx(2 * (po.high or 0) - 1)


def test_kappa_paradox_at_low_prevalence() -> None:
    # 1,000 records, 2% includes, 97% raw agreement: kappa is modest, AC1 and PABAK are high.
    counts = Counts(tp=12, fp=22, tn=958, fn=8)
    coefficients = agreement_coefficients(counts)
    assert (coefficients["kappa"].value or 0) < 0.45
    assert (coefficients["ac1"].value or 0) > 0.95
    assert coefficients["pabak"].value == pytest.approx(2 * 0.97 - 1)


def test_kappa_undefined_when_both_raters_use_one_category() -> None:
    assert kappa([[0, 0], [0, 10]]).value is None
    assert krippendorff_alpha([[0, 0], [0, 10]]).value is None


def test_f1_interval_maps_jaccard_wilson() -> None:
    counts = Counts(tp=30, fp=10, tn=100, fn=5)
    estimate = f1(counts)
    jac = wilson(30, 45)
    assert estimate.value == pytest.approx(60 / 75)
    assert estimate.low == pytest.approx(2 * (jac.low or 0) / (1 + (jac.low or 0)))
    assert estimate.high == pytest.approx(2 * (jac.high or 0) / (1 + (jac.high or 0)))


def test_balanced_accuracy_is_mean_of_sensitivity_and_specificity() -> None:
    counts = Counts(tp=30, fp=10, tn=100, fn=5)
    estimate = balanced_accuracy(counts)
    sens, spec = wilson(30, 35), wilson(100, 110)
    assert estimate.value == pytest.approx((30 / 35 + 100 / 110) / 2)
    low = (30 / 35 + 100 / 110 - math.hypot(30 / 35 - (sens.low or 0), 100 / 110 - (spec.low or 0))) / 2
    assert estimate.low == pytest.approx(low)


def test_screening_metrics_order_puts_sensitivity_first() -> None:
    names = list(screening_metrics(Counts(tp=1, fp=1, tn=1, fn=1)))
    assert names[0] == "sensitivity"
    assert names[:7] == ["sensitivity", "specificity", "precision", "npv", "f1", "accuracy", "balanced_accuracy"]


def test_non_square_table_is_rejected() -> None:
    with pytest.raises(ValueError, match="square"):
        kappa([[1, 2, 3], [4, 5, 6]])
