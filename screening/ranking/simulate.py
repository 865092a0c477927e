"""Replay prioritised screening with the gold labels standing in for the reviewer.

Each seed draws its prior knowledge (one include and one exclude) with
``numpy.random.default_rng(seed)``: the include first, from the gold includes in
gold-file order, then the exclude. The benchmark against ASReview draws the same
two records, so both tools start from the same place.

The two prior records count as read in every figure, as they do in ASReview.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np

from winnow.errors import GoldSetError
from winnow.gold import GoldSet
from winnow.records import Record
from winnow.screening.ranking.ranker import MODEL_ARM, Ranker, RankerConfig, RankingInputs, describe_combiner
from winnow.screening.ranking.stopping import StoppingRule, check


def draw_priors(gold: GoldSet, seed: int) -> tuple[str, str]:
    """One gold include and one gold exclude, the same for any tool given the seed."""
    includes = [rid for rid, row in gold.rows.items() if row.included]
    excludes = [rid for rid, row in gold.rows.items() if not row.included]
    if not includes or not excludes:
        raise GoldSetError(str(gold.path), "a simulation needs at least one include and one exclude in the gold set")
    rng = np.random.default_rng(seed)
    include = includes[int(rng.integers(len(includes)))]
    exclude = excludes[int(rng.integers(len(excludes)))]
    return include, exclude


@dataclass(frozen=True)
class CurveFigures:
    """What a reading order achieved; the same function scores winnow and ASReview."""

    n_records: int
    n_includes: int
    read_to_95: int
    read_to_100: int
    wss_95: float
    rrf_10: float

    @classmethod
    def of(cls, labels_in_order: Sequence[bool] | np.ndarray, n_records: int) -> CurveFigures:
        """``labels_in_order`` may stop early; records never read count as read last."""
        found = np.cumsum(np.asarray(labels_in_order, dtype=np.int64))
        n_includes = int(found[-1]) if found.size else 0
        if n_includes == 0:
            raise ValueError("no include in the reading order")

        def read_to(share: float) -> int:
            return int(np.searchsorted(found, math.ceil(share * n_includes - 1e-9)) + 1)

        tenth = math.ceil(0.1 * n_records)
        return cls(
            n_records=n_records,
            n_includes=n_includes,
            read_to_95=read_to(0.95),
            read_to_100=read_to(1.0),
            wss_95=(n_records - read_to(0.95)) / n_records - 0.05,
            rrf_10=int(found[min(tenth, found.size) - 1]) / n_includes,
        )


@dataclass(frozen=True)
class StopPoint:
    """Where the stopping rule fired, and what recall the reviewer really had then."""

    read: int
    includes_found: int
    recall: float
    p_value: float | None
    work_saved: float


@dataclass
class SimulationResult:
    seed: int
    prior: tuple[str, str]
    figures: CurveFigures
    stop: StopPoint | None
    order: list[str] = field(repr=False)
    labels: list[bool] = field(repr=False, default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    answers_in_learners: dict[str, float] = field(default_factory=dict)

    @property
    def model_weight(self) -> float | None:
        """The model's answers' share of the order at the end (None without answers)."""
        return self.weights.get(MODEL_ARM)

    def as_dict(self, *, with_order: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seed": self.seed,
            "prior": list(self.prior),
            **asdict(self.figures),
            "stop": asdict(self.stop) if self.stop else None,
            "final_weights": self.weights,
            "model_weight": self.model_weight,
            "answers_in_learners": self.answers_in_learners,
        }
        if with_order:
            out["order"] = self.order
        return out


def simulate_one(
    record_ids: Sequence[str],
    truth: np.ndarray,
    ranker_for: Callable[[], Ranker],
    rule: StoppingRule | None,
    prior: tuple[str, str],
    seed: int,
    *,
    read_all: bool = False,
    until_recall: float = 1.0,
) -> SimulationResult:
    """Read until ``until_recall`` of the includes are found and the rule has fired (or everything is read).

    Without a rule, reading stops at that recall; a benchmark that needs only WSS@95 reads to
    0.95. Includes never read count as read last in the figures.
    """
    index = {rid: i for i, rid in enumerate(record_ids)}
    ranker = ranker_for()
    n = len(record_ids)
    read = np.zeros(n, dtype=bool)
    order: list[int] = []
    total_includes = int(truth.sum())
    enough = math.ceil(until_recall * total_includes - 1e-9)
    stop: StopPoint | None = None
    for rid in prior:
        order.append(index[rid])
        read[index[rid]] = True
    labels = [bool(truth[i]) for i in order]
    while len(order) < n:
        if stop is None and rule is not None:
            verdict = check(rule, labels, n)
            if verdict.fire:
                found = sum(labels)
                stop = StopPoint(
                    read=len(order),
                    includes_found=found,
                    recall=found / total_includes,
                    p_value=verdict.p_value,
                    work_saved=1 - len(order) / n,
                )
        if (rule is None or stop is not None) and sum(labels) >= enough and not read_all:
            break
        ranker.learn(order, labels)
        nxt = ranker.next_unread(read, len(labels))
        read[nxt] = True
        order.append(nxt)
        labels.append(bool(truth[nxt]))
    return SimulationResult(
        seed=seed,
        prior=prior,
        figures=CurveFigures.of(labels + [True] * (total_includes - sum(labels)), n),
        stop=stop,
        order=[record_ids[i] for i in order],
        labels=labels,
        weights=ranker.weights(len(labels)),
        answers_in_learners=ranker.answers_in_learners(),
    )


def gold_truth(record_ids: Sequence[str], gold: GoldSet, duplicates: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Gold label per record; a merged duplicate counts as include if any copy was included."""
    missing = [rid for rid in record_ids if rid not in gold.rows]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise GoldSetError(str(gold.path), f"{len(missing)} record(s) have no gold label: {shown}")
    truth = np.zeros(len(record_ids), dtype=bool)
    for i, rid in enumerate(record_ids):
        copies = [rid, *(d for d in duplicates.get(rid, ()) if d in gold.rows)]
        truth[i] = any(gold.rows[c].included for c in copies)
    return truth


def kept_id(rid: str, duplicates: dict[str, tuple[str, ...]]) -> str:
    """The record a duplicate was merged into (itself when it was not merged)."""
    for kept, copies in duplicates.items():
        if rid in copies:
            return kept
    return rid


def summarise(results: Sequence[SimulationResult], rule: StoppingRule) -> dict[str, Any]:
    """Means over seeds, and how often the stop came at or above the recall target."""
    stops = [r.stop for r in results if r.stop is not None]
    met = sum(s.recall >= rule.recall_target for s in stops)
    model = [r.model_weight for r in results if r.model_weight is not None]
    return {
        "seeds": len(results),
        "mean_wss_95": float(np.mean([r.figures.wss_95 for r in results])),
        "mean_rrf_10": float(np.mean([r.figures.rrf_10 for r in results])),
        "mean_read_to_95": float(np.mean([r.figures.read_to_95 for r in results])),
        "mean_read_to_100": float(np.mean([r.figures.read_to_100 for r in results])),
        "stops_fired": len(stops),
        "stops_at_or_above_target": met,
        "mean_recall_at_stop": float(np.mean([s.recall for s in stops])) if stops else None,
        "mean_work_saved_at_stop": float(np.mean([s.work_saved for s in stops])) if stops else None,
        "mean_model_weight": float(np.mean(model)) if model else None,
    }


@dataclass
class Simulation:
    """Every seed of one simulation, plus what the ranking was built from."""

    results: list[SimulationResult]
    rule: StoppingRule
    ranking: dict[str, Any]

    def mean_recall_curve(self, steps: int = 100) -> dict[str, list[float]]:
        """Recall at every 1/steps of records read, averaged over seeds."""
        grid = [i / steps for i in range(steps + 1)]
        curves = []
        for result in self.results:
            n = result.figures.n_records
            found = np.cumsum(np.asarray(result.labels, dtype=np.int64)) / result.figures.n_includes
            # Records never read (the run stopped once all includes were found) keep the final recall.
            curve = [0.0 if g == 0 else float(found[min(found.size, math.ceil(g * n - 1e-9)) - 1]) for g in grid]
            curves.append(curve)
        return {"share": grid, "recall": [round(float(v), 6) for v in np.mean(curves, axis=0)]}

    def as_dict(self, *, with_orders: bool = False) -> dict[str, Any]:
        first = self.results[0].figures
        return {
            "n_records": first.n_records,
            "n_includes": first.n_includes,
            "rule": {
                "name": self.rule.name,
                "description": self.rule.describe(),
                "heuristic": self.rule.is_heuristic,
                "recall_target": self.rule.recall_target,
                "confidence": self.rule.confidence,
            },
            "ranking": self.ranking,
            "seeds": [r.as_dict(with_order=with_orders) for r in self.results],
            "summary": summarise(self.results, self.rule),
            "mean_recall_curve": self.mean_recall_curve(),
        }


def simulate_gold(
    records: Sequence[Record],
    duplicates: dict[str, tuple[str, ...]],
    gold: GoldSet,
    inputs: RankingInputs,
    rule: StoppingRule,
    *,
    seeds: int,
    config: RankerConfig | None = None,
) -> Simulation:
    """One simulation per seed 0..seeds-1 over the same features."""
    config = config or RankerConfig()
    ids = [r.record_id for r in records]
    truth = gold_truth(ids, gold, duplicates)
    results = []
    for seed in range(seeds):
        prior = tuple(kept_id(rid, duplicates) for rid in draw_priors(gold, seed))
        results.append(
            simulate_one(
                ids,
                truth,
                partial(inputs.ranker, seed, config),
                rule,
                (prior[0], prior[1]),
                seed,
            )
        )
    ranking = {
        "zero_shot": list(inputs.prior.components),
        "embeddings": inputs.embeddings_note,
        "model_answers": None if inputs.model is None else inputs.model.describe(),
        "learners": list(results[0].weights),
        "combiner": describe_combiner(config, with_model=inputs.model is not None),
    }
    return Simulation(results=results, rule=rule, ranking=ranking)
