"""The progress display for long jobs: throughput, ETA, running counts, tokens, cost."""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

_TEXT_EVERY_S = 0.2


class _TwoLines(Progress):
    """The bar, counts and times on one line, the running outcomes, tokens and cost on the next.

    On one line the nine columns did not fit 80 characters and rich cut every field short
    ("10/… 9.9/min 0:01… eta 0:0…"); two short lines read whole.
    """

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            line = "  ".join(part for part in (task.fields.get("counts"), task.fields.get("usage")) if part)
            if line:
                yield Text(f"  {line}", overflow="fold")


class RunProgress:
    """A rich progress bar that also shows decisions by kind, tokens and cost so far."""

    def __init__(self, total: int, *, description: str, console: Console, enabled: bool = True) -> None:
        self.enabled = enabled
        self.counts: dict[str, int] = {}
        self.tokens = 0
        self.cost: float | None = 0.0
        self._progress = _TwoLines(
            TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=4)),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[rate]}", table_column=Column(no_wrap=True)),
            TimeElapsedColumn(table_column=Column(no_wrap=True)),
            TextColumn("eta", table_column=Column(no_wrap=True)),
            TimeRemainingColumn(table_column=Column(no_wrap=True)),
            console=console,
            expand=True,
            disable=not enabled,
            refresh_per_second=4,
        )
        self._task: TaskID = self._progress.add_task(description, total=total, rate="", counts="", usage="")
        self._total = total
        self._done = 0
        self._texts_at = float("-inf")

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def advance(self, outcome: str | None, *, tokens: int = 0, cost: float | None = 0.0) -> None:
        """One call answered; ``outcome`` is the row it completed, None while its unit waits for more."""
        if outcome is not None:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
        self.tokens += tokens
        self.cost = None if cost is None or self.cost is None else self.cost + cost
        self._done += 1
        now = time.monotonic()
        # The columns are redrawn 4 times a second; rebuilding their text on every record
        # (rich's speed walks its whole sample window) cost ~0.3 ms per record.
        if not self.enabled or (now - self._texts_at < _TEXT_EVERY_S and self._done < self._total):
            self._progress.advance(self._task)
            return
        self._texts_at = now
        task = self._progress.tasks[0]
        speed = task.finished_speed or task.speed
        rate = f"{speed * 60:,.1f}/min" if speed else ""
        counts = " ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        usage = f"{self.tokens:,} tok " + ("$?" if self.cost is None else f"${self.cost:,.4f}")
        self._progress.update(self._task, advance=1, rate=rate, counts=counts, usage=usage)
