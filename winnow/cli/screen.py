"""``winnow screen``: one decision per record, every call in the ledger."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from winnow.cli.options import model_options
from winnow.runs import redact_argv

DEFAULT_TEMPLATE = "screen_title_abstract"


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
@model_options
def screen(**kw: Any) -> int:
    """Screen search results (RIS, MEDLINE/.nbib, BibTeX, CSV/TSV, XLSX) against a protocol.

    Re-running the same command makes no new model calls for records already
    answered; an interrupted run resumes where it stopped.
    """
    # Imported here so that other commands do not pay for langchain and openai at start-up.
    from screening.run import ScreeningRun, run_screening
    from screening.screen import ScreeningOptions
    from winnow.backends.local import EMBEDDED_WARNING
    from winnow.cli.summary import print_header, print_summary
    from winnow.engine import EngineConfig
    from winnow.progress import RunProgress
    from winnow.retry import RetryPolicy

    console = Console(stderr=True)
    job = ScreeningRun(
        input_path=kw["input_path"],
        protocol_path=kw["protocol_path"],
        model_id=kw["model_id"],
        base_url=kw["base_url"],
        api_key=kw["api_key"],
        template=kw["template"],
        out=kw["out"],
        db=kw["db"],
        engine=EngineConfig(
            concurrency=kw["concurrency"],
            rpm=kw["rpm"],
            tpm=kw["tpm"],
            max_repairs=kw["max_repairs"],
            retry=RetryPolicy(max_attempts=kw["max_attempts"]),
        ),
        options=ScreeningOptions(temperature=kw["temperature"], max_tokens=kw["max_tokens"], seed=kw["seed"]),
        limit=kw["limit"],
        sample=kw["sample"],
        sample_seed=kw["sample_seed"],
        timeout_s=kw["timeout_s"],
        structured=kw["structured"],
        prices_path=kw["prices_path"],
        argv=redact_argv(["winnow", *sys.argv[1:]]),
    )

    def progress(total: int, description: str) -> RunProgress:
        return RunProgress(total, description=description, console=console, enabled=not kw["no_progress"])

    def header(fields: dict[str, str]) -> None:
        print_header(console, fields, warning=EMBEDDED_WARNING if fields["model"].startswith("local") else None)

    summary = run_screening(job, progress=progress, on_header=header)
    print_summary(console, summary, retry_command=shlex.join(redact_argv(["winnow", *sys.argv[1:]])))
    if summary.interrupted:
        return 130
    return 0


COMMANDS = [screen]
