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

    table = Table(title="PRISMA 2020 flow (--json lists the record ids behind every number)", title_justify="left")
    table.add_column("stage")
    table.add_column("box")
    table.add_column("n", justify="right")
    table.add_column("reasons", overflow="fold")
    for stage, box, n, reasons in flow_rows(flow):
        table.add_row(stage, box, n, reasons)
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


@click.command()
@click.argument("extraction", type=_EXISTING)
@click.option("--records", type=_EXISTING, help="Records export for publication years (when the form has no year).")
@click.option(
    "-p", "--protocol", default=None, help="Protocol or form (the field types). Default: the one the run used."
)
@click.option(
    "--by", "by", default="year", show_default=True, type=click.Choice(["year", "none"]), help="Counts per year."
)
@click.option("--year-field", default=None, help="Form field holding the year. Default: publication_year or year.")
@click.option("--cross", nargs=2, default=None, metavar="FIELD FIELD", help="Cross-tabulate two fields.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1), help="Names listed per list field.")
@click.option(
    "-o", "--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for CSV, Markdown, PNG, JSON."
)
@click.option("--include-unverified", is_flag=True, help="Count values whose quote was not verified too.")
@click.option("--json", "as_json", is_flag=True, help="Print every table as JSON.")
def synthesise(**kw: Any) -> None:
    """The review's synthesis: counts with Wilson CIs, cross-tabs, years, trends, top datasets.

    Only values whose quote was verified count unless --include-unverified; every
    table says which. Works for any protocol's form; categorical fields (one_of,
    many_of, boolean) get counts and trends, list fields get normalised top names.
    """
    from winnow.synthesis.build import build_synthesis
    from winnow.synthesis.load import load_synthesis_inputs
    from winnow.synthesis.output import write_synthesis

    rows, specs, years, source = load_synthesis_inputs(
        kw["extraction"],
        kw["protocol"],
        kw["records"] if kw["by"] == "year" else None,
        kw["year_field"] if kw["by"] == "year" else None,
        by_year=kw["by"] == "year",
    )
    synthesis = build_synthesis(
        rows,
        specs,
        years=years,
        cross=tuple(kw["cross"]) if kw["cross"] else None,
        include_unverified=kw["include_unverified"],
        top=kw["top"],
    )
    synthesis.years_from = source
    if kw["by"] == "year" and not years:
        synthesis.warnings.append(
            "no publication years (no year field in the form and no --records matched): no counts per year or trends"
        )
    written = write_synthesis(synthesis, kw["out"], specs=specs) if kw["out"] else []
    if kw["as_json"]:
        _json({**synthesis.as_dict(), "written": [str(p) for p in written]})
        return
    for table in synthesis_tables(synthesis):
        _print(table)
    for warning in synthesis.warnings:
        click.echo(f"warning: {warning}", err=True)
    if written:
        click.echo(f"wrote {len(written)} files to {kw['out']}")


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def synthesis_tables(synthesis: Any) -> list[Any]:
    """Rich tables of a synthesis (the --json twin is ``Synthesis.as_dict``); each title says what was counted."""
    from rich.table import Table

    tables = []
    counts = Table(
        title=f"Counts with 95% Wilson CIs ({synthesis.counted}; {synthesis.n_papers} papers)", title_justify="left"
    )
    for column in ("field", "category", "papers", "of", "share", "95% CI"):
        numeric = column in ("papers", "of", "share")
        counts.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for r in synthesis.counts:
        ci = "-" if r["ci_low"] is None else f"{_pct(r['ci_low'])}-{_pct(r['ci_high'])}"
        counts.add_row(r["field"], r["category"], str(r["papers"]), str(r["of"]), _pct(r["share"]), ci)
    tables.append(counts)
    if synthesis.trends:
        tables.append(trend_table(synthesis))
    if synthesis.cross:
        a, b = synthesis.cross_fields
        cross = Table(title=f"{a} x {b} ({synthesis.counted})", title_justify="left")
        for column in (a, b, "papers", "of"):
            cross.add_column(column, overflow="fold")
        for r in synthesis.cross:
            cross.add_row(r[a], r[b], str(r["papers"]), str(r["of"]))
        tables.append(cross)
    if synthesis.top_names:
        top = Table(title=f"Top names per list field, spellings merged ({synthesis.counted})", title_justify="left")
        for column in ("field", "name", "papers", "of", "spellings counted as one"):
            top.add_column(column, overflow="fold")
        for r in synthesis.top_names:
            top.add_row(r["field"], r["name"], str(r["papers"]), str(r["of"]), r["spellings"])
        tables.append(top)
    return tables


def trend_table(synthesis: Any) -> Any:
    """The trend tests stacked by field (a field row with its years, then its categories), so that
    field and category names are never cut on an 80-column terminal."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"Trend per category: Cochran-Armitage test on year, asymptotic, weak with few papers"
        f" ({synthesis.counted}; years from {synthesis.years_from}; categories with no paper left out)",
        title_justify="left",
    )
    table.add_column("field, then category", overflow="fold", ratio=1)
    for column in ("papers", "z", "p", "direction"):
        table.add_column(column, justify="left" if column == "direction" else "right", no_wrap=True)
    shown: dict[str, list[dict[str, Any]]] = {}
    for r in synthesis.trends:
        if r["papers"]:
            shown.setdefault(r["field"], []).append(r)
    for index, (field, rows) in enumerate(shown.items()):
        if index:
            table.add_section()
        years = next((r["years"] for r in rows if r["years"]), "")
        table.add_row(Text.assemble((field, "bold"), f" ({years})" if years else ""), "", "", "", "")
        for r in rows:
            table.add_row(
                Text(f"  {r['category']}"),
                f"{r['papers']}/{r['of']}",
                "-" if r["z"] is None else f"{r['z']:.2f}",
                "-" if r["p_value"] is None else f"{r['p_value']:.3f}",
                r["direction"],
            )
    return table


COMMANDS = [prisma, export, synthesise]
