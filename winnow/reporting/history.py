"""The run history of a review (``winnow runs``): every run of every ledger, newest first.

A run's figures come from the summary it stored when it ended. A run that never
recorded its end (still running, or killed with ``kill -9``) is counted from its
own rows in the calls table, through the index on ``run_id``, so listing stays fast
on a ledger with a million calls. Nothing here writes to a ledger.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text

from winnow.errors import InputError
from winnow.ledger.readonly import LedgerReader, StoredRun

__all__ = ["RunView", "find_run", "load_history", "render_run", "render_runs", "run_view"]

# Commands whose runs go through the lifecycle: the same command resumes them from the ledger.
RESUMABLE = ("screen", "screen --full-text", "extract")


@dataclass
class RunView:
    """One run as ``winnow runs`` shows it; ``as_dict`` is its ``--json`` form."""

    ledger: str
    run_id: str
    command: str
    state: str
    started_at: str
    finished_at: str | None
    seconds: float | None
    models: list[str]
    served_models: list[str]
    template: str | None
    template_sha256: str | None
    protocol_sha256: str | None
    records: int | None
    calls_made: int | None
    calls_reused: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    left: int | None
    left_note: str | None
    resume: str | None
    argv: list[str]
    cwd: str | None
    input_path: str | None
    outputs: dict[str, str] = field(default_factory=dict)
    stopped: str | None = None
    warnings: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None

    def as_dict(self, *, full: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not full:
            data.pop("params")
            data.pop("summary")
        return data


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)
    except ValueError:
        return None


def command_args(run: StoredRun) -> list[str]:
    """The run's arguments after ``winnow``, whether argv was stored with the program or without."""
    argv = list(run.argv)
    if argv and argv[0] == run.command.split()[0]:
        return argv
    return argv[1:]


def resume_command(run: StoredRun) -> str:
    """The command that resumes (or repeats) a run, in the folder it was started in where known."""
    line = shlex.join(["winnow", *command_args(run)])
    return f"cd {shlex.quote(run.cwd)} && {line}" if run.cwd else line


def _models(run: StoredRun) -> list[str]:
    reviewers = run.params.get("reviewers") if isinstance(run.params, dict) else None
    if isinstance(reviewers, list) and reviewers:
        return [str(r.get("model") or f"person: {r.get('name')}") for r in reviewers if isinstance(r, dict)]
    return [run.model] if run.model else []


def run_view(reader: LedgerReader, run: StoredRun) -> RunView:
    """One run's row: from its stored summary, or counted from its calls when it never ended."""
    summary = run.summary if isinstance(run.summary, dict) else None
    stats = summary.get("stats", {}) if summary else {}
    served: list[str] = []
    left: int | None = None
    left_note: str | None = None
    stopped = summary.get("stopped") if summary else None
    resumable = run.command in RESUMABLE
    if summary is not None and "stats" in summary:
        made, reused = stats.get("calls"), stats.get("cached")
        prompt, completion, cost = stats.get("prompt_tokens"), stats.get("completion_tokens"), stats.get("cost_usd")
        if summary.get("served_model"):
            served = [str(summary["served_model"])]
        undecided = summary.get("undecided") or []
        if resumable:
            left = len(undecided)
        state = "stopped" if stopped else ("interrupted" if summary.get("interrupted") else "finished")
        if left:
            unit = "PDF" if run.command != "screen" else "record"
            left_note = f"{left:,} of {run.n_records or 0:,} {unit}(s) without an answer"
    elif run.status == "running":
        totals = reader.call_totals(run.run_id)
        made, reused = totals.attempts, None
        prompt, completion, cost = totals.prompt_tokens, totals.completion_tokens, totals.cost_usd
        state = "unfinished"
        if run.n_records is not None:
            left = max(0, run.n_records - totals.records_answered)
            left_note = (
                f"at most {left:,} of {run.n_records:,} left: the run never recorded its end (still running, or"
                f" killed); {totals.records_answered:,} answered in it, last answer {totals.last_at or 'none'}"
            )
    else:
        made = reused = prompt = completion = None
        cost = None
        state = "finished" if run.status in ("done", "finished") else run.status
    resume = resume_command(run) if resumable and (state != "finished" or left) else None
    return RunView(
        ledger=str(reader.path),
        run_id=run.run_id,
        command=run.command,
        state=state,
        started_at=run.started_at,
        finished_at=run.finished_at,
        seconds=_seconds(run.started_at, run.finished_at),
        models=_models(run),
        served_models=served,
        template=run.template_name,
        template_sha256=run.template_sha256,
        protocol_sha256=run.protocol_sha256,
        records=run.n_records,
        calls_made=made,
        calls_reused=reused,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
        left=left,
        left_note=left_note,
        resume=resume,
        argv=command_args(run),
        cwd=run.cwd,
        input_path=run.input_path,
        outputs=dict(summary.get("outputs") or {}) if summary else {},
        stopped=stopped,
        warnings=list(summary.get("warnings") or []) if summary else [],
        params=run.params,
        summary=summary,
    )


def load_history(ledgers: Iterable[Path], *, limit: int | None = None) -> list[RunView]:
    """Every run of the ledgers, newest first; ``limit`` keeps the newest N (before any call is counted)."""
    stored: list[tuple[Path, StoredRun]] = []
    for path in ledgers:
        with LedgerReader(path) as reader:
            stored += [(path, run) for run in reader.runs()]
    stored.sort(key=lambda pair: (pair[1].started_at, pair[1].run_id), reverse=True)
    if limit:
        stored = stored[:limit]
    views: list[RunView] = []
    readers: dict[Path, LedgerReader] = {}
    try:
        for path, run in stored:
            reader = readers.get(path) or readers.setdefault(path, LedgerReader(path))
            views.append(run_view(reader, run))
    finally:
        for reader in readers.values():
            reader.close()
    return views


def find_run(ledgers: Sequence[Path], run_id: str) -> RunView:
    """One run by its id (a unique prefix is enough).

    Raises:
        InputError: no run, or several, have that id.
    """
    every = load_history(ledgers)
    matches = [v for v in every if v.run_id == run_id] or [v for v in every if v.run_id.startswith(run_id)]
    where = ledgers[0] if len(ledgers) == 1 else ledgers[0].parent
    if not matches:
        raise InputError(where, f"no run {run_id} in {len(ledgers)} ledger(s)")
    if len(matches) > 1:
        shown = ", ".join(v.run_id for v in matches[:5])
        raise InputError(where, f"run id {run_id} is ambiguous: {shown}")
    return matches[0]


# -- terminal views ---------------------------------------------------------------------------


def _when(text: str | None) -> str:
    if not text:
        return "-"
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")


def _cost(view: RunView) -> str:
    if view.cost_usd is None:
        return "cost unknown" if view.calls_made else "no cost"
    return f"${view.cost_usd:,.4f}"


_STATE_STYLE = {"finished": "green", "interrupted": "yellow", "stopped": "red", "unfinished": "yellow"}


def _facts(view: RunView) -> str:
    parts = []
    if view.models:
        parts.append(", ".join(view.models))
    if view.template:
        parts.append(f"{view.template} sha256:{(view.template_sha256 or '')[:12]}")
    if view.records is not None:
        parts.append(f"{view.records:,} records")
    return " · ".join(parts)


def _usage(view: RunView) -> str:
    if view.calls_made is None:
        return ""
    reused = "" if view.calls_reused is None else f", {view.calls_reused:,} reused"
    tokens = f"{view.prompt_tokens or 0:,} in, {view.completion_tokens or 0:,} out"
    return f"calls {view.calls_made:,} made{reused} · tokens {tokens} · {_cost(view)}"


def render_runs(views: Sequence[RunView], *, total: int | None = None) -> Group:
    """Runs as blocks of short lines, newest first, so they read at 80 columns (``--json`` is the twin)."""
    parts: list[RenderableType] = []
    for view in views:
        head = Text()
        head.append(view.run_id, style="bold")
        head.append("  ")
        head.append(view.state, style=_STATE_STYLE.get(view.state, ""))
        head.append(f"  {_when(view.started_at)}, {_duration(view.seconds)}  {Path(view.ledger).name}")
        parts.append(head)
        lines = [Text(shlex.join(["winnow", *view.argv]))]
        facts = _facts(view)
        if facts:
            lines.append(Text(facts, style="dim"))
        usage = _usage(view)
        if usage:
            lines.append(Text(usage, style="dim"))
        if view.stopped:
            lines.append(Text(f"stopped: {view.stopped}", style="red"))
        if view.left_note:
            lines.append(Text(f"left: {view.left_note}", style="yellow"))
        if view.resume:
            lines.append(Text(f"resume: {view.resume}"))
        parts += [Padding(line, (0, 0, 0, 2), expand=False) for line in lines]
        parts.append(Text(""))
    if total is not None and total > len(views):
        parts.append(Text(f"{len(views)} of {total} runs shown; -n 0 shows all", style="dim"))
    if not views:
        parts.append(Text("no runs"))
    return Group(*parts)


def render_run(view: RunView) -> Group:
    """One run in full: every stored field, its argv, the protocol hash and the summary."""
    lines: list[tuple[str, str]] = [
        ("run", view.run_id),
        ("ledger", view.ledger),
        ("command", shlex.join(["winnow", *view.argv])),
        ("folder", view.cwd or "not recorded (ledger from before winnow recorded it)"),
        ("state", view.state),
        ("started", view.started_at),
        ("finished", view.finished_at or "-"),
        ("time", _duration(view.seconds)),
        ("models", ", ".join(view.models) or "-"),
        ("served by", ", ".join(view.served_models) or "-"),
        ("template", f"{view.template or '-'} sha256:{view.template_sha256 or '-'}"),
        ("protocol", f"sha256:{view.protocol_sha256 or '-'}"),
        ("input", view.input_path or "-"),
        ("records", "-" if view.records is None else f"{view.records:,}"),
    ]
    usage = _usage(view)
    if usage:
        lines.append(("usage", usage))
    for name, path in view.outputs.items():
        lines.append((name, path))
    if view.stopped:
        lines.append(("stopped", view.stopped))
    if view.left_note:
        lines.append(("left", view.left_note))
    if view.resume:
        lines.append(("resume", view.resume))
    for warning in view.warnings:
        lines.append(("note", warning))
    counts = (view.summary or {}).get("counts")
    if counts:
        lines.append(("outcomes", ", ".join(f"{k} {v}" for k, v in counts.items())))
    if view.params:
        import json

        lines.append(("parameters", json.dumps(view.params, sort_keys=True, ensure_ascii=False, default=str)))
    parts: list[RenderableType] = []
    for key, value in lines:
        text = Text()
        text.append(f"{key:<11}", style="bold")
        text.append(value)
        parts.append(text)
    return Group(*parts)
