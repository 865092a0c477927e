"""The buscar stopping test: hand-computed p-values, and its guarantee under random order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from winnow.screening.ranking.stopping import StoppingRule, buscar_p_value, check, estimated_recall, excludes_at_the_end


def test_nothing_found_cannot_reject() -> None:
    assert buscar_p_value([], 100, 0.95) == 1.0
    assert buscar_p_value([False] * 50, 100, 0.95) == 1.0


def test_everything_read_rejects() -> None:
    assert buscar_p_value([True, False, False], 3, 0.95) == 0.0


def test_p_value_matches_the_hypergeometric_by_hand() -> None:
    # 100 records; 10 includes in the first 10 read, then 40 excludes.
    labels = [True] * 10 + [False] * 40
    # For the last k excludes: 10 includes were found before them, so under H0 the urn
    # (the k plus the 50 unread) must hold floor(10/0.95) + 1 - 10 = 1 include, and
    # P(no include among k drawn from an urn of 50 + k holding one) = 50 / (50 + k).
    # The smallest is at k = 40: 50/90. Samples reaching into the includes give p near 1.
    expected = min(50 / (50 + k) for k in range(1, 41))
    assert buscar_p_value(labels, 100, 0.95) == pytest.approx(expected)
    assert expected == pytest.approx(50 / 90)


def test_p_value_with_includes_inside_the_sample() -> None:
    # 30 records read out of 60: includes at positions 0, 1 and 20. Check one k by comb().
    labels = [True, True] + [False] * 18 + [True] + [False] * 9
    n_total, target = 60, 0.95
    p = buscar_p_value(labels, n_total, target)
    by_hand = []
    for k in range(1, len(labels) + 1):
        sample = labels[-k:]
        found_in_sample = sum(sample)
        before = sum(labels) - found_in_sample
        urn = n_total - (len(labels) - k)
        big_k = math.floor(sum(labels) / target) + 1 - before
        if big_k > urn:
            continue
        cdf = sum(
            math.comb(big_k, i) * math.comb(urn - big_k, k - i) / math.comb(urn, k) for i in range(found_in_sample + 1)
        )
        by_hand.append(cdf)
    assert p == pytest.approx(min(by_hand))


def test_stops_meet_the_target_under_random_order() -> None:
    """A random ranking is the test's worst case: stops below 95% recall must be at most ~5%."""
    rng = np.random.default_rng(20201)
    n, includes, trials = 200, 10, 120
    rule = StoppingRule()
    early = 0
    for _ in range(trials):
        labels = np.zeros(n, dtype=bool)
        labels[rng.choice(n, includes, replace=False)] = True
        for read in range(1, n + 1):
            if check(rule, labels[:read], n).fire:
                early += labels[:read].sum() / includes < rule.recall_target
                break
    # Binomial(120, 0.05) exceeds 12 with probability under 1%.
    assert early <= 12, f"{early} of {trials} stops came below the recall target"


def test_heuristic_rule_counts_excludes_in_a_row() -> None:
    rule = StoppingRule(name="heuristic", excludes_in_a_row=3)
    assert excludes_at_the_end([True, False, False]) == 2
    assert not check(rule, [True, False, False], 100).fire
    verdict = check(rule, [True, False, False, False], 100)
    assert verdict.fire and verdict.p_value is not None
    assert "no statistical guarantee" in rule.describe()


@pytest.mark.parametrize("bad", [{"recall_target": 1.0}, {"confidence": 0.0}, {"excludes_in_a_row": 0}])
def test_rule_parameters_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        StoppingRule(**bad)  # type: ignore[arg-type]


def test_p_exactly_alpha_does_not_stop() -> None:
    """1 - 0.95 is 0.05000000000000004 in floats; a p-value of exactly 0.05 must not pass it."""
    # 32 records, 12 includes then 19 excludes: the urn of the 19 plus the last record
    # must hold one include under H0, and P(none in 19 of 20) = 1/20.
    labels = [True] * 12 + [False] * 19
    assert buscar_p_value(labels, 32, 0.95) == 0.05
    assert not check(StoppingRule(), labels, 32).fire
    assert check(StoppingRule(), [*labels, False], 32).fire


def test_no_recall_estimate_from_a_handful_of_reads() -> None:
    # One include read first used to give a 75% include rate for the unread records: "est. recall 0%".
    assert estimated_recall([True], 1000) is None
    assert estimated_recall([False] * 3 + [True], 1000) is None
    assert estimated_recall([True] * 49, 1000) is None
    assert estimated_recall([False] * 60, 1000) is None, "no include found: nothing to estimate"


def test_recall_estimate_from_the_last_reads_once_the_window_is_full() -> None:
    # 10 includes then 40 excludes, of 100: the last 50 read hold all 10 includes.
    labels = [True] * 10 + [False] * 40
    rate = (10 + 0.5) / (50 + 1)
    assert estimated_recall(labels, 100) == pytest.approx(10 / (10 + rate * 50))
    later = labels + [False] * 50  # of 200: the last 50 read are all excludes
    assert estimated_recall(later, 200) == pytest.approx(10 / (10 + 0.5 / 51 * 100))


def test_status_line_never_shows_zero_recall_once_an_include_is_found() -> None:
    from winnow.cli.prioritise import _status_line
    from winnow.screening.ranking.prioritise import Status

    rule = StoppingRule()

    def line(labels: list[bool], n_total: int) -> str:
        status = Status(n_total, len(labels), sum(labels), 0, check(rule, labels, n_total))
        return _status_line(status, rule)

    assert "est. recall - (from 50 read)" in line([True], 1000)
    assert "est. recall <1%" in line([True] + [False] * 49, 10_000)
    assert "est. recall 91%" in line([True] * 10 + [False] * 90, 200)
    assert "est. recall -" in line([False] * 60, 1000)
