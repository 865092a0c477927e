"""One run lifecycle for every stage that calls a model.

Title/abstract screening, full-text screening and extraction differ only in their
work units, how a unit's answers become a table row, and how the table is written.
Everything else a run does happens here, once: build the model, show the header,
open the ledger and record the run, run the engine, show progress, collect the
answers into rows, write the table, summarise, and close the run in the ledger.
A new stage supplies a ``Stage``; it never copies this sequence. The batch route
(``winnow.batch``) answers the units in place of the synchronous engine, and hands
back the same ``Outcome``.
"""

from __future__ import annotations

import json
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow import __version__
from winnow.backends import Model, build_model
from winnow.batch import BatchOptions
from winnow.engine import CallEngine, CallResult, CallTask, EngineConfig, RunStats
from winnow.errors import BackendStopped, Interrupted
from winnow.ledger import Ledger, default_ledger_path
from winnow.prices import PriceTable
from winnow.runs import RunSummary, new_run_id
from winnow.templates import PromptTemplate

__all__ = [
    "ModelChoice",
    "Outcome",
    "RunHeader",
    "RunSpec",
    "Sampling",
    "Stage",
    "StageReport",
    "Unit",
    "collect",
    "execute",
]


@dataclass(frozen=True)
class ModelChoice:
    """Which model answers, and how to reach it (``--model``, ``--base-url``, ``--api-key`` ...)."""

    model_id: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 120.0
    structured: str = "auto"
    # False only for --dry-run: it prices a run before anyone has bought a key.
    require_key: bool = True

    def build(self) -> Model:
        return build_model(
            self.model_id,
            base_url=self.base_url,
            api_key=self.api_key,
            timeout_s=self.timeout_s,
            structured=self.structured,
            require_key=self.require_key,
        )


@dataclass(frozen=True)
class Sampling:
    """The request parameters that change an answer, and so its cache key."""

    temperature: float = 0.0
    max_tokens: int = 768
    seed: int | None = 0


@dataclass(frozen=True)
class RunSpec:
    """What every model-calling command was asked, as plain typed values."""

    input_path: Path
    protocol_path: Path
    template: str
    model: ModelChoice = field(default_factory=ModelChoice)
    sampling: Sampling = field(default_factory=Sampling)
    engine: EngineConfig = field(default_factory=EngineConfig)
    out: Path | None = None
    db: Path | None = None
    prices_path: Path | None = None
    argv: tuple[str, ...] = field(default_factory=lambda: tuple(sys.argv))
    # None: one synchronous call per task; else the batch route (``--batch`` and its siblings).
    batch: BatchOptions | None = None

    def output_path(self, suffix: str) -> Path:
        """``--out``, or ``./INPUT-STEM.SUFFIX.csv``."""
        return self.out or Path.cwd() / f"{self.input_path.stem}.{suffix}.csv"

    def ledger_path(self, suffix: str) -> Path:
        """``--db``, or the ledger next to the output table."""
        return self.db or default_ledger_path(self.output_path(suffix))


@dataclass
class Unit:
    """One row's worth of work: a record with its one call, or a PDF with a call per chunk."""

    record_id: str
    tasks: list[CallTask]
    # The record's flags for its row, when a forked child worked them out ahead (``winnow.prefetch``);
    # None: the stage's ``row`` works them out.
    flags: tuple[str, ...] | None = None


@dataclass
class StageReport:
    """What a stage adds to the run summary beyond the counts every run has."""

    skipped: list[str] = field(default_factory=list)
    duplicate_groups: list[tuple[str, ...]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    evidence: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunHeader:
    """Shown before any slow work, so a reviewer sees what is about to run and where it goes."""

    fields: dict[str, str]
    embedded: bool


class Stage(ABC):
    """What one kind of run supplies to the lifecycle: its units, rows, table and name.

    ``name`` is the ledger's stage, ``command`` the runs table's command, ``suffix``
    the default output name, ``table`` what the output table is called in the summary,
    and ``outcomes`` the row outcomes always counted.
    """

    name: str
    command: str
    description: str
    suffix: str
    table: str = "decisions"
    outcomes: tuple[str, ...] = ("include", "exclude", "uncertain", "error")
    template: PromptTemplate
    protocol_sha256: str

    def check_output(self, path: Path) -> None:  # noqa: B027 - most stages accept any table path
        """Refuse an output path before any model is paid for."""

    @abstractmethod
    def header(self, model: Model) -> dict[str, str]:
        """Stage lines for the header (inputs, protocol, chunking)."""

    @abstractmethod
    def units(self, model: Model) -> list[Unit]:
        """The work, in output order; may be slow (PDF parsing), so it runs after the header."""

    def iter_units(self, model: Model) -> Iterable[Unit]:
        """The same units, made one by one as they are read; the batch route walks a million this way."""
        return self.units(model)

    def unit_count(self) -> int | None:
        """How many units there will be without making them, where a stage knows; None otherwise."""
        return None

    @abstractmethod
    def row(self, unit: Unit, results: Sequence[CallResult | None]) -> dict[str, Any]:
        """The table row for one unit from its results in task order (None: never answered)."""

    @abstractmethod
    def write(self, path: Path, rows: Iterable[dict[str, Any]]) -> None:
        """Write the table; ``rows`` may be a generator read once (the batch route streams them)."""

    def outcome(self, row: dict[str, Any]) -> str:
        """The count a row adds to (the decision, or the status of an extraction)."""
        return str(row["decision"])

    def params(self) -> dict[str, Any]:
        """The stage's settings as stored with the run."""
        return {}

    def report(self, rows: Sequence[dict[str, Any]]) -> StageReport:
        return StageReport()


@dataclass
class Collected:
    rows: list[dict[str, Any]]
    counts: dict[str, int]
    interrupted: bool
    stopped: BackendStopped | None = None


@dataclass
class Outcome:
    """What a route hands back to the lifecycle once its table is written (or deliberately not yet).

    ``written`` is False when answers are still to come (batches running, requests written
    for a cluster); ``status`` is what the runs table records; ``batch`` is the batch
    route's part of the summary.
    """

    counts: dict[str, int]
    undecided: list[str]
    served_model: str | None
    interrupted: bool = False
    stopped: str | None = None
    written: bool = True
    status: str = "finished"
    report: StageReport = field(default_factory=StageReport)
    batch: dict[str, Any] | None = None


class Tally:
    """Counts rows as they are written (a streamed table is never held), for the run summary."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.counts = dict.fromkeys(stage.outcomes, 0)
        self.undecided: list[str] = []
        self.served_model: str | None = None

    def add(self, unit: Unit, row: dict[str, Any]) -> str:
        outcome = self.stage.outcome(row)
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if outcome == "error":
            self.undecided.append(unit.record_id)
        if self.served_model is None and row.get("served_model"):
            self.served_model = str(row["served_model"])
        return outcome


Progress = Callable[[int, str], AbstractContextManager[Any]]


def collect(
    stage: Stage,
    units: Sequence[Unit],
    engine: CallEngine,
    *,
    on_result: Callable[[CallResult, dict[str, Any] | None], None] | None = None,
) -> Collected:
    """Run every unit's tasks and build its row: the one result loop every stage shares.

    A unit's row is built as soon as its last answer arrives, and ``on_result`` sees it
    then (None before). Units still waiting when a run is interrupted get their row
    from what did arrive, so the table always has a row per unit.
    """
    owner: dict[int, tuple[Unit, int]] = {}
    for unit in units:
        for index, task in enumerate(unit.tasks):
            owner[id(task)] = (unit, index)
    answers: dict[str, list[CallResult | None]] = {u.record_id: [None] * len(u.tasks) for u in units}
    waiting = {u.record_id: len(u.tasks) for u in units}
    rows: dict[str, dict[str, Any]] = {}

    def take(result: CallResult) -> None:
        unit, index = owner[id(result.task)]
        answers[unit.record_id][index] = result
        waiting[unit.record_id] -= 1
        row = None
        if waiting[unit.record_id] == 0:
            row = rows[unit.record_id] = stage.row(unit, answers[unit.record_id])
        if on_result is not None:
            on_result(result, row)

    interrupted = False
    stopped = None
    try:
        engine.run([task for unit in units for task in unit.tasks], take)
    except Interrupted:
        interrupted = True
    except BackendStopped as exc:
        interrupted, stopped = True, exc
    ordered = []
    counts = dict.fromkeys(stage.outcomes, 0)
    for unit in units:
        row = rows.get(unit.record_id)
        if row is None:
            row = stage.row(unit, answers[unit.record_id])
        counts[stage.outcome(row)] = counts.get(stage.outcome(row), 0) + 1
        ordered.append(row)
    return Collected(ordered, counts, interrupted, stopped)


def execute(
    spec: RunSpec,
    stage: Stage,
    *,
    progress: Progress | None = None,
    on_header: Callable[[RunHeader], None] | None = None,
) -> RunSummary:
    """Run one stage from its inputs to its table and ledger, and return the run's summary."""
    out = spec.output_path(stage.suffix)
    stage.check_output(out)
    model = spec.model.build()
    try:
        return _run(spec, stage, model, out, progress=progress, on_header=on_header)
    finally:
        model.close()  # the embedded model's child processes end with the run


def _run(
    spec: RunSpec,
    stage: Stage,
    model: Model,
    out: Path,
    *,
    progress: Progress | None,
    on_header: Callable[[RunHeader], None] | None,
) -> RunSummary:
    db = spec.ledger_path(stage.suffix)
    run_id = new_run_id()
    fields = {
        "run": run_id,
        "model": model.model_id,
        **model.runtime(),
        "template": f"{stage.template.name} sha256:{stage.template.sha256[:12]}",
        **stage.header(model),
        **({"route": spec.batch.describe()} if spec.batch is not None else {}),
        "ledger": str(db),
        "output": str(out),
    }
    if on_header is not None:
        on_header(RunHeader(fields, embedded=model.is_embedded))
    # The batch route makes its units as it walks them; the synchronous engine takes them all at once.
    units = stage.units(model) if spec.batch is None else None
    with Ledger(db) as ledger:
        ledger.start_run(
            run_id,
            command=stage.command,
            argv=list(spec.argv),
            model=model.model_id,
            template_name=stage.template.name,
            template_sha256=stage.template.sha256,
            protocol_sha256=stage.protocol_sha256,
            params_json=json.dumps(
                {"sampling": spec.sampling.__dict__, **stage.params()}, ensure_ascii=False, default=str
            ),
            input_path=str(spec.input_path),
            n_records=len(units) if units is not None else stage.unit_count(),
            winnow_version=__version__,
        )
        engine = CallEngine(
            model=model,
            ledger=ledger,
            run_id=run_id,
            stage=stage.name,
            template_name=stage.template.name,
            template_sha256=stage.template.sha256,
            config=spec.engine,
            prices=PriceTable.load(spec.prices_path),
        )
        if units is not None:
            done = _run_sync(stage, units, engine, out, progress)
        else:
            from winnow.batch.route import run_batch

            assert spec.batch is not None
            done = run_batch(spec.batch, stage, engine, out, progress)
        summary = RunSummary(
            run_id=run_id,
            model=model.model_id,
            served_model=done.served_model,
            records=len(units) if units is not None else stage.unit_count() or sum(done.counts.values()),
            skipped=done.report.skipped,
            duplicate_groups=done.report.duplicate_groups,
            counts=done.counts,
            stats=engine.stats,
            outputs={stage.table: str(out), "ledger": str(db)} if done.written else {"ledger": str(db)},
            interrupted=done.interrupted,
            undecided=done.undecided,
            warnings=[*crash_notes(engine.stats), *done.report.warnings],
            evidence=done.report.evidence,
            stopped=done.stopped,
            batch=done.batch,
        )
        ledger.finish_run(run_id, status=done.status, summary=summary.to_dict())
    return summary


def _run_sync(stage: Stage, units: list[Unit], engine: CallEngine, out: Path, progress: Progress | None) -> Outcome:
    """The synchronous route: the engine answers every unit, then the table is written."""
    bar = progress(sum(len(u.tasks) for u in units), stage.description) if progress else nullcontext()
    with bar as display:

        def tick(result: CallResult, row: dict[str, Any] | None) -> None:
            if display is None:
                return
            tokens = cost = 0
            if result.row is not None and not result.cached:
                tokens = (result.row["prompt_tokens"] or 0) + (result.row["completion_tokens"] or 0)
                cost = result.row["cost_usd"]
            display.advance(None if row is None else stage.outcome(row), tokens=tokens, cost=cost)

        done = collect(stage, units, engine, on_result=tick)
    stage.write(out, done.rows)
    report = stage.report(done.rows)
    report.warnings.extend(open_batch_notes(engine.ledger))
    return Outcome(
        counts=done.counts,
        undecided=[u.record_id for u, r in zip(units, done.rows, strict=True) if stage.outcome(r) == "error"],
        served_model=next((r.get("served_model") for r in done.rows if r.get("served_model")), None),
        interrupted=done.interrupted,
        stopped=done.stopped.one_line() if done.stopped else None,
        status="interrupted" if done.interrupted else "finished",
        report=report,
    )


def open_batch_notes(ledger: Ledger) -> list[str]:
    """A synchronous run beside batches still running: they may answer (and bill) the same requests again."""
    from winnow.ledger import BATCH_OPEN

    running = [b for b in ledger.batches(kind="api", statuses=BATCH_OPEN) if b["status"] != "written"]
    if not running:
        return []
    return [
        f"{len(running)} batch(es) sent from this ledger are still running; requests this run answered may be "
        "answered (and billed) by them too. Collect them with --batch, or stop them with --batch-cancel"
    ]


def crash_notes(stats: RunStats) -> list[str]:
    """A crash the run survived is still said once, so the reviewer knows this machine's llama.cpp is fragile."""
    if not stats.crashes:
        return []
    return [
        f"{stats.first_crash} (the model's process died {stats.crashes} time(s); each call was retried on a new one)"
    ]
