"""``winnow agree``, ``winnow audit`` and ``winnow gold validate``: the model against human labels."""

from __future__ import annotations

import io
import itertools
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from winnow.cli.labelling import os_user

_ONLY = click.Choice(["fn", "fp", "uncertain", "flagged"])
_STANDARDS = click.Choice(["title_abstract", "full_text", "unknown"])


def _console_width() -> int:
    return max(60, min(shutil.get_terminal_size((80, 24)).columns, 100))


def _emit(renderable: Any, *, pager: bool) -> None:
    """Print rich renderables; page through ``less -R`` once taller than the terminal.

    ``renderable`` may be a list, rendered one part at a time so a long audit starts
    paging before the last record is laid out.
    """
    from rich.console import Console

    tty = sys.stdout.isatty()
    buffer = io.StringIO()
    console = Console(file=buffer, width=_console_width(), force_terminal=tty, color_system="auto" if tty else None)
    parts = iter(renderable if isinstance(renderable, list) else [renderable])

    def rendered() -> Iterator[str]:
        for part in parts:
            console.print(part)
            text = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            yield text

    chunks = rendered()
    head: list[str] = []
    height = shutil.get_terminal_size((80, 24)).lines
    for chunk in chunks:
        head.append(chunk)
        if sum(text.count("\n") for text in head) > height:
            break
    else:
        click.echo("".join(head), nl=False, color=tty)
        return
    if pager and tty:
        click.echo_via_pager(itertools.chain(head, chunks), color=True)
        return
    for chunk in itertools.chain(head, chunks):
        click.echo(chunk, nl=False, color=tty)


def _json(data: Any) -> None:
    """Print ``json.dumps(data, indent=2, ensure_ascii=False)`` a piece at a time (``winnow.jsontext``): an
    audit of a million records lists hundreds of thousands of them."""
    from winnow.jsontext import iter_json

    pieces: list[str] = []
    size = 0
    for piece in iter_json(data):
        pieces.append(piece)
        size += len(piece)
        if size >= _JSON_PIECE:
            click.echo("".join(pieces), nl=False)
            pieces, size = [], 0
    click.echo("".join(pieces))


_JSON_PIECE = 1 << 16


def _load(decisions: Path, gold_path: Path, reference_standard: str | None, allow_missing: bool, columns: Any) -> Any:
    """Decisions joined to gold, reading only ``columns`` of the table (the rest stays on disk)."""
    from winnow.agreement.compare import match_decisions
    from winnow.gold import load_gold
    from winnow.screening.decisions import read_decisions

    frame = read_decisions(decisions, columns=columns)
    gold = load_gold(gold_path, reference_standard=reference_standard, match_to=_KnownRecords(decisions))
    return match_decisions(frame, decisions, gold, allow_missing=allow_missing, complete=False)


class _KnownRecords:
    """The table's ids, DOIs, PMIDs and titles, read only if a tool's gold export needs its ids mapped."""

    COLUMNS = ("record_id", "doi", "pmid", "title")

    def __init__(self, decisions: Path) -> None:
        self.decisions = decisions

    def __iter__(self) -> Iterator[dict[str, str]]:
        from winnow.screening.decisions import read_table

        frame = read_table(self.decisions, columns=lambda name: name in self.COLUMNS)
        yield from frame[[c for c in self.COLUMNS if c in frame.columns]].to_dict(orient="records")


def _criterion_kinds(protocol_path: Path | None, gold_path: Path) -> dict[str, str]:
    from winnow.gold import find_protocol
    from winnow.protocol import load_protocol

    path = protocol_path or find_protocol(gold_path)
    if path is None:
        return {}
    return {c.id: c.kind for c in load_protocol(path).protocol.all_criteria}


_gold_option = click.option(
    "--gold", "-g", "gold_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Gold labels (CSV/TSV/XLSX): record_id plus label_included (include/exclude, yes/no, 1/0); "
    "or extraction gold (.jsonl, one PDF per line) for an extraction table.",
)  # fmt: skip
_missing_option = click.option(
    "--allow-missing", is_flag=True,
    help="Compare the records both files share and list the rest, instead of stopping when ids differ.",
)  # fmt: skip


@click.command("agree")
@click.argument("decisions", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_gold_option
@click.option("--json", "as_json", is_flag=True, help="Print every figure as JSON instead of the report.")
@click.option(
    "--recall-target",
    default=0.95,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Recall the P(include) threshold must reach on this gold set.",
)
@click.option(
    "--reference-standard",
    type=_STANDARDS,
    default=None,
    help="What the gold labels are. Default: reference_standard in protocol.yaml beside the gold file.",
)
@click.option(
    "--protocol",
    "protocol_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Protocol YAML, for criterion kinds. Default: protocol.yaml beside the gold file.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also save the recall curve as a PNG (needs matplotlib).",
)
@click.option("--no-curve", is_flag=True, help="Do not draw the recall curve in the terminal.")
@click.option(
    "--reviewers",
    "reviewers_only",
    is_flag=True,
    help="Panel table without gold: agreement between the reviewers only (pairs; Fleiss and alpha for 3+).",
)
@click.option("--no-pager", is_flag=True, help="Never page the report.")
@_missing_option
def agree(
    decisions: tuple[Path, ...],
    gold_path: Path | None,
    as_json: bool,
    recall_target: float,
    reference_standard: str | None,
    protocol_path: Path | None,
    plot_path: Path | None,
    no_curve: bool,
    reviewers_only: bool,
    no_pager: bool,
    allow_missing: bool,
) -> None:
    """How far the model agrees with the gold set: screening metrics, kappa/PABAK/AC1/alpha, workload.

    Give two or more decisions files to compare models or prompts side by side.
    A panel table (several reviewers) adds each reviewer against gold, the reviewers
    against each other, and what the combination rule gained. Every proportion and
    coefficient has a 95% CI.
    """
    if reviewers_only:
        if gold_path is not None or len(decisions) > 1:
            raise click.UsageError("--reviewers takes one decisions file and no --gold")
        _agree_reviewers(decisions[0], as_json=as_json, no_pager=no_pager)
        return
    if gold_path is None:
        raise click.UsageError("give --gold GOLD, or --reviewers for a panel table without gold")
    if _is_extraction_gold(gold_path):
        _agree_extraction(decisions, gold_path, protocol_path, as_json=as_json, no_pager=no_pager)
        return
    from winnow.agreement.report import (
        build_agreement,
        build_comparison,
        columns_read,
        render_agreement,
        render_comparison,
        save_curve_png,
    )

    if plot_path is not None and len(decisions) > 1:
        raise click.UsageError("--plot draws one run; give one decisions file")
    kinds = _criterion_kinds(protocol_path, gold_path)
    reports = [
        build_agreement(
            _load(path, gold_path, reference_standard, allow_missing, columns_read),
            recall_target=recall_target,
            criterion_kinds=kinds,
        )
        for path in decisions
    ]
    if plot_path is not None:
        save_curve_png(reports[0], plot_path)
    if as_json:
        _json(reports[0] if len(reports) == 1 else build_comparison(reports))
    elif len(reports) == 1:
        _emit(render_agreement(reports[0], curve=not no_curve, width=_console_width()), pager=not no_pager)
    else:
        _emit(render_comparison(reports), pager=not no_pager)
    if plot_path is not None and not as_json:
        click.echo(f"recall curve saved to {plot_path}", err=True)


def _read_panel(decisions: Path) -> Any:
    from winnow.agreement.panel import read_panel
    from winnow.errors import InputError
    from winnow.screening.decisions import read_decisions

    panel = read_panel(read_decisions(decisions), decisions)
    if panel is None:
        raise InputError(decisions, "not a panel table: no decision:<reviewer> columns (one model screened it)")
    return panel


def _agree_reviewers(decisions: Path, *, as_json: bool, no_pager: bool) -> None:
    from winnow.agreement.panel_report import build_reviewer_agreement, render_reviewer_agreement

    report = build_reviewer_agreement(_read_panel(decisions))
    if as_json:
        _json(report)
    else:
        _emit(render_reviewer_agreement(report), pager=not no_pager)


@click.command("audit")
@click.argument("decisions", type=click.Path(dir_okay=False, path_type=Path))
@_gold_option
@click.option(
    "--conflicts",
    is_flag=True,
    help="Panel table: list the records the reviewers disagree on, riskiest first (no gold needed).",
)
@click.option("--only", type=_ONLY, default=None, help="Show one kind: fn (missed), fp, uncertain, or flagged.")
@click.option("--json", "as_json", is_flag=True, help="Print the disagreements as JSON.")
@click.option("--adjudicate", is_flag=True, help="Settle the disagreements one by one; each answer is saved at once.")
@click.option(
    "--import-verdicts",
    "verdicts_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Store verdicts from a CSV (record_id, verdict=model|gold|include|exclude, note[, who]).",
)
@click.option(
    "--export",
    "export_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the gold set with adjudicated labels in force (CSV).",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Run ledger for verdicts. Default: DECISIONS-STEM.ledger.sqlite beside the decisions.",
)
@click.option("--who", default=None, help="Reviewer name stored with each verdict. Default: the OS user.")
@click.option("--reference-standard", type=_STANDARDS, default=None, help="What the gold labels are.")
@click.option("--no-pager", is_flag=True, help="Never page the report.")
@_missing_option
def audit(
    decisions: Path,
    gold_path: Path | None,
    conflicts: bool,
    only: str | None,
    as_json: bool,
    adjudicate: bool,
    verdicts_path: Path | None,
    export_path: Path | None,
    db_path: Path | None,
    who: str | None,
    reference_standard: str | None,
    no_pager: bool,
    allow_missing: bool,
) -> None:
    """Every disagreement with the gold set, riskiest first: missed studies, then uncertain, then FP.

    With --adjudicate, walk them one by one (keep model, keep gold, or a new label, plus a
    note). Verdicts go to the run ledger as they are given; a restart resumes. With
    --conflicts, the same for the records a panel's reviewers disagree on.
    """
    from winnow.audit import (
        adjudication_key,
        audit_json,
        collect_disagreements,
        default_ledger_path,
        export_adjudicated_gold,
        import_verdicts,
        latest_verdicts,
        render_audit,
    )
    from winnow.ledger import Ledger

    if conflicts:
        given = [name for name, value in {"--gold": gold_path, "--only": only, "--import-verdicts": verdicts_path,
                                          "--reference-standard": reference_standard,
                                          "--allow-missing": allow_missing}.items() if value]  # fmt: skip
        if given:
            raise click.UsageError(f"--conflicts needs no gold; drop {', '.join(given)}")
        if adjudicate and as_json:
            raise click.UsageError("--adjudicate and --json cannot be used together")
        _audit_conflicts(decisions, db_path, who, adjudicate=adjudicate, export_path=export_path,
                         as_json=as_json, no_pager=no_pager)  # fmt: skip
        return
    if gold_path is None:
        raise click.UsageError("give --gold GOLD, or --conflicts for a panel table")
    if _is_extraction_gold(gold_path):
        screening_only = {"--adjudicate": adjudicate, "--import-verdicts": verdicts_path, "--export": export_path,
                          "--only": only}  # fmt: skip
        given = [name for name, value in screening_only.items() if value]
        if given:
            raise click.UsageError(f"{', '.join(given)} apply to screening gold, not to an extraction gold (.jsonl)")
        _audit_extraction(decisions, gold_path, as_json=as_json, no_pager=no_pager)
        return
    if adjudicate and as_json:
        raise click.UsageError("--adjudicate and --json cannot be used together")
    if adjudicate and verdicts_path is not None:
        raise click.UsageError("--adjudicate and --import-verdicts cannot be used together")
    from winnow.audit.items import selection_columns

    matched = _load(decisions, gold_path, reference_standard, allow_missing, selection_columns)
    items = collect_disagreements(matched, only=only)
    from winnow.agreement.sample import sample_weights

    if sample_weights(gold_path) is not None:
        click.echo(
            f"note: {gold_path} is a validation sample: these are the disagreements among its"
            f" {matched.n} labelled records only, not the run's",
            err=True,
        )
    reviewer = who or os_user()
    key = adjudication_key(decisions)
    ledger_path = db_path or default_ledger_path(decisions)
    needs_ledger = adjudicate or verdicts_path is not None or export_path is not None or ledger_path.is_file()
    verdicts: dict[str, Any] = {}
    if needs_ledger:
        with Ledger(ledger_path) as ledger:
            if verdicts_path is not None:
                stored = import_verdicts(verdicts_path, items, ledger, key, who=reviewer)
                click.echo(f"stored {len(stored)} verdict(s) in {ledger_path}", err=True)
            if adjudicate:
                _adjudicate(items, ledger, key, reviewer)
            found = latest_verdicts(ledger, key)
            if export_path is not None:
                export_adjudicated_gold(matched.gold, found, export_path)
                click.echo(f"adjudicated gold ({len(found)} verdict(s)) written to {export_path}", err=True)
            verdicts = {rid: verdict.as_dict() for rid, verdict in found.items()}
    if adjudicate or verdicts_path is not None or export_path is not None:
        return
    if as_json:
        _json(audit_json(matched, items, only=only, verdicts=verdicts))
    else:
        _emit(list(render_audit(matched, items, only=only, verdicts=verdicts).renderables), pager=not no_pager)


def _audit_conflicts(
    decisions: Path,
    db_path: Path | None,
    who: str | None,
    *,
    adjudicate: bool,
    export_path: Path | None,
    as_json: bool,
    no_pager: bool,
) -> None:
    from winnow.audit import adjudication_key, default_ledger_path, latest_verdicts
    from winnow.audit.conflicts import (
        collect_conflicts,
        conflicts_json,
        export_conflict_labels,
        render_conflict,
        render_conflicts,
    )
    from winnow.ledger import Ledger

    panel = _read_panel(decisions)
    items = collect_conflicts(panel)
    key = adjudication_key(decisions)
    ledger_path = db_path or default_ledger_path(decisions)
    verdicts: dict[str, Any] = {}
    if adjudicate or export_path is not None or ledger_path.is_file():
        with Ledger(ledger_path) as ledger:
            if adjudicate:
                _adjudicate(items, ledger, key, who or os_user(), render=render_conflict, what="conflicts")
            found = latest_verdicts(ledger, key)
            if export_path is not None:
                export_conflict_labels(panel, found, export_path)
                click.echo(f"adjudicated labels ({len(found)} verdict(s)) written to {export_path}", err=True)
            verdicts = {rid: verdict.as_dict() for rid, verdict in found.items()}
    if adjudicate or export_path is not None:
        return
    if as_json:
        _json(conflicts_json(panel, items, verdicts=verdicts))
    else:
        _emit(list(render_conflicts(panel, items, verdicts=verdicts).renderables), pager=not no_pager)


def _adjudicate(
    items: list[Any], ledger: Any, key: str, who: str, *, render: Any = None, what: str = "disagreements"
) -> None:
    from rich.console import Console

    from winnow.audit import adjudicate_interactively, render_item

    if not items:
        click.echo(f"No {what} to settle.")
        return
    console = Console(width=_console_width(), highlight=False)
    draw = render or render_item

    def show(item: Any, index: int, total: int) -> None:
        console.print(draw(item, index, total))

    def ask(prompt: str) -> str:
        return str(click.prompt(prompt, default="", show_default=False, prompt_suffix=": "))

    tally = adjudicate_interactively(items, ledger, key, who=who, show=show, ask=ask, say=click.echo)
    remaining = len(items) - tally["already"] - tally["settled"]
    click.echo(
        f"{tally['settled']} settled now, {tally['already']} before, {remaining} still open. Ledger: {ledger.path}"
    )


def _is_extraction_gold(gold_path: Path) -> bool:
    """A .jsonl gold file holds extracted fields per PDF; screening gold is a table."""
    return gold_path.suffix.lower() == ".jsonl"


def _match_extraction(table_path: Path, gold_path: Path, protocol_path: Path | None) -> Any:
    from winnow.agreement.extraction import load_extraction_gold, match_extraction
    from winnow.screening.decisions import read_table

    table = read_table(table_path, what="extraction")
    return match_extraction(table, table_path, load_extraction_gold(gold_path), protocol_path=protocol_path)


def _agree_extraction(
    tables: tuple[Path, ...], gold_path: Path, protocol_path: Path | None, *, as_json: bool, no_pager: bool
) -> None:
    from winnow.agreement.extraction import build_extraction_agreement
    from winnow.agreement.extraction_report import render_extraction_agreement

    if len(tables) > 1:
        raise click.UsageError("extraction agreement compares one extraction table at a time")
    matched = _match_extraction(tables[0], gold_path, protocol_path)
    report = build_extraction_agreement(matched, tolerance=0.05, threshold=0.85)
    if as_json:
        _json(report)
    else:
        _emit(render_extraction_agreement(report), pager=not no_pager)


def _audit_extraction(table_path: Path, gold_path: Path, *, as_json: bool, no_pager: bool) -> None:
    from winnow.audit.extraction import (
        collect_field_disagreements,
        extraction_audit_json,
        render_extraction_audit,
    )

    matched = _match_extraction(table_path, gold_path, None)
    items = collect_field_disagreements(matched)
    if as_json:
        _json(extraction_audit_json(matched, items))
    else:
        _emit(list(render_extraction_audit(matched, items).renderables), pager=not no_pager)


@click.group("gold")
def gold() -> None:
    """Gold sets: human labels that model decisions are measured against."""


@gold.command("validate")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def validate(folder: Path, as_json: bool) -> None:
    """Check a gold set folder: records.csv (unique ids, valid labels), protocol.yaml, SOURCE.md."""
    from winnow.gold import validate_gold_dir

    result = validate_gold_dir(folder)
    if as_json:
        _json(result.as_dict())
        _exit_if(not result.ok)
        return
    summary = result.summary
    line = f"{folder}: "
    if summary.get("n"):
        line += (
            f"{summary['n']} records, {summary['n_included']} includes (prevalence {100 * summary['prevalence']:.1f}%),"
            f" reference standard {summary.get('reference_standard', 'unknown')},"
            f" {len(summary.get('criteria') or [])} criteria"
        )
    click.echo(line)
    for error in result.errors:
        click.echo(click.style("error: ", fg="red", bold=True) + error)
    for warning in result.warnings:
        click.echo(click.style("warning: ", fg="yellow") + warning)
    click.echo(click.style("ok", fg="green") if result.ok else click.style(f"{len(result.errors)} error(s)", fg="red"))
    _exit_if(not result.ok)


def _exit_if(failed: bool) -> None:
    if failed:
        raise click.exceptions.Exit(1)


COMMANDS = [agree, audit, gold]
