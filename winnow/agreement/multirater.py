"""Agreement across three or more reviewers: Fleiss' kappa and Krippendorff's alpha (nominal).

Both are computed from a records x categories table of counts (how many reviewers put
each record in each category), written so that one matrix product evaluates them for
every bootstrap resample at once.

- Fleiss' kappa (Fleiss 1971) needs the same number of ratings per record, so it uses the
  records every reviewer answered.
- Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's alpha-reliability")
  allows missing answers, so it uses every record with at least two answers.

Intervals: percentile bootstrap over records (Efron and Tibshirani 1993, ch. 13), the
resampling unit Hayes and Krippendorff (2007) use for alpha. ``bench/multirater_coverage.py``
checks the coverage by simulation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from winnow.agreement.metrics import CI_LEVEL, Estimate

__all__ = ["BOOTSTRAP_METHOD", "alpha_values", "category_counts", "fleiss_kappa", "fleiss_values", "krippendorff"]

BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_SEED = 20261129
BOOTSTRAP_METHOD = f"percentile bootstrap over records, B={BOOTSTRAP_REPLICATES}"


def category_counts(ratings: np.ndarray) -> np.ndarray:
    """Records x 2 counts (include, exclude) from a reviewers x records array of 1.0/0.0/NaN."""
    include = np.nansum(ratings == 1.0, axis=0)
    exclude = np.nansum(ratings == 0.0, axis=0)
    return np.stack([include, exclude], axis=1).astype(float)


def fleiss_values(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fleiss' kappa for each row of ``weights`` (how often each record is drawn); NaN where undefined.

    ``counts`` must have the same number of ratings m >= 2 on every record.
    """
    m = counts.sum(axis=1)[0]
    agreement = ((counts**2).sum(axis=1) - m) / (m * (m - 1))
    drawn = weights.sum(axis=1)
    observed = (weights @ agreement) / drawn
    shares = (weights @ counts) / (drawn * m)[:, None]
    chance = (shares**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (observed - chance) / (1 - chance)
    out[np.isclose(chance, 1.0)] = np.nan
    return np.asarray(out)


def alpha_values(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Krippendorff's alpha (nominal) for each row of ``weights``; NaN where undefined.

    With ``o_cc`` the coincidences of a category with itself and ``n_c`` its pairable
    values, alpha = 1 - (n - 1) (n - sum o_cc) / (n^2 - sum n_c^2) (Krippendorff 2011, eq. for
    nominal data). Records need at least two answers.
    """
    m = counts.sum(axis=1)
    same = (counts * (counts - 1)).sum(axis=1) / (m - 1)
    pairable = weights @ counts
    total = pairable.sum(axis=1)
    diagonal = weights @ same
    expected = total**2 - (pairable**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1 - (total - 1) * (total - diagonal) / expected
    out[np.isclose(expected, 0.0)] = np.nan
    return np.asarray(out)


def _bootstrap(
    counts: np.ndarray, statistic: str, level: float, replicates: int, seed: int
) -> tuple[float | None, float | None, float | None, int]:
    """Point value, percentile interval, and how many resamples were undefined.

    With two categories a record's counts take few distinct patterns, so drawing n records
    with replacement is drawing n times from the patterns with their observed shares: the
    same resampling distribution, at a cost that does not grow with n.
    """
    compute = fleiss_values if statistic == "fleiss" else alpha_values
    patterns, frequency = np.unique(counts, axis=0, return_counts=True)
    n = int(frequency.sum())
    point = float(compute(patterns, frequency[None, :].astype(float))[0])
    if np.isnan(point):
        return None, None, None, 0
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, frequency / n, size=replicates).astype(float)
    values = compute(patterns, weights)
    defined = values[~np.isnan(values)]
    undefined = int(len(values) - len(defined))
    if len(defined) == 0:
        return point, None, None, undefined
    tail = (1 - level) / 2
    low, high = np.quantile(defined, [tail, 1 - tail])
    return point, float(low), float(high), undefined


def _estimate(counts: np.ndarray, statistic: str, level: float, replicates: int, seed: int, note: str) -> Estimate:
    if len(counts) < 2:
        return Estimate(None, None, None, BOOTSTRAP_METHOD, note="fewer than two records to compare")
    value, low, high, undefined = _bootstrap(counts, statistic, level, replicates, seed)
    if value is None:
        return Estimate(None, None, None, BOOTSTRAP_METHOD, note="every answer is in one category: undefined")
    if undefined:
        note += f"; {undefined} of {replicates} resamples had every answer in one category and were left out"
    return Estimate(value, low, high, BOOTSTRAP_METHOD, note=note)


def fleiss_kappa(
    ratings: np.ndarray,
    level: float = CI_LEVEL,
    *,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[Estimate, int]:
    """Fleiss' kappa over the records every reviewer answered, and how many those are.

    Args:
        ratings: reviewers x records, 1.0 include, 0.0 exclude, NaN no answer.
        level: confidence level of the bootstrap interval.
        replicates: bootstrap resamples.
        seed: resampling seed, fixed so a report can be reproduced.
    """
    complete = ~np.isnan(ratings).any(axis=0)
    counts = category_counts(ratings[:, complete])
    note = "records every reviewer answered"
    return _estimate(counts, "fleiss", level, replicates, seed, note), int(complete.sum())


def krippendorff(
    ratings: np.ndarray,
    level: float = CI_LEVEL,
    *,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[Estimate, int]:
    """Krippendorff's alpha (nominal) over records with two or more answers, and how many those are."""
    pairable = (~np.isnan(ratings)).sum(axis=0) >= 2
    counts = category_counts(ratings[:, pairable])
    note = "records with two or more answers; missing answers allowed"
    return _estimate(counts, "alpha", level, replicates, seed, note), int(pairable.sum())


def rating_matrix(columns: Sequence[np.ndarray]) -> np.ndarray:
    """Reviewers x records from per-reviewer arrays of 1.0/0.0/NaN."""
    return np.vstack([np.asarray(column, dtype=float) for column in columns])
