"""A model's answers on every record, as signals the ranker can weigh: a score and per-criterion verdicts.

The answers come from a ``winnow screen`` decisions table (one model, or a panel with each
reviewer's ``p_include:NAME`` and ``verdicts:NAME``), or from another tool's export with a
score column (``--score-column``, rescaled to 0-1 by the lowest and highest value found,
so a 1-5 relevance scale becomes (score - 1) / 4). A ``p_include`` may come from token
probabilities, from votes (0, 0.2, ... 1) or from a coarse scale; only the order of the
scores and the verdicts are used, so none of them needs to be calibrated.

Nothing here decides how much the ranker trusts the answers: ``screening/ranking/ranker.py``
makes them one more arm that earns its picks from this review's labels, and features beside the
text that one learner weighs from those labels; ``docs/benchmarks.md`` (section 20) says why
that design was chosen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from winnow.errors import InputError
from winnow.records import Record

VERDICTS = ("met", "not_met", "unclear")
# A decision without a probability still orders the records: include first, then uncertain.
DECISION_SCORES = {"include": 1.0, "uncertain": 0.5, "exclude": 0.0}


@dataclass(frozen=True)
class ModelAnswers:
    """One model's (or a panel's) answers, aligned with the records being ranked.

    ``score`` is in [0, 1], higher meaning more likely an include; records the run did
    not answer have the median of the answered ones. ``signals`` holds, per record, every
    reviewer's score and a one-hot column per (reviewer, criterion, verdict); its column
    names are in ``columns``.
    """

    score: np.ndarray
    signals: np.ndarray
    columns: tuple[str, ...]
    reviewers: tuple[str, ...]
    answered: int
    source: str

    @property
    def levels(self) -> int:
        """How many distinct scores the answers use (2 for include/exclude only)."""
        return len(np.unique(self.score))

    def would_exclude(self) -> np.ndarray:
        """The records the model put in the lower half of its scale."""
        return np.asarray(self.score < 0.5)

    def describe(self) -> str:
        kinds = f"{self.levels} distinct scores"
        who = f"{len(self.reviewers)} reviewers" if len(self.reviewers) > 1 else "one reviewer"
        verdicts = sum(":" in c or "=" in c for c in self.columns)
        extra = f", {verdicts} verdict columns" if verdicts else ""
        return f"{self.source}: {self.answered} records answered, {who}, {kinds}{extra}"


def answers_from_scores(
    record_ids: Sequence[str],
    scores: Mapping[str, float],
    *,
    verdicts: Mapping[str, Mapping[str, str]] | None = None,
    source: str = "scores",
    reviewer: str = "model",
) -> ModelAnswers:
    """Answers from one reviewer's scores (0-1) and optional verdicts (criterion id -> met/not_met/unclear)."""
    return _assemble(record_ids, {reviewer: dict(scores)}, {reviewer: dict(verdicts or {})}, source)


def _assemble(
    record_ids: Sequence[str],
    scores: Mapping[str, Mapping[str, float]],
    verdicts: Mapping[str, Mapping[str, Mapping[str, str]]],
    source: str,
) -> ModelAnswers:
    ids = list(record_ids)
    reviewers = tuple(scores)
    per_reviewer = []
    answered: set[str] = set()
    for name in reviewers:
        given = {rid: v for rid, v in scores[name].items() if math.isfinite(v)}
        answered |= given.keys() & set(ids)
        fill = float(np.median(list(given.values()))) if given else 0.5
        per_reviewer.append(np.array([given.get(rid, fill) for rid in ids], dtype=np.float64))
    if not answered:
        raise ValueError("none of the records has an answer")
    columns = [f"{name}:score" if len(reviewers) > 1 else "score" for name in reviewers]
    blocks = [np.stack(per_reviewer, axis=1)]
    for name in reviewers:
        given = verdicts.get(name, {})
        criteria = sorted({cid for row in given.values() for cid in row})
        for cid in criteria:
            for verdict in VERDICTS:
                prefix = f"{name}:" if len(reviewers) > 1 else ""
                columns.append(f"{prefix}{cid}={verdict}")
                blocks.append(np.array([[given.get(rid, {}).get(cid) == verdict] for rid in ids], dtype=np.float64))
    return ModelAnswers(
        score=np.mean(per_reviewer, axis=0),
        signals=np.hstack(blocks),
        columns=tuple(columns),
        reviewers=reviewers,
        answered=len(answered),
        source=source,
    )


def read_model_answers(path: Path, records: Sequence[Record], *, score_column: str | None = None) -> ModelAnswers:
    """The answers in ``path`` for ``records``: a ``winnow screen`` table, or any table with ``score_column``.

    Raises:
        InputError: the file cannot be read, lacks the columns, holds a score that is not a
            number, or answers none of the records.
    """
    if score_column is not None:
        return _read_export(path, records, score_column)
    from winnow.screening.decisions import read_decisions

    frame = read_decisions(path)
    rows = frame.to_dict("records")
    panel = sorted(c.split(":", 1)[1] for c in frame.columns if c.startswith("p_include:"))
    scores: dict[str, dict[str, float]] = {}
    verdicts: dict[str, dict[str, dict[str, str]]] = {}
    sources: set[str] = set()
    for name in panel or [""]:
        suffix = f":{name}" if name else ""
        scores[name or "model"] = per = {}
        verdicts[name or "model"] = said = {}
        for line, row in enumerate(rows, start=2):
            rid = str(row["record_id"])
            value = _score(path, line, row.get(f"p_include{suffix}", ""), row.get(f"decision{suffix}", ""))
            if value is not None:
                per[rid] = value
            source = str(row.get(f"confidence_source{suffix}", "") or "")
            if source and source != "none":
                sources.add(source.split(":", 1)[0])
            said[rid] = (
                _parse_verdicts(str(row.get(f"verdicts{suffix}", "")))
                if name
                else {c.split(":", 1)[1]: str(v) for c, v in row.items() if c.startswith("criterion:") and v}
            )
    kind = ", ".join(sorted(sources)) or "decisions"
    try:
        return _assemble([r.record_id for r in records], scores, verdicts, f"{path.name} (p_include from {kind})")
    except ValueError:
        raise InputError(path, "none of the records being ranked is in this decisions table") from None


def _score(path: Path, line: int, p_include: object, decision: object) -> float | None:
    text = str(p_include).strip()
    if text:
        try:
            value = float(text)
        except ValueError:
            raise InputError(path, f"p_include {text!r} is not a number", line=line) from None
        if not 0 <= value <= 1:
            raise InputError(path, f"p_include {text!r} is outside 0-1", line=line)
        return value
    return DECISION_SCORES.get(str(decision).strip())


def _parse_verdicts(cell: str) -> dict[str, str]:
    """``I1=met; I2=not_met`` (a panel reviewer's verdicts column) as a mapping."""
    out = {}
    for part in cell.split(";"):
        cid, sep, verdict = part.strip().partition("=")
        if sep and verdict.strip() in VERDICTS:
            out[cid.strip()] = verdict.strip()
    return out


def _read_export(path: Path, records: Sequence[Record], column: str) -> ModelAnswers:
    """Another tool's table: an id column (or DOI / PMID / title to match) and a numeric score column."""
    from winnow.gold import GOLD_ID_ALIASES, iter_table
    from winnow.records.labels import LabelRow, rekey

    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        rows = list(iter_table(path))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the table: {exc}") from exc
    if not rows:
        raise InputError(path, "empty file")
    header = list(rows[0][1])
    lowered = {c.strip().lower(): c for c in header}
    score_name = lowered.get(column.strip().lower())
    if score_name is None:
        raise InputError(path, f"no column {column!r} (--score-column); columns found: {', '.join(header)}")
    id_name = next((lowered[a] for a in GOLD_ID_ALIASES if a in lowered), None)
    found: list[tuple[LabelRow, float]] = []
    for line, row in rows[1:]:
        text = str(row.get(score_name, "")).strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            raise InputError(path, f"{score_name} {text!r} is not a number", line=line) from None
        if not math.isfinite(value):
            raise InputError(path, f"{score_name} {text!r} is not a finite number", line=line)
        key = LabelRow(
            record_id=str(row.get(id_name, "")).strip() if id_name else f"line {line}",
            included=False,
            line=line,
            title=str(row.get(lowered.get("title", ""), "")),
            doi=str(row.get(lowered.get("doi", ""), "")),
            pmid=str(row.get(lowered.get("pmid", ""), "")),
        )
        found.append((key, value))
    if not found:
        raise InputError(path, f"column {score_name} holds no score")
    known = [{"record_id": r.record_id, "doi": r.doi, "pmid": r.pmid, "title": r.title} for r in records]
    matched = rekey([key for key, _ in found], known)
    values = [v for _, v in found]
    low, high = min(values), max(values)
    span = high - low
    scores = {key.record_id: (v - low) / span if span else 0.5 for key, v in zip(matched, values, strict=True)}
    source = f"{path.name} ({score_name}, rescaled from {low:g}-{high:g} to 0-1)"
    try:
        return _assemble([r.record_id for r in records], {"model": scores}, {}, source)
    except ValueError:
        raise InputError(path, "no row matches a record being ranked (by id, DOI, PMID or title)") from None
