"""``winnow runs``, ``winnow methods`` and ``winnow report``: the review told from its ledgers.

Every command here reads ledgers read-only (no migration, no write lock), so it can
be pointed at a ledger a run is writing or at an archived review folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

_TARGET = click.Path(exists=True, path_type=Path)


def _targets(name: str = "targets") -> Any:
    """``[LEDGER|FOLDER]...``: ledgers, or folders searched for ledgers; default the current folder."""
    return click.argument(name, metavar="[LEDGER|FOLDER]...", nargs=-1, type=_TARGET)


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _print(renderable: Any) -> None:
    from rich.console import Console

    Console(highlight=False).print(renderable)


class _RunsGroup(click.Group):
    """``winnow runs [LEDGER|FOLDER]`` lists; ``winnow runs show RUN_ID`` shows one run.

    Anything that is not a subcommand name goes to ``list``, so the listing needs no verb.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group("runs", cls=_RunsGroup)
def runs() -> None:
    """Every run in the ledgers, newest first: when, command, models, template and hash, records,
    calls made and reused, tokens, cost, time, and whether it finished (with the command that
    resumes it if not). `winnow runs show RUN_ID` shows one run in full.
    """


@runs.command("list")
@_targets()
@click.option("-n", "--limit", default=20, show_default=True, type=click.IntRange(0), help="Newest N runs; 0: all.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def runs_list(targets: tuple[Path, ...], limit: int, as_json: bool) -> None:
    """List the runs of the ledgers, or of every ledger in the folders (default: here), newest first."""
    from winnow.reporting.history import load_history, render_runs
    from winnow.reporting.ledgers import ledgers_of

    ledgers = ledgers_of(targets)
    views = load_history(ledgers)
    shown = views[:limit] if limit else views
    if as_json:
        _json([view.as_dict() for view in shown])
        return
    _print(render_runs(shown, total=len(views)))


@runs.command("show")
@click.argument("run_id")
@_targets()
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
def runs_show(run_id: str, targets: tuple[Path, ...], as_json: bool) -> None:
    """One run in full: argv, folder, protocol hash, parameters, summary (a unique id prefix is enough)."""
    from winnow.reporting.history import find_run, render_run
    from winnow.reporting.ledgers import ledgers_of

    view = find_run(ledgers_of(targets), run_id)
    if as_json:
        _json(view.as_dict(full=True))
        return
    _print(render_run(view))


@click.command("methods")
@_targets()
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the Markdown here.")
@click.option("--json", "as_json", is_flag=True, help="Paragraphs, sentences, reporting items and sources as JSON.")
def methods(targets: tuple[Path, ...], out: Path | None, as_json: bool) -> None:
    """The methods text, one paragraph per stage run, written only from the ledgers.

    Then, sentence by sentence, the reporting items each answers (PRISMA 2020, RAISE) and the
    run it came from. What no ledger knows (databases searched, search dates, who the reviewers
    were) is a [TO COMPLETE: ...] placeholder.
    """
    from winnow.reporting.facts import gather_facts
    from winnow.reporting.ledgers import ledgers_of
    from winnow.reporting.methods import build_methods

    text = build_methods(gather_facts(ledgers_of(targets)))
    if as_json:
        _json(text.as_dict())
    elif out is None:
        click.echo(text.markdown(), nl=False)
    if out is not None:
        _write(out, text.markdown())
        click.echo(f"wrote {out}", err=True)


@click.command("report")
@_targets()
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("review.html"), show_default=True,
    help="The HTML file to write.",
)  # fmt: skip
@click.option(
    "--gold", "gold", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Gold labels for agreement and the audit. Default: the validation labels in the ledgers.",
)  # fmt: skip
def report(targets: tuple[Path, ...], out: Path, gold: Path | None) -> None:
    """One self-contained HTML file for co-authors: runs, methods, agreement and recall curve, the
    disagreement audit (sortable, filterable, riskiest first), validation, PRISMA diagram, synthesis
    and the evidence table. It opens offline in any browser; record text stays text.
    """
    from winnow.reporting.facts import gather_facts
    from winnow.reporting.ledgers import ledgers_of
    from winnow.reporting.page import build_page, write_page

    page = build_page(gather_facts(ledgers_of(targets)), gold=gold)
    write_page(page, out)
    for name, why in page.missing.items():
        click.echo(f"note: no {name.replace('_', ' ')}: {why}", err=True)
    click.echo(f"wrote {out}")


def _write(path: Path, text: str) -> None:
    from winnow.errors import InputError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from exc


COMMANDS = [runs, methods, report]
