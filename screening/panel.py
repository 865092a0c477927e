"""A panel of reviewers on every record: several models or templates, repeated answers, and people.

Screening by the book has two independent reviewers and settles their conflicts.
Here a reviewer is a model with a template (``Reviewer``), asked ``samples`` times,
or a person whose labels come from a file (``HumanReviewer``). Each model answer is
its own task with its own cache key, so adding a reviewer to a finished run calls
only that reviewer, and a killed panel resumes without asking anything twice.

A model reviewer's repeated answers are votes: its decision is the majority (a tie
is ``uncertain``), and without token probabilities its ``p_include`` is the share of
include votes (``votes:K``), never an invented number. The panel's decision comes
from the combination rule (``COMBINE_RULES``); reviewers who gave no answer on a
record are left out of it, and ``error`` counts as ``uncertain``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from winnow.backends.base import Model
from winnow.engine import Caller, CallResult, CallTask
from winnow.lifecycle import ModelChoice, Sampling, Stage, StageReport, Unit
from winnow.protocol import LoadedProtocol
from winnow.records.model import ReadResult, Record
from winnow.screening.decisions import output_format, write_table
from winnow.screening.screen import TitleAbstractStage
from winnow.templates import PromptTemplate

COMBINE_RULES = ("any", "majority", "all")
PANEL_PREFIXES = ("decision", "p_include", "confidence_source", "verdicts")


@dataclass(frozen=True)
class Reviewer:
    """A model reviewer: a model, a template and how many answers it gives per record."""

    name: str
    model: ModelChoice
    template: str
    samples: int = 1


@dataclass(frozen=True)
class HumanReviewer:
    """A person's labels (``include``/``exclude`` by record id), joined as a reviewer; makes no calls."""

    name: str
    labels: dict[str, str]
    source: str


def reviewer_name(model_id: str, taken: Sequence[str] = ()) -> str:
    """A column-safe name from a model id (``openai:llama3.1:8b`` is ``llama3.1-8b``), unique in ``taken``."""
    provider, _, name = model_id.partition(":")
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", name or provider).strip("-") or "model"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}#{n}"
    return candidate


def vote(decisions: Sequence[str]) -> str:
    """One model reviewer's decision from its answers: a strict majority, else ``uncertain``."""
    answered = [d for d in decisions if d != "error"]
    if not answered:
        return "error"
    counts = Counter(answered)
    for label in ("include", "exclude", "uncertain"):
        if counts[label] * 2 > len(decisions):
            return label
    return "uncertain"


def combine(decisions: Sequence[str], rule: str) -> str:
    """The panel's decision from its reviewers' decisions (empty ones already left out).

    any: include if any reviewer includes, exclude only if every one excludes, else uncertain.
    majority: include or exclude when more than half say so, else uncertain.
    all: include or exclude only when every reviewer agrees, else uncertain (a person decides).
    """
    if rule not in COMBINE_RULES:
        raise ValueError(f"unknown combination rule {rule!r}: use one of {', '.join(COMBINE_RULES)}")
    said = ["uncertain" if d == "error" else d for d in decisions]
    if not said:
        return "error"
    counts = Counter(said)
    n = len(said)
    if rule == "any":
        if counts["include"]:
            return "include"
        return "exclude" if counts["exclude"] == n else "uncertain"
    if rule == "majority":
        for label in ("include", "exclude"):
            if counts[label] * 2 > n:
                return label
        return "uncertain"
    return said[0] if counts[said[0]] == n and said[0] != "uncertain" else "uncertain"


def conflicting(decisions: Sequence[str]) -> bool:
    said = {"uncertain" if d == "error" else d for d in decisions}
    return len(said) > 1


@dataclass
class _Member:
    """One model reviewer as the run sees it: its stage per sample and its caller."""

    reviewer: Reviewer
    template: PromptTemplate
    stages: list[TitleAbstractStage]
    caller: Caller | None = None


class PanelStage(Stage):
    """``winnow screen`` with several reviewers: one row per record with each reviewer's decision."""

    name = "screen"
    command = "screen"
    description = "screening (panel)"
    suffix = "decisions"

    def __init__(
        self,
        records: Sequence[Record],
        protocol: LoadedProtocol,
        reviewers: Sequence[tuple[Reviewer, PromptTemplate]],
        humans: Sequence[HumanReviewer],
        sampling: Sampling,
        rule: str,
        read: ReadResult | None = None,
    ) -> None:
        if rule not in COMBINE_RULES:
            raise ValueError(f"unknown combination rule {rule!r}")
        if not reviewers:
            raise ValueError("a panel needs at least one model reviewer")
        self.records = records
        self.loaded = protocol
        self.protocol = protocol.protocol
        self.protocol_sha256 = protocol.sha256
        self.rule = rule
        self.humans = list(humans)
        self.read = read
        self.members = [
            _Member(
                reviewer,
                template,
                [
                    TitleAbstractStage(self.records, protocol, template, sampling, read, sample=k)
                    for k in range(reviewer.samples)
                ],
            )
            for reviewer, template in reviewers
        ]
        self.template = self.members[0].template
        self._names = [m.reviewer.name for m in self.members] + [h.name for h in self.humans]
        if len(set(self._names)) != len(self._names):
            raise ValueError(f"reviewer names must differ: {', '.join(self._names)}")

    @property
    def reviewer_names(self) -> list[str]:
        return list(self._names)

    def check_output(self, path: Path) -> None:
        output_format(path)

    def header(self, model: Model) -> dict[str, str]:
        shown = [
            f"{m.reviewer.name} ({m.reviewer.model.model_id or model.model_id}, {m.template.name}"
            + (f", {m.reviewer.samples} answers" if m.reviewer.samples > 1 else "")
            + ")"
            for m in self.members
        ]
        shown += [f"{h.name} (labels from {h.source}, {len(h.labels)} records)" for h in self.humans]
        fields = self.members[0].stages[0].header(model)
        fields["reviewers"] = "; ".join(shown)
        fields["combine"] = self.rule
        return fields

    def units(self, model: Model) -> list[Unit]:
        """Every member's tasks for a record in one unit: reviewers in order, samples in order."""
        per_record: dict[str, list[Any]] = {r.record_id: [] for r in self.records}
        for task in self.tasks(model):
            per_record[task.record_id].append(task)
        return [Unit(record_id, tasks) for record_id, tasks in per_record.items()]

    def tasks(self, model: Model) -> Iterator[CallTask]:
        """Every member's calls, reviewer by reviewer and sample by sample, one at a time.

        The first reviewer answers with ``model`` (the run's own); every other builds its own.
        """
        for index, member in enumerate(self.members):
            member_model = model if index == 0 else member.reviewer.model.build()
            member.caller = Caller(member_model, member.template.name, member.template.sha256)
            for stage in member.stages:
                for task in stage.tasks(member_model):
                    yield replace(task, caller=member.caller)

    def row(self, unit: Unit, results: Sequence[CallResult | None]) -> dict[str, Any]:
        position = 0
        member_rows: list[tuple[_Member, list[dict[str, Any]]]] = []
        for member in self.members:
            rows = []
            for stage in member.stages:
                rows.append(stage.row(Unit(unit.record_id, []), [results[position]]))
                position += 1
            member_rows.append((member, rows))
        row = dict(member_rows[0][1][0])
        decisions: list[str] = []
        p_values: list[float] = []
        for member, rows in member_rows:
            name = member.reviewer.name
            decision = vote([r["decision"] for r in rows])
            p_include, source = _reviewer_probability(rows)
            row[f"decision:{name}"] = decision
            row[f"p_include:{name}"] = p_include
            row[f"confidence_source:{name}"] = source
            row[f"verdicts:{name}"] = _verdicts(rows[0], self.protocol.criterion_ids)
            decisions.append(decision)
            if p_include is not None:
                p_values.append(p_include)
        for human in self.humans:
            label = human.labels.get(unit.record_id, "")
            row[f"decision:{human.name}"] = label
            row[f"confidence_source:{human.name}"] = "human" if label else ""
            if label:
                decisions.append(label)
        row["decision"] = combine(decisions, self.rule)
        if len(self.members) == 1 and not self.humans:
            row["p_include"], row["confidence_source"] = _reviewer_probability(member_rows[0][1])
        elif len(p_values) == len(self.members):
            row["p_include"] = round(sum(p_values) / len(p_values), 6)
            row["confidence_source"] = f"mean of {len(p_values)} reviewers"
        else:
            row["p_include"], row["confidence_source"] = None, "none"
        row["conflict"] = conflicting(decisions)
        row["combine"] = self.rule
        return row

    def write(self, path: Path, rows: Iterable[dict[str, Any]]) -> None:
        from winnow.screening.decisions import decision_columns

        extra = [f"{prefix}:{name}" for name in self._names for prefix in PANEL_PREFIXES]
        columns = [*decision_columns(self.protocol.criterion_ids), *extra, "conflict", "combine"]
        write_table(path, rows, columns, what="decisions")

    def params(self) -> dict[str, Any]:
        return {
            "combine": self.rule,
            "reviewers": [
                {
                    "name": m.reviewer.name,
                    "model": m.caller.model.model_id if m.caller else m.reviewer.model.model_id,
                    "template": m.template.name,
                    "template_sha256": m.template.sha256,
                    "samples": m.reviewer.samples,
                }
                for m in self.members
            ]
            + [{"name": h.name, "human_labels": h.source, "records": len(h.labels)} for h in self.humans],
        }

    def report(self, rows: Sequence[dict[str, Any]]) -> StageReport:
        report = self.members[0].stages[0].report(rows)
        known = {r.record_id for r in self.records}
        for human in self.humans:
            unknown = sorted(set(human.labels) - known)
            if unknown:
                report.warnings.append(
                    f"{human.source}: {len(unknown)} labelled id(s) not among the screened records "
                    f"(e.g. {', '.join(unknown[:3])}); they were left out"
                )
        return report


def _reviewer_probability(rows: Sequence[dict[str, Any]]) -> tuple[float | None, str]:
    """Token probabilities where every answer has one; else the share of include votes (``votes:K``)."""
    answered = [r for r in rows if r["decision"] != "error"]
    if not answered:
        return None, "none"
    if len(rows) == 1:
        return answered[0].get("p_include"), str(answered[0].get("confidence_source") or "none")
    probabilities = [float(r["p_include"]) for r in answered if r.get("p_include") is not None]
    if len(probabilities) == len(answered):
        sources = ", ".join(sorted({str(r.get("confidence_source")) for r in answered}))
        return round(sum(probabilities) / len(probabilities), 6), f"mean of {len(answered)}: {sources}"
    share = sum(r["decision"] == "include" for r in answered) / len(answered)
    return round(share, 6), f"votes:{len(answered)}"


def _verdicts(row: dict[str, Any], criterion_ids: Sequence[str]) -> str:
    return "; ".join(f"{cid}={row[f'criterion:{cid}']}" for cid in criterion_ids if row.get(f"criterion:{cid}"))
