"""``winnow screen``: one decision per record, every call in the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from winnow.cli.options import (
    BATCH_FLAGS,
    batch_options,
    batch_request,
    chunk_options,
    full_text_options,
    model_choices,
    model_options,
    one_model,
    reply_tokens,
    run_spec,
)

DEFAULT_TEMPLATE = "screen_title_abstract"
FULL_TEXT_REPLY_TOKENS = 1024


@click.command("screen")
@click.argument("input_path", metavar="RECORDS", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--protocol",
    "-p",
    "protocol_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Review protocol YAML (question and eligibility criteria).",
)
@click.option(
    "--template",
    "-t",
    default=DEFAULT_TEMPLATE,
    show_default=True,
    help="Prompt template: a name in prompts/ or a path to a YAML template.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Decisions table (.csv, .xlsx or .jsonl). Default: ./RECORDS-STEM.decisions.csv",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Run ledger (SQLite). Default: next to --out, OUT-STEM.ledger.sqlite",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="Screen only the first N records.")
@click.option("--sample", type=click.IntRange(1), default=None, help="Screen a random sample of N records.")
@click.option("--sample-seed", type=int, default=0, show_default=True)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the record count, estimated tokens, cost and time at the given limits; call no model.",
)
@click.option(
    "--full-text",
    is_flag=True,
    help="RECORDS is a folder of PDFs (or one PDF): screen the full text, with a checked quote per verdict.",
)
@click.option(
    "--samples",
    type=click.IntRange(1, 20),
    default=1,
    show_default=True,
    help="Ask each model this many times; its decision is the majority, p_include the share of include votes "
    "where the model gives no token probabilities. Use with --temperature > 0.",
)
@click.option(
    "--combine",
    type=click.Choice(["any", "majority", "all"]),
    default="any",
    show_default=True,
    help="How a panel's reviewers make one decision: any = include if any includes (most sensitive); "
    "majority; all = decide only when all agree, else uncertain.",
)
@click.option(
    "--reviewer-labels",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A person's labels (record_id,label CSV or another gold format) joined as a reviewer named after the file.",
)
@click.option(
    "--reviewers",
    "reviewers_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML list of model reviewers {model, name, base_url, api_key_env, template, samples}, "
    "for panels whose models need their own endpoint or key.",
)
@batch_options
@full_text_options
@model_options
def screen(**kw: Any) -> int:
    """Screen search results (RIS, MEDLINE/.nbib, BibTeX, CSV/TSV, XLSX) against a protocol.

    With --full-text, screen PDFs against the same criteria: one row per PDF with a
    verdict, reason, quote, page and evidence status per criterion.

    Re-running the same command makes no new model calls for records already
    answered; an interrupted run resumes where it stopped.
    """
    if kw["full_text"]:
        return _screen_full_text(kw)
    batch = batch_request(kw)
    given = [f"--{name.replace('_', '-')}" for name in ("max_chunks", "chunk_tokens") if kw[name] is not None]
    if given:
        raise click.UsageError(f"{', '.join(given)} only apply with --full-text")
    # Imported here so that other commands do not pay for langchain and openai at start-up.
    from winnow.cli.summary import run_in_terminal
    from winnow.screening.run import PanelRequest, RecordSelection, screening_stage

    spec = run_spec(kw, template=kw["template"], batch=batch)
    panel = PanelRequest(
        models=model_choices(kw),
        reviewers_file=kw["reviewers_file"],
        samples=kw["samples"],
        human_labels=tuple(kw["reviewer_labels"]),
        combine=kw["combine"],
    )
    selection = RecordSelection(sample=kw["sample"], sample_seed=kw["sample_seed"], limit=kw["limit"])
    if batch is not None and panel.is_panel:
        raise click.UsageError("the batch options take one --model and one answer per record (no panel or --samples)")
    stage = screening_stage(spec, selection, panel)
    if kw["dry_run"]:
        from winnow.screening.estimate import estimate_screening

        print_estimate(Console(), estimate_screening(spec, stage))
        return 0
    return run_in_terminal(spec, stage, no_progress=kw["no_progress"])


def print_estimate(console: Console, estimate: Any) -> None:
    """The --dry-run answer: what would be called, for how many tokens, at what cost and time."""
    from datetime import timedelta

    def usd(value: float | None) -> str:
        return "unknown (model not in the price table)" if value is None else f"${value:,.4f}"

    e = estimate
    lines = [
        ("model", e.model),
        ("records", f"{e.records:,} ({e.already_answered:,} already answered in the ledger, {e.to_call:,} to call)"),
        (
            "prompt tokens",
            f"~{e.prompt_tokens:,} (~{e.prompt_tokens_per_call:,.0f} per call, "
            f"~{e.shared_prefix_tokens:,} shared prefix)",
        ),
        ("completion tokens", f"~{e.completion_tokens:,} (~{e.completion_tokens_per_call:,.0f} per call)"),
        ("cost", usd(e.cost_usd)),
    ]
    if e.cost_usd_with_prompt_cache is not None:
        lines.append(("cost, prefix cached", usd(e.cost_usd_with_prompt_cache)))
    if e.batch_files:
        lines.append(("batch files", f"{e.batch_files:,} (at most 50,000 requests and 200 MB each)"))
        lines.append(("time", f"up to {timedelta(seconds=round(e.seconds))} ({e.limited_by})"))
    else:
        lines.append(("time", f"~{timedelta(seconds=round(e.seconds))} (limited by {e.limited_by})"))
    for key, value in lines:
        console.print(f"[bold]{key:<20}[/bold]{value}", highlight=False)
    for assumption in e.assumptions:
        console.print(f"[dim]assumed: {assumption}[/dim]", highlight=False)
    console.print("dry run: no model was called and nothing was written", highlight=False)


def _screen_full_text(kw: dict[str, Any]) -> int:
    from winnow.cli.summary import run_in_terminal
    from winnow.extraction.fulltext import DEFAULT_FULL_TEXT_TEMPLATE, full_text_stage

    for name in ("limit", "sample", "dry_run", "reviewer_labels", "reviewers_file", *BATCH_FLAGS):
        if kw.get(name):
            raise click.UsageError(f"--{name.replace('_', '-')} does not apply with --full-text")
    if kw["samples"] > 1:
        raise click.UsageError("--samples does not apply with --full-text")
    one_model(kw, "screen --full-text")
    template = DEFAULT_FULL_TEXT_TEMPLATE if kw["template"] == DEFAULT_TEMPLATE else kw["template"]
    spec = run_spec(kw, template=template, max_tokens=reply_tokens(FULL_TEXT_REPLY_TOKENS))
    return run_in_terminal(spec, full_text_stage(spec, chunk_options(kw)), no_progress=kw["no_progress"])


COMMANDS = [screen]
