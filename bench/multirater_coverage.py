"""Coverage of the bootstrap intervals ``winnow agree`` gives Fleiss' kappa and Krippendorff's alpha.

Reviewers are simulated as independent classifiers of a true include/exclude label,
each with its own sensitivity and specificity; a person may answer only a random
share of records (missing completely at random). The target of each estimator is its
value on 2,000,000 records from the same model (both are consistent estimators). For
every scenario the script draws ``--reps`` panels, computes the 95% percentile-bootstrap
interval exactly as ``winnow.agreement.multirater`` does (B = 2000, the shipped code), and
counts how often it covers the target.

    python bench/multirater_coverage.py [--reps 1000] [--out bench/results/multirater_coverage.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import write_results

from winnow.agreement.multirater import (
    alpha_values,
    category_counts,
    fleiss_kappa,
    fleiss_values,
    krippendorff,
)

EVEN = ((0.9, 0.9), (0.85, 0.8), (0.8, 0.9))


@dataclass(frozen=True)
class Scenario:
    """One simulated panel design."""

    n: int
    prevalence: float
    reviewers: tuple[tuple[float, float], ...] = EVEN
    answered: float = 1.0  # share of records the last reviewer (a person) answers

    @property
    def name(self) -> str:
        gaps = f", last reviewer answers {self.answered:.0%}" if self.answered < 1 else ""
        return f"{len(self.reviewers)} reviewers, n={self.n}, prevalence {self.prevalence:g}{gaps}"


SCENARIOS = (
    Scenario(30, 0.3),
    Scenario(100, 0.3),
    Scenario(300, 0.3),
    Scenario(100, 0.1),
    Scenario(300, 0.1),
    Scenario(100, 0.3, (*EVEN, (0.95, 0.7))),
    Scenario(100, 0.3, answered=0.6),
    Scenario(300, 0.3, answered=0.6),
)


def draw(scenario: Scenario, n: int, rng: np.random.Generator) -> np.ndarray:
    """Reviewers x records: 1.0 include, 0.0 exclude, NaN where the last reviewer gave no answer."""
    truth = rng.random(n) < scenario.prevalence
    rows = []
    for sensitivity, specificity in scenario.reviewers:
        says_include = np.where(truth, rng.random(n) < sensitivity, rng.random(n) >= specificity)
        rows.append(says_include.astype(float))
    ratings = np.vstack(rows)
    if scenario.answered < 1:
        ratings[-1, rng.random(n) >= scenario.answered] = np.nan
    return ratings


def targets(scenario: Scenario, rng: np.random.Generator, size: int = 2_000_000) -> dict[str, float]:
    """Each estimator's value on a very large panel from the same model."""
    ratings = draw(scenario, size, rng)
    complete = ~np.isnan(ratings).any(axis=0)
    pairable = (~np.isnan(ratings)).sum(axis=0) >= 2
    ones = np.ones((1, int(complete.sum())))
    fleiss = float(fleiss_values(category_counts(ratings[:, complete]), ones)[0])
    alpha = float(alpha_values(category_counts(ratings[:, pairable]), np.ones((1, int(pairable.sum()))))[0])
    return {"fleiss_kappa": fleiss, "krippendorff_alpha": alpha}


def run(scenario: Scenario, reps: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    truth = targets(scenario, rng)
    tallies: dict[str, dict[str, Any]] = {
        key: {"covered": 0, "undefined": 0, "widths": [], "below": 0, "above": 0} for key in truth
    }
    for rep in range(reps):
        ratings = draw(scenario, scenario.n, rng)
        for key, function in (("fleiss_kappa", fleiss_kappa), ("krippendorff_alpha", krippendorff)):
            estimate, _ = function(ratings, seed=seed * 100_000 + rep)
            tally = tallies[key]
            if estimate.low is None or estimate.high is None:
                tally["undefined"] += 1
                continue
            tally["widths"].append(estimate.high - estimate.low)
            if estimate.low <= truth[key] <= estimate.high:
                tally["covered"] += 1
            elif truth[key] < estimate.low:
                tally["below"] += 1
            else:
                tally["above"] += 1
    out: dict[str, Any] = {"scenario": scenario.name, "reps": reps, "target": truth}
    for key, tally in tallies.items():
        defined = reps - tally["undefined"]
        coverage = tally["covered"] / defined if defined else None
        out[key] = {
            "coverage": coverage,
            "mc_se": None if coverage is None else (coverage * (1 - coverage) / defined) ** 0.5,
            "misses_target_below_interval": tally["below"],
            "misses_target_above_interval": tally["above"],
            "undefined": tally["undefined"],
            "mean_width": float(np.mean(tally["widths"])) if tally["widths"] else None,
        }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=1000, help="simulated panels per scenario")
    parser.add_argument("--scenarios", type=int, default=len(SCENARIOS), help="run only the first N scenarios")
    parser.add_argument("--out", type=Path, default=None, help="results file (default bench/results/NAME.json)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = []
    for index, scenario in enumerate(SCENARIOS[: args.scenarios]):
        row = run(scenario, args.reps, seed=index + 1)
        rows.append(row)
        print(
            f"{row['scenario']:<55} Fleiss {row['fleiss_kappa']['coverage']:.3f}"
            f"  alpha {row['krippendorff_alpha']['coverage']:.3f}",
            flush=True,
        )
    figures = {
        "nominal": 0.95,
        "interval": "percentile bootstrap over records, B=2000 (winnow.agreement.multirater)",
        "target": "each estimator on 2,000,000 simulated records from the same model",
        "scenarios": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    path = write_results("multirater_coverage", figures, out=args.out)
    print(f"written to {path}")
    return figures


if __name__ == "__main__":
    main()
