"""Option groups shared by commands that call a model, so every command spells them alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def model_options(func: F) -> F:
    """--model, --base-url, --api-key and the throughput knobs."""
    options = [
        click.option(
            "--model",
            "-m",
            "model_id",
            default=None,
            metavar="PROVIDER:NAME",
            help="local (embedded, default without OPENAI_API_KEY), local:/path/model.gguf, or openai:NAME.",
        ),
        click.option(
            "--base-url",
            default=None,
            metavar="URL",
            help="OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp server). Default: $OPENAI_BASE_URL.",
        ),
        click.option(
            "--api-key",
            default=None,
            envvar="WINNOW_API_KEY",
            show_envvar=True,
            help="API key; default: $OPENAI_API_KEY. Never written to any output.",
        ),
        click.option(
            "--concurrency",
            "-j",
            default=4,
            show_default=True,
            type=click.IntRange(1, 256),
            help="Calls in flight at once (the embedded model always runs one).",
        ),
        click.option(
            "--rpm", default=None, type=click.FloatRange(min=0, min_open=True), help="Requests per minute limit."
        ),
        click.option(
            "--tpm", default=None, type=click.FloatRange(min=0, min_open=True), help="Tokens per minute limit."
        ),
        click.option(
            "--max-attempts",
            default=6,
            show_default=True,
            type=click.IntRange(1, 50),
            help="Transport attempts per call (429/5xx/timeouts), honouring Retry-After.",
        ),
        click.option(
            "--max-repairs",
            default=2,
            show_default=True,
            type=click.IntRange(0, 10),
            help="Re-asks with the validation error when the answer breaks the schema.",
        ),
        click.option("--timeout", "timeout_s", default=120.0, show_default=True, type=float, help="Seconds per call."),
        click.option(
            "--structured-output",
            "structured",
            default="auto",
            show_default=True,
            type=click.Choice(["auto", "json_schema", "json_object", "tools"]),
            help="How to ask an OpenAI-compatible endpoint for JSON.",
        ),
        click.option("--temperature", default=0.0, show_default=True, type=float),
        click.option(
            "--max-tokens",
            default=768,
            show_default=True,
            type=click.IntRange(16, 32768),
            help="Answer length limit per call.",
        ),
        click.option(
            "--seed", default=0, show_default=True, type=int, help="Sampling seed, where the backend takes one."
        ),
        click.option(
            "--prices",
            "prices_path",
            default=None,
            type=click.Path(dir_okay=False),
            help="Price table YAML (default: the shipped one, or $WINNOW_PRICES).",
        ),
        click.option("--no-progress", is_flag=True, help="No progress bar (logs and CI)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func
