"""Weight the learners by how well they rank this review's includes: Hedge over rankers.

The method is Hedge, the exponential-weights algorithm of Freund and Schapire
(1997, J. Comput. Syst. Sci. 55:119, doi:10.1006/jcss.1997.1504), with learners that
may abstain handled as "specialists" or sleeping experts (Freund, Schapire, Singer
and Warmuth 1997, STOC, doi:10.1145/258533.258616): a learner that cannot score yet
is charged the loss of the mixture, so sleeping neither helps nor hurts it.

The loss is measured before a learner sees the label. When the reviewer labels a
record include, each learner's loss is the share of the records then unread that it
ranked above that record (0: it had the include on top; 1: at the bottom).
Excludes cost nothing: what matters is how high each learner put the includes.
After each include, learner ``k``'s weight is multiplied by ``exp(-eta * loss_k)`` and
renormalised, then Fixed Share (Herbster and Warmuth 1998, Machine Learning 32:151,
doi:10.1023/A:1007424614876) mixes a share ``share`` of the starting weights ``pi`` back
in, so a learner that was poor while it had seen almost nothing can recover. ``pi``
puts ``prior_share`` on the fixed rankers (the LLM's P(include)) and shares the rest
among the learned ones. The combined score is the weighted mean of the learners'
within-corpus percentiles (weighted rank fusion).

The zero-shot prior is deliberately not one of the rankers here. The records the
reviewer reads are the ones the mixture put on top, so whichever ranker dominates
the mixture is rarely charged; with the prior inside, its weight ran away on the
test fixture. ``screening/ranking/ranker.py`` blends the prior in on a fixed schedule
instead, and a cold start is the prior alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def rank_loss(percentiles: np.ndarray, record: int, unread: np.ndarray) -> float:
    """Share of the other unread records scored above ``record`` (ties count half)."""
    others = int(unread.sum()) - (1 if unread[record] else 0)
    if others <= 0:
        return 0.0
    pool = percentiles[unread]
    mine = percentiles[record]
    above = int(np.count_nonzero(pool > mine))
    ties = int(np.count_nonzero(pool == mine)) - (1 if unread[record] else 0)
    return (above + 0.5 * ties) / others


@dataclass
class Hedge:
    """Exponential weights over named rankers, with Fixed Share, and sleeping rankers charged the mixture's loss."""

    names: tuple[str, ...]
    initial: np.ndarray
    eta: float
    share: float = 0.0
    log_weights: np.ndarray = field(init=False)
    updates: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if len(self.initial) != len(self.names):
            raise ValueError("one initial weight per ranker")
        if self.eta < 0:
            raise ValueError(f"learning rate must be >= 0, got {self.eta}")
        if not 0 <= self.share < 1:
            raise ValueError(f"fixed share must be in [0, 1), got {self.share}")
        self.initial = np.asarray(self.initial, dtype=np.float64) / float(np.sum(self.initial))
        self.log_weights = np.log(self.initial)

    @classmethod
    def over(
        cls, names: Sequence[str], fixed: Sequence[bool], *, eta: float, prior_share: float, share: float = 0.0
    ) -> Hedge:
        """``prior_share`` of the starting weight on the fixed rankers, the rest shared by the learned ones."""
        flags = np.asarray(fixed, dtype=bool)
        n_fixed, n_learned = int(flags.sum()), int((~flags).sum())
        if n_fixed == 0 or n_learned == 0:
            initial = np.ones(len(names))
        else:
            initial = np.where(flags, prior_share / n_fixed, (1 - prior_share) / n_learned)
        return cls(names=tuple(names), initial=initial, eta=eta, share=share)

    def weights(self, awake: np.ndarray | None = None) -> np.ndarray:
        """Current weights over the awake rankers (they sum to 1)."""
        mask = np.ones(len(self.names), dtype=bool) if awake is None else np.asarray(awake, dtype=bool)
        if not mask.any():
            raise ValueError("no ranker is awake")
        raw = np.where(mask, np.exp(self.log_weights - self.log_weights[mask].max()), 0.0)
        return np.asarray(raw / raw.sum())

    def update(self, losses: np.ndarray, awake: np.ndarray) -> None:
        """One round: a sleeping ranker takes the mixture's loss; then Fixed Share mixes back a little of the start.

        Fixed Share (Herbster and Warmuth 1998) lets a learner that was poor on the
        first few labels, when it had seen almost nothing, win its weight back.
        """
        mask = np.asarray(awake, dtype=bool)
        loss = np.asarray(losses, dtype=np.float64)
        mixture = float(np.dot(self.weights(mask)[mask], loss[mask]))
        logw = self.log_weights - self.eta * np.where(mask, loss, mixture)
        w = np.exp(logw - logw.max())
        w /= w.sum()
        w = (1 - self.share) * w + self.share * self.initial
        self.log_weights = np.log(w)
        self.updates += 1

    def state(self) -> dict[str, object]:
        return {"names": list(self.names), "log_weights": self.log_weights.tolist(), "updates": self.updates}

    def restore(self, state: dict[str, object]) -> bool:
        """Take saved weights back; False (and nothing changed) when they are for other rankers."""
        logw = state.get("log_weights")
        if state.get("names") != list(self.names) or not isinstance(logw, list) or len(logw) != len(self.names):
            return False
        self.log_weights = np.asarray(logw, dtype=np.float64)
        updates = state.get("updates", 0)
        self.updates = int(updates) if isinstance(updates, int) else 0
        return True


def fuse(percentiles: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of the rankers' percentiles (one row per ranker)."""
    return np.asarray(weights @ percentiles)
