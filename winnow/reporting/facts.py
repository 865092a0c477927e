"""What each stage of a review did, gathered from its ledgers and the tables they point to.

A stage is a group of runs that wrote one table (re-runs and resumed runs of the
same command write the same table): title/abstract screening, full-text screening
and extraction are read from the runs' stored parameters and summaries and from
their calls; thresholds from ``decide`` runs; validation from the ``validate`` runs
(and, for ledgers from before those were recorded, from the stored sample and
labels); human verdicts from the ``adjudications`` tables. Nothing is inferred that
a ledger does not hold: what it cannot know is left to the methods text to mark.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.ledger import PRIORITY_STOPPING_REPORT
from winnow.ledger.readonly import CallTotals, LedgerReader, ModelUse, StoredRun
from winnow.reporting.ledgers import resolve_stored_path

__all__ = ["Adjudicated", "Decided", "Prioritised", "ReviewFacts", "StageFacts", "Validated", "gather_facts"]

STAGE_COMMANDS = {"screen": "title_abstract", "screen --full-text": "full_text", "extract": "extraction"}
CALL_STAGES = {"title_abstract": "screen", "full_text": "screen_full_text", "extraction": "extract"}


@dataclass
class StageFacts:
    """One model-calling stage: the runs that wrote one table, and what they did."""

    kind: str  # title_abstract | full_text | extraction
    ledger: Path
    table_name: str
    table: Path | None
    runs: list[StoredRun]
    models: list[ModelUse]
    unfinished: int = 0
    # Runs that never recorded their end, counted from their own call rows.
    counted: dict[str, CallTotals] = field(default_factory=dict)

    @property
    def latest(self) -> StoredRun:
        """The last run that recorded its end (its table is the one on disk), else the last run."""
        ended = [r for r in self.runs if r.summary]
        return (ended or self.runs)[-1]

    @property
    def summary(self) -> dict[str, Any]:
        return self.latest.summary or {}

    @property
    def params(self) -> dict[str, Any]:
        return self.latest.params or {}

    def total(self, stat: str) -> int:
        """A run statistic (calls, cached, tokens) summed over the stage's runs.

        A run that never recorded its end (killed) adds the calls and tokens of its own call
        rows; what it reused from the ledger is not known, so it adds none to ``cached``.
        """
        total = sum(int((r.summary or {}).get("stats", {}).get(stat) or 0) for r in self.runs if r.summary)
        counted = {"calls": "attempts", "prompt_tokens": "prompt_tokens", "completion_tokens": "completion_tokens"}
        if stat in counted:
            total += sum(int(getattr(t, counted[stat])) for t in self.counted.values())
        return total

    def route_answers(self) -> dict[str, int]:
        """Answers stored from batch results and from synchronous calls, as the runs' summaries counted them.

        Only runs that recorded their end say this (a killed run's rows are not split by route).
        """
        out = {"batch": 0, "sync": 0}
        for run in self.runs:
            totals = ((run.summary or {}).get("batch") or {}).get("totals") or {}
            for route in out:
                out[route] += int((totals.get(route) or {}).get("answers") or 0)
        return out

    def cost(self) -> float | None:
        """Summed cost, or None when any run's model had no price (the cost is then unknown)."""
        costs = [(r.summary or {}).get("stats", {}).get("cost_usd") for r in self.runs if r.summary]
        costs += [t.cost_usd for t in self.counted.values() if t.attempts]
        return None if any(c is None for c in costs) or not costs else float(sum(costs))

    @property
    def started(self) -> str:
        return self.runs[0].started_at

    @property
    def ended(self) -> str:
        return max((r.finished_at or r.started_at) for r in self.runs)


@dataclass
class Decided:
    """A ``winnow decide`` run: the threshold, how it was chosen, and what it changed."""

    ledger: Path
    run: StoredRun
    table: Path | None

    @property
    def summary(self) -> dict[str, Any]:
        return self.run.summary or {}


@dataclass
class Validated:
    """The latest validation report of one decisions table (a ``validate`` run, or the stored sample)."""

    ledger: Path
    report: dict[str, Any]
    run: StoredRun | None
    labels_by_who: dict[str, int]
    from_sample_only: bool = False


@dataclass
class Adjudicated:
    """Human verdicts on one decisions table: how many, in which direction, by whom."""

    ledger: Path
    table_name: str
    records: int
    directions: dict[str, int]
    who: dict[str, int]
    sources: dict[str, int]


@dataclass
class Prioritised:
    """One prioritised-screening session: its latest stopping report, as ``winnow prioritise`` kept it."""

    ledger: Path
    session_id: str
    records_path: str
    first_answer: str | None
    last_answer: str | None
    report: dict[str, Any] | None  # None: a session from before the report was kept in the ledger


@dataclass
class ReviewFacts:
    """Everything the methods text and the report say, before any sentence is written."""

    ledgers: list[Path]
    stages: list[StageFacts] = field(default_factory=list)
    decided: list[Decided] = field(default_factory=list)
    validated: list[Validated] = field(default_factory=list)
    adjudicated: list[Adjudicated] = field(default_factory=list)
    prioritised: list[Prioritised] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[StageFacts]:
        return [s for s in self.stages if s.kind == kind]

    @property
    def versions(self) -> list[str]:
        return sorted({r.winnow_version for s in self.stages for r in s.runs if r.winnow_version})


def _table_key(run: StoredRun) -> str | None:
    outputs = (run.summary or {}).get("outputs") or {}
    table = outputs.get("extraction") or outputs.get("decisions")
    return Path(table).name if table else None


def _stages(reader: LedgerReader, runs: Sequence[StoredRun], facts: ReviewFacts) -> None:
    groups: dict[tuple[str, str], list[StoredRun]] = {}
    pending: list[StoredRun] = []
    for run in runs:
        kind = STAGE_COMMANDS.get(run.command)
        if kind is None:
            continue
        key = _table_key(run)
        if key is None:
            pending.append(run)
            continue
        groups.setdefault((kind, key), []).append(run)
    for run in pending:
        # A run that never recorded its end joins the group of the same command and input, if any.
        kind = STAGE_COMMANDS[run.command]
        match = next((k for k, rs in groups.items() if k[0] == kind and rs[0].input_path == run.input_path), None)
        if match is not None:
            groups[match].append(run)
        else:
            facts.notes.append(
                f"{reader.path.name}: run {run.run_id} ({run.command}) never recorded its end and wrote no table"
            )
    for (kind, name), members in groups.items():
        members.sort(key=lambda r: (r.started_at, r.run_id))
        latest = next((r for r in reversed(members) if r.summary), members[-1])
        stored_table = ((latest.summary or {}).get("outputs") or {}).get("extraction") or (
            (latest.summary or {}).get("outputs") or {}
        ).get("decisions")
        table = resolve_stored_path(stored_table, ledger=reader.path, cwd=latest.cwd)
        models = reader.model_use([r.run_id for r in members], CALL_STAGES[kind])
        counted = {r.run_id: reader.call_totals(r.run_id) for r in members if not r.summary}
        facts.stages.append(StageFacts(kind, reader.path, name, table, members, models, len(counted), counted))


def _validation_from_sample(reader: LedgerReader) -> list[Validated]:
    """For ledgers without ``validate`` runs: the latest sample's labels, at the default 95 % / 95 %."""
    from winnow.screening.validation.recall import SampleState, estimate_recall

    samples = reader.validation_samples()
    if not samples:
        return []
    latest = samples[-1]
    plan = json.loads(latest["plan_json"])
    state = SampleState(draw=reader.validation_draw(str(latest["sample_id"])))
    labels = reader.validation_labels(str(latest["sample_id"]))
    for label in labels:
        state.apply(str(label["record_id"]), str(label["answer"]))
    latest_who = {str(label["record_id"]): str(label["who"]) for label in labels if label["answer"] != "skip"}
    who = Counter(latest_who[rid] for rid in state.labels)
    estimate = estimate_recall(state.counts(plan["strata_sizes"]))
    report = {
        "decisions": {"path": str(latest["decisions_path"]), "n": sum(plan["strata_sizes"].values())},
        "sample_id": str(latest["sample_id"]),
        "seed": int(latest["seed"]),
        "labelled": state.done,
        "drawn": {},
        "complete": state.done == len(state.draw),
        "estimate": estimate.as_dict(),
        "who": sorted(who),
    }
    return [Validated(reader.path, report, None, dict(who), from_sample_only=True)]


def _validated(reader: LedgerReader, runs: Sequence[StoredRun]) -> list[Validated]:
    latest: dict[str, StoredRun] = {}
    for run in runs:
        if run.command == "validate" and run.summary and run.summary.get("labelled"):
            latest[str(run.summary.get("decisions", {}).get("path", ""))] = run
    out = []
    for run in latest.values():
        report = run.summary or {}
        labels = reader.validation_labels(str(report.get("sample_id", "")))
        in_force = {str(lab["record_id"]): str(lab["who"]) for lab in labels if lab["answer"] != "skip"}
        out.append(Validated(reader.path, report, run, dict(Counter(in_force.values()))))
    return out or _validation_from_sample(reader)


def _direction(model_decision: str | None, final: str) -> str:
    if not model_decision:
        return f"set to {final}"
    if model_decision == final:
        return f"{final} kept"
    return f"{model_decision} to {final}"


def _adjudicated(reader: LedgerReader) -> list[Adjudicated]:
    rows = reader.adjudications()
    by_table: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_table.setdefault(str(row["decisions_path"]), {})[str(row["record_id"])] = row  # latest wins
    out = []
    for name, latest in by_table.items():
        directions = Counter(_direction(r["model_decision"], str(r["final_label"])) for r in latest.values())
        who = Counter(str(r["who"]) for r in latest.values())
        sources = Counter("gold audit" if r["gold_label"] else "panel conflicts or other" for r in latest.values())
        out.append(Adjudicated(reader.path, name, len(latest), dict(directions), dict(who), dict(sources)))
    return out


def _prioritised(reader: LedgerReader) -> list[Prioritised]:
    out = []
    for session_id, records_path, params in reader.priority_sessions():
        first, last = reader.priority_answer_times(session_id)
        if first is None:
            continue  # opened, never answered
        report = params.get(PRIORITY_STOPPING_REPORT)
        out.append(
            Prioritised(
                ledger=reader.path,
                session_id=session_id,
                records_path=records_path,
                first_answer=first,
                last_answer=last,
                report=report if isinstance(report, dict) else None,
            )
        )
    return out


def gather_facts(ledgers: Sequence[Path]) -> ReviewFacts:
    """Read every ledger once and gather each stage's facts (read-only)."""
    facts = ReviewFacts(ledgers=list(ledgers))
    for path in ledgers:
        with LedgerReader(path) as reader:
            runs = reader.runs()
            _stages(reader, runs, facts)
            for run in runs:
                if run.command == "decide" and run.summary:
                    table = resolve_stored_path(run.summary.get("out"), ledger=path, cwd=run.cwd)
                    facts.decided.append(Decided(path, run, table))
            facts.validated += _validated(reader, runs)
            facts.adjudicated += _adjudicated(reader)
            facts.prioritised += _prioritised(reader)
    facts.stages.sort(key=lambda s: (list(CALL_STAGES).index(s.kind), s.started))
    # A table re-decided several times is described by its latest decide run.
    latest: dict[str, Decided] = {}
    for decided in sorted(facts.decided, key=lambda d: (d.run.started_at, d.run.run_id)):
        latest[str(decided.table.resolve() if decided.table else decided.run.run_id)] = decided
    facts.decided = list(latest.values())
    return facts


def _flag_value(argv: Sequence[str], *flags: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg in flags and i + 1 < len(argv):
            return argv[i + 1]
        for flag in flags:
            if flag.startswith("--") and arg.startswith(f"{flag}="):
                return arg.split("=", 1)[1]
    return None


def protocol_path(stage: StageFacts) -> Path | str | None:
    """The protocol the stage's latest run was given: a file found now, or a shipped protocol's name."""
    value = _flag_value(stage.latest.argv, "-p", "--protocol")
    if value is None:
        return None
    found = resolve_stored_path(value, ledger=stage.ledger, cwd=stage.latest.cwd)
    return found if found is not None else (value if "/" not in value and not value.endswith(".yaml") else None)


def screening_table(facts: ReviewFacts) -> tuple[StageFacts | None, Path | None]:
    """The title/abstract stage and the table in force: ``decide``'s output of it when there is one."""
    stages = facts.of("title_abstract")
    if not stages:
        return None, None
    stage = stages[-1]
    if stage.table is None:
        return stage, None
    for decided in reversed(facts.decided):
        source = resolve_stored_path(decided.run.input_path, ledger=decided.ledger, cwd=decided.run.cwd)
        if source is not None and decided.table is not None and source.resolve() == stage.table.resolve():
            return stage, decided.table
    return stage, stage.table


def prisma_flow(facts: ReviewFacts) -> Any | None:
    """The PRISMA 2020 flow of the review's tables (``winnow prisma``'s count), or None without a screening table.

    Raises:
        InputError: a table cannot be read.
    """
    from winnow.prisma import PrismaInputs, build_flow

    stage, table = screening_table(facts)
    if stage is None or table is None:
        return None
    full = next((s.table for s in reversed(facts.of("full_text")) if s.table is not None), None)
    extraction = next((s.table for s in reversed(facts.of("extraction")) if s.table is not None), None)
    records = resolve_stored_path(stage.latest.input_path, ledger=stage.ledger, cwd=stage.latest.cwd)
    protocol = protocol_path(stage)
    return build_flow(
        PrismaInputs(
            screen=table,
            full_text=full,
            extraction=extraction,
            records=[records] if records is not None and records.is_file() else [],
            protocol=Path(protocol) if protocol is not None else None,
        )
    )
