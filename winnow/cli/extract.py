"""``winnow extract``: the protocol's extraction form filled from PDFs, every value with a checked quote."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console

from winnow.cli.options import model_options
from winnow.runs import redact_argv

FIELD_REPLY_TOKENS = 110


def full_text_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--max-chunks, --chunk-tokens and --quote-threshold, shared by extract and screen --full-text."""
    options = [
        click.option(
            "--max-chunks",
            type=click.IntRange(0),
            default=None,
            help="Chunks read per PDF; the rest is left out and recorded. 0 = all. "
            "Default: 3 with the embedded model, all otherwise.",
        ),
        click.option(
            "--chunk-tokens",
            type=click.IntRange(200),
            default=None,
            help="Paper text per call, in tokens. Default: what the model's context leaves.",
        ),
        click.option(
            "--quote-threshold",
            type=click.FloatRange(0.5, 1.0),
            default=0.9,
            show_default=True,
            help="Fuzzy-match ratio a quote needs to count as found on its page.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_full_text_job(kw: dict[str, Any], *, template: str, max_tokens: int) -> Any:
    """The FullTextRun for a command's parsed options."""
    from winnow.engine import EngineConfig
    from winnow.extraction.run import FullTextRun
    from winnow.retry import RetryPolicy

    return FullTextRun(
        input_path=kw["input_path"],
        protocol_path=kw["protocol_path"],
        model_id=kw["model_id"],
        base_url=kw["base_url"],
        api_key=kw["api_key"],
        template=template,
        out=kw["out"],
        db=kw["db"],
        engine=EngineConfig(
            concurrency=kw["concurrency"],
            rpm=kw["rpm"],
            tpm=kw["tpm"],
            max_repairs=kw["max_repairs"],
            retry=RetryPolicy(max_attempts=kw["max_attempts"]),
        ),
        temperature=kw["temperature"],
        max_tokens=max_tokens,
        seed=kw["seed"],
        max_chunks=kw["max_chunks"],
        chunk_tokens=kw["chunk_tokens"],
        quote_threshold=kw["quote_threshold"],
        timeout_s=kw["timeout_s"],
        structured=kw["structured"],
        prices_path=kw["prices_path"],
        argv=redact_argv(["winnow", *sys.argv[1:]]),
    )


def run_full_text_command(kw: dict[str, Any], job: Any, runner: Callable[..., Any]) -> int:
    """Header, progress, run, summary and the notes about what was left out: shared by both commands."""
    from winnow.backends.local import EMBEDDED_WARNING
    from winnow.cli.summary import print_header, print_summary
    from winnow.progress import RunProgress

    console = Console(stderr=True)

    def progress(total: int, description: str) -> RunProgress:
        return RunProgress(total, description=description, console=console, enabled=not kw["no_progress"])

    def header(fields: dict[str, str]) -> None:
        print_header(console, fields, warning=EMBEDDED_WARNING if fields["model"].startswith("local") else None)

    summary = runner(job, progress=progress, on_header=header)
    for line in summary.warnings:
        console.print(f"[yellow]note[/] {line}", markup=True, highlight=False)
    print_summary(console, summary, retry_command=shlex.join(redact_argv(["winnow", *sys.argv[1:]])))
    return 130 if summary.interrupted else 0


def reply_tokens(ctx: click.Context, given: int, default: int) -> int:
    """--max-tokens as given, or the command's own default when the user left it alone."""
    return default if ctx.get_parameter_source("max_tokens") == ParameterSource.DEFAULT else given


@click.command("extract")
@click.argument("input_path", metavar="PDFS", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--protocol",
    "-p",
    "protocol_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Protocol YAML with an extraction section, a shipped protocol name, or a form YAML (fields: [...]).",
)
@click.option(
    "--template",
    "-t",
    default="extract_fields",
    show_default=True,
    help="Prompt template: a name in prompts/ or a path to a YAML template.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Extraction table (.csv, .xlsx or .jsonl). Default: ./PDFS-NAME.extraction.csv",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Run ledger (SQLite). Default: next to --out, OUT-STEM.ledger.sqlite",
)
@full_text_options
@model_options
@click.pass_context
def extract(ctx: click.Context, **kw: Any) -> int:
    """Fill the extraction form from a folder of PDFs (or one PDF): one row per PDF.

    Each value has a quote and page checked against the PDF text (evidence:FIELD
    is verified, verified_fuzzy, wrong_page, not_found, no_quote or not_reported).
    Bad PDFs (encrypted, damaged, no text layer, empty) get their status and
    reason and the batch goes on. Re-running makes no new calls for chunks
    already answered.
    """
    from winnow.extraction.run import run_extraction
    from winnow.protocol import load_form

    fields = len(load_form(kw["protocol_path"]).form.fields)
    max_tokens = reply_tokens(ctx, kw["max_tokens"], min(4096, 60 + FIELD_REPLY_TOKENS * fields))
    job = build_full_text_job(kw, template=kw["template"], max_tokens=max_tokens)
    return run_full_text_command(kw, job, run_extraction)


COMMANDS = [extract]
