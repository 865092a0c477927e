"""The batch route: walk the units, answer what the ledger and results files hold, send the rest in batches.

One walk over the units (``pass``) does everything a unit needs, one window of
records at a time, without holding the run in memory:

1. an answer already in the ledger is used as it is;
2. lines for the unit's cache key in results files (a finished batch's output and
   error files, or ``--batch-results``) are ingested: each becomes a ledger row as
   a synchronous answer would, validated by the same check;
3. a key sent in a batch that has not finished is pending: it is never sent again;
4. a key a finished batch did not answer (it expired, failed or was cancelled, or
   its line is missing) gets a row saying so;
5. anything else needs a request: the prompt, or after a failure in this run the
   follow-up the synchronous engine would send (a repair carrying the validation
   error, or the same request again), within the same bounds (``--max-repairs``,
   ``--max-attempts``). It goes into a request file, or with ``--batch-fallback
   sync`` straight to the synchronous engine.

When nothing is pending and no request was written, the walk also wrote the table
(streamed). Otherwise the new request files are uploaded and their batches created,
the route waits (or, with ``--no-wait``, exits), and walks again. Every step is
recorded in the ledger before the next one, so a run killed anywhere resumes with
the same command: a batch whose create was in flight is found by its metadata,
never created twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from winnow.backends.base import ModelRequest, ModelResponse
from winnow.batch.files import Part, RequestFiles, ResultIndex, ResultLine, Source, request_line
from winnow.batch.options import BatchOptions, poll_interval_s
from winnow.batch.provider import BatchProvider, RemoteBatch
from winnow.engine import (
    CallEngine,
    CallResult,
    CallTask,
    repair_request,
)
from winnow.errors import BackendError, BackendStopped, InputError, Interrupted
from winnow.ledger import BATCH_OPEN, BatchRow, CallRow, Ledger, utc_now

if TYPE_CHECKING:
    from winnow.backends.openai_compat import OpenAICompatibleModel
    from winnow.lifecycle import Outcome, Progress, Stage, Unit

WINDOW = 512
FINISHED = ("completed", "expired", "failed", "cancelled")
POLL_START_S, POLL_MAX_S = 5.0, 60.0
CANCELLED = "the batch was cancelled (--batch-cancel); re-run without it to send the request again"


@dataclass
class Failure:
    """This run's failed attempts at one key, and what the next request builds on."""

    request: ModelRequest
    kind: str
    error: str
    response: ModelResponse | None = None
    answers: int = 0  # answers that failed validation
    tries: int = 0  # requests that got no answer (error lines, missing lines)


@dataclass
class BatchReport:
    """The batch part of the run summary (``RunSummary.batch``)."""

    submitted: list[str] = field(default_factory=list)
    requests_sent: int = 0
    open: list[str] = field(default_factory=list)
    open_requests: int = 0
    files_written: list[str] = field(default_factory=list)
    requests_written: int = 0
    results_read: list[str] = field(default_factory=list)
    ingested: int = 0
    ingested_failed: int = 0
    missing: int = 0
    unmatched: int = 0
    cancelled: list[str] = field(default_factory=list)
    other_open: int = 0
    totals: dict[str, dict[str, Any]] = field(default_factory=dict)
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Window:
    """A window of units between being resolved and having its rows built."""

    units: list[Unit]
    settled: dict[int, CallResult]
    fresh: list[CallTask]
    saving: Future[list[sqlite3.Row | None]] | None


@dataclass
class _Walk:
    """What one pass over the units found."""

    pending: set[str] = field(default_factory=set)
    parts: list[str] = field(default_factory=list)
    requests: int = 0
    complete: bool = False


class BatchRun:
    """One command's batch route over one stage, model, engine and ledger."""

    def __init__(
        self, options: BatchOptions, stage: Stage, engine: CallEngine, out: Path, progress: Progress | None
    ) -> None:
        from winnow.backends.openai_compat import OpenAICompatibleModel

        model = engine.model
        if not isinstance(model, OpenAICompatibleModel):
            raise InputError(None, f"{model.model_id}: the batch route needs an openai: model (OpenAI or a cluster)")
        self.options = options
        self.stage = stage
        self.engine = engine
        self.model: OpenAICompatibleModel = model
        self.ledger: Ledger = engine.ledger
        self.out = out
        self.progress = progress
        self.method = model.batch_method()
        self.workdir = self.ledger.path.with_name(f"{self.ledger.path.stem}.batches")
        self.failures: dict[str, Failure] = {}
        self.report = BatchReport()
        self._batches: dict[str, Any] = {}
        self._indexed: set[str] = set()
        self._provider: BatchProvider | None = None
        self._first = True
        self._rows: list[CallRow] = []
        self._matched = 0
        self._keeper: tuple[ThreadPoolExecutor, Ledger] | None = None

    # -- the loop ----------------------------------------------------------------
    def run(self) -> Outcome:
        from winnow.lifecycle import Tally

        results = [self._results_source(path) for path in self.options.results_files]
        tally = Tally(self.stage)
        try:
            while True:
                tally = Tally(self.stage)
                walk = self._walk(results, tally)
                results = []
                if walk.complete:
                    return self._outcome(tally, written=True, status="finished")
                if not self.options.submit and not self.options.cancel:
                    self._note_open(walk.pending)
                    return self._outcome(tally, written=False, status="written" if walk.requests else "waiting")
                relevant = self._send(walk.pending | set(walk.parts), create=not self.options.cancel)
                if self.options.cancel:
                    self._cancel(relevant)
                elif self.options.wait:
                    self._wait(relevant)
                elif not self._poll(relevant):
                    self._note_open(relevant)
                    return self._outcome(tally, written=False, status="waiting")
        except (Interrupted, KeyboardInterrupt):
            self._note_open(self._open_ids())
            return self._outcome(tally, written=False, status="interrupted", interrupted=True)
        except BackendStopped as exc:
            return self._outcome(tally, written=False, status="interrupted", interrupted=True, stopped=exc.one_line())
        except BackendError as exc:
            self._note_open(self._open_ids())
            return self._outcome(tally, written=False, status="interrupted", interrupted=True, stopped=exc.one_line())

    def _outcome(
        self, tally: Any, *, written: bool, status: str, interrupted: bool = False, stopped: str | None = None
    ) -> Outcome:
        from winnow.lifecycle import Outcome

        self.report.totals = self.ledger.route_totals(self.engine.run_id)
        if not written:
            self.report.hint = self._hint(status)
        return Outcome(
            counts=tally.counts if written else dict.fromkeys(self.stage.outcomes, 0),
            undecided=tally.undecided if written else [],
            served_model=tally.served_model,
            interrupted=interrupted,
            stopped=stopped,
            written=written,
            status=status,
            report=self.stage.report([]),
            batch=self.report.to_dict(),
        )

    def _hint(self, status: str) -> str:
        if status == "written":
            files = " ".join(f"-i {name}" for name in self.report.files_written[:1])
            return (
                f"answer the request file(s) with a batch runner (e.g. vllm run-batch {files} -o results.jsonl "
                f"--model {self.model.name}), then ingest them with --batch-results"
            )
        if self.report.open:
            return "the batches keep running at the provider; re-run the same command to collect their answers"
        return "re-run the same command to go on"

    # -- one walk over the units -----------------------------------------------------
    def _walk(self, results: list[Source], tally: Any) -> _Walk:
        """Resolve every task; write the table when nothing is left to wait for."""
        walk = _Walk()
        index = ResultIndex()
        for source in [*results, *self._finished_sources()]:
            index.add(source)
        writer = self._request_files(walk)
        scratch = self.out.with_name(f".{self.out.stem}.batch{self.out.suffix}")
        total = self.stage.unit_count() or 0
        description = "batch: reading answers" if index.lines else "batch: preparing requests"
        bar = self.progress(total, description) if self.progress else None
        display = bar.__enter__() if bar is not None else None
        state = {"open": False}
        self._matched = 0

        def emit(window: _Window) -> Iterator[dict[str, Any]]:
            resolved = self._settle(window)
            for unit in window.units:
                results = [resolved.get(id(task)) for task in unit.tasks]
                if any(r is None for r in results):
                    state["open"] = True
                    if display is not None:
                        display.advance(None)
                    continue
                if state["open"]:
                    if display is not None:
                        display.advance(None)
                    continue
                row = self.stage.row(unit, results)
                outcome = tally.add(unit, row)
                if display is not None:
                    display.advance(outcome)
                yield row

        def rows() -> Iterator[dict[str, Any]]:
            # A window's rows are built while the ledger stores the next window's answers.
            previous: _Window | None = None
            for units in _windows(self.stage.iter_units(self.model), WINDOW):
                current = self._resolve_window(units, index, writer, walk)
                if previous is not None:
                    yield from emit(previous)
                previous = current
            if previous is not None:
                yield from emit(previous)

        try:
            self.stage.write(scratch, rows())
            if writer is not None:
                writer.close()
        except BaseException:
            if writer is not None:
                writer.abandon()
            scratch.unlink(missing_ok=True)
            raise
        finally:
            self._store_done()
            index.close()
            if bar is not None:
                bar.__exit__(None, None, None)
        self._first = False
        self.report.unmatched += index.lines - self._matched
        self._settle_ingested()
        walk.complete = not state["open"] and not walk.pending and not walk.requests
        if walk.complete:
            scratch.replace(self.out)
        else:
            scratch.unlink(missing_ok=True)
        return walk

    def _resolve_window(
        self, window: list[Unit], index: ResultIndex, writer: RequestFiles | None, walk: _Walk
    ) -> _Window:
        """Resolve the window's tasks: ingest their lines, note the pending, write or send their requests."""
        tasks = [task for unit in window for task in unit.tasks]
        keys = [task.cache_key for task in tasks]
        answered = self.ledger.answers(keys)
        open_keys = [k for k in keys if k not in answered]
        holding = self.ledger.batches_holding(open_keys) if open_keys else {}
        stored = self.ledger.batch_rows(open_keys) if open_keys and (index.lines or self._indexed) else {}
        settled: dict[int, CallResult] = {}
        fresh: list[CallTask] = []
        sync: list[CallTask] = []
        for task in tasks:
            key = task.cache_key
            row = answered.get(key)
            if row is not None:
                if self._first:
                    self.engine.stats.cached += 1
                settled[id(task)] = CallResult(task=task, row=row, cached=True)
                continue
            if self._ingest(task, index, holding.get(key, []), stored):
                fresh.append(task)
                continue
            waiting = [bid for bid, _ in holding.get(key, []) if self._open(bid)]
            if waiting:
                walk.pending.update(waiting)
                continue
            request, given_up = self._next_request(task)
            # A first request goes into a batch file when there is one; what a batch failed may go sync.
            to_sync = self.options.fallback == "sync" and (writer is None or key in self.failures)
            if given_up is not None:
                settled[id(task)] = given_up
            elif to_sync:
                sync.append(replace(task, request=request))
            elif writer is not None:
                follow_up = None if request is task.request else json.dumps(list(request.messages), ensure_ascii=False)
                writer.add(key, task.record_id, request_line(key, self.model.request_body(self.method, request)))
                self._follow_ups[key] = follow_up
                walk.requests += 1
            else:
                settled[id(task)] = self._no_answer(task)
        # The window's ingested lines go into the ledger in one transaction, on the store's own
        # connection in a thread of its own; a crash before it commits loses nothing (the results
        # files are still on disk, and are ingested again).
        saving = self._store_rows(self._rows) if self._rows else None
        self._rows = []
        if sync:
            if saving is not None:
                saving.result()
            for task, result in self._call_sync(sync):
                settled[id(task)] = result
        return _Window(window, settled, fresh, saving)

    def _settle(self, window: _Window) -> dict[int, CallResult]:
        """The window's settled results, with the rows of the answers it ingested once they are stored."""
        stored = window.saving.result() if window.saving is not None else []
        answers = {row["cache_key"]: row for row in stored if row is not None and row["ok"]}
        missing = [t.cache_key for t in window.fresh if t.cache_key not in answers]
        if missing:  # answered elsewhere first (another process, or the same record twice)
            answers.update(self.ledger.answers(missing))
        for task in window.fresh:
            window.settled[id(task)] = CallResult(task=task, row=answers[task.cache_key], cached=False)
        return window.settled

    def _store_rows(self, rows: list[CallRow]) -> Future[list[sqlite3.Row | None]]:
        if self._keeper is None:
            self._keeper = (
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="winnow-store"),
                Ledger(self.ledger.path),
            )
        executor, ledger = self._keeper
        return executor.submit(ledger.add_calls, rows)

    def _store_done(self) -> None:
        """Wait for the store's last transaction, and close its connection."""
        if self._keeper is not None:
            executor, ledger = self._keeper
            executor.shutdown(wait=True)
            ledger.close()
            self._keeper = None

    # -- ingesting -------------------------------------------------------------------
    def _ingest(
        self,
        task: CallTask,
        index: ResultIndex,
        holding: list[tuple[str, str | None]],
        stored: dict[tuple[str, str], Any],
    ) -> bool:
        """Store what results files and finished batches say about this task; True when it is now answered."""
        key = task.cache_key
        sent = dict(holding)
        # A cluster's results answer the request last written for the key in a --batch-file.
        written = next((m for bid, m in reversed(holding) if self._kind(bid) == "file"), None)
        seen: set[str] = set()
        for source, line in index.lines_for(key) if key in index else ():
            self._matched += 1
            seen.add(source.batch_id)
            request = self._request_sent(task, sent.get(source.batch_id, written))
            if self._take(task, request, source.batch_id, line, stored.get((source.batch_id, key))):
                return True
        for batch_id, messages in holding:
            if batch_id in seen or batch_id not in self._indexed:
                continue
            # A finished batch with no line for this request: it expired, failed or was cancelled first.
            request = self._request_sent(task, messages)
            previous = stored.get((batch_id, key))
            if previous is not None:
                self._remember(task, request, previous["error_kind"], previous["error"])
                continue
            batch = self._batches[batch_id]
            status = batch["status"] if batch["status"] != "completed" else "completed without a line for it"
            kind = "batch_cancelled" if batch["status"] == "cancelled" else "batch_missing"
            error = f"batch {batch['provider_batch_id'] or batch_id}: {status} before answering this request"
            if batch["error"]:
                error += f" ({batch['error']})"
            self._store(task, request, batch_id, error=error, error_kind=kind)
            self.report.missing += 1
            self._remember(task, request, kind, error)
        return False

    def _take(self, task: CallTask, request: ModelRequest, batch_id: str, line: ResultLine, previous: Any) -> bool:
        """One results line for this task: stored (unless it already was) and remembered if it failed."""
        if previous is not None:
            if previous["ok"]:
                return True
            response = ModelResponse(
                text=previous["raw_response"] or "",
                served_model=previous["served_model"] or "",
                completion_tokens=previous["completion_tokens"],
                finish_reason="length" if (previous["completion_tokens"] or 0) >= request.max_tokens else "stop",
            )
            self._remember(task, request, previous["error_kind"], previous["error"], response=response)
            return False
        self.report.ingested += 1
        if line.body is None:
            # As for a synchronous call: a refused request (4xx but 408, 409, 429) is not sent again.
            refused = line.status is not None and 400 <= line.status < 500 and line.status not in (408, 409, 429)
            kind = "batch_refused" if refused else "batch_error"
            error = f"batch answer: {line.error}"
            self._store(task, request, batch_id, error=error, error_kind=kind)
            self.report.ingested_failed += 1
            self._remember(task, request, kind, error)
            return False
        try:
            response = self.model.response_from_body(line.body, self.method, request)
        except BackendError as exc:
            self._store(task, request, batch_id, error=str(exc), error_kind="bad_body")
            self.report.ingested_failed += 1
            self._remember(task, request, "bad_body", str(exc))
            return False
        try:
            parsed = task.validate(response.text)
        except ValueError as exc:
            self._store(task, request, batch_id, response=response, error=str(exc), error_kind="invalid_output")
            self.report.ingested_failed += 1
            self._remember(task, request, "invalid_output", str(exc), response=response)
            return False
        self._store(task, request, batch_id, response=response, parsed=parsed)
        return True

    def _remember(
        self,
        task: CallTask,
        request: ModelRequest,
        kind: str,
        error: str,
        *,
        response: ModelResponse | None = None,
    ) -> None:
        failure = self.failures.get(task.cache_key)
        if failure is None:
            failure = self.failures[task.cache_key] = Failure(request=request, kind=kind, error=error)
        failure.request, failure.kind, failure.error, failure.response = request, kind, error, response
        if kind == "invalid_output":
            failure.answers += 1
        else:
            failure.tries += 1

    def _request_sent(self, task: CallTask, messages: str | None) -> ModelRequest:
        """The request a batch held for this task: the prompt, or a follow-up's own messages."""
        if messages is None:
            return task.request
        return replace(task.request, messages=tuple(json.loads(messages)))

    def _store(
        self,
        task: CallTask,
        request: ModelRequest,
        batch_id: str,
        *,
        response: ModelResponse | None = None,
        parsed: dict[str, Any] | None = None,
        error: str | None = None,
        error_kind: str | None = None,
    ) -> None:
        """One ingested line as a ledger row, stored with its window: a synchronous answer's row, plus the batch."""
        failure = self.failures.get(task.cache_key)
        attempt = 1 + (failure.answers + failure.tries if failure else 0)
        row = self.engine.call_row(
            task, request, attempt, response=response, parsed=parsed, error=error, error_kind=error_kind,
            batch_id=batch_id,
        )  # fmt: skip
        self._rows.append(row)

    # -- what to ask next ----------------------------------------------------------
    def _next_request(self, task: CallTask) -> tuple[ModelRequest, CallResult | None]:
        """The request this task needs now, or a final error once its attempts are spent."""
        failure = self.failures.get(task.cache_key)
        if failure is None:
            return task.request, None
        config = self.engine.config
        if failure.kind == "batch_cancelled":
            return task.request, self._give_up(task, CANCELLED, "batch_cancelled")
        if failure.kind == "batch_refused":
            return task.request, self._give_up(task, failure.error, "batch_refused")
        if failure.kind == "invalid_output":
            if failure.answers > config.max_repairs or failure.response is None:
                last = failure.response.text[:200] if failure.response is not None else ""
                problem = f"model output invalid after {failure.answers} answer(s); last answer: {last!r}"
                return task.request, self._give_up(task, problem, "invalid_output")
            return repair_request(task.request, failure.request, failure.response, ValueError(failure.error)), None
        if failure.tries >= config.retry.max_attempts:
            return task.request, self._give_up(task, failure.error, failure.kind)
        return failure.request, None

    def _give_up(self, task: CallTask, error: str, kind: str) -> CallResult:
        self.engine._count_error(kind)
        return CallResult(task=task, row=None, cached=False, error=error, error_kind=kind)

    def _no_answer(self, task: CallTask) -> CallResult:
        """A task this run may not send (--batch-results alone, --batch-cancel) stays undecided, with why."""
        failure = self.failures.get(task.cache_key)
        if self.options.cancel:
            why = failure.error if failure is not None else "not sent: --batch-cancel sends nothing"
            return CallResult(task=task, row=None, cached=False, error=why, error_kind="batch_unanswered")
        why = failure.error if failure is not None else "no answer in the results file(s)"
        error = f"{why}; send it again with --batch-file FILE (a cluster) or --batch-fallback sync"
        return CallResult(task=task, row=None, cached=False, error=error, error_kind="batch_unanswered")

    def _call_sync(self, tasks: list[CallTask]) -> Iterator[tuple[CallTask, CallResult]]:
        """``--batch-fallback sync``: the synchronous engine answers, within what is left of each task's repairs."""
        if not tasks:
            return
        by_budget: dict[int, list[CallTask]] = {}
        for task in tasks:
            failure = self.failures.get(task.cache_key)
            used = failure.answers if failure is not None else 0
            by_budget.setdefault(max(0, self.engine.config.max_repairs - used), []).append(task)
        for repairs, group in by_budget.items():
            engine = self.engine
            if repairs != engine.config.max_repairs:
                engine = CallEngine(
                    model=self.engine.model,
                    ledger=self.ledger,
                    run_id=self.engine.run_id,
                    stage=self.engine.stage,
                    template_name=self.engine.caller.template_name,
                    template_sha256=self.engine.caller.template_sha256,
                    config=replace(self.engine.config, max_repairs=repairs),
                    prices=self.engine.prices,
                )
                engine.stats = self.engine.stats
            done: list[CallResult] = []
            engine.run(group, done.append)
            for result in done:
                yield result.task, result

    # -- request files and batches --------------------------------------------------
    def _request_files(self, walk: _Walk) -> RequestFiles | None:
        """Where this walk's new requests go: the batch folder (--batch), the --batch-file path, or nowhere."""
        self._follow_ups: dict[str, str | None] = {}
        run_id = self.engine.run_id
        if self.options.submit and not self.options.cancel:
            start = len(self.report.submitted) + len(walk.parts)

            def api_name(n: int) -> Path:
                return self.workdir / f"{run_id}-{start + n:03d}.requests.jsonl"

            def api_part(part: Part) -> None:
                batch_id = part.path.name.removesuffix(".requests.jsonl")
                requests = [(key, record_id, self._follow_ups.pop(key, None)) for key, record_id in part.requests]
                self.ledger.add_batch(self._batch_row(batch_id, "api", part, "written"), requests)
                walk.parts.append(batch_id)

            return RequestFiles(name=api_name, on_part=api_part)
        if self.options.requests_file is not None:
            target = self.options.requests_file

            def file_name(n: int) -> Path:
                return target if n == 1 else target.with_name(f"{target.stem}-{n:03d}{target.suffix}")

            def file_part(part: Part) -> None:
                # Every request is recorded, so a results line is read against the request it answers.
                requests = [(key, record_id, self._follow_ups.pop(key, None)) for key, record_id in part.requests]
                batch_id = f"{run_id}-file-{len(self.report.files_written) + 1:03d}"
                self.ledger.add_batch(self._batch_row(batch_id, "file", part, "written"), requests)
                self.report.files_written.append(str(part.path))
                self.report.requests_written += len(part.requests)

            return RequestFiles(name=file_name, on_part=file_part)
        return None

    def _batch_row(self, batch_id: str, kind: str, part: Part | None, status: str, count: int = 0) -> BatchRow:
        local = None
        if part is not None:
            local = str(part.path) if kind != "api" else part.path.name
        return BatchRow(
            batch_id=batch_id,
            kind=kind,
            run_id=self.engine.run_id,
            stage=self.stage.name,
            model=self.model.model_id,
            endpoint=self.model.identity().get("base_url"),
            local_path=local,
            request_count=len(part.requests) if part is not None else count,
            bytes=part.bytes if part is not None else None,
            status=status,
        )

    def _results_source(self, path: Path) -> Source:
        """A --batch-results file as a batch of kind ``results``; the same file read twice is the same batch."""
        digest = hashlib.sha256()
        lines = 0
        try:
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
                    lines += chunk.count(b"\n")
        except OSError as exc:
            raise InputError(path, f"cannot read results file: {exc.strerror or exc}") from None
        batch_id = f"results-{digest.hexdigest()[:16]}"
        self.ledger.add_batch(
            BatchRow(
                batch_id=batch_id,
                kind="results",
                run_id=self.engine.run_id,
                stage=self.stage.name,
                model=self.model.model_id,
                endpoint=None,
                local_path=str(path),
                request_count=lines,
                bytes=path.stat().st_size,
                status="ingesting",
            )
        )
        self.report.results_read.append(str(path))
        return Source(batch_id, path)

    def _row(self, batch_id: str) -> Any:
        batch = self._batches.get(batch_id)
        if batch is None:
            batch = self._batches[batch_id] = self.ledger.batch(batch_id)
        return batch

    def _kind(self, batch_id: str) -> str | None:
        batch = self._row(batch_id)
        return str(batch["kind"]) if batch is not None else None

    def _open(self, batch_id: str) -> bool:
        """A batch sent (or about to be) whose answers may still come: its requests are not sent again.

        One only written never reached the provider: it holds back another ``--batch`` run (which
        sends it), not a request file for a cluster or a synchronous call.
        """
        batch = self._row(batch_id)
        if batch is None or batch["kind"] != "api" or batch["status"] not in BATCH_OPEN:
            return False
        return batch["status"] != "written" or self.options.submit

    def _refresh(self, batch_id: str) -> Any:
        batch = self._batches[batch_id] = self.ledger.batch(batch_id)
        return batch

    def _finished_sources(self) -> list[Source]:
        """Output and error files of finished API batches not yet ingested, downloaded where needed."""
        sources = []
        self._indexed = set()
        self._batches = {}
        for batch in self.ledger.batches(kind="api", statuses=FINISHED):
            batch_id = batch["batch_id"]
            self._batches[batch_id] = batch
            self._indexed.add(batch_id)
            for file_id, suffix in ((batch["output_file_id"], "output"), (batch["error_file_id"], "errors")):
                if not file_id:
                    continue
                path = self.workdir / f"{batch_id}.{suffix}.jsonl"
                if not path.is_file():
                    self.workdir.mkdir(parents=True, exist_ok=True)
                    self._client().download(file_id, path)
                sources.append(Source(batch_id, path))
        return sources

    def _settle_ingested(self) -> None:
        """A finished batch whose every request now has a row (or an answer) is ingested; its files go."""
        for batch_id in sorted(self._indexed):
            if self.ledger.batch_unstored(batch_id):
                continue
            self.ledger.update_batch(batch_id, status="ingested", ingested_at=utc_now())
            for suffix in ("requests", "output", "errors"):
                (self.workdir / f"{batch_id}.{suffix}.jsonl").unlink(missing_ok=True)
        for batch in self.ledger.batches(kind="results", statuses=("ingesting",)):
            if batch["run_id"] == self.engine.run_id:
                self.ledger.update_batch(batch["batch_id"], status="ingested", ingested_at=utc_now())
        self._indexed = set()

    def _client(self) -> BatchProvider:
        if self._provider is None:
            self._provider = BatchProvider(
                self.model.client(),
                where=self.model.model_id,
                retry=self.engine.config.retry,
                secret=self.model._api_key,
            )
        return self._provider

    def _send(self, wanted: set[str], *, create: bool = True) -> set[str]:
        """Upload and create every open batch this run waits on that the provider does not have yet.

        A batch whose create may have got through before a kill is looked up by its metadata
        first. With ``create`` False (``--batch-cancel``) nothing new is sent: a batch the
        provider never got is abandoned, which sends nothing twice.
        """
        relevant = set()
        for batch_id in sorted(wanted):
            batch = self._refresh(batch_id)
            if batch is None or batch["kind"] != "api":
                continue
            relevant.add(batch_id)
            if batch["status"] == "written":
                path = self.workdir / str(batch["local_path"])
                if not path.is_file() or not create:
                    # Never uploaded: nothing was sent, so its requests may be sent again.
                    why = f"request file {path.name} is gone" if create else "cancelled before it was sent"
                    self.ledger.update_batch(batch_id, status="abandoned", error=why)
                    relevant.discard(batch_id)
                    continue
                file_id = self._client().upload(path)
                self.ledger.update_batch(batch_id, status="uploaded", input_file_id=file_id)
                batch = self._refresh(batch_id)
            if batch["status"] == "uploaded":
                since = int(datetime.fromisoformat(batch["updated_at"]).timestamp()) - 3600
                remote = self._client().find(batch_id, batch["input_file_id"], since=since)
                if remote is None and not create:
                    self.ledger.update_batch(batch_id, status="abandoned", error="cancelled before it was created")
                    relevant.discard(batch_id)
                    continue
                if remote is None:
                    remote = self._client().create(batch["input_file_id"], batch_id)
                self._record(batch_id, remote, submitted=True)
                self.report.submitted.append(remote.id)
                self.report.requests_sent += int(batch["request_count"])
                (self.workdir / str(batch["local_path"])).unlink(missing_ok=True)
        others = [b for b in self.ledger.batches(kind="api", statuses=BATCH_OPEN) if b["batch_id"] not in relevant]
        self.report.other_open = len(others)
        return relevant

    def _record(self, batch_id: str, remote: RemoteBatch, *, submitted: bool = False) -> None:
        fields: dict[str, Any] = {
            "provider_batch_id": remote.id,
            "status": remote.status,
            "request_counts_json": json.dumps(
                {"total": remote.total, "completed": remote.completed, "failed": remote.failed}
            ),
            "output_file_id": remote.output_file_id,
            "error_file_id": remote.error_file_id,
        }
        if submitted:
            fields["submitted_at"] = utc_now()
        if remote.status in FINISHED:
            fields["finished_at"] = utc_now()
            if remote.errors:
                fields["error"] = remote.errors
        self.ledger.update_batch(batch_id, **fields)
        self._refresh(batch_id)

    def _open_ids(self) -> set[str]:
        return {b["batch_id"] for b in self.ledger.batches(kind="api", statuses=BATCH_OPEN)}

    def _note_open(self, batch_ids: Iterable[str]) -> None:
        self.report.open = []
        self.report.open_requests = 0
        for batch_id in sorted(batch_ids):
            batch = self.ledger.batch(batch_id)
            if batch is not None and batch["status"] in BATCH_OPEN:
                self.report.open.append(batch["provider_batch_id"] or batch_id)
                self.report.open_requests += int(batch["request_count"])

    def _poll(self, relevant: set[str]) -> bool:
        """--no-wait: look once; True when a batch this run waits on has finished (its answers can be taken)."""
        finished = False
        for batch_id in sorted(relevant):
            batch = self._batches[batch_id]
            if batch["status"] in BATCH_OPEN and batch["provider_batch_id"]:
                self._record(batch_id, self._client().retrieve(batch["provider_batch_id"]))
            finished = finished or self._batches[batch_id]["status"] in FINISHED
        return finished

    def _wait(self, relevant: set[str]) -> None:
        """Poll until every batch this run waits on has finished, with a progress bar of requests done."""
        fixed = poll_interval_s()
        interval = fixed or POLL_START_S
        total = sum(int(self._refresh(b)["request_count"]) for b in relevant)
        bar = self.progress(total, "batch: waiting") if self.progress else None
        display = bar.__enter__() if bar is not None else None
        try:
            while True:
                done = 0
                running = 0
                for batch_id in sorted(relevant):
                    batch = self._batches[batch_id]
                    if batch["status"] in BATCH_OPEN and batch["provider_batch_id"]:
                        self._record(batch_id, self._client().retrieve(batch["provider_batch_id"]))
                        batch = self._batches[batch_id]
                    counts = json.loads(batch["request_counts_json"] or "{}")
                    if batch["status"] in BATCH_OPEN:
                        running += 1
                        done += int(counts.get("completed", 0)) + int(counts.get("failed", 0))
                    else:
                        done += int(batch["request_count"])
                if display is not None and hasattr(display, "show"):
                    display.show(done, f"{running} batch(es) running")
                if not running:
                    return
                try:
                    time.sleep(interval)
                except KeyboardInterrupt:
                    raise Interrupted("interrupted while waiting; the batches keep running") from None
                if fixed is None:
                    interval = min(POLL_MAX_S, interval * 1.5)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)

    def _cancel(self, relevant: set[str]) -> None:
        """--batch-cancel: cancel this run's open batches, then wait until the provider says they stopped."""
        for batch_id in sorted(relevant):
            batch = self._batches[batch_id]
            if batch["status"] in BATCH_OPEN and batch["provider_batch_id"]:
                self._record(batch_id, self._client().cancel(batch["provider_batch_id"]))
                self.report.cancelled.append(batch["provider_batch_id"])
        self._wait(relevant)


def _windows(units: Iterable[Unit], size: int) -> Iterator[list[Unit]]:
    iterator = iter(units)
    while window := list(islice(iterator, size)):
        yield window


def run_batch(options: BatchOptions, stage: Stage, engine: CallEngine, out: Path, progress: Progress | None) -> Outcome:
    """The batch route for one run (the lifecycle's alternative to the synchronous engine)."""
    return BatchRun(options, stage, engine, out, progress).run()
