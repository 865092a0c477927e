"""Option groups shared by commands that call a model, so every command spells them alike.

Click hands a command its options as keywords; ``run_spec`` turns them into the typed
``RunSpec`` at the top of the command, so nothing past the CLI edge sees a dict.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

if TYPE_CHECKING:
    from winnow.batch import BatchOptions
    from winnow.extraction.stage import ChunkOptions
    from winnow.lifecycle import ModelChoice, RunSpec

F = TypeVar("F", bound=Callable[..., Any])


def model_options(func: F) -> F:
    """--model, --base-url, --api-key and the throughput knobs."""
    options = [
        click.option(
            "--model",
            "-m",
            "model_id",
            multiple=True,
            metavar="PROVIDER:NAME",
            help="local (embedded, default without OPENAI_API_KEY), local:/path/model.gguf, or openai:NAME. "
            "`winnow screen` takes it more than once for a panel of reviewers.",
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


def full_text_options(func: F) -> F:
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


BATCH_FLAGS = ("batch", "no_wait", "batch_file", "batch_results", "batch_cancel")


def batch_options(func: F) -> F:
    """--batch and its siblings: the provider's batch API, request files for a cluster, and their results."""
    options = [
        click.option(
            "--batch",
            is_flag=True,
            help="Send the requests through the provider's batch API (OpenAI: half price, answers within 24 h): "
            "submit, wait with a progress bar, collect. Re-running the same command resumes a killed run "
            "and never sends a pending request twice.",
        ),
        click.option(
            "--no-wait",
            is_flag=True,
            help="With --batch: submit and exit; the same command later collects what has finished.",
        ),
        click.option(
            "--batch-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            metavar="FILE.jsonl",
            help="Write the requests still to answer as OpenAI batch JSONL for a served cluster "
            "(vllm run-batch -i FILE -o results.jsonl); no network. Over 50,000 requests or 200 MB: "
            "FILE-002.jsonl and on.",
        ),
        click.option(
            "--batch-results",
            multiple=True,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            metavar="FILE.jsonl",
            help="Ingest answers in OpenAI batch output format (vllm run-batch output, or a provider's output "
            "and error files); give it more than once for several files.",
        ),
        click.option(
            "--batch-fallback",
            type=click.Choice(["batch", "sync"]),
            default="batch",
            show_default=True,
            help="Where a request goes again after its batch failed it (an error line, a missing line, an "
            "answer that breaks the schema): a follow-up batch, or a synchronous call.",
        ),
        click.option(
            "--batch-cancel",
            is_flag=True,
            help="Cancel this command's open batches, ingest what they answered, and write the table.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def batch_request(kw: dict[str, Any]) -> BatchOptions | None:
    """The batch options a command was given, checked against each other; None when none was given."""
    from winnow.batch import BatchOptions

    given = [f"--{n.replace('_', '-')}" for n in BATCH_FLAGS if kw.get(n)]
    fallback_given = kw.get("batch_fallback", "batch") != "batch"
    if not given:
        if fallback_given:
            raise click.UsageError("--batch-fallback applies with --batch or --batch-results")
        return None
    if kw["batch"] and kw["batch_file"] is not None:
        raise click.UsageError(
            "--batch sends requests to the provider and --batch-file writes them for a cluster: give one"
        )
    if kw["no_wait"] and not kw["batch"]:
        raise click.UsageError("--no-wait applies with --batch")
    if fallback_given and not (kw["batch"] or kw["batch_results"]):
        raise click.UsageError("--batch-fallback applies with --batch or --batch-results")
    if kw.get("dry_run") and given != ["--batch"]:
        raise click.UsageError(f"--dry-run prices --batch runs; it does not take {', '.join(given)}")
    ids = kw["model_id"] or ()
    if len(ids) > 1:
        raise click.UsageError("the batch options take one --model")
    from winnow.backends import default_model_id

    model_id = ids[0] if ids else default_model_id()
    if not model_id.startswith("openai:"):
        raise click.UsageError(
            f"the batch options need an openai: model (OpenAI, or a cluster's model name), not {model_id!r}"
        )
    return BatchOptions(
        submit=kw["batch"],
        wait=not kw["no_wait"],
        requests_file=kw["batch_file"],
        results_files=tuple(kw["batch_results"]),
        fallback=kw["batch_fallback"],
        cancel=kw["batch_cancel"],
    )


def reply_tokens(default: int) -> int | None:
    """The command's own --max-tokens default when the user left it alone, else None (use theirs)."""
    ctx = click.get_current_context()
    return default if ctx.get_parameter_source("max_tokens") == ParameterSource.DEFAULT else None


def model_choices(kw: dict[str, Any], batch: BatchOptions | None = None) -> tuple[ModelChoice, ...]:
    """One ``ModelChoice`` per ``--model`` given (none: the default model), sharing the endpoint options.

    A ``--dry-run`` calls nothing, so it needs no API key; neither does writing or reading batch files.
    """
    from winnow.lifecycle import ModelChoice

    offline = bool(kw.get("dry_run")) or (batch is not None and not batch.calls_model)
    ids = kw["model_id"] or (None,)
    return tuple(
        ModelChoice(
            model_id=model_id,
            base_url=kw["base_url"],
            api_key=kw["api_key"],
            timeout_s=kw["timeout_s"],
            structured=kw["structured"],
            require_key=not offline,
        )
        for model_id in ids
    )


def one_model(kw: dict[str, Any], command: str) -> None:
    if len(kw["model_id"]) > 1:
        raise click.UsageError(f"{command} takes one --model; panels of reviewers are for title/abstract screening")


def command_line() -> tuple[str, ...]:
    """The command as the reviewer gave it, secrets masked, for the ledger's run row."""
    from winnow.runs import redact_argv

    context = click.get_current_context(silent=True)
    given = (context.find_root().obj or {}).get("argv") if context is not None else None
    return tuple(redact_argv(["winnow", *(sys.argv[1:] if given is None else given)]))


def run_spec(
    kw: dict[str, Any], *, template: str, max_tokens: int | None = None, batch: BatchOptions | None = None
) -> RunSpec:
    """The typed run request for a model-calling command's parsed options (the first --model answers)."""
    from winnow.engine import EngineConfig
    from winnow.lifecycle import RunSpec, Sampling
    from winnow.retry import RetryPolicy

    return RunSpec(
        input_path=Path(kw["input_path"]),
        protocol_path=Path(kw["protocol_path"]),
        template=template,
        model=model_choices(kw, batch)[0],
        sampling=Sampling(temperature=kw["temperature"], max_tokens=max_tokens or kw["max_tokens"], seed=kw["seed"]),
        engine=EngineConfig(
            concurrency=kw["concurrency"],
            rpm=kw["rpm"],
            tpm=kw["tpm"],
            max_repairs=kw["max_repairs"],
            retry=RetryPolicy(max_attempts=kw["max_attempts"]),
        ),
        out=kw["out"],
        db=kw["db"],
        prices_path=Path(kw["prices_path"]) if kw["prices_path"] else None,
        argv=command_line(),
        batch=batch,
    )


def chunk_options(kw: dict[str, Any]) -> ChunkOptions:
    from winnow.extraction.stage import ChunkOptions

    return ChunkOptions(
        max_chunks=kw["max_chunks"], chunk_tokens=kw["chunk_tokens"], quote_threshold=kw["quote_threshold"]
    )
