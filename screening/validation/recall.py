"""How many includes did the model's exclusions miss? A stratified validation sample, and its bounds.

A finished screening run splits the records into three strata by the model's
decision: ``exclude`` (where misses hide), ``uncertain`` (uncertain and error:
no usable answer, so a human reads them) and ``include``. The reviewer labels a
simple random sample drawn without replacement inside each stratum. From it:

- the number of true includes in stratum ``s`` is estimated as ``N_s k_s / n_s``
  (``k_s`` includes among ``n_s`` labelled of ``N_s`` records), the stratified
  (expansion) estimator (Cochran 1977, ch. 5);
- recall of the run is ``(R_include + R_uncertain) / (R_include + R_uncertain + R_exclude)``:
  uncertain records go to a human, so their includes are not missed;
- every bound is an exact hypergeometric bound on a stratum count (the finite
  population version of Clopper-Pearson; Wright 1991). Recall rises with the
  includes passed on and falls with the includes excluded, so a lower bound on
  recall is ``L_pass / (L_pass + U_exclude)``, with the per-stratum bounds taken at
  ``alpha / m`` each, ``m`` being the strata that were sampled but not read in full
  (Bonferroni). Strata read in full are known exactly and spend no alpha.

The bounds hold whatever the true counts are, provided the sample is random
within each stratum and the human labels are correct. docs/validation.md gives
the formulas, the references and the coverage the simulation measured.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Stratum = Literal["exclude", "uncertain", "include"]
STRATA: tuple[Stratum, ...] = ("exclude", "uncertain", "include")
STRATUM_OF_DECISION: dict[str, Stratum] = {
    "exclude": "exclude",
    "uncertain": "uncertain",
    "error": "uncertain",
    "include": "include",
}
METHOD = (
    "stratified expansion estimator; exact hypergeometric bounds per stratum combined by a "
    "Bonferroni split of alpha over the strata sampled but not read in full"
)


def alpha_of(confidence: float) -> float:
    """``1 - confidence`` without float noise (1 - 0.95 is 0.05000000000000004)."""
    return round(1 - confidence, 12)


# -- exact bounds on one stratum --------------------------------------------------------------
@functools.lru_cache(maxsize=65536)
def count_bounds(population: int, sample: int, found: int, alpha: float) -> tuple[int, int]:
    """One-sided exact bounds on the includes in a stratum, each at level ``1 - alpha``.

    ``found`` includes among ``sample`` records drawn without replacement from
    ``population``. The lower bound is the smallest count ``R`` under which seeing
    ``found`` or more has probability above ``alpha``; the upper bound the largest
    ``R`` under which seeing ``found`` or fewer does. Inverting the exact tests is
    what makes the coverage at least ``1 - alpha`` for every true ``R``. Both tail
    probabilities are monotone in ``R``, so each bound is found by bisection.

    Raises:
        ValueError: impossible counts.
    """
    if not 0 <= found <= sample <= population:
        raise ValueError(f"need 0 <= found <= sample <= population, got {found}, {sample}, {population}")
    if sample == population:
        return found, found
    if sample == 0:
        return 0, population
    from scipy.stats import hypergeom

    lowest, highest = found, found + population - sample
    # P(X >= found | R) rises with R: the lower bound is the first R where it exceeds alpha.
    lo, hi = lowest, highest
    while lo < hi:
        mid = (lo + hi) // 2
        if hypergeom.sf(found - 1, population, mid, sample) > alpha:
            hi = mid
        else:
            lo = mid + 1
    lower = lo
    # P(X <= found | R) falls with R: the upper bound is the last R where it exceeds alpha.
    lo, hi = lowest, highest
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if hypergeom.cdf(found, population, mid, sample) > alpha:
            lo = mid
        else:
            hi = mid - 1
    return lower, lo


def binomial_lower(found: int, n: int, alpha: float) -> float:
    """One-sided Clopper-Pearson lower bound on a proportion (records drawn from an unlimited pool)."""
    if n == 0 or found == 0:
        return 0.0
    from scipy.stats import beta

    return float(beta.ppf(alpha, found, n - found + 1))


# -- the estimate -----------------------------------------------------------------------------
@dataclass(frozen=True)
class StratumCount:
    """One stratum: its size, how many of it were labelled, and the includes among them."""

    name: Stratum
    size: int
    labelled: int
    includes: int

    def __post_init__(self) -> None:
        if not 0 <= self.includes <= self.labelled <= self.size:
            raise ValueError(f"stratum {self.name}: need 0 <= includes <= labelled <= size")

    @property
    def census(self) -> bool:
        return self.labelled == self.size

    @property
    def estimate(self) -> float | None:
        if self.size == 0:
            return 0.0
        if self.labelled == 0:
            return None
        return self.size * self.includes / self.labelled


@dataclass(frozen=True)
class ValidationEstimate:
    """Every figure ``winnow validate`` reports, computed from the strata counts alone."""

    strata: tuple[StratumCount, ...]
    recall_target: float
    confidence: float
    recall: float | None
    recall_lower: float
    recall_interval: tuple[float, float]
    missed: float | None
    missed_upper: int
    precision: float | None
    precision_interval: tuple[float, float] | None
    certified: bool
    alpha_per_stratum: float
    sampled_strata: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def stratum(self, name: Stratum) -> StratumCount:
        return next(s for s in self.strata if s.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": METHOD,
            "recall_target": self.recall_target,
            "confidence": self.confidence,
            "recall": self.recall,
            "recall_lower_bound": self.recall_lower,
            "recall_interval": list(self.recall_interval),
            "missed_includes": self.missed,
            "missed_includes_upper_bound": self.missed_upper,
            "precision": self.precision,
            "precision_interval": None if self.precision_interval is None else list(self.precision_interval),
            "certified": self.certified,
            "alpha_per_stratum": self.alpha_per_stratum,
            "sampled_strata": list(self.sampled_strata),
            "strata": [
                {
                    "stratum": s.name,
                    "records": s.size,
                    "labelled": s.labelled,
                    "includes_found": s.includes,
                    "estimated_includes": s.estimate,
                    "census": s.census,
                }
                for s in self.strata
            ],
            "notes": list(self.notes),
        }


def _ratio(passed: float, missed: float) -> float | None:
    total = passed + missed
    return None if total == 0 else passed / total


def _full(counts: Sequence[StratumCount]) -> tuple[StratumCount, ...]:
    by_name = {c.name: c for c in counts}
    return tuple(by_name.get(name, StratumCount(name, 0, 0, 0)) for name in STRATA)


def recall_lower_bound(counts: Sequence[StratumCount], confidence: float) -> float:
    """The one-sided lower confidence bound on recall alone (what certification compares with the target)."""
    strata = _full(counts)
    excluded, uncertain, included = strata
    if excluded.size == 0:
        return 1.0
    sampled = [s for s in strata if s.size > 0 and not s.census]
    a = alpha_of(confidence) / max(1, len(sampled))
    passed = count_bounds(included.size, included.labelled, included.includes, a)[0]
    passed += count_bounds(uncertain.size, uncertain.labelled, uncertain.includes, a)[0]
    return _ratio(passed, count_bounds(excluded.size, excluded.labelled, excluded.includes, a)[1]) or 0.0


def estimate_recall(
    counts: Sequence[StratumCount], *, recall_target: float = 0.95, confidence: float = 0.95
) -> ValidationEstimate:
    """Recall, missed includes and precision of a run from a stratified sample, with exact bounds.

    Args:
        counts: one entry per stratum (missing strata count as empty).
        recall_target: the recall the review needs; certified when the lower bound reaches it.
        confidence: level of the one-sided bounds and of the two-sided intervals.
    """
    strata = _full(counts)
    alpha = alpha_of(confidence)
    sampled = tuple(s.name for s in strata if s.size > 0 and not s.census)
    a = alpha / max(1, len(sampled))
    two_sided = {s.name: count_bounds(s.size, s.labelled, s.includes, a / 2) for s in strata}
    excluded, uncertain, included = strata
    notes: list[str] = []

    known = all(s.estimate is not None for s in strata)
    recall: float | None = None
    if known:
        recall = _ratio((included.estimate or 0.0) + (uncertain.estimate or 0.0), excluded.estimate or 0.0)
    if excluded.size == 0:
        notes.append("the model excluded nothing, so it cannot have missed an include: recall is 1")
        recall, lower, interval = 1.0, 1.0, (1.0, 1.0)
    else:
        lower = recall_lower_bound(strata, confidence)
        low2 = _ratio(two_sided["include"][0] + two_sided["uncertain"][0], two_sided["exclude"][1]) or 0.0
        high2 = _ratio(two_sided["include"][1] + two_sided["uncertain"][1], two_sided["exclude"][0])
        interval = (low2, 1.0 if high2 is None else high2)
        if included.size + uncertain.size == 0:
            notes.append("the model excluded every record: every include was missed, so recall is 0 or undefined")
    if recall is None and known:
        notes.append("no include was found in the sample, so the recall point estimate is undefined")
    if excluded.labelled == 0 and excluded.size > 0:
        notes.append("no model exclude has been labelled yet: the missed includes are unbounded")

    missed_upper = count_bounds(excluded.size, excluded.labelled, excluded.includes, alpha)[1]
    precision: float | None = None
    precision_interval: tuple[float, float] | None = None
    if included.size > 0 and included.labelled > 0:
        low_i, high_i = count_bounds(included.size, included.labelled, included.includes, alpha / 2)
        precision = included.includes / included.labelled
        precision_interval = (low_i / included.size, high_i / included.size)
    return ValidationEstimate(
        strata=strata,
        recall_target=recall_target,
        confidence=confidence,
        recall=recall,
        recall_lower=lower,
        recall_interval=interval,
        missed=excluded.estimate,
        missed_upper=missed_upper,
        precision=precision,
        precision_interval=precision_interval,
        certified=lower >= recall_target,
        alpha_per_stratum=a,
        sampled_strata=sampled,
        notes=tuple(notes),
    )


# -- the draw ---------------------------------------------------------------------------------
def draw_sample(strata: Mapping[str, Sequence[str]], sample: Mapping[str, int], seed: int) -> list[tuple[str, str]]:
    """A simple random sample without replacement per stratum, shown in one random interleaved order.

    Each stratum's ids are sorted, shuffled with ``random.Random(seed)`` and cut
    at the planned size; the union is shuffled again so the reviewer cannot tell
    the strata apart by position. Returns ``(record_id, stratum)`` in reading order.
    """
    rng = random.Random(seed)
    picked: list[tuple[str, str]] = []
    for name in STRATA:
        ids = sorted(strata.get(name, ()))
        rng.shuffle(ids)
        picked.extend((rid, name) for rid in ids[: sample.get(name, 0)])
    rng.shuffle(picked)
    return picked


def decisions_sha256(rows: Sequence[tuple[str, str]]) -> str:
    """The run as the sample sees it: record ids and their strata, in file order."""
    digest = hashlib.sha256()
    for record_id, stratum in rows:
        digest.update(f"\0{record_id}\0{stratum}".encode())
    return digest.hexdigest()


@dataclass
class SampleState:
    """Labels given so far for one drawn sample: counts per stratum for the estimator."""

    draw: list[tuple[str, str]]
    labels: dict[str, bool] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)

    def apply(self, record_id: str, answer: str) -> None:
        """The latest answer to a record is the one in force; a skip leaves it unlabelled."""
        if answer == "skip":
            if record_id not in self.labels:
                self.skipped.add(record_id)
            return
        self.labels[record_id] = answer == "include"
        self.skipped.discard(record_id)

    def next_record(self) -> tuple[str, str] | None:
        """The first unlabelled record in reading order; skipped records come round last."""
        later = None
        for record_id, stratum in self.draw:
            if record_id in self.labels:
                continue
            if record_id in self.skipped:
                later = later or (record_id, stratum)
                continue
            return record_id, stratum
        return later

    def counts(self, sizes: Mapping[str, int]) -> list[StratumCount]:
        labelled: dict[str, int] = {name: 0 for name in STRATA}
        found: dict[str, int] = {name: 0 for name in STRATA}
        for record_id, stratum in self.draw:
            if record_id in self.labels:
                labelled[stratum] += 1
                found[stratum] += self.labels[record_id]
        return [StratumCount(name, int(sizes.get(name, 0)), labelled[name], found[name]) for name in STRATA]

    @property
    def done(self) -> int:
        return sum(1 for record_id, _ in self.draw if record_id in self.labels)
