"""Full-text runs from files to files: the library calls behind ``winnow extract`` and ``screen --full-text``.

Both parse a folder of PDFs, chunk what fits the model's context, run one call per
chunk through the engine (ledger, cache, retries, concurrency) and write one row
per PDF. What was left out or split is in the table, the run summary shown at the
end, and the run's ``summary_json`` in the ledger.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow import __version__
from winnow.backends import Model, build_model
from winnow.engine import CallEngine, CallResult, EngineConfig
from winnow.extraction.evidence_report import evidence_tally
from winnow.extraction.extract import ExtractionOptions, extract_papers, extraction_columns
from winnow.extraction.papers import Paper, collect_pdfs, context_budget, prepare_papers
from winnow.ledger import Ledger, default_ledger_path
from winnow.prices import PriceTable
from winnow.protocol import load_form
from winnow.runs import RunSummary, new_run_id
from winnow.screening.decisions import write_table
from winnow.templates import PromptTemplate, load_template

DEFAULT_EXTRACT_TEMPLATE = "extract_fields"
LOCAL_MAX_CHUNKS = 3

Progress = Callable[[int, str], AbstractContextManager[Any]]


@dataclass
class FullTextRun:
    """Everything a full-text command was asked to do, as plain values.

    ``max_chunks`` None means: 3 for the embedded model (it is slow), every chunk
    otherwise; 0 means every chunk. ``chunk_tokens`` None means: what the model's
    context leaves after the prompt and the reply.
    """

    input_path: Path
    protocol_path: Path
    model_id: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    template: str = DEFAULT_EXTRACT_TEMPLATE
    out: Path | None = None
    db: Path | None = None
    engine: EngineConfig = field(default_factory=EngineConfig)
    temperature: float = 0.0
    max_tokens: int = 1200
    seed: int | None = 0
    max_chunks: int | None = None
    chunk_tokens: int | None = None
    quote_threshold: float = 0.9
    timeout_s: float = 120.0
    structured: str = "auto"
    prices_path: Path | None = None
    argv: list[str] = field(default_factory=lambda: list(sys.argv))

    def output_path(self, suffix: str) -> Path:
        return self.out or Path.cwd() / f"{self.input_path.stem}.{suffix}.csv"


@dataclass
class _Context:
    model: Model
    template: PromptTemplate
    papers: list[Paper]
    out: Path
    db: Path
    run_id: str


def _max_chunks(job: FullTextRun, model: Model) -> int | None:
    if job.max_chunks is None:
        return LOCAL_MAX_CHUNKS if model.is_embedded else None
    return job.max_chunks or None


def prepare(
    job: FullTextRun,
    *,
    suffix: str,
    shared: dict[str, str],
    on_header: Callable[[dict[str, str]], None] | None,
    protocol_label: str,
) -> _Context:
    """Model, template and parsed papers; shows the header before the slow parse."""
    template = load_template(job.template)
    paths = collect_pdfs(job.input_path)
    model = build_model(
        job.model_id, base_url=job.base_url, api_key=job.api_key, timeout_s=job.timeout_s, structured=job.structured
    )
    overhead = "".join(m["content"] for m in template.render(**shared, pages="", paper=""))
    budget = job.chunk_tokens or context_budget(model, overhead, job.max_tokens)
    max_chunks = _max_chunks(job, model)
    out = job.output_path(suffix)
    db = job.db or default_ledger_path(out)
    run_id = new_run_id()
    if on_header is not None:
        on_header(
            {
                "run": run_id,
                "model": model.model_id,
                "template": f"{template.name} sha256:{template.sha256[:12]}",
                "protocol": protocol_label,
                "pdfs": f"{len(paths)} in {job.input_path}",
                "chunks": f"up to {budget} tokens each, "
                + (f"at most {max_chunks} per PDF" if max_chunks else "every chunk"),
                "ledger": str(db),
                "output": str(out),
            }
        )
    papers = prepare_papers(paths, chunk_tokens=budget, max_chunks=max_chunks)
    return _Context(model, template, papers, out, db, run_id)


@contextmanager
def _bar(progress: Progress | None, total: int, label: str) -> Iterator[Callable[[CallResult], None]]:
    bar = progress(total, label) if progress else nullcontext()
    with bar as display:

        def tick(result: CallResult) -> None:
            if display is None:
                return
            tokens = cost = 0
            if result.row is not None and not result.cached:
                tokens = (result.row["prompt_tokens"] or 0) + (result.row["completion_tokens"] or 0)
                cost = result.row["cost_usd"]
            display.advance("answered" if result.ok else "error", tokens=tokens, cost=cost)

        yield tick


def summarise(
    ctx: _Context,
    engine: CallEngine,
    rows: list[dict[str, Any]],
    counts: dict[str, int],
    interrupted: bool,
    items: Sequence[str],
) -> RunSummary:
    warnings = [line for paper in ctx.papers for line in paper.notes() if paper.parsed.usable]
    return RunSummary(
        run_id=ctx.run_id,
        model=ctx.model.model_id,
        served_model=next((r.get("served_model") for r in rows if r.get("served_model")), None),
        records=len(ctx.papers),
        skipped=[p.parsed.reason for p in ctx.papers if not p.parsed.usable],
        duplicate_groups=[],
        counts=counts,
        stats=engine.stats,
        outputs={"decisions": str(ctx.out), "ledger": str(ctx.db)},
        interrupted=interrupted,
        undecided=[r["record_id"] for r in rows if r.get("status") == "error" or r.get("decision") == "error"],
        warnings=warnings,
        evidence=evidence_tally(rows, items),
    )


def run_extraction(
    job: FullTextRun,
    *,
    progress: Progress | None = None,
    on_header: Callable[[dict[str, str]], None] | None = None,
) -> RunSummary:
    """Extract the protocol's form from every PDF and write the extraction table."""
    loaded = load_form(job.protocol_path)
    shared = {"review_title": loaded.title, "fields": loaded.form.describe()}
    ctx = prepare(
        job,
        suffix="extraction",
        shared=shared,
        on_header=on_header,
        protocol_label=f"{loaded.path} sha256:{loaded.sha256[:12]} ({len(loaded.form.fields)} fields)",
    )
    options = ExtractionOptions(
        temperature=job.temperature, max_tokens=job.max_tokens, seed=job.seed, quote_threshold=job.quote_threshold
    )
    with Ledger(ctx.db) as ledger:
        engine = _start(ctx, job, ledger, command="extract", stage="extract", protocol_sha256=loaded.sha256)
        with _bar(progress, sum(len(p.chunks) for p in ctx.papers), "extracting") as tick:
            outcome = extract_papers(
                ctx.papers, loaded.form, ctx.template, engine, options, review_title=loaded.title, on_result=tick
            )
        write_table(ctx.out, outcome.rows, extraction_columns(loaded.form), what="extraction")
        summary = summarise(ctx, engine, outcome.rows, outcome.counts, outcome.interrupted, loaded.form.names)
        _finish(ledger, summary)
    return summary


def _start(
    ctx: _Context, job: FullTextRun, ledger: Ledger, *, command: str, stage: str, protocol_sha256: str
) -> CallEngine:
    params = {
        "max_chunks": job.max_chunks,
        "chunk_tokens": job.chunk_tokens,
        "max_tokens": job.max_tokens,
        "quote_threshold": job.quote_threshold,
        "pdfs": {p.record_id: {"status": p.parsed.status, "notes": p.notes()} for p in ctx.papers},
    }
    ledger.start_run(
        ctx.run_id,
        command=command,
        argv=job.argv,
        model=ctx.model.model_id,
        template_name=ctx.template.name,
        template_sha256=ctx.template.sha256,
        protocol_sha256=protocol_sha256,
        params_json=json.dumps(params, ensure_ascii=False),
        input_path=str(job.input_path),
        n_records=len(ctx.papers),
        winnow_version=__version__,
    )
    return CallEngine(
        model=ctx.model,
        ledger=ledger,
        run_id=ctx.run_id,
        stage=stage,
        template_name=ctx.template.name,
        template_sha256=ctx.template.sha256,
        config=job.engine,
        prices=PriceTable.load(job.prices_path),
    )


def _finish(ledger: Ledger, summary: RunSummary) -> None:
    ledger.finish_run(
        summary.run_id, status="interrupted" if summary.interrupted else "finished", summary=summary.to_dict()
    )


def run_full_text_screening(
    job: FullTextRun,
    *,
    progress: Progress | None = None,
    on_header: Callable[[dict[str, str]], None] | None = None,
) -> RunSummary:
    """Screen every PDF against the protocol's criteria and write a decisions table with quotes."""
    from winnow.extraction.fulltext import screen_papers, write_full_text_decisions
    from winnow.protocol import load_protocol
    from winnow.screening.screen import render_criteria

    loaded = load_protocol(job.protocol_path)
    protocol = loaded.protocol
    shared = {"review_title": protocol.title, "question": protocol.question, "criteria": render_criteria(protocol)}
    ctx = prepare(
        job,
        suffix="fulltext.decisions",
        shared=shared,
        on_header=on_header,
        protocol_label=f"{loaded.path} sha256:{loaded.sha256[:12]}",
    )
    with Ledger(ctx.db) as ledger:
        engine = _start(ctx, job, ledger, command="screen --full-text", stage="screen_full_text",
                        protocol_sha256=loaded.sha256)  # fmt: skip
        with _bar(progress, sum(len(p.chunks) for p in ctx.papers), "screening full text") as tick:
            rows, counts, interrupted = screen_papers(
                ctx.papers,
                protocol,
                ctx.template,
                engine,
                temperature=job.temperature,
                max_tokens=job.max_tokens,
                seed=job.seed,
                quote_threshold=job.quote_threshold,
                on_result=tick,
            )
        write_full_text_decisions(ctx.out, rows, protocol)
        summary = summarise(ctx, engine, rows, counts, interrupted, protocol.criterion_ids)
        _finish(ledger, summary)
    return summary
