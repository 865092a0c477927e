"""Work saved by ranking records on P(include): WSS, RRF and the threshold for a recall target.

Records are read in descending P(include). A threshold t means a human reads every
record with P(include) >= t, so tied records are always read together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from winnow.agreement.metrics import CI_LEVEL, Estimate, wilson

__all__ = ["RRF_DEFINITION", "WSS_DEFINITION", "Workload", "compute_workload", "recall_curve"]

WSS_DEFINITION = (
    "WSS@R = (TN + FN) / N - (1 - R) at the highest P(include) threshold whose recall on the"
    " gold set is >= R, where records at or above the threshold are screened by a human"
    " (Cohen et al. 2006)"
)
RRF_DEFINITION = (
    "RRF@10 = recall among the first 10% of records (ceil(0.1 N)) in descending P(include);"
    " records tied at the cut-off are counted at their expected share"
)


@dataclass(frozen=True)
class Workload:
    """Workload figures for one ranking of one gold set."""

    n: int
    n_included: int
    recall_target: float
    wss95: float | None
    wss95_threshold: float | None
    wss95_n_screened: int | None
    rrf10: Estimate
    threshold: float | None
    n_to_read: int | None
    recall_at_threshold: Estimate
    wss_at_target: float | None
    curve_share: list[float] = field(repr=False, default_factory=list)
    curve_recall: list[float] = field(repr=False, default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        share = self.n_to_read / self.n if self.n_to_read is not None and self.n else None
        return {
            "n": self.n,
            "n_included": self.n_included,
            "wss95": self.wss95,
            "wss95_threshold": self.wss95_threshold,
            "wss95_n_screened": self.wss95_n_screened,
            "wss_definition": WSS_DEFINITION,
            "rrf10": self.rrf10.as_dict(),
            "rrf_definition": RRF_DEFINITION,
            "recall_target": self.recall_target,
            "threshold": self.threshold,
            "n_to_read": self.n_to_read,
            "share_to_read": share,
            "n_not_read": None if self.n_to_read is None else self.n - self.n_to_read,
            "recall_at_threshold": self.recall_at_threshold.as_dict(),
            "wss_at_target": self.wss_at_target,
            "threshold_note": "chosen on this gold set, so its recall is optimistic for new records",
        }


def _groups(p_sorted: np.ndarray) -> np.ndarray:
    """Index of the last record of each run of equal P(include), in sorted order."""
    if len(p_sorted) == 0:
        return np.array([], dtype=int)
    change = np.nonzero(p_sorted[1:] != p_sorted[:-1])[0]
    return np.append(change, len(p_sorted) - 1)


def _threshold_for(
    target: float, p_sorted: np.ndarray, cum_found: np.ndarray, n_included: int
) -> tuple[float, int, int] | None:
    """(threshold, records screened, includes found) at the highest threshold reaching the target."""
    needed = math.ceil(target * n_included - 1e-9)
    for end in _groups(p_sorted):
        if cum_found[end] >= needed:
            return float(p_sorted[end]), int(end + 1), int(cum_found[end])
    return None


def compute_workload(
    p_include: Sequence[float] | np.ndarray,
    included: Sequence[bool] | np.ndarray,
    recall_target: float = 0.95,
    level: float = CI_LEVEL,
) -> Workload:
    """WSS@95, RRF@10 and the threshold reaching ``recall_target`` on this gold set.

    Args:
        p_include: the model's P(include) per record.
        included: the gold label per record, same order.
        recall_target: the recall the reviewer needs (0 < target <= 1).
        level: confidence level for the recall intervals.
    """
    p = np.asarray(p_include, dtype=float)
    gold = np.asarray(included, dtype=bool)
    n = len(p)
    n_included = int(gold.sum())
    order = np.argsort(-p, kind="stable")
    p_sorted = p[order]
    cum_found = np.cumsum(gold[order])
    if n == 0 or n_included == 0:
        none = Estimate(None, None, None, "Wilson score", note="no gold includes")
        return Workload(n, n_included, recall_target, None, None, None, none, None, None, none, None)

    wss95 = wss_threshold = wss_screened = None
    hit = _threshold_for(0.95, p_sorted, cum_found, n_included)
    if hit is not None:
        wss_threshold, wss_screened, _ = hit
        wss95 = (n - wss_screened) / n - (1 - 0.95)

    threshold = n_to_read = wss_target = None
    recall_hit = Estimate(None, None, None, "Wilson score", note="target not reached")
    hit = _threshold_for(recall_target, p_sorted, cum_found, n_included)
    if hit is not None:
        threshold, n_to_read, found = hit
        wss_target = (n - n_to_read) / n - (1 - recall_target)
        recall_hit = wilson(found, n_included, level)

    rrf10 = wilson(_expected_found(math.ceil(0.10 * n), p_sorted, cum_found, gold[order]), n_included, level)

    share = [0.0, *((np.arange(1, n + 1)) / n).tolist()]
    recall = [0.0, *(cum_found / n_included).tolist()]
    return Workload(
        n=n,
        n_included=n_included,
        recall_target=recall_target,
        wss95=wss95,
        wss95_threshold=wss_threshold,
        wss95_n_screened=wss_screened,
        rrf10=rrf10,
        threshold=threshold,
        n_to_read=n_to_read,
        recall_at_threshold=recall_hit,
        wss_at_target=wss_target,
        curve_share=share,
        curve_recall=recall,
    )


def _expected_found(k: int, p_sorted: np.ndarray, cum_found: np.ndarray, gold_sorted: np.ndarray) -> float:
    """Includes found in the first k records, splitting a tie group at the cut evenly."""
    if k <= 0:
        return 0.0
    cut = p_sorted[k - 1]
    start = int(np.searchsorted(-p_sorted, -cut, side="left"))
    stop = int(np.searchsorted(-p_sorted, -cut, side="right"))
    before = float(cum_found[start - 1]) if start > 0 else 0.0
    in_group = float(gold_sorted[start:stop].sum())
    return before + in_group * (k - start) / (stop - start)


def recall_curve(workload: Workload) -> tuple[list[float], list[float]]:
    """Share of records screened against recall, in descending P(include) (ties in file order)."""
    return workload.curve_share, workload.curve_recall
