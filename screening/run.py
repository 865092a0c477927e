"""One screening run from files to files: the library call behind ``winnow screen``."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow import __version__
from winnow.backends import build_model
from winnow.engine import CallEngine, CallResult, EngineConfig
from winnow.ledger import Ledger, default_ledger_path
from winnow.prices import PriceTable
from winnow.protocol import load_protocol
from winnow.records import read_records
from winnow.records.model import ReadResult, Record
from winnow.runs import RunSummary, new_run_id
from winnow.screening.decisions import output_format, write_decisions
from winnow.screening.screen import ScreeningOptions, screen_records
from winnow.templates import load_template

DEFAULT_TEMPLATE = "screen_title_abstract"

ProgressFactory = Callable[[int, str], Any]


@dataclass
class ScreeningRun:
    """Everything ``winnow screen`` was asked to do, as plain values."""

    input_path: Path
    protocol_path: Path
    model_id: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    template: str = DEFAULT_TEMPLATE
    out: Path | None = None
    db: Path | None = None
    engine: EngineConfig = field(default_factory=EngineConfig)
    options: ScreeningOptions = field(default_factory=ScreeningOptions)
    limit: int | None = None
    sample: int | None = None
    sample_seed: int = 0
    timeout_s: float = 120.0
    structured: str = "auto"
    prices_path: Path | None = None
    argv: list[str] = field(default_factory=lambda: list(sys.argv))

    def output_path(self) -> Path:
        return self.out or Path.cwd() / f"{self.input_path.stem}.decisions.csv"

    def ledger_path(self) -> Path:
        return self.db or default_ledger_path(self.output_path())


def select_records(job: ScreeningRun) -> tuple[ReadResult, list[Record]]:
    """The records a run screens: read and de-duplicated, then --sample, then --limit."""
    read = read_records(job.input_path)
    records = read.records
    if job.sample is not None and job.sample < len(records):
        chosen = sorted(random.Random(job.sample_seed).sample(range(len(records)), job.sample))
        records = [records[i] for i in chosen]
    if job.limit is not None:
        records = records[: job.limit]
    return read, records


def run_screening(
    job: ScreeningRun,
    *,
    progress: Callable[[int, str], AbstractContextManager[Any]] | None = None,
    on_header: Callable[[dict[str, str]], None] | None = None,
) -> RunSummary:
    output_format(job.output_path())  # a wrong --out suffix fails before any model is paid for
    loaded = load_protocol(job.protocol_path)
    template = load_template(job.template)
    read, records = select_records(job)
    model = build_model(
        job.model_id, base_url=job.base_url, api_key=job.api_key, timeout_s=job.timeout_s, structured=job.structured
    )
    out = job.output_path()
    db = job.ledger_path()
    run_id = new_run_id()
    header = {
        "run": run_id,
        "model": model.model_id,
        "template": f"{template.name} sha256:{template.sha256[:12]}",
        "protocol": f"{loaded.path} sha256:{loaded.sha256[:12]}",
        "records": f"{len(records)} ({len(read.skipped)} skipped, {len(read.duplicate_groups)} duplicate group(s))",
        "ledger": str(db),
        "decisions": str(out),
    }
    if on_header is not None:
        on_header(header)
    prices = PriceTable.load(job.prices_path)
    with Ledger(db) as ledger:
        ledger.start_run(
            run_id,
            command="screen",
            argv=job.argv,
            model=model.model_id,
            template_name=template.name,
            template_sha256=template.sha256,
            protocol_sha256=loaded.sha256,
            params_json=str(job.options),
            input_path=str(job.input_path),
            n_records=len(records),
            winnow_version=__version__,
        )
        engine = CallEngine(
            model=model,
            ledger=ledger,
            run_id=run_id,
            stage="screen",
            template_name=template.name,
            template_sha256=template.sha256,
            config=job.engine,
            prices=prices,
        )
        bar = progress(len(records), "screening") if progress else nullcontext()
        with bar as display:

            def tick(row: dict[str, Any], result: CallResult) -> None:
                if display is None:
                    return
                tokens = cost = 0
                if result.row is not None and not result.cached:
                    tokens = (result.row["prompt_tokens"] or 0) + (result.row["completion_tokens"] or 0)
                    cost = result.row["cost_usd"]
                display.advance(row["decision"], tokens=tokens, cost=cost)

            outcome = screen_records(records, loaded.protocol, template, engine, job.options, on_decision=tick)
        write_decisions(out, outcome.rows, loaded.protocol.criterion_ids)
        undecided = [row["record_id"] for row in outcome.rows if row["decision"] == "error"]
        summary = RunSummary(
            run_id=run_id,
            model=model.model_id,
            served_model=next((r.get("served_model") for r in outcome.rows if r.get("served_model")), None),
            records=len(records),
            skipped=read.skipped,
            duplicate_groups=read.duplicate_groups,
            counts=outcome.counts,
            stats=engine.stats,
            outputs={"decisions": str(out), "ledger": str(db)},
            interrupted=outcome.interrupted,
            undecided=undecided,
        )
        ledger.finish_run(
            run_id, status="interrupted" if outcome.interrupted else "finished", summary=summary.to_dict()
        )
    return summary
