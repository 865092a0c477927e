"""``winnow serve``: the embedded model (or any GGUF) as an OpenAI-compatible endpoint on this machine."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from winnow.backends.llama_cpu import SETTINGS


@click.command()
@click.argument("model", default="local", metavar="[MODEL]")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every network).")
@click.option("--port", "-p", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--n-ctx", default=4096, show_default=True, type=click.IntRange(256, 1 << 20), help="Context length.")
@click.option("--threads", default=None, type=click.IntRange(1, 1024), help="llama.cpp threads (default: its own).")
@click.option(
    "--extra-buffers",
    type=click.Choice(SETTINGS),
    default=None,
    help="llama.cpp's extra buffer types (weight repacking); auto: off where the CPU has AMX. "
    "Default: $WINNOW_LLAMA_EXTRA_BUFFERS, else auto.",
)
def serve(model: str, host: str, port: int, n_ctx: int, threads: int | None, extra_buffers: str | None) -> int:
    """Serve MODEL (local, local:NAME or local:/path/model.gguf) over the OpenAI chat API, with llama_cpp.server.

    Other machines, or a panel's second reviewer, then use it with
    --model openai:NAME --base-url http://HOST:PORT/v1. Stop it with Ctrl-C.
    """
    from winnow.backends.llama_cpu import choose_buffers, system_features
    from winnow.backends.local import DEFAULT_LOCAL, resolve_gguf
    from winnow.backends.server import ServeOptions
    from winnow.backends.server import serve as run

    provider, _, name = model.partition(":")
    if provider != "local":
        raise click.UsageError(f"MODEL must be local, local:NAME or local:/path/model.gguf, not {model!r}")
    name = name or DEFAULT_LOCAL
    path = resolve_gguf(name)
    options = ServeOptions(
        model_id=f"local:{name}",
        path=path,
        alias=path.stem if Path(name).expanduser() == path else name,
        host=host,
        port=port,
        n_ctx=n_ctx,
        n_threads=threads,
        buffers=choose_buffers(extra_buffers),
    )
    console = Console(stderr=True, highlight=False)
    console.print(f"[bold]serving[/] {options.model_id} ({path.name}) at {options.base_url}")
    console.print(f"[bold]llama.cpp[/] {' '.join(system_features())}; {options.buffers.describe()}")
    console.print(f"[bold]use[/] --model openai:{options.alias} --base-url {options.base_url}", soft_wrap=True)
    run(options)
    return 0


COMMANDS = [serve]
