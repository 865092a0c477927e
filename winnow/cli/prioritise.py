"""``winnow prioritise`` (a human reads the likely includes first) and ``winnow simulate``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from winnow.cli.labelling import ask_answer, os_user, record_panel

_RULES = click.Choice(["buscar", "heuristic"])
_EMBEDDINGS = click.Choice(["auto", "on", "off"])


def stopping_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The stopping rule and its parameters, spelt the same by both commands."""
    for option in reversed(
        [
            click.option(
                "--rule",
                type=_RULES,
                default="buscar",
                show_default=True,
                help="Stopping rule: the buscar hypothesis test, or N excludes in a row (heuristic, no guarantee).",
            ),
            click.option(
                "--recall-target",
                default=0.95,
                show_default=True,
                type=click.FloatRange(0, 1, min_open=True, max_open=True),
            ),
            click.option(
                "--confidence",
                default=0.95,
                show_default=True,
                type=click.FloatRange(0, 1, min_open=True, max_open=True),
            ),
            click.option(
                "--excludes-in-a-row",
                default=100,
                show_default=True,
                type=click.IntRange(1),
                help="For --rule heuristic: stop after this many excludes in a row.",
            ),
            click.option(
                "--from-run",
                "from_run",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="A model's answers: a winnow screen decisions table (one model or a panel: scores and "
                "criterion verdicts), or another tool's export with --score-column. They rank as one more "
                "arm that earns its picks from your labels.",
            ),
            click.option(
                "--score-column",
                default=None,
                metavar="NAME",
                help="With --from-run: the file is another tool's export and NAME holds each record's score "
                "(any scale, e.g. 1-5: rescaled to 0-1); records are matched by id, DOI, PMID or title.",
            ),
            click.option(
                "--embeddings",
                type=_EMBEDDINGS,
                default="auto",
                show_default=True,
                # Auto by default: the SVM on TF-IDF with the MiniLM vectors beside it is one of the
                # learners the leave-one-dataset-out grid chose (docs/benchmarks.md, 8.2).
                help="MiniLM vectors for the learner that reads them beside TF-IDF (the embeddings extra): "
                "on, off, or auto (on if installed).",
            ),
        ]
    ):
        func = option(func)
    return func


def _rule(kw: dict[str, Any]) -> Any:
    from winnow.screening.ranking.stopping import StoppingRule

    return StoppingRule(
        name=kw["rule"],
        recall_target=kw["recall_target"],
        confidence=kw["confidence"],
        excludes_in_a_row=kw["excludes_in_a_row"],
    )


def _load_run(kw: dict[str, Any], records: list[Any]) -> tuple[Any, dict[str, dict[str, str]]]:
    """A model's answers for the records, and each record's row to show, from ``--from-run``."""
    path: Path | None = kw["from_run"]
    if path is None:
        if kw["score_column"] is not None:
            raise click.UsageError("--score-column names a column of the --from-run file; give --from-run too")
        return None, {}
    from winnow.screening.ranking.model_answers import read_model_answers

    answers = read_model_answers(path, records, score_column=kw["score_column"])
    rows: dict[str, dict[str, str]] = {}
    if kw["score_column"] is None:
        from winnow.screening.decisions import read_decisions

        rows = {str(r["record_id"]): {k: str(v) for k, v in r.items()} for r in read_decisions(path).to_dict("records")}
    else:
        rows = {r.record_id: {"p_include": f"{score:.3g}"} for r, score in zip(records, answers.score, strict=True)}
    Console(stderr=True).print(f"model answers: {answers.describe()}", highlight=False)
    return answers, rows


def _records(path: Path, *, merge: bool = True) -> tuple[list[Any], dict[str, tuple[str, ...]]]:
    from winnow.records import read_records

    result = read_records(path, merge_duplicates=merge)
    console = Console(stderr=True)
    for line in result.skipped:
        console.print(f"[yellow]skipped[/]: {line}", markup=True, highlight=False)
    records = list(result.records)
    return records, {r.record_id: r.duplicates for r in records if r.duplicates}


def _ranking_inputs(records: list[Any], protocol: Any, model: Any, embeddings: str) -> Any:
    """Features and prior, with a progress bar while new records are embedded."""
    from rich.progress import Progress

    from winnow.screening.ranking.ranker import ranking_inputs

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("embedding records (cached after the first time)", total=len(records))
        return ranking_inputs(
            records,
            protocol,
            model=model,
            embeddings=embeddings,  # type: ignore[arg-type]
            on_embed_progress=lambda n: bar.advance(task, n),
        )


# -- prioritise ---------------------------------------------------------------------------------
@click.command("prioritise")
@click.argument("input_path", metavar="RECORDS", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--protocol", "-p", "protocol_path", required=True, type=click.Path(path_type=Path))
@stopping_options
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ledger for the answers (SQLite). Default: ./RECORDS-STEM.prioritise.ledger.sqlite",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Stopping report (Markdown, with a .json twin). Default: ./RECORDS-STEM.prioritise.md",
)
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Answer from this file (record_id + label, as a gold file) instead of asking: for scripts and tests.",
)
@click.option("--who", default=None, help="Reviewer name stored with each answer. Default: the OS user.")
@click.option("--max-answers", type=click.IntRange(1), default=None, help="Stop this sitting after N answers.")
@click.option("--keep-going", is_flag=True, help="Keep screening after the stopping rule fires.")
def prioritise(**kw: Any) -> int:
    """Screen by hand, most likely includes first, until the stopping rule says recall is reached.

    Answer i (include), e (exclude) or s (skip), optionally followed by a note
    ("e wrong population"); q quits. Every answer is saved in the ledger at once:
    run the same command again to resume.
    """
    from winnow.ledger import Ledger, default_ledger_path
    from winnow.protocol import load_protocol
    from winnow.screening.ranking.prioritise import Session, read_label_file, stopping_report, write_report

    console = Console()
    err = Console(stderr=True)
    records_path: Path = kw["input_path"]
    report_path: Path = kw["report_path"] or Path(f"{records_path.stem}.prioritise.md")
    db_path: Path = kw["db"] or default_ledger_path(report_path)
    protocol = load_protocol(kw["protocol_path"])
    records, _ = _records(records_path)
    model, run_rows = _load_run(kw, records)
    labels = read_label_file(kw["labels_path"], records) if kw["labels_path"] else None
    rule = _rule(kw)
    inputs = _ranking_inputs(records, protocol, model, kw["embeddings"])
    with Ledger(db_path) as ledger:
        session = Session.open(
            ledger,
            records=records,
            records_path=str(records_path),
            protocol=protocol,
            inputs=inputs,
            rule=rule,
            who=kw["who"] or os_user(),
        )
        status = session.status()
        if status.read:
            err.print(
                f"resuming: {status.read} answered, {status.includes} includes so far ({db_path})", highlight=False
            )
        err.print(f"stopping rule: {rule.describe()}", highlight=False)
        answered_now = 0
        while True:
            status = session.status()
            if session.fired_at is not None and not kw["keep_going"]:
                break
            if kw["max_answers"] is not None and answered_now >= kw["max_answers"]:
                break
            record = session.next_record()
            if record is None:
                break
            if labels is not None:
                if record.record_id not in labels:
                    err.print(f"{kw['labels_path']}: no label for record {record.record_id}; stopping here")
                    break
                answer, note = labels[record.record_id], ""
            else:
                _show(console, record, status, run_rows.get(record.record_id), rule)
                try:
                    parsed = ask_answer(console)
                except (EOFError, KeyboardInterrupt):
                    parsed = None
                if parsed is None:
                    session.keep_report(stopping_report(session, records_path=str(records_path), protocol=protocol))
                    err.print(f"stopped; {status.read} answers are saved in {db_path}; run the same command to resume")
                    return 130 if status.read == 0 else 0
                answer, note = parsed
            session.answer(record, answer, note=note)
            answered_now += 1
        report = stopping_report(session, records_path=str(records_path), protocol=protocol)
        session.keep_report(report)
        write_report(report, report_path)
    _print_status(console, session.status(), rule)
    console.print(report["statement"], highlight=False)
    err.print(f"report: {report_path} (and {report_path.with_suffix('.json')}); ledger: {db_path}", highlight=False)
    return 0


def _status_line(status: Any, rule: Any) -> str:
    p = status.check.p_value
    recall = status.check.estimated_recall
    parts = [
        f"read {status.read}/{status.n_records}",
        f"includes {status.includes}",
        f"est. recall {_recall_text(recall, status.read)}",
        f"buscar p {'-' if p is None else f'{p:.3g}'}",
        f"excludes in a row {status.check.excludes_in_a_row}",
    ]
    if status.check.fire:
        parts.append("STOPPING RULE MET" + (" (heuristic)" if rule.is_heuristic else ""))
    return " · ".join(parts)


def _recall_text(recall: float | None, read: int) -> str:
    """A recall above zero never prints as "0%"; before the estimate exists, say when it will."""
    from winnow.screening.ranking.stopping import MIN_READS_FOR_ESTIMATE

    if recall is None:
        return "-" if read >= MIN_READS_FOR_ESTIMATE else f"- (from {MIN_READS_FOR_ESTIMATE} read)"
    return "<1%" if recall < 0.01 else f"{recall:.0%}"


def _print_status(console: Console, status: Any, rule: Any) -> None:
    console.print(_status_line(status, rule), highlight=False)


def _show(console: Console, record: Any, status: Any, run_row: dict[str, str] | None, rule: Any) -> None:
    extra = None
    if run_row:
        extra = Text()
        verdicts = [f"{k.split(':', 1)[1]}={v}" for k, v in run_row.items() if k.startswith("criterion:") and v]
        extra.append("LLM run: ", style="dim")
        extra.append(f"{run_row.get('decision', '')}  p={run_row.get('p_include', '') or '-'}  {' '.join(verdicts)}")
        if run_row.get("rationale"):
            extra.append(f"\n{run_row['rationale']}", style="dim")
    console.print(
        record_panel(record.record_id, record.title, record.abstract, subtitle=_status_line(status, rule), extra=extra)
    )


# -- simulate -----------------------------------------------------------------------------------
@click.command("simulate")
@click.argument("input_path", metavar="RECORDS", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--gold", "gold_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--protocol", "-p", "protocol_path", required=True, type=click.Path(path_type=Path))
@stopping_options
@click.option(
    "--seeds", default=5, show_default=True, type=click.IntRange(1), help="Seeds 0..N-1 draw the prior labels."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--orders", is_flag=True, help="With --json, include every seed's reading order.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to save the recall curve PNG. Default: ./RECORDS-STEM.simulation.png",
)
@click.option("--no-plot", is_flag=True, help="Do not save the PNG.")
@click.option(
    "--keep-duplicates",
    is_flag=True,
    help="Do not merge duplicate records: simulate on the rows as given (to compare with another tool).",
)
def simulate(**kw: Any) -> int:
    """Replay prioritised screening with the gold labels as the reviewer.

    Each seed starts from one gold include and one gold exclude drawn with that
    seed. Reports WSS@95, RRF@10, records read to 95% and 100% recall, where
    the stopping rule fired and the recall there. The same seed gives the same figures.
    """
    from winnow.gold import load_gold
    from winnow.protocol import load_protocol
    from winnow.screening.ranking.simulate import simulate_gold

    protocol = load_protocol(kw["protocol_path"])
    records, duplicates = _records(kw["input_path"], merge=not kw["keep_duplicates"])
    gold = load_gold(kw["gold_path"])
    model, _ = _load_run(kw, records)
    rule = _rule(kw)
    inputs = _ranking_inputs(records, protocol, model, kw["embeddings"])
    result = simulate_gold(records, duplicates, gold, inputs, rule, seeds=kw["seeds"])
    report = result.as_dict(with_orders=kw["orders"])
    report["records"] = str(kw["input_path"])
    report["protocol"] = {"path": protocol.path, "sha256": protocol.sha256}
    if not kw["no_plot"]:
        plot = kw["plot_path"] or Path(f"{Path(kw['input_path']).stem}.simulation.png")
        from winnow.agreement.report import save_curve_png

        save_curve_png(_curve_report(report, rule), plot)
        report["plot"] = str(plot)
    if kw["as_json"]:
        click.echo(json.dumps(report, indent=2))
        return 0
    _render_simulation(Console(), report, rule)
    return 0


def _curve_report(report: dict[str, Any], rule: Any) -> dict[str, Any]:
    """Shape the mean recall curve like an agreement report, so one renderer draws both."""
    return {
        "recall_curve": report["mean_recall_curve"],
        "workload": {"recall_target": rule.recall_target},
        "decisions": report["records"],
        "title": f"{Path(report['records']).name}: mean over {report['summary']['seeds']} seeds",
        "curve_title": "Recall curve, mean over seeds (dots: random order; line: recall target)",
        "curve_label": "winnow prioritised order",
        "x_label": "% of records screened, in prioritised order",
    }


def _render_simulation(console: Console, report: dict[str, Any], rule: Any) -> None:
    from rich.table import Table

    from winnow.agreement.report import render_curve

    summary = report["summary"]
    table = Table(
        title=f"Simulated prioritised screening: {report['records']} ({report['n_records']} records, "
        f"{report['n_includes']} includes)"
    )
    for column in (
        "seed",
        "prior (inc, exc)",
        "WSS@95",
        "RRF@10",
        "read to 95%",
        "read to 100%",
        "stop at",
        "recall at stop",
        "p at stop",
    ):
        table.add_column(column, justify="right")
    for seed in report["seeds"]:
        stop = seed["stop"]
        table.add_row(
            str(seed["seed"]),
            ", ".join(seed["prior"]),
            f"{seed['wss_95']:.3f}",
            f"{seed['rrf_10']:.3f}",
            str(seed["read_to_95"]),
            str(seed["read_to_100"]),
            str(stop["read"]) if stop else "never",
            f"{stop['recall']:.3f}" if stop else "-",
            f"{stop['p_value']:.3g}" if stop and stop["p_value"] is not None else "-",
        )
    table.add_row(
        "mean",
        "",
        f"{summary['mean_wss_95']:.3f}",
        f"{summary['mean_rrf_10']:.3f}",
        f"{summary['mean_read_to_95']:.1f}",
        f"{summary['mean_read_to_100']:.1f}",
        "",
        f"{summary['mean_recall_at_stop']:.3f}" if summary["mean_recall_at_stop"] is not None else "-",
        "",
        style="bold",
    )
    console.print(table)
    console.print(f"Stopping rule: {rule.describe()}", highlight=False)
    met = summary["stops_at_or_above_target"]
    console.print(
        f"Stops at or above the {rule.recall_target:.0%} target: {met} of {summary['stops_fired']} "
        f"(rule fired in {summary['stops_fired']} of {summary['seeds']} seeds); mean work saved at the stop: "
        + (f"{summary['mean_work_saved_at_stop']:.1%}" if summary["mean_work_saved_at_stop"] is not None else "-"),
        highlight=False,
    )
    console.print(
        f"Ranking: zero-shot {', '.join(report['ranking']['zero_shot'])}; "
        f"embeddings: {report['ranking']['embeddings']}",
        highlight=False,
    )
    console.print(weights_table(report), highlight=False)
    if report["ranking"].get("model_answers"):
        console.print(
            f"Model answers: {report['ranking']['model_answers']}; their weight at the end: "
            f"{summary['mean_model_weight']:.2f} (mean over seeds: the chance they pick the next record)",
            highlight=False,
        )
    console.print(f"Combiner: {report['ranking']['combiner']}", highlight=False)
    curve = render_curve(_curve_report(report, rule), width=min(console.width, 100))
    if curve is not None:
        console.print(curve)
    if "plot" in report:
        console.print(f"recall curve saved to {report['plot']}", highlight=False)


def weights_table(report: dict[str, Any]) -> Any:
    """Each learner's final weight per seed: which learners this review listened to."""
    from rich.table import Table

    learners = report["ranking"]["learners"]
    # A weight is each learner's share of the score now: with Thompson sampling, its chance of picking the next record.
    table = Table(title="Learners and their final weights per seed")
    table.add_column("seed", justify="right")
    for name in learners:
        table.add_column(name, justify="right")
    for seed in report["seeds"]:
        table.add_row(str(seed["seed"]), *(f"{seed['final_weights'].get(name, 0.0):.3f}" for name in learners))
    return table


COMMANDS = [prioritise, simulate]
