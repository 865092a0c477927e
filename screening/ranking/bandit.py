"""Choose which learner picks the next record: discounted Thompson sampling over rankers.

Hedge (``screening/ranking/hedge.py``) judges every learner on the records the mixture
chose to show, so the learner that dominates the mixture picks the records it is
judged on: the includes it finds are the ones it ranked high, and a learner that
would have found other includes is never shown them. This is the bias online
learning-to-rank meets when it compares rankers on clicks, and its answer is to
let each ranker put its own picks in front of the user and credit the ranker
that picked (team-draft interleaving: Radlinski, Kurup and Joachims 2008, CIKM,
doi:10.1145/1458082.1458092).

So each learner is an arm. Before each record, one arm is drawn by Thompson
sampling (Thompson 1933, Biometrika 25:285; analysed by Agrawal and Goyal 2012,
COLT): each arm's share of includes among the records it picked has a
Beta(1 + hits, 1 + misses) posterior, one value is drawn per arm, and the arm with
the largest draw shows its top unread record. Every arm that had that record
among its own top ``depth`` unread records is credited with the label: at depth
1 these are the arms that would have shown the same record (team-draft credit);
a few more places give each arm more evidence per label but credit it for
records it would not have shown (depth 5 is the default since the fourth session;
1, 3, 5, 10 and 20 were measured in docs/benchmarks.md, 8.2 and 8.3). The counts are
discounted by ``discount`` per label (discounted Thompson sampling: Raj and Kalyani
2017, arXiv:1707.09727), because every arm's hit rate falls as the includes run out
and the recent picks are the ones that say which arm is ranking the rest of this
review well.

The draws come from a generator seeded by the session's seed and the number of
labels, so a simulation is reproducible from its seed and a resumed session
draws what it would have drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ThompsonArms:
    """Discounted Beta-Bernoulli Thompson sampling over named rankers."""

    names: tuple[str, ...]
    discount: float = 1.0
    hits: np.ndarray = field(init=False)
    misses: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {self.discount}")
        self.hits = np.zeros(len(self.names))
        self.misses = np.zeros(len(self.names))

    def choose(self, awake: np.ndarray, seed: Sequence[int]) -> int:
        """The awake arm with the largest posterior draw."""
        mask = np.asarray(awake, dtype=bool)
        if not mask.any():
            raise ValueError("no ranker is awake")
        draws = np.random.default_rng(list(seed)).beta(1 + self.hits, 1 + self.misses)
        return int(np.argmax(np.where(mask, draws, -1.0)))

    def update(self, credited: np.ndarray, include: bool) -> None:
        """One label: every count decays, then the arms that would have shown this record take its outcome."""
        flags = np.asarray(credited, dtype=bool)
        self.hits *= self.discount
        self.misses *= self.discount
        if include:
            self.hits[flags] += 1
        else:
            self.misses[flags] += 1

    def shares(self, awake: np.ndarray, draws: int = 4000) -> np.ndarray:
        """Each awake arm's chance of picking the next record (Monte Carlo, fixed seed): its weight now."""
        mask = np.asarray(awake, dtype=bool)
        if not mask.any():
            return np.zeros(len(self.names))
        samples = np.random.default_rng(0).beta(1 + self.hits, 1 + self.misses, size=(draws, len(self.names)))
        winners = np.argmax(np.where(mask, samples, -1.0), axis=1)
        return np.bincount(winners, minlength=len(self.names)) / draws

    def state(self) -> dict[str, object]:
        return {"names": list(self.names), "hits": self.hits.tolist(), "misses": self.misses.tolist()}

    def restore(self, state: dict[str, object]) -> bool:
        """Take saved counts back; False (and nothing changed) when they are for other rankers."""
        hits, misses = state.get("hits"), state.get("misses")
        n = len(self.names)
        if state.get("names") != list(self.names) or not isinstance(hits, list) or not isinstance(misses, list):
            return False
        if len(hits) != n or len(misses) != n:
            return False
        self.hits = np.asarray(hits, dtype=np.float64)
        self.misses = np.asarray(misses, dtype=np.float64)
        return True
