"""``winnow decide``: re-decide every record of a run from a P(include) threshold.

The output is the decisions table with ``decision`` set by the threshold and two
new columns: ``screen_decision`` (the run's own decision, unchanged) and
``decided_by`` (the rule that set the new one). Nothing is renamed or dropped,
so ``agree``, ``audit`` and ``validate`` read the output as any decisions table.
The rule, threshold and calibration set go to a JSON sidecar and to the ledger.
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from winnow import __version__
from winnow.errors import GoldSetError, InputError
from winnow.ledger import Ledger
from winnow.screening.decisions import read_decisions, read_table, write_table
from winnow.screening.validation.calibration import Calibration, choose_threshold, redecide

NEW_COLUMNS = ("screen_decision", "decided_by")


def _p_include(cell: Any) -> float | None:
    try:
        value = float(str(cell).strip())
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


@dataclass
class Decided:
    """What ``decide`` did, for the terminal, the sidecar and the ledger."""

    out_path: Path
    sidecar: Path
    run_id: str
    summary: dict[str, Any]


def _calibration_set(
    labels_path: Path, p_by_id: dict[str, float | None], decisions: Path
) -> tuple[list[float], list[bool], list[str]]:
    from winnow.gold import load_gold

    gold = load_gold(labels_path)
    unknown = [row for rid, row in gold.rows.items() if rid not in p_by_id]
    if unknown:
        raise GoldSetError(labels_path, f"record {unknown[0].record_id} is not in {decisions}", line=unknown[0].line)
    p, labels, notes = [], [], []
    lacking = 0
    for rid, row in gold.rows.items():
        value = p_by_id[rid]
        if value is None:
            lacking += 1
            continue
        p.append(value)
        labels.append(row.included)
    if lacking:
        notes.append(f"{lacking} labelled record(s) have no p_include and are left out of the calibration set")
    columns = set(read_table(labels_path, what="labels").columns) if labels_path.suffix.lower() != ".xls" else set()
    if "weight" in columns:
        notes.append(
            "the calibration labels carry sampling weights (a stratified validation sample); the bound assumes"
            " the labelled includes are a random sample of all includes, which a stratified sample only"
            " approximates"
        )
    return p, labels, notes


def decide(
    decisions: Path,
    *,
    out: Path,
    ledger_path: Path,
    labels_path: Path | None,
    recall_target: float,
    confidence: float,
    threshold: float | None,
) -> Decided:
    """Choose (or take) the threshold, write the re-decided table, its sidecar and a ``runs`` row.

    Raises:
        InputError: no record has a p_include, or no threshold can clear the target.
        GoldSetError: the calibration labels cannot be read or name records the run lacks.
    """
    frame = read_decisions(decisions)
    if "p_include" not in frame.columns:
        frame["p_include"] = ""
    ids = frame["record_id"].astype(str).str.strip().tolist()
    p_values = [_p_include(cell) for cell in frame["p_include"]]
    p_by_id = dict(zip(ids, p_values, strict=True))
    missing_p = sum(v is None for v in p_values)
    if missing_p == len(p_values):
        raise InputError(
            decisions,
            "no record has a p_include: decide needs P(include) from token log-probabilities or votes"
            " (confidence_source); re-screen with a backend that gives them",
        )
    notes: list[str] = []
    if missing_p:
        notes.append(f"{missing_p} record(s) have no p_include: they are marked uncertain, so a human reads them")
    calibration: Calibration | None = None
    labels_sha = None
    if labels_path is not None:
        p, labels, more = _calibration_set(labels_path, p_by_id, decisions)
        notes += more
        calibration = choose_threshold(
            p, labels, recall_target=recall_target, confidence=confidence, threshold=threshold
        )
        labels_sha = hashlib.sha256(labels_path.read_bytes()).hexdigest()
        if calibration.threshold is None:
            raise InputError(
                labels_path,
                f"no threshold clears recall {recall_target:.0%} at {confidence:.0%}: the calibration set has"
                f" {calibration.n_includes} includes and it takes at least {calibration.needed_includes}, every one"
                " of them at or above the threshold; label more records or pass --threshold",
            )
        threshold = calibration.threshold
    if threshold is None:
        raise InputError(None, "give --calibrate LABELS (to choose a threshold) or --threshold T")

    rows = frame.to_dict("records")
    rule = f"p_include >= {threshold:.6g}"
    for row, value in zip(rows, p_values, strict=True):
        row["screen_decision"] = row["decision"]
        row["decision"] = redecide(value, threshold)
        row["decided_by"] = rule if value is not None else "no p_include: uncertain (a human reads it)"
    write_table(out, rows, [*frame.columns, *NEW_COLUMNS])
    counts = {d: sum(1 for row in rows if row["decision"] == d) for d in ("include", "exclude", "uncertain")}
    changed = sum(1 for row in rows if row["decision"] != row["screen_decision"])
    run_id = f"decide-{uuid.uuid4().hex[:12]}"
    summary: dict[str, Any] = {
        "schema": "winnow.decide/1",
        "decisions": str(decisions),
        "out": str(out),
        "run_id": run_id,
        "rule": rule,
        "threshold": threshold,
        "recall_target": recall_target,
        "confidence": confidence,
        "calibration_set": None
        if labels_path is None
        else {"path": str(labels_path), "sha256": labels_sha, **(calibration.as_dict() if calibration else {})},
        "records": len(rows),
        "new_decisions": counts,
        "changed_from_screen": changed,
        "notes": notes,
    }
    sidecar = out.with_suffix(".json")
    try:
        sidecar.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    except OSError as exc:
        raise InputError(sidecar, f"cannot write run metadata: {exc.strerror or exc}") from exc
    with Ledger(ledger_path) as ledger:
        ledger.start_run(
            run_id,
            command="decide",
            argv=sys.argv[1:],
            params_json=json.dumps({k: summary[k] for k in ("rule", "threshold", "recall_target", "confidence")}),
            input_path=str(decisions),
            n_records=len(rows),
            winnow_version=__version__,
        )
        ledger.finish_run(run_id, status="done", summary=summary)
    return Decided(out, sidecar, run_id, summary)
