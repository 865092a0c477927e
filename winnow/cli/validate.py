"""``winnow validate``: a designed sample of a screening run, labelled by hand, turned into a recall bound."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from winnow.cli.labelling import ask_answer, os_user, record_panel
from winnow.cli.options import command_line

_UNIT = click.FloatRange(0, 1, min_open=True, max_open=True)


def _side(decisions: Path, suffix: str) -> Path:
    return decisions.with_name(f"{decisions.stem}.{suffix}")


@click.command("validate")
@click.argument("decisions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--recall-target", default=0.95, show_default=True, type=_UNIT, help="Recall to certify.")
@click.option("--confidence", default=0.95, show_default=True, type=_UNIT, help="Confidence of every bound.")
@click.option("--sample", "total", type=click.IntRange(1), default=None, help="Records to read (default: the plan).")
@click.option(
    "--seed", type=click.IntRange(0), default=None, help="Seed of the draw (default: a random one, recorded)."
)
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Labels made elsewhere (record_id + label, read as a gold file): no terminal loop.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ledger for the sample and labels. Default: DECISIONS-STEM.ledger.sqlite (the run's own).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (asks nothing).")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Markdown report (with a .json twin). Default: DECISIONS-STEM.validation.md",
)
@click.option("--who", default=None, help="Reviewer name stored with each label. Default: the OS user.")
@click.option(
    "--keep-going",
    is_flag=True,
    help="With --labels: report on the labelled records even if the file lacks some sampled ones.",
)
@click.option("--status", is_flag=True, help="Report from the labels given so far; ask nothing.")
@click.option("--yes", "-y", is_flag=True, help="Draw the planned sample without asking.")
def validate(**kw: Any) -> int:
    """Estimate the run's recall from a random sample read by hand, with exact confidence bounds.

    First the plan: the strata (model excludes, uncertain/error, includes), how many
    records of each to read, and how many it takes to certify the target if misses
    are as rare as the run suggests. Then label: i (include), e (exclude), s (skip),
    optionally with a note; q stops. Every label is saved in the ledger at once: run
    the same command again to resume.
    """
    from winnow.ledger import Ledger, default_ledger_path
    from winnow.screening.validation import sample as vr

    decisions: Path = kw["decisions"]
    console, err = Console(), Console(stderr=True)
    db_path: Path = kw["db"] or default_ledger_path(decisions)
    report_path: Path = kw["report_path"] or _side(decisions, "validation.md")
    target, confidence = kw["recall_target"], kw["confidence"]
    run = vr.load_run(decisions)
    who = kw["who"] or os_user()
    interactive = not (kw["labels_path"] or kw["status"] or kw["as_json"] or kw["yes"]) and console.is_terminal
    with Ledger(db_path) as ledger:
        sample = vr.find_sample(ledger, run, seed=kw["seed"], total=kw["total"])
        if sample is None:
            total = kw["total"]
            plan = vr.plan_for(run, recall_target=target, confidence=confidence, total=total)
            err.print(render_plan(plan.as_dict(), target, confidence))
            if interactive:
                total = _confirm_size(console, plan.total)
                if total is None:
                    err.print("nothing drawn")
                    return 130
                if total != plan.total:
                    plan = vr.plan_for(run, recall_target=target, confidence=confidence, total=total)
                    err.print(render_plan(plan.as_dict(), target, confidence))
            sample = vr.draw_new(ledger, run, plan, seed=kw["seed"], total=kw["total"])
            sheet = vr.write_sample_sheet(run, sample, _side(decisions, "validation-sample.csv"))
            err.print(f"drew {len(sample.state.draw)} records with seed {sample.seed}; sample sheet: {sheet}")
        else:
            err.print(
                f"resuming sample {sample.sample_id} (seed {sample.seed}): {sample.state.done} of "
                f"{len(sample.state.draw)} labelled ({db_path})",
                highlight=False,
            )
        if kw["labels_path"]:
            new = vr.apply_label_file(ledger, run, sample, kw["labels_path"], who=who, partial=kw["keep_going"])
            err.print(f"{new} label(s) stored from {kw['labels_path']}", highlight=False)
        elif not (kw["status"] or kw["as_json"]) and not _label_loop(
            console, ledger, run, sample, who, target, confidence
        ):
            err.print(
                f"stopped; {sample.state.done} labels are saved in {db_path}; run the same command to resume",
                highlight=False,
            )
        reviewers = sorted({str(row["who"]) for row in ledger.validation_labels(sample.sample_id)})
        report = vr.validation_report(run, sample, recall_target=target, confidence=confidence, who=reviewers)
        vr.record_validation_run(ledger, report, command_line())
    vr.write_report(report, report_path)
    gold = vr.write_sample_gold(run, sample, _side(decisions, "validation-gold.csv"))
    report["files"] = {"report": str(report_path), "gold": str(gold), "ledger": str(db_path)}
    if kw["as_json"]:
        click.echo(json.dumps(report, indent=2))
        return 0
    console.print(render_validation(report))
    err.print(f"report: {report_path} (and .json); labels as gold: {gold}; ledger: {db_path}", highlight=False)
    return 0


def _confirm_size(console: Console, planned: int) -> int | None:
    """Enter keeps the plan; a number changes the sample size; q draws nothing."""
    while True:
        line = console.input(f"draw {planned} records? Enter to draw, a number to change the size, q to stop > ")
        line = line.strip()
        if not line:
            return planned
        if line.lower() in ("q", "quit"):
            return None
        if line.isdigit() and int(line) > 0:
            return int(line)
        console.print(f"not a size: {line!r}", highlight=False)


def _label_loop(
    console: Console, ledger: Any, run: Any, sample: Any, who: str, target: float, confidence: float
) -> bool:
    """Ask until the sample is labelled; False when the reviewer stopped first."""
    from winnow.screening.validation.recall import estimate_recall
    from winnow.screening.validation.sample import status_line

    while True:
        nxt = sample.state.next_record()
        if nxt is None:
            return True
        record_id, _ = nxt
        estimate = estimate_recall(sample.state.counts(run.sizes), recall_target=target, confidence=confidence)
        title, abstract = run.text[record_id]
        subtitle = status_line(estimate, sample.state.done, len(sample.state.draw))
        console.print(record_panel(record_id, title, abstract, subtitle=subtitle))
        try:
            parsed = ask_answer(console)
        except (EOFError, KeyboardInterrupt):
            parsed = None
        if parsed is None:
            return False
        answer, note = parsed
        ledger.add_validation_label(sample.sample_id, record_id=record_id, answer=answer, who=who, note=note)
        sample.state.apply(record_id, answer)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render_plan(plan: dict[str, Any], target: float, confidence: float) -> Group:
    """The plan as a table: strata, sizes, records to read, and why."""
    table = Table(title=f"Validation sample plan: certify recall >= {target:.0%} at {confidence:.0%}")
    for column in ("stratum", "records", "to read", "assumed include rate", "from"):
        table.add_column(column, justify="left" if column in ("stratum", "from") else "right")
    for name, size in plan["strata_sizes"].items():
        table.add_row(
            f"model {name}",
            str(size),
            str(plan["sample"][name]),
            f"{plan['assumed_include_rates'][name]:.2f}",
            plan["assumption_source"][name],
        )
    table.add_row("total", str(sum(plan["strata_sizes"].values())), str(plan["total"]), "", "", style="bold")
    needed = plan["needed_to_certify"]
    why = Text(
        "Misses hide among the model's excludes, so they get most of the sample. "
        + (
            f"If the strata hold includes at the assumed rates, {needed} records certify the target in "
            f"{plan['power']:.0%} of samples (this sample: {plan['certify_probability']:.0%}). The rates are "
            "assumptions: where they are wrong, so is the size (docs/validation.md shows how many records "
            "certification took in simulation)."
            if needed is not None
            else "Even reading every record would not certify the target at the assumed rates."
        )
        + (" The size was set with --sample." if plan["size_set_by_hand"] else "")
    )
    return Group(table, why)


def render_validation(report: dict[str, Any]) -> Group:
    """The report as the terminal shows it; the same figures are in --json and the Markdown."""
    est = report["estimate"]
    level = f"{est['confidence']:.0%}"
    strata = Table(title=f"Validation of {report['decisions']['path']} ({report['decisions']['n']} records)")
    for column in ("stratum", "records", "labelled", "includes found", "estimated includes"):
        strata.add_column(column, justify="left" if column == "stratum" else "right")
    for s in est["strata"]:
        estimated = "-" if s["estimated_includes"] is None else f"{s['estimated_includes']:.1f}"
        strata.add_row(f"model {s['stratum']}", str(s["records"]), str(s["labelled"]), str(s["includes_found"]),
                       estimated)  # fmt: skip
    figures = Table(show_header=True)
    figures.add_column("figure")
    figures.add_column("estimate", justify="right")
    figures.add_column(f"{level} bound(s)", justify="right")
    low, high = est["recall_interval"]
    figures.add_row("recall", _pct(est["recall"]), f">= {est['recall_lower_bound']:.1%} (one-sided); "
                    f"{low:.1%} to {high:.1%}")  # fmt: skip
    missed = est["missed_includes"]
    figures.add_row("missed includes", "-" if missed is None else f"{missed:.1f}",
                    f"<= {est['missed_includes_upper_bound']}")  # fmt: skip
    precision = est["precision_interval"]
    spread = "-"
    if precision is not None:
        spread = "exact (all read)" if precision[0] == precision[1] else f"{precision[0]:.1%} to {precision[1]:.1%}"
    figures.add_row("precision of includes", _pct(est["precision"]), spread)
    verdict = Text(
        f"Recall >= {est['recall_target']:.0%} {'CERTIFIED' if est['certified'] else 'NOT certified'} at {level}.",
        style="bold green" if est["certified"] else "bold red",
    )
    parts: list[Any] = [strata, figures, verdict]
    parts += [Text(f"note: {note}", style="yellow") for note in est["notes"]]
    if not report["complete"]:
        parts.append(Text(f"sample not finished: {report['labelled']} of {sum(report['drawn'].values())} labelled",
                          style="yellow"))  # fmt: skip
    parts.append(Text(report["statement"]))
    return Group(*parts)


@click.command("decide")
@click.argument("decisions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--calibrate",
    "labels_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Labelled records (record_id + label, read as a gold file) to choose the threshold on.",
)
@click.option("--recall-target", default=0.95, show_default=True, type=_UNIT, help="Recall the threshold must keep.")
@click.option("--confidence", default=0.95, show_default=True, type=_UNIT, help="Confidence of the recall bound.")
@click.option(
    "--threshold", type=click.FloatRange(0, 1), default=None, help="Use this P(include) threshold instead of choosing."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Re-decided table (CSV/XLSX/JSONL, run metadata in a .json beside it). Default: DECISIONS-STEM.decided.csv",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ledger for the runs row. Default: DECISIONS-STEM.ledger.sqlite (the run's own).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run metadata as JSON.")
def decide(**kw: Any) -> int:
    """Re-decide every record from a P(include) threshold that keeps recall's LOWER bound above the target.

    The threshold is chosen on the --calibrate labels (or given with --threshold).
    The run's own decision stays in screen_decision beside the new one.
    """
    from winnow.ledger import default_ledger_path
    from winnow.screening.validation.decide import decide as run_decide

    decisions: Path = kw["decisions"]
    if kw["labels_path"] is None and kw["threshold"] is None:
        raise click.UsageError("give --calibrate LABELS (to choose a threshold) or --threshold T")
    done = run_decide(
        decisions,
        out=kw["out"] or _side(decisions, "decided.csv"),
        ledger_path=kw["db"] or default_ledger_path(decisions),
        labels_path=kw["labels_path"],
        recall_target=kw["recall_target"],
        confidence=kw["confidence"],
        threshold=kw["threshold"],
    )
    if kw["as_json"]:
        click.echo(json.dumps(done.summary, indent=2))
        return 0
    Console().print(render_decide(done.summary))
    Console(stderr=True).print(f"table: {done.out_path}; run metadata: {done.sidecar}; ledger run {done.run_id}",
                               highlight=False)  # fmt: skip
    return 0


def render_decide(summary: dict[str, Any]) -> Group:
    """What decide did, as the terminal shows it; the same figures are in the sidecar JSON."""
    table = Table(title=f"Re-decided {summary['decisions']}: {summary['rule']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    cal = summary["calibration_set"]
    if cal:
        table.add_row(
            "calibration set", f"{cal['calibration_records']} records, {cal['calibration_includes']} includes"
        )
        table.add_row("recall on calibration", _pct(cal["recall_on_calibration"]))
        table.add_row(f"{summary['confidence']:.0%} lower bound", _pct(cal["recall_lower_bound"]))
        table.add_row(f"clears {summary['recall_target']:.0%}", "yes" if cal["clears_target"] else "NO")
    for name, n in summary["new_decisions"].items():
        table.add_row(f"new {name}", str(n))
    table.add_row("changed from the screen run", str(summary["changed_from_screen"]))
    return Group(table, *(Text(f"note: {note}", style="yellow") for note in summary["notes"]))


COMMANDS = [validate, decide]
