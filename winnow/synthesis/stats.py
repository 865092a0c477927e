"""The two statistics a synthesis cites, each a named method (see docs/synthesis.md).

- Wilson score interval for a share (Wilson 1927), through statsmodels'
  ``proportion_confint(method="wilson")``: good coverage for small n and shares
  near 0 or 1, where the normal (Wald) interval fails.
- Cochran–Armitage test for a linear trend in a proportion across ordered groups
  (Cochran 1954; Armitage 1955): here, the share of papers in a category across
  publication years, scored by the year itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Trend", "cochran_armitage", "wilson_interval"]


def wilson_interval(k: int, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (nan, nan) when n is 0."""
    if n == 0:
        return math.nan, math.nan
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(k, n, alpha=alpha, method="wilson")
    return float(low), float(high)


@dataclass(frozen=True)
class Trend:
    """A Cochran–Armitage test: z > 0 means the share rises with the score (year)."""

    z: float
    p_value: float
    n: int
    groups: int

    @property
    def direction(self) -> str:
        if math.isnan(self.z) or abs(self.z) < 1e-9:
            return "flat"
        return "rising" if self.z > 0 else "falling"


def cochran_armitage(successes: Sequence[int], totals: Sequence[int], scores: Sequence[float]) -> Trend:
    """Two-sided Cochran–Armitage trend test for proportions successes[i]/totals[i] at scores[i].

    The statistic is T = sum s_i (x_i - n_i p) over groups, with p the pooled share and
    Var(T) = p (1 - p) [sum n_i s_i^2 - (sum n_i s_i)^2 / N] (Armitage 1955); z = T / sqrt(Var).
    Assumes independent papers, each counted once per group, and a trend linear in the score.
    Returns z = nan and p = nan when there are fewer than two groups with papers, or no
    variation (every paper in, or none).
    """
    groups = [(x, n, s) for x, n, s in zip(successes, totals, scores, strict=True) if n > 0]
    big_n = sum(n for _, n, _ in groups)
    if len(groups) < 2 or big_n == 0:
        return Trend(math.nan, math.nan, big_n, len(groups))
    p = sum(x for x, _, _ in groups) / big_n
    t = sum(s * (x - n * p) for x, n, s in groups)
    spread = sum(n * s * s for _, n, s in groups) - sum(n * s for _, n, s in groups) ** 2 / big_n
    variance = p * (1 - p) * spread
    if variance <= 0:
        return Trend(math.nan, math.nan, big_n, len(groups))
    z = t / math.sqrt(variance)
    p_value = math.erfc(abs(z) / math.sqrt(2))
    return Trend(z, p_value, big_n, len(groups))
