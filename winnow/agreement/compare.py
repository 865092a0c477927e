"""Joining a decisions table to a gold set, and counting the 2x2 table both ways.

"uncertain" and "error" decisions mean no usable model answer: in screening those
records go to a human, so the primary figures count them as include. The same
figures with them counted as exclude are always computed alongside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from winnow.agreement.metrics import Counts
from winnow.errors import GoldSetError, InputError
from winnow.gold import GoldSet

__all__ = ["UNDECIDED", "Matched", "counts_for", "match_decisions", "p_include_of"]

UNDECIDED = ("uncertain", "error")
_SHOWN = 5


@dataclass
class Matched:
    """Decisions that have a gold label (in decisions order), and what was left over.

    ``frame`` may hold only the columns a report reads (``complete`` False); ``positions``
    are the matched rows' places among the table's data rows, where ``full_rows`` reads
    the rest back.
    """

    decisions_path: Path
    gold: GoldSet
    frame: pd.DataFrame
    included: np.ndarray
    not_in_gold: list[str] = field(default_factory=list)
    not_in_decisions: list[str] = field(default_factory=list)
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    complete: bool = True

    @property
    def n(self) -> int:
        return len(self.frame)

    def full_rows(self, indices: Sequence[int]) -> pd.DataFrame:
        """Every column of the matched rows at ``indices`` (ascending), read back from the table if need be."""
        if self.complete:
            return self.frame.iloc[list(indices)]
        from winnow.screening.decisions import read_table_rows

        picked = list(indices)
        return read_table_rows(self.decisions_path, self.positions[picked], self.frame["record_id"].iloc[picked])


def _examples(ids: list[str]) -> str:
    shown = ", ".join(ids[:_SHOWN])
    return f"{shown}, ..." if len(ids) > _SHOWN else shown


def match_decisions(
    frame: pd.DataFrame,
    decisions_path: str | Path,
    gold: GoldSet,
    *,
    allow_missing: bool = False,
    complete: bool = True,
) -> Matched:
    """Join decisions to gold labels by record id.

    ``complete`` False says ``frame`` holds only some of the table's columns (see ``Matched``).

    Raises:
        InputError: a record id appears twice in the decisions.
        GoldSetError: the ids do not match (with counts and examples), unless
            ``allow_missing``; no id in common is always an error.
    """
    path = Path(decisions_path)
    ids = frame["record_id"].astype(str).str.strip()
    duplicated = ids[ids.duplicated(keep=False)]
    if not duplicated.empty:
        first = duplicated.iloc[0]
        rows = [int(i) + 1 for i in duplicated.index[duplicated == first]]
        raise InputError(path, f"record {first} appears {len(rows)} times (data rows {', '.join(map(str, rows))})")
    gold_ids = set(gold.rows)
    in_gold = ids.isin(gold_ids).to_numpy()
    decided = set(ids)
    not_in_gold = ids[~in_gold].tolist()
    not_in_decisions = [rid for rid in gold.rows if rid not in decided]
    if not in_gold.any():
        raise GoldSetError(
            gold.path,
            f"no record ids in common with {path}: decisions have {len(ids)} ids (e.g. {_examples(ids.tolist())}),"
            f" gold has {gold.n} (e.g. {_examples(list(gold.rows))})",
        )
    if (not_in_gold or not_in_decisions) and not allow_missing:
        parts = []
        if not_in_gold:
            parts.append(f"{len(not_in_gold)} decision(s) not in gold (e.g. {_examples(not_in_gold)})")
        if not_in_decisions:
            parts.append(
                f"{len(not_in_decisions)} gold record(s) not in decisions (e.g. {_examples(not_in_decisions)})"
            )
        raise GoldSetError(
            gold.path,
            f"record ids do not match {path}: {'; '.join(parts)}; {int(in_gold.sum())} in common."
            " Pass --allow-missing to compare those and list the rest",
        )
    matched = frame.loc[in_gold].copy()
    matched["record_id"] = ids[in_gold]
    included = np.array([gold.rows[rid].included for rid in matched["record_id"].tolist()], dtype=bool)
    positions = np.nonzero(in_gold)[0]
    return Matched(
        path, gold, matched.reset_index(drop=True), included, not_in_gold, not_in_decisions, positions, complete
    )


def counts_for(decisions: np.ndarray, included: np.ndarray, *, undecided_as: str) -> Counts:
    """The 2x2 table with "uncertain"/"error" counted as ``undecided_as`` (include or exclude)."""
    model_include = decisions == "include"
    if undecided_as == "include":
        model_include = model_include | np.isin(decisions, UNDECIDED)
    tp = int((model_include & included).sum())
    fp = int((model_include & ~included).sum())
    fn = int((~model_include & included).sum())
    tn = int((~model_include & ~included).sum())
    return Counts(tp=tp, fp=fp, tn=tn, fn=fn)


def p_include_of(matched: Matched) -> np.ndarray | None:
    """P(include) per matched record as floats, or None when any record lacks one.

    Raises:
        InputError: a p_include cell is not a number in [0, 1].
    """
    if "p_include" not in matched.frame.columns:
        return None
    cells = matched.frame["p_include"].astype(str).str.strip()
    if (cells == "").any():
        return None
    values: np.ndarray = np.asarray(pd.to_numeric(cells, errors="coerce"), dtype=float)
    bad = np.nonzero(np.isnan(values) | (values < 0) | (values > 1))[0]
    if len(bad):
        row = int(bad[0])
        raise InputError(
            matched.decisions_path,
            f"record {matched.frame['record_id'].iloc[row]}: p_include {cells.iloc[row]!r} is not a number in [0, 1]",
        )
    return values
