"""How many records ``winnow validate`` proposes to read, per stratum, and why.

The plan is the cheapest sample that would certify the recall target in most
samples if each stratum held includes at an assumed rate (the run's mean
P(include), else a stated default). It is a guide for the reviewer, not part of
the estimate: the bounds in ``screening/validation/recall.py`` hold for any sample size
fixed before labelling.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from winnow.screening.validation.recall import STRATA, StratumCount, recall_lower_bound

# The plan: the fewest records that certify in this share of samples at the assumed include rates.
PLAN_POWER = 0.8
PLAN_SIMULATIONS = 200
# Sampling fractions tried for the include and uncertain strata (the excludes take what is needed).
_PLAN_FRACTIONS_OF_PASSED = tuple(i / 10 for i in range(1, 11))


@dataclass(frozen=True)
class Plan:
    """How many records to read per stratum, and why."""

    sizes: dict[str, int]
    sample: dict[str, int]
    assumed_rates: dict[str, float]
    assumption_source: dict[str, str]
    expected_lower_bound: float
    certify_probability: float
    needed_to_certify: int | None
    needed_sample: dict[str, int] | None
    by_hand: bool

    @property
    def total(self) -> int:
        return sum(self.sample.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "strata_sizes": dict(self.sizes),
            "sample": dict(self.sample),
            "total": self.total,
            "assumed_include_rates": dict(self.assumed_rates),
            "assumption_source": dict(self.assumption_source),
            "expected_lower_bound": self.expected_lower_bound,
            "certify_probability": self.certify_probability,
            "power": PLAN_POWER,
            "needed_to_certify": self.needed_to_certify,
            "needed_sample": self.needed_sample,
            "size_set_by_hand": self.by_hand,
        }


def assumed_rates(
    sizes: Mapping[str, int], mean_p_include: Mapping[str, float | None]
) -> tuple[dict[str, float], dict[str, str]]:
    """The include rate the plan expects per stratum: the run's mean P(include), else a stated default.

    Without P(include) the plan assumes the sample finds no include among the
    excludes (the best case: the fewest records that could certify) and that half
    of the includes and uncertain records are true includes.
    """
    defaults = {"exclude": 0.0, "uncertain": 0.5, "include": 0.5}
    rates: dict[str, float] = {}
    source: dict[str, str] = {}
    for name in STRATA:
        mean = mean_p_include.get(name)
        if mean is not None and sizes.get(name, 0) > 0:
            rates[name] = float(mean)
            source[name] = "mean P(include) of the run"
        else:
            rates[name] = defaults[name]
            source[name] = "assumed (no P(include) in the run)"
    return rates, source


def expected_lower_bound(
    sizes: Mapping[str, int],
    sample: Mapping[str, int],
    rates: Mapping[str, float],
    recall_target: float,
    confidence: float,
) -> float:
    """The recall lower bound the sample would give if each stratum held includes at the assumed rate."""
    counts = [
        StratumCount(name, sizes[name], sample[name], min(sample[name], round(sample[name] * rates[name])))
        for name in STRATA
    ]
    return recall_lower_bound(counts, confidence)


def certify_probability(
    sizes: Mapping[str, int],
    sample: Mapping[str, int],
    rates: Mapping[str, float],
    recall_target: float,
    confidence: float,
    *,
    simulations: int = PLAN_SIMULATIONS,
) -> float:
    """Share of simulated samples that would certify if each stratum held includes at the assumed rate.

    Each stratum holds ``round(rate * N)`` includes; the includes a sample finds are
    drawn from the hypergeometric distribution with a fixed seed, so the plan is the
    same every time it is computed.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    found = []
    for name in STRATA:
        size, n = sizes[name], sample[name]
        includes = min(size, round(rates[name] * size))
        if size == 0 or n == 0:
            found.append(np.zeros(simulations, dtype=np.int64))
        else:
            found.append(rng.hypergeometric(includes, size - includes, n, size=simulations))
    outcomes = Counter(zip(*(column.tolist() for column in found), strict=True))
    hits = 0
    for ks, times in outcomes.items():
        counts = [StratumCount(name, sizes[name], sample[name], k) for name, k in zip(STRATA, ks, strict=True)]
        if recall_lower_bound(counts, confidence) >= recall_target:
            hits += times
    return hits / simulations


def _allocation(sizes: Mapping[str, int], passed_fraction: float, excludes: int) -> dict[str, int]:
    return {
        "exclude": min(sizes["exclude"], excludes),
        "uncertain": min(sizes["uncertain"], math.ceil(passed_fraction * sizes["uncertain"])),
        "include": min(sizes["include"], math.ceil(passed_fraction * sizes["include"])),
    }


def _fewest_excludes(
    sizes: Mapping[str, int], passed_fraction: float, rates: Mapping[str, float], target: float, confidence: float
) -> int | None:
    """Fewest excludes to read, with the passed strata read at this fraction, to certify with ``PLAN_POWER``."""

    def enough(n_e: int) -> bool:
        alloc = _allocation(sizes, passed_fraction, n_e)
        return certify_probability(sizes, alloc, rates, target, confidence) >= PLAN_POWER

    if not enough(sizes["exclude"]):
        return None
    lo, hi = 0, sizes["exclude"]
    while lo < hi:
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def plan_sample(
    sizes: Mapping[str, int],
    *,
    recall_target: float = 0.95,
    confidence: float = 0.95,
    mean_p_include: Mapping[str, float | None] | None = None,
    total: int | None = None,
) -> Plan:
    """The smallest sample that certifies the target in 80% of samples if the strata hold includes at the assumed rates.

    The include and uncertain strata are read at one fraction (10%, 20%, ... 100%)
    and the excludes as far as needed; the cheapest combination wins, which puts
    most of the sample among the excludes whenever they are most of the run. With
    ``total`` the size is set by hand: the split with the best chance to certify
    (then the best expected bound) for that many records.
    """
    sizes = {name: int(sizes.get(name, 0)) for name in STRATA}
    rates, source = assumed_rates(sizes, mean_p_include or {})
    best: dict[str, int] | None = None
    for fraction in _PLAN_FRACTIONS_OF_PASSED:
        n_e = _fewest_excludes(sizes, fraction, rates, recall_target, confidence)
        if n_e is None:
            continue
        candidate = _allocation(sizes, fraction, n_e)
        if best is None or sum(candidate.values()) < sum(best.values()):
            best = candidate
    needed = None if best is None else sum(best.values())
    if total is None:
        chosen = best if best is not None else dict(sizes)
    else:
        chosen = _split_total(sizes, min(total, sum(sizes.values())), rates, recall_target, confidence)
    return Plan(
        sizes=sizes,
        sample=chosen,
        assumed_rates=rates,
        assumption_source=source,
        expected_lower_bound=expected_lower_bound(sizes, chosen, rates, recall_target, confidence),
        certify_probability=certify_probability(sizes, chosen, rates, recall_target, confidence),
        needed_to_certify=needed,
        needed_sample=best,
        by_hand=total is not None,
    )


def _split_total(
    sizes: Mapping[str, int], total: int, rates: Mapping[str, float], target: float, confidence: float
) -> dict[str, int]:
    """Split ``total`` records: the passed-strata fraction most likely to certify (then: best expected bound)."""
    best: tuple[float, float, dict[str, int]] | None = None
    for fraction in (0.0, *_PLAN_FRACTIONS_OF_PASSED):
        alloc = _allocation(sizes, fraction, 0)
        passed = alloc["uncertain"] + alloc["include"]
        if passed > total:
            continue
        alloc["exclude"] = min(sizes["exclude"], total - passed)
        spare = total - sum(alloc.values())
        for name in ("uncertain", "include"):  # excludes are full: the rest goes to the passed strata
            extra = min(spare, sizes[name] - alloc[name])
            alloc[name] += extra
            spare -= extra
        key = (
            certify_probability(sizes, alloc, rates, target, confidence),
            expected_lower_bound(sizes, alloc, rates, target, confidence),
        )
        if best is None or key > best[:2]:
            best = (*key, alloc)
    assert best is not None  # fraction 0 always fits
    return best[2]
