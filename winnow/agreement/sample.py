"""Gold labels that are a validation sample: agree and audit say so, and weight what can be weighted.

``winnow validate`` writes its labels as a gold file with a ``weight`` column
(records in the stratum over records labelled in it). Figures over those rows
alone describe the sample, not the run: the sample over-represents the model's
includes and uncertain records. Weighting each row by its stratum weight gives
Horvitz-Thompson point estimates for the whole run; their exact bounds are what
``winnow validate`` reports.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from winnow.agreement.compare import UNDECIDED, Matched
from winnow.gold import GOLD_ID_ALIASES

__all__ = ["SAMPLE_NOTE", "sample_section", "sample_weights"]

SAMPLE_NOTE = (
    "these gold labels are a validation sample (they carry sampling weights): every figure above is"
    " sample-only and unweighted; the weighted figures estimate the whole run (point estimates only:"
    " `winnow validate` gives their exact bounds)"
)


def sample_weights(path: str | Path) -> dict[str, float] | None:
    """The ``weight`` per record id of a validation-sample gold file; None for an ordinary gold file."""
    source = Path(path)
    if source.suffix.lower() not in (".csv", ".tsv", ".tab"):
        return None
    delimiter = "\t" if source.suffix.lower() != ".csv" else ","
    try:
        with source.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            columns = {c.strip().lower(): c for c in reader.fieldnames or []}
            id_column = next((columns[a] for a in GOLD_ID_ALIASES if a in columns), None)
            if id_column is None or "weight" not in columns:
                return None
            weights: dict[str, float] = {}
            for row in reader:
                try:
                    weights[(row.get(id_column) or "").strip()] = float(row[columns["weight"]])
                except (TypeError, ValueError):
                    continue
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return weights or None


def sample_section(matched: Matched) -> dict[str, Any] | None:
    """Weighted confusion counts and point estimates (uncertain and error counted as include)."""
    weights = sample_weights(matched.gold.path)
    if weights is None:
        return None
    ids = matched.frame["record_id"].astype(str).tolist()
    w = np.array([weights.get(rid, 1.0) for rid in ids], dtype=float)
    decisions = matched.frame["decision"].astype(str).to_numpy()
    model = (decisions == "include") | np.isin(decisions, UNDECIDED)
    gold = matched.included
    tp, fp = float(w[model & gold].sum()), float(w[model & ~gold].sum())
    fn, tn = float(w[~model & gold].sum()), float(w[~model & ~gold].sum())

    def ratio(a: float, b: float) -> float | None:
        return None if a + b == 0 else a / (a + b)

    return {
        "note": SAMPLE_NOTE,
        "labelled": len(ids),
        "weighted_records": float(w.sum()),
        "weighted": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "sensitivity": ratio(tp, fn),
        "specificity": ratio(tn, fp),
        "precision": ratio(tp, fp),
    }
