"""``winnow prisma``, ``winnow synthesise`` and ``winnow export``: finishing a review from winnow's tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

_FILE = click.Path(dir_okay=False, path_type=Path)
_EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)


def _print(renderable: Any) -> None:
    from rich.console import Console

    Console().print(renderable)


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.command()
@click.option("--screen", "screen", required=True, type=_FILE, help="Title/abstract decisions table (winnow screen).")
@click.option("--full-text", "full_text", type=_FILE, help="Full-text decisions table (winnow screen --full-text).")
@click.option("--extract", "extraction", type=_FILE, help="Extraction table (winnow extract): PDF statuses.")
@click.option(
    "--records",
    "records",
    multiple=True,
    type=_FILE,
    help="Search export(s) screened (repeatable): records per source, duplicates, unreadable records.",
)
@click.option("--db", "ledger", type=_FILE, help="Ledger with adjudications. Default: SCREEN-STEM.ledger.sqlite.")
@click.option(
    "--full-text-db", "full_text_ledger", type=_FILE, help="Full-text ledger. Default: FULL-TEXT-STEM.ledger.sqlite."
)
@click.option("-p", "--protocol", type=_FILE, help="Protocol (criterion kinds). Default: the one the run used.")
@click.option("-o", "--out", type=_FILE, help="Diagram: PATH.svg and PATH.png (both are written).")
@click.option("--title", default=None, help="Diagram title.")
@click.option("--json", "as_json", is_flag=True, help="Counts and the record ids behind every number, as JSON.")
def prisma(**kw: Any) -> None:
    """PRISMA 2020 flow counts (and diagram) from the decisions, full-text and extraction tables.

    A human verdict stored by `winnow audit --adjudicate` overrides the model. Reports
    excluded at full text are grouped by their first failing criterion.
    """
    from winnow.prisma import PrismaInputs, build_flow, render_diagram

    flow = build_flow(
        PrismaInputs(
            screen=kw["screen"],
            full_text=kw["full_text"],
            extraction=kw["extraction"],
            records=kw["records"],
            ledger=kw["ledger"],
            full_text_ledger=kw["full_text_ledger"],
            protocol=kw["protocol"],
        )
    )
    paths = render_diagram(flow, kw["out"], title=kw["title"]) if kw["out"] else []
    if kw["as_json"]:
        _json({**flow.as_dict(), "diagram": [str(p) for p in paths]})
        return
    _print(prisma_table(flow))
    for warning in flow.warnings:
        click.echo(f"warning: {warning}", err=True)
    for path in paths:
        click.echo(f"diagram {path}")


def prisma_table(flow: Any) -> Any:
    """The PRISMA counts as a rich table (the --json twin is ``PrismaFlow.as_dict``)."""
    from rich.table import Table

    from winnow.prisma import flow_rows

    table = Table(title="PRISMA 2020 flow", title_justify="left")
    table.add_column("stage")
    table.add_column("box")
    table.add_column("n", justify="right", overflow="fold")
    for stage, box, n in flow_rows(flow):
        table.add_row(stage, box, n)
    return table


@click.command()
@click.argument("decisions", type=_EXISTING)
@click.option("--to", "to", required=True, type=click.Choice(["ris", "asreview", "csv"]), help="Format to write.")
@click.option("--records", type=_EXISTING, help="The export screened: RIS keeps each record's original fields.")
@click.option(
    "-o", "--out", type=_FILE, help="Output file. Default: beside DECISIONS (.ris, .asreview.csv, .labels.csv)."
)
@click.option("--db", "ledger", type=_FILE, help="Ledger with adjudications. Default: DECISIONS-STEM.ledger.sqlite.")
def export(**kw: Any) -> None:
    """Decisions as RIS (Zotero/EndNote: LB label, KW keyword, N1 notes), ASReview labelled CSV, or gold CSV.

    Adjudicated verdicts are the decisions in force. The files read back as labels
    anywhere winnow takes a gold file (--gold, prioritise --labels).
    """
    from winnow.exports import export_decisions

    path = export_decisions(kw["decisions"], kw["to"], records=kw["records"], out=kw["out"], ledger=kw["ledger"])
    click.echo(f"wrote {path}")


COMMANDS = [prisma, export]
