"""``winnow extract``: the protocol's extraction form filled from PDFs, every value with a checked quote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from winnow.cli.options import chunk_options, full_text_options, model_options, one_model, reply_tokens, run_spec

FIELD_REPLY_TOKENS = 110


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
def extract(**kw: Any) -> int:
    """Fill the extraction form from a folder of PDFs (or one PDF): one row per PDF.

    Each value has a quote and page checked against the PDF text (evidence:FIELD
    is verified, verified_fuzzy, wrong_page, not_found, no_quote or not_reported).
    Bad PDFs (encrypted, damaged, no text layer, empty) get their status and
    reason and the batch goes on. Re-running makes no new calls for chunks
    already answered.
    """
    from winnow.cli.summary import run_in_terminal
    from winnow.extraction.extract import extraction_stage
    from winnow.protocol import load_form

    one_model(kw, "extract")
    fields = len(load_form(kw["protocol_path"]).form.fields)
    spec = run_spec(kw, template=kw["template"], max_tokens=reply_tokens(min(4096, 60 + FIELD_REPLY_TOKENS * fields)))
    return run_in_terminal(spec, extraction_stage(spec, chunk_options(kw)), no_progress=kw["no_progress"])


COMMANDS = [extract]
