"""A P(include) threshold chosen so that the recall's lower confidence bound, not its estimate, clears the target.

Records are re-decided as include when ``p_include >= t`` (ties go with the
include side, so tied records are read together). On a calibration set of
labelled records, ``n`` of them includes, the threshold is the highest ``t`` at
which the one-sided Clopper-Pearson lower bound on recall, ``found(t)`` of ``n``,
reaches the target. Because ``found(t)`` only grows as ``t`` falls, picking the
highest passing ``t`` is the same as testing "recall(t) < target" once, at the
first threshold where the truth fails; so the chosen threshold has recall below
the target with probability at most ``1 - confidence`` (the quantile argument of
Lewis, Yang & Frieder 2021). It assumes the calibration includes are a random
sample of the includes the threshold will be applied to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from winnow.screening.validation.recall import alpha_of, binomial_lower

RULE = "include when p_include >= threshold"
METHOD = (
    "highest threshold whose one-sided Clopper-Pearson lower bound on recall over the calibration includes "
    "reaches the target (Clopper & Pearson 1934; quantile argument of Lewis, Yang & Frieder 2021)"
)


@dataclass(frozen=True)
class Calibration:
    """A threshold and what it does on the calibration set."""

    threshold: float | None
    chosen: bool
    recall_target: float
    confidence: float
    n_calibration: int
    n_includes: int
    found: int
    recall: float | None
    recall_lower: float | None
    share_at_or_above: float | None
    needed_includes: int | None

    @property
    def clears_target(self) -> bool:
        return self.recall_lower is not None and self.recall_lower >= self.recall_target

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": RULE,
            "method": METHOD,
            "threshold": self.threshold,
            "threshold_chosen_from_labels": self.chosen,
            "recall_target": self.recall_target,
            "confidence": self.confidence,
            "calibration_records": self.n_calibration,
            "calibration_includes": self.n_includes,
            "includes_at_or_above": self.found,
            "recall_on_calibration": self.recall,
            "recall_lower_bound": self.recall_lower,
            "clears_target": self.clears_target,
            "share_of_calibration_at_or_above": self.share_at_or_above,
            "fewest_includes_that_could_certify": self.needed_includes,
        }


def fewest_includes(recall_target: float, confidence: float, limit: int = 100_000) -> int | None:
    """Smallest ``n`` for which finding all ``n`` includes can certify the target (59 for 95/95)."""
    alpha = alpha_of(confidence)
    # The bound at n of n is alpha ** (1 / n): solve alpha ** (1 / n) >= target directly, then check.
    n = max(1, math.ceil(math.log(alpha) / math.log(recall_target)) - 1)
    while n <= limit:
        if binomial_lower(n, n, alpha) >= recall_target:
            return n
        n += 1
    return None


def _evaluate(
    p: Sequence[float], labels: Sequence[bool], threshold: float | None, recall_target: float, confidence: float
) -> tuple[int, float | None, float | None, float | None]:
    includes = [x for x, label in zip(p, labels, strict=True) if label]
    if threshold is None or not includes:
        return 0, None, None, None
    found = sum(x >= threshold for x in includes)
    share = sum(x >= threshold for x in p) / len(p)
    return found, found / len(includes), binomial_lower(found, len(includes), alpha_of(confidence)), share


def choose_threshold(
    p_include: Sequence[float],
    labels: Sequence[bool],
    *,
    recall_target: float = 0.95,
    confidence: float = 0.95,
    threshold: float | None = None,
) -> Calibration:
    """The highest threshold whose recall lower bound on the calibration set clears the target.

    With ``threshold`` given, it is used as is and only evaluated. When no
    threshold can clear the target (too few labelled includes: 95% at 95% needs
    59 includes, every one of them at or above the threshold), ``threshold`` is
    None and ``needed_includes`` says how many it would take.
    """
    if len(p_include) != len(labels):
        raise ValueError("p_include and labels differ in length")
    alpha = alpha_of(confidence)
    includes = sorted((x for x, label in zip(p_include, labels, strict=True) if label), reverse=True)
    chosen = threshold is None
    if chosen:
        for k, value in enumerate(includes, start=1):
            if binomial_lower(k, len(includes), alpha) >= recall_target:
                threshold = value
                break
    found, recall, lower, share = _evaluate(p_include, labels, threshold, recall_target, confidence)
    return Calibration(
        threshold=threshold,
        chosen=chosen,
        recall_target=recall_target,
        confidence=confidence,
        n_calibration=len(p_include),
        n_includes=len(includes),
        found=found,
        recall=recall,
        recall_lower=lower,
        share_at_or_above=share,
        needed_includes=fewest_includes(recall_target, confidence),
    )


def redecide(p_include: float | None, threshold: float) -> str:
    """The new decision of one record; without P(include) it goes to a human."""
    if p_include is None:
        return "uncertain"
    return "include" if p_include >= threshold else "exclude"
