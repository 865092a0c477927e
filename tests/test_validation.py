"""The validation estimator and the calibrated threshold, on cases computed by hand.

Bounds are checked against a brute-force hypergeometric written here with
``math.comb`` only, so the check does not share code with scipy.
"""

from __future__ import annotations

from math import comb

import pytest

from winnow.screening.validation.calibration import choose_threshold, fewest_includes, redecide
from winnow.screening.validation.plan import plan_sample
from winnow.screening.validation.recall import (
    SampleState,
    StratumCount,
    count_bounds,
    draw_sample,
    estimate_recall,
)


def pmf(k: int, population: int, includes: int, sample: int) -> float:
    return comb(includes, k) * comb(population - includes, sample - k) / comb(population, sample)


def brute_bounds(population: int, sample: int, found: int, alpha: float) -> tuple[int, int]:
    feasible = range(found, found + population - sample + 1)
    at_least = {r: sum(pmf(k, population, r, sample) for k in range(found, min(r, sample) + 1)) for r in feasible}
    at_most = {r: sum(pmf(k, population, r, sample) for k in range(0, found + 1)) for r in feasible}
    return min(r for r in feasible if at_least[r] > alpha), max(r for r in feasible if at_most[r] > alpha)


@pytest.mark.parametrize(
    ("population", "sample", "found", "alpha"),
    [(20, 5, 1, 0.1), (50, 10, 0, 0.05), (50, 10, 10, 0.05), (60, 30, 7, 0.025), (400, 200, 1, 0.025)],
)
def test_count_bounds_match_brute_force(population: int, sample: int, found: int, alpha: float) -> None:
    assert count_bounds(population, sample, found, alpha) == brute_bounds(population, sample, found, alpha)


def test_zero_found_upper_bound_is_the_elusion_bound() -> None:
    # Nothing found in 100 of 1,000: the largest R with C(1000-R, 100) / C(1000, 100) > 0.05.
    expected = max(r for r in range(901) if comb(1000 - r, 100) / comb(1000, 100) > 0.05)
    assert count_bounds(1000, 100, 0, 0.05) == (0, expected) == (0, 28)


def test_census_and_empty_samples() -> None:
    assert count_bounds(10, 10, 3, 0.05) == (3, 3)
    assert count_bounds(10, 0, 0, 0.05) == (0, 10)
    with pytest.raises(ValueError):
        count_bounds(10, 5, 6, 0.05)


def test_every_stratum_read_in_full_gives_the_exact_recall() -> None:
    est = estimate_recall([StratumCount("exclude", 50, 50, 1), StratumCount("include", 20, 20, 19)], recall_target=0.95)
    assert est.recall == est.recall_lower == pytest.approx(0.95)
    assert est.recall_interval == pytest.approx((0.95, 0.95))
    assert est.certified and est.sampled_strata == () and est.missed == 1 and est.missed_upper == 1
    assert est.precision == pytest.approx(0.95)


def test_stratified_estimate_by_hand() -> None:
    counts = [
        StratumCount("exclude", 400, 200, 1),
        StratumCount("uncertain", 20, 20, 2),
        StratumCount("include", 100, 50, 30),
    ]
    est = estimate_recall(counts, recall_target=0.95, confidence=0.95)
    # Point: (100*30/50 + 2) / (60 + 2 + 400*1/200) = 62 / 64.
    assert est.recall == pytest.approx(62 / 64)
    assert est.missed == pytest.approx(2.0)
    # Two strata are sampled (uncertain was read in full), so each bound is at alpha / 2 = 0.025.
    assert est.sampled_strata == ("exclude", "include") and est.alpha_per_stratum == pytest.approx(0.025)
    low_i = brute_bounds(100, 50, 30, 0.025)[0]
    high_e = brute_bounds(400, 200, 1, 0.025)[1]
    assert est.recall_lower == pytest.approx((low_i + 2) / (low_i + 2 + high_e))
    # The two-sided interval spends alpha / 4 per tail per stratum.
    low_i2, high_i2 = brute_bounds(100, 50, 30, 0.0125)
    low_e2, high_e2 = brute_bounds(400, 200, 1, 0.0125)
    assert est.recall_interval == pytest.approx(
        ((low_i2 + 2) / (low_i2 + 2 + high_e2), (high_i2 + 2) / (high_i2 + 2 + low_e2))
    )
    # Missed includes alone: one-sided at the full alpha.
    assert est.missed_upper == brute_bounds(400, 200, 1, 0.05)[1]
    assert not est.certified


def test_model_excluded_nothing() -> None:
    est = estimate_recall([StratumCount("include", 30, 10, 4), StratumCount("uncertain", 5, 0, 0)])
    assert est.recall == est.recall_lower == 1.0 and est.certified
    assert est.missed == 0.0 and est.missed_upper == 0
    assert "excluded nothing" in est.notes[0]


def test_model_excluded_everything() -> None:
    est = estimate_recall([StratumCount("exclude", 100, 10, 1)])
    assert est.recall == 0.0 and est.recall_lower == 0.0 and not est.certified
    assert any("excluded every record" in note for note in est.notes)
    none_found = estimate_recall([StratumCount("exclude", 100, 10, 0)])
    assert none_found.recall is None and not none_found.certified


def test_plan_puts_most_of_the_sample_among_excludes_and_certifies_at_the_assumed_rates() -> None:
    plan = plan_sample({"exclude": 8000, "uncertain": 200, "include": 1800})
    assert plan.sample["exclude"] > plan.sample["include"] + plan.sample["uncertain"]
    assert plan.needed_to_certify == plan.total and plan.certify_probability >= 0.8
    by_hand = plan_sample({"exclude": 8000, "uncertain": 200, "include": 1800}, total=500)
    assert by_hand.total == 500 and by_hand.by_hand and by_hand.needed_to_certify == plan.total
    # Where even a census cannot certify (the run suggests many misses), the plan says so and reads everything.
    hopeless = plan_sample({"exclude": 50, "uncertain": 0, "include": 10}, mean_p_include={"exclude": 0.5})
    assert hopeless.needed_to_certify is None and hopeless.total == 60


def test_draw_is_seeded_and_a_simple_random_sample_per_stratum() -> None:
    strata = {"exclude": [f"e{i}" for i in range(30)], "include": [f"i{i}" for i in range(10)]}
    sizes = {"exclude": 12, "uncertain": 0, "include": 4}
    first = draw_sample(strata, sizes, seed=7)
    assert first == draw_sample(strata, sizes, seed=7) != draw_sample(strata, sizes, seed=8)
    assert sum(s == "exclude" for _, s in first) == 12 and sum(s == "include" for _, s in first) == 4
    assert len({rid for rid, _ in first}) == 16


def test_sample_state_skips_come_last_and_latest_answer_wins() -> None:
    state = SampleState(draw=[("a", "exclude"), ("b", "include"), ("c", "exclude")])
    state.apply("a", "skip")
    assert state.next_record() == ("b", "include")
    state.apply("b", "include")
    state.apply("c", "include")
    state.apply("c", "exclude")
    assert state.next_record() == ("a", "exclude")
    counts = {c.name: c for c in state.counts({"exclude": 10, "uncertain": 0, "include": 5})}
    assert (counts["exclude"].labelled, counts["exclude"].includes) == (1, 0)
    assert (counts["include"].labelled, counts["include"].includes) == (1, 1)


def test_fewest_includes_matches_the_known_figures() -> None:
    assert fewest_includes(0.95, 0.95) == 59
    assert fewest_includes(0.90, 0.95) == 29
    assert fewest_includes(0.80, 0.95) == 14


def test_threshold_keeps_the_lower_bound_above_target() -> None:
    # 100 includes at p = 1.00, 0.99, ... 0.01; 99 of 100 found gives a lower bound of 0.953 (>= 0.95),
    # 98 of 100 gives 0.944, so the threshold is the 99th highest include: 0.02.
    p = [round(1 - i / 100, 2) for i in range(100)] + [0.5] * 50
    labels = [True] * 100 + [False] * 50
    cal = choose_threshold(p, labels, recall_target=0.95, confidence=0.95)
    assert cal.threshold == pytest.approx(0.02) and cal.found == 99 and cal.chosen
    assert cal.recall_lower is not None and cal.recall_lower >= 0.95 and cal.clears_target
    # 58 includes can never certify 95/95: no threshold.
    few = choose_threshold([0.9] * 58 + [0.1], [True] * 58 + [False])
    assert few.threshold is None and few.needed_includes == 59
    # A given threshold is evaluated, not chosen.
    given = choose_threshold(p, labels, threshold=0.5)
    assert given.threshold == 0.5 and not given.chosen and given.found == 51 and not given.clears_target


def test_redecide() -> None:
    assert redecide(0.3, 0.3) == "include"
    assert redecide(0.29, 0.3) == "exclude"
    assert redecide(None, 0.3) == "uncertain"
