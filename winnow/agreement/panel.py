"""Reading a panel decisions table: several reviewers per record, plus their combined decision.

A panel table is a decisions table with, for each reviewer NAME, ``decision:NAME``
(include / exclude / uncertain / error, or empty where that reviewer gave no answer),
``p_include:NAME``, ``confidence_source:NAME`` and ``verdicts:NAME``; a ``conflict``
column (true/false) and a ``combine`` column (the rule that made ``decision``). A
single-model table has none of these, and :func:`read_panel` returns None for it.

Between reviewers, answers are scored on two categories, as everywhere in ``winnow agree``:
"uncertain" and "error" mean no usable answer and a human reads the record, so the primary
figures count them as include and the ``as_exclude`` figures count them as exclude.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from winnow.agreement.compare import UNDECIDED
from winnow.errors import InputError
from winnow.screening.decisions import DECISIONS

__all__ = ["DECISION_PREFIX", "PanelTable", "Reviewer", "as_binary", "read_panel"]

DECISION_PREFIX = "decision:"
HUMAN_SOURCE = "human"
COMBINE_RULES = ("any", "majority", "all")


@dataclass(frozen=True)
class Reviewer:
    """One reviewer's column of answers, in table order ('' where it gave none)."""

    name: str
    human: bool
    decisions: np.ndarray
    verdicts: np.ndarray
    p_include: np.ndarray

    @property
    def answered(self) -> np.ndarray:
        return self.decisions != ""

    @property
    def kind(self) -> str:
        return "human" if self.human else "model"

    @property
    def label(self) -> str:
        """The name as shown, marking a person unless the name already says so."""
        return f"{self.name} (human)" if self.human and self.name != "human" else self.name


@dataclass(frozen=True)
class PanelTable:
    """The reviewers of a panel table and the columns that describe their combination."""

    path: Path
    frame: pd.DataFrame
    reviewers: list[Reviewer]
    combine: str
    conflict: np.ndarray

    @property
    def names(self) -> list[str]:
        return [reviewer.name for reviewer in self.reviewers]

    @property
    def record_ids(self) -> np.ndarray:
        return self.frame["record_id"].astype(str).str.strip().to_numpy()


def as_binary(decisions: np.ndarray, *, undecided_as: str) -> np.ndarray:
    """1.0 include, 0.0 exclude, NaN no answer; "uncertain"/"error" become ``undecided_as``."""
    out = np.full(len(decisions), np.nan)
    out[decisions == "include"] = 1.0
    out[decisions == "exclude"] = 0.0
    out[np.isin(decisions, UNDECIDED)] = 1.0 if undecided_as == "include" else 0.0
    return out


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    return frame[name].astype(str).str.strip().to_numpy()


def _check_values(path: Path, frame: pd.DataFrame, column: str, allowed: tuple[str, ...]) -> None:
    values = _column(frame, column)
    bad = np.nonzero(~np.isin(values, allowed))[0]
    if len(bad):
        row = int(bad[0])
        raise InputError(
            path,
            f"record {frame['record_id'].iloc[row]}: {column} is {values[row]!r};"
            f" expected {', '.join(v for v in allowed if v) or 'a value'}" + (" or empty" if "" in allowed else ""),
            line=row + 2,
        )


def read_panel(frame: pd.DataFrame, path: str | Path) -> PanelTable | None:
    """The panel in a decisions table, or None when it has no ``decision:<reviewer>`` column.

    A reviewer is a person when every ``confidence_source:<name>`` it gave is ``human``.

    Raises:
        InputError: a reviewer decision, ``conflict`` or ``combine`` value is not one the
            table contract allows (naming the record and its line).
    """
    source = Path(path)
    names = [str(c)[len(DECISION_PREFIX) :] for c in frame.columns if str(c).startswith(DECISION_PREFIX)]
    if not names:
        return None
    reviewers = []
    for name in names:
        _check_values(source, frame, f"{DECISION_PREFIX}{name}", (*DECISIONS, ""))
        decisions = _column(frame, f"{DECISION_PREFIX}{name}")
        sources = _column(frame, f"confidence_source:{name}")
        given = sources[decisions != ""]
        human = len(given) > 0 and bool((given == HUMAN_SOURCE).all())
        p_cells = pd.to_numeric(pd.Series(_column(frame, f"p_include:{name}")), errors="coerce")
        reviewers.append(
            Reviewer(
                name=name,
                human=human,
                decisions=decisions,
                verdicts=_column(frame, f"verdicts:{name}"),
                p_include=np.asarray(p_cells, dtype=float),
            )
        )
    if "conflict" in frame.columns:
        frame = frame.assign(conflict=frame["conflict"].astype(str).str.strip().str.lower())  # JSONL reads True
        _check_values(source, frame, "conflict", ("true", "false", ""))
        conflict = _column(frame, "conflict") == "true"
    else:
        conflict = _disagree(reviewers)
    combine = sorted(set(_column(frame, "combine")) - {""})
    if len(combine) > 1:
        raise InputError(source, f"column combine holds more than one rule: {', '.join(combine)}")
    return PanelTable(source, frame, reviewers, combine[0] if combine else "", conflict)


def _disagree(reviewers: list[Reviewer]) -> np.ndarray:
    """The contract's conflict flag, for a table written without one: two different answers."""
    seen = np.array([[("uncertain" if d == "error" else d) for d in r.decisions] for r in reviewers], dtype=object)
    return np.array([len({d for d in seen[:, i] if d}) > 1 for i in range(seen.shape[1])], dtype=bool)
