"""The ``winnow`` command line: thin click commands over library calls.

This is the one place where typed errors become a single human line. ``--debug``
(or ``WINNOW_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from winnow import __version__
from winnow.errors import WinnowError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="winnow")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """LLM-assisted screening and extraction for systematic reviews."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug or os.environ.get("WINNOW_DEBUG") == "1"


def _register() -> None:
    from winnow.cli import agree, extract, prioritise, reporting, review, screen, serve, validate

    for module in (screen, extract, agree, prioritise, validate, review, reporting, serve):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the process exit code."""
    args = list(argv) if argv is not None else sys.argv[1:]
    debug = "--debug" in args or os.environ.get("WINNOW_DEBUG") == "1"
    try:
        # The arguments are kept for the run's record (options.command_line): sys.argv is not
        # this command's when main() is called in-process.
        result = cli.main(args=args, prog_name="winnow", standalone_mode=False, obj={"argv": args})
    except WinnowError as exc:
        if debug:
            raise
        click.echo(f"winnow: error: {exc.one_line()}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("winnow: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("winnow: interrupted", err=True)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
