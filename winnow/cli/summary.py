"""The run header, progress and end-of-run summary, shared by every command that calls a model."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from winnow.runs import RunSummary

if TYPE_CHECKING:
    from winnow.lifecycle import RunHeader, RunSpec, Stage


def run_in_terminal(spec: RunSpec, stage: Stage, *, no_progress: bool) -> int:
    """Run a stage through the lifecycle with a header, a progress bar and a summary; the exit code."""
    from winnow.backends.local import EMBEDDED_WARNING
    from winnow.lifecycle import execute
    from winnow.progress import RunProgress

    console = Console(stderr=True)

    def progress(total: int, description: str) -> RunProgress:
        return RunProgress(total, description=description, console=console, enabled=not no_progress)

    def header(shown: RunHeader) -> None:
        print_header(console, shown.fields, warning=EMBEDDED_WARNING if shown.embedded else None)

    summary = execute(spec, stage, progress=progress, on_header=header)
    for line in summary.warnings:
        console.print(f"[yellow]note[/] {escape(line)}", markup=True, highlight=False, soft_wrap=True)
    print_summary(console, summary, retry_command=shlex.join(spec.argv), words=SummaryWords.of(stage))
    if summary.stopped:
        console.print(f"winnow: error: {summary.stopped}", markup=False, highlight=False, soft_wrap=True)
        return 1
    return 130 if summary.interrupted else 0


@dataclass(frozen=True)
class SummaryWords:
    """How a run's summary names its outcomes: screening decides records, extraction extracts PDFs."""

    done: str = "decided"
    unit: str = "record"
    column: str = "decision"
    failed: str = "undecided"

    @classmethod
    def of(cls, stage: Stage) -> SummaryWords:
        if stage.table == "extraction":
            return cls(done="extracted", unit="PDF", column="status", failed="without an extraction")
        if stage.name == "screen_full_text":
            return cls(unit="PDF")
        return cls()


def print_header(console: Console, fields: dict[str, str], *, warning: str | None) -> None:
    table = Table.grid(padding=(0, 1))
    for key, value in fields.items():
        table.add_row(f"[bold]{key}[/]", value)
    console.print(table)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}")


def print_summary(
    console: Console, summary: RunSummary, *, retry_command: str, words: SummaryWords | None = None
) -> None:
    words = words or SummaryWords()
    stats = summary.stats
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items())
    cost = "unknown (model not in price table)" if stats.cost_usd is None else f"${stats.cost_usd:.4f}"
    console.print(f"[bold]{words.done}[/] {counts}")
    console.print(
        f"[bold]calls[/] {stats.calls} made ({stats.retried} retried, {stats.failed_attempts} failed attempts, "
        f"{stats.repairs} repairs), {stats.cached} answers reused from the ledger"
    )
    console.print(
        f"[bold]tokens[/] {stats.prompt_tokens:,} in ({stats.cached_tokens:,} cached), "
        f"{stats.completion_tokens:,} out; [bold]cost[/] {cost}"
    )
    for line in summary.skipped:
        console.print(f"[yellow]skipped[/] {line}")
    if summary.duplicate_groups:
        shown = "; ".join(" = ".join(group) for group in summary.duplicate_groups[:5])
        more = f" (+{len(summary.duplicate_groups) - 5} more)" if len(summary.duplicate_groups) > 5 else ""
        console.print(f"[yellow]duplicates[/] screened once each: {shown}{more}")
    if summary.undecided:
        console.print(
            f"[red]{len(summary.undecided)} {words.unit}(s) left {words.failed}[/]"
            f" ({words.column}=error in the table). "
            "Retry only those with the same command:"
        )
        # One unwrapped line without markup, so it can be copied and paths with [brackets] survive.
        console.print(f"  {retry_command}", markup=False, highlight=False, soft_wrap=True)
    if summary.evidence:
        console.print(evidence_table(summary.evidence))
    if summary.interrupted and not summary.stopped:
        console.print("[yellow]interrupted[/]: answered calls are in the ledger; re-run the same command to resume")
    for name, path in summary.outputs.items():
        console.print(f"[bold]{name}[/] {path}")


# Column headings, short enough that ten columns fit 80 characters.
_EVIDENCE_HEADINGS = {
    "verified": "verified",
    "verified_fuzzy": "fuzzy",
    "wrong_page": "wrong pg",
    "not_found": "not found",
    "no_quote": "no quote",
    "not_reported": "not rep.",
    "conflict": "conflict",
}


EVIDENCE_CAPTION = "evidence per item (PDFs); a value counts only if its quote is on its page"


def evidence_table(evidence: dict[str, dict[str, int]]) -> Group:
    """PDFs per evidence status for each field or criterion; only statuses that occurred get a column.

    The caption is a line of its own above the table: as the table's title it wrapped to the
    width of the few columns, a narrow column of words.
    """
    shown = [s for s in _EVIDENCE_HEADINGS if any(counts.get(s, 0) for counts in evidence.values())]
    table = Table(box=None, padding=(0, 1))
    table.add_column("item", overflow="fold", max_width=24)
    for status in shown:
        table.add_column(_EVIDENCE_HEADINGS[status], justify="right")
    totals = dict.fromkeys(shown, 0)
    for item, counts in evidence.items():
        table.add_row(item, *(str(counts.get(s, 0)) for s in shown))
        for s in shown:
            totals[s] += counts.get(s, 0)
    if len(evidence) > 1:
        table.add_row("[bold]all[/]", *(f"[bold]{totals[s]}[/]" for s in shown))
    return Group(Text(EVIDENCE_CAPTION, style="italic"), table)
