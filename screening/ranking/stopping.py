"""When may a reviewer stop reading a prioritised list?

The default is the buscar hypothesis test (Callaghan and Müller-Hansen 2020,
Systematic Reviews 9:273, doi:10.1186/s13643-020-01521-4). It treats the last
``k`` records read as if they had been drawn at random from the records that
were still unread at that point, which is conservative: a ranking that works
puts includes *earlier*, so the unread pool holds fewer includes than a random
draw would suggest. The null hypothesis is "recall is still below the target";
its p-value is the smallest, over every ``k``, hypergeometric probability of
seeing at most the includes that were actually seen in those ``k`` records if
the pool still held just enough includes to keep recall under the target.
Stopping when ``p < 1 - confidence`` bounds the chance of stopping too early.

The other rule, "N excludes in a row", has no such guarantee; every report
that uses it says it is a heuristic.

The PyPI package named ``buscar`` is an unrelated drug-screening tool, so the
test is written here, on scipy's hypergeometric distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import hypergeom

RuleName = Literal["buscar", "heuristic"]


@dataclass(frozen=True)
class StoppingRule:
    """A rule and its parameters, as a methods section names them."""

    name: RuleName = "buscar"
    recall_target: float = 0.95
    confidence: float = 0.95
    excludes_in_a_row: int = 100

    def __post_init__(self) -> None:
        if not 0 < self.recall_target < 1:
            raise ValueError(f"recall target must be between 0 and 1, got {self.recall_target}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, got {self.confidence}")
        if self.excludes_in_a_row < 1:
            raise ValueError("excludes in a row must be at least 1")

    @property
    def alpha(self) -> float:
        """``1 - confidence`` without float noise: 1 - 0.95 is 0.05000000000000004, and p = 0.05 must not pass."""
        return round(1 - self.confidence, 12)

    @property
    def is_heuristic(self) -> bool:
        return self.name == "heuristic"

    def describe(self) -> str:
        if self.name == "buscar":
            return (
                f"buscar hypothesis test (Callaghan & Müller-Hansen 2020): stop when the p-value for "
                f"'recall < {self.recall_target:.0%}' falls below {self.alpha:.2g} "
                f"(confidence {self.confidence:.0%})"
            )
        return f"heuristic: stop after {self.excludes_in_a_row} excludes in a row (no statistical guarantee on recall)"


@dataclass(frozen=True)
class StoppingCheck:
    """The rule's verdict after some records have been read."""

    fire: bool
    p_value: float | None
    excludes_in_a_row: int
    estimated_recall: float | None


def buscar_p_value(labels_in_order: Sequence[bool] | np.ndarray, n_total: int, recall_target: float) -> float:
    """p-value for H0 "recall < target" after reading ``labels_in_order`` out of ``n_total`` records.

    ``labels_in_order`` is every label read so far, in reading order. Returns 1.0
    when nothing has been read or no include has been found (the test cannot
    reject then).
    """
    seen = np.asarray(labels_in_order, dtype=np.int64)
    n_seen = int(seen.size)
    r_seen = int(seen.sum())
    if n_seen == 0 or r_seen == 0:
        return 1.0
    if n_seen >= n_total:
        return 0.0
    last_first = seen[::-1]
    sample_sizes = np.arange(1, n_seen + 1)
    includes_in_sample = np.cumsum(last_first)
    urn_sizes = n_total - (n_seen - sample_sizes)
    includes_before_sample = r_seen - includes_in_sample
    # The fewest includes the urn (sample plus unread) must hold for recall to be below target.
    fewest_for_h0 = math.floor(r_seen / recall_target) + 1 - includes_before_sample
    possible = fewest_for_h0 <= urn_sizes
    if not possible.any():
        return 0.0
    p = hypergeom.cdf(
        includes_in_sample[possible], urn_sizes[possible], fewest_for_h0[possible], sample_sizes[possible]
    )
    return float(min(1.0, np.min(p)))


def excludes_at_the_end(labels_in_order: Sequence[bool] | np.ndarray) -> int:
    run = 0
    for label in reversed(list(labels_in_order)):
        if label:
            break
        run += 1
    return run


def check(rule: StoppingRule, labels_in_order: Sequence[bool] | np.ndarray, n_total: int) -> StoppingCheck:
    """Apply ``rule`` to the labels read so far; the p-value is reported for either rule."""
    p = buscar_p_value(labels_in_order, n_total, rule.recall_target)
    streak = excludes_at_the_end(labels_in_order)
    fire = p < rule.alpha if rule.name == "buscar" else streak >= rule.excludes_in_a_row
    return StoppingCheck(
        fire=fire, p_value=p, excludes_in_a_row=streak, estimated_recall=estimated_recall(labels_in_order, n_total)
    )


MIN_READS_FOR_ESTIMATE = 50


def estimated_recall(labels_in_order: Sequence[bool] | np.ndarray, n_total: int) -> float | None:
    """A point estimate for the status line, not a guarantee.

    Assumes the unread records hold includes at the rate of the most recent
    reads (the last 10% read, at least 50 records), which errs high on includes
    left, so low on recall. Before 50 records are read there is no such window:
    the rate would come from a handful of reads (one include read first gives
    75%, so recall ~0%), and the estimate is ``None`` rather than that.
    """
    seen = np.asarray(labels_in_order, dtype=np.int64)
    if seen.size < MIN_READS_FOR_ESTIMATE or seen.sum() == 0:
        return None
    window = max(MIN_READS_FOR_ESTIMATE, seen.size // 10)
    recent = seen[-window:]
    rate = (recent.sum() + 0.5) / (recent.size + 1)
    left = rate * (n_total - seen.size)
    return float(seen.sum() / (seen.sum() + left))
