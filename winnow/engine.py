"""Runs many model calls: cache look-up, rate limits, retries, repairs, ledger rows.

Screening and extraction both describe their work as ``CallTask`` objects and get
``CallResult`` objects back; how calls are made safely lives only here. Worker
threads write their own ledger rows the moment an attempt ends, so nothing that
was answered is lost to a crash, and a result is never paid for twice because the
ledger is asked first.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from winnow.backends.base import Model, ModelRequest, ModelResponse
from winnow.errors import BackendError, BackendStopped, Interrupted, ModelProcessDied, TransientBackendError
from winnow.ledger import CallRow, Ledger
from winnow.limits import RateLimiter
from winnow.prices import PriceTable
from winnow.retry import RetryPolicy

REPAIR_MESSAGE = (
    "Your answer did not match the required JSON schema: {problem}. Reply again with only the corrected JSON object."
)
CUT_OFF_MESSAGE = (
    "Your answer was cut off at the {max_tokens}-token limit before the JSON object was complete. "
    "Reply again with the complete JSON object, and keep every text value short."
)


@dataclass(frozen=True, eq=False)
class Caller:
    """Who answers a task: a model and the template its prompt came from.

    A run with one model has one caller, the engine's own. A panel of reviewers gives
    each reviewer's tasks its caller, so reviewers share the workers, each caller gets
    its own rate limiter from the engine, and each answer is stored under its own model
    and template.
    """

    model: Model
    template_name: str
    template_sha256: str

    @property
    def workers(self) -> int | None:
        return self.model.max_concurrency


@dataclass(frozen=True)
class CallTask:
    """One unit of model work, identified for caching by ``cache_key``; ``caller`` None: the engine's own."""

    record_id: str
    record_sha256: str
    request: ModelRequest
    validate: Callable[[str], dict[str, Any]]
    cache_key: str
    caller: Caller | None = None
    # The ledger's JSON of ``request.messages`` when it was made ahead (``winnow.prefetch``), with
    # the messages it encodes: used only for those very messages, never for a repair's.
    prompt_json: tuple[object, str] | None = None


@dataclass
class CallResult:
    task: CallTask
    row: sqlite3.Row | None
    cached: bool
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.row is not None and bool(self.row["ok"])


@dataclass
class RunStats:
    calls: int = 0
    retried: int = 0
    failed_attempts: int = 0
    repairs: int = 0
    cached: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = 0.0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    # How often a model's process died and was replaced, and the first such message (the run went on).
    crashes: int = 0
    first_crash: str | None = None


@dataclass(frozen=True)
class EngineConfig:
    concurrency: int = 4
    rpm: float | None = None
    tpm: float | None = None
    max_repairs: int = 2
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def schema_sha256(schema: dict[str, Any]) -> str:
    """The schema part of a cache key; a run hashes its one schema once, not once per task."""
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()


# The JSON of the last message seen with each role and set of options, kept by the identity
# of its text, by (role, ensure_ascii, sort_keys): (content, its JSON). See ``messages_json``.
_SHARED_JSON: dict[tuple[str, bool, bool], tuple[str, str]] = {}
# One encoder per set of options: ``json.dumps`` with options builds a new one per call.
_ENCODERS = {
    (ensure_ascii, sort_keys): json.JSONEncoder(ensure_ascii=ensure_ascii, sort_keys=sort_keys)
    for ensure_ascii in (True, False)
    for sort_keys in (True, False)
}


def json_text(value: Any, *, ensure_ascii: bool = True, sort_keys: bool = False) -> str:
    """``json.dumps(value, ensure_ascii=..., sort_keys=...)`` with a kept encoder (a few us a call less)."""
    return _ENCODERS[ensure_ascii, sort_keys].encode(value)


def messages_json(messages: Sequence[Mapping[str, str]], *, ensure_ascii: bool = True, sort_keys: bool = False) -> str:
    """``json.dumps(list(messages), ensure_ascii=..., sort_keys=...)``, text for text, encoding a shared message once.

    Every prompt of a run shares one system message: one string, formatted once by
    ``PromptTemplate.bind``. Its JSON is reused while the same string object comes back,
    so a million prompts encode it once for their cache keys and ledger rows, not a
    million times (~8 us of the ~20 us each encoding took). A list's items are
    joined by ", " as ``json.dumps`` joins them; a message with other keys, or in
    another order, is encoded as it is.
    """
    encode = _ENCODERS[ensure_ascii, sort_keys].encode
    parts = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str) or list(message) != ["role", "content"]:
            parts.append(encode(message))
            continue
        slot = (message["role"], ensure_ascii, sort_keys)
        shared = _SHARED_JSON.get(slot)
        if shared is None or shared[0] is not content:
            shared = _SHARED_JSON[slot] = (content, encode(message))
        parts.append(shared[1])
    return "[" + ", ".join(parts) + "]"


def _prompt_json(task: CallTask, request: ModelRequest) -> str:
    """The ledger's JSON of the messages sent, reused when made ahead for exactly these messages."""
    made = task.prompt_json
    if made is not None and made[0] is request.messages:
        return made[1]
    return messages_json(request.messages, ensure_ascii=False)


def cache_key(
    *,
    record_sha256: str,
    template_sha256: str,
    model: Model,
    request: ModelRequest,
    schema_digest: str | None = None,
) -> str:
    """Results are keyed by record, template, model, prompt text and every parameter that changes the answer.

    ``schema_digest`` is ``schema_sha256(request.schema)`` computed once by a caller
    that builds many tasks on one schema (per task it was a seventh of building 10,000 tasks).
    """
    payload = {
        "record": record_sha256,
        "template": template_sha256,
        "model": model.model_id,
        "model_identity": model.identity(),
        "params": request_params(request),
        "schema": schema_digest or schema_sha256(request.schema),
        # Everything the model reads: protocol wording lives in the rendered prompt, not in the
        # template file, so a reworded criterion must not reuse answers to the old wording.
        "messages": hashlib.sha256(messages_json(request.messages, sort_keys=True).encode()).hexdigest(),
    }
    return hashlib.sha256(json_text(payload, sort_keys=True).encode("utf-8")).hexdigest()


def request_params(request: ModelRequest) -> dict[str, Any]:
    """The parameters in a cache key; a repeated sample's index joins only from the second sample on,
    so the keys of every single-answer run stay what they were."""
    params: dict[str, Any] = {
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "seed": request.seed,
    }
    if request.sample:
        params["sample"] = request.sample
    return params


class CallEngine:
    """Executes tasks for one run against one model and one ledger."""

    def __init__(
        self,
        *,
        model: Model,
        ledger: Ledger,
        run_id: str,
        stage: str,
        template_name: str,
        template_sha256: str,
        config: EngineConfig,
        prices: PriceTable,
    ) -> None:
        self.model = model
        self.ledger = ledger
        self.run_id = run_id
        self.stage = stage
        self.config = config
        self.prices = prices
        self.caller = Caller(model, template_name, template_sha256)
        self.stats = RunStats()
        self._stats_lock = threading.Lock()
        self._params_text: dict[tuple[Any, ...], tuple[Model, str]] = {}
        self._limiters: dict[int, RateLimiter] = {id(self.caller): RateLimiter(config.rpm, config.tpm)}
        self._workers = self._workers_for([self.caller])
        # Set once the run stops (Ctrl-C, a stopped backend): tasks already handed to a worker end without a call.
        self._stopped = threading.Event()

    def _workers_for(self, callers: Iterable[Caller]) -> int:
        total = 0
        for caller in callers:
            limit = caller.workers
            total += max(1, min(self.config.concurrency, limit) if limit else self.config.concurrency)
        return total

    @property
    def workers(self) -> int:
        return self._workers

    def run(self, tasks: list[CallTask], on_result: Callable[[CallResult], None]) -> None:
        """Call ``on_result`` once per task, cached ones first, in the calling thread."""
        answered = self.ledger.answers(t.cache_key for t in tasks)
        pending: list[CallTask] = []
        for task in tasks:
            row = answered.get(task.cache_key)
            if row is not None:
                self.stats.cached += 1
                on_result(CallResult(task=task, row=row, cached=True))
            else:
                pending.append(task)
        if pending:
            callers = {id(c): c for c in (t.caller or self.caller for t in pending)}
            for key in callers:
                self._limiters.setdefault(key, RateLimiter(self.config.rpm, self.config.tpm))
            self._workers = self._workers_for(callers.values())
            self._run_pending(pending, on_result)

    def _run_pending(self, tasks: list[CallTask], on_result: Callable[[CallResult], None]) -> None:
        queue: Iterator[CallTask] = iter(tasks)
        in_flight: set[Future[CallResult]] = set()
        executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="winnow-call")
        queued = self.workers * 2
        try:
            # The first call goes alone. A backend settles per-endpoint choices on it (client,
            # imports, structured-output method) under a lock, and calls that had already
            # taken their rate-limit slots would all leave together when it opens: a 429 burst.
            for task in _take(queue, 1):
                in_flight.add(executor.submit(self._execute, task))
            while in_flight:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    on_result(future.result())
                for task in _take(queue, queued - len(in_flight)):
                    in_flight.add(executor.submit(self._execute, task))
        except (KeyboardInterrupt, Interrupted, BackendStopped) as exc:
            # Interrupted: a model's child process saw the Ctrl-C before this thread did.
            self._stopped.set()
            for future in in_flight:
                future.cancel()
            executor.shutdown(wait=True, cancel_futures=True)
            if isinstance(exc, BackendStopped):
                raise
            raise Interrupted(
                "interrupted; every answered call is in the ledger, re-run the same command to resume"
            ) from None
        executor.shutdown(wait=True)

    # -- one task, in a worker thread -----------------------------------------
    def _execute(self, task: CallTask) -> CallResult:
        if self._stopped.is_set():
            return CallResult(
                task=task, row=None, cached=False, error="not asked: the run stopped", error_kind="stopped"
            )
        request = task.request
        attempt_no = 0
        last_text = ""
        for _ in range(self.config.max_repairs + 1):
            try:
                response, attempt_no = self._call_with_retries(task, request, attempt_no)
            except BackendStopped:
                self._stopped.set()
                raise
            except BackendError as exc:
                kind = exc.kind if isinstance(exc, TransientBackendError) else "backend"
                self._count_error(kind)
                return CallResult(
                    task=task, row=None, cached=False, error=str(exc), error_kind=kind, attempts=attempt_no
                )
            last_text = response.text
            try:
                parsed = task.validate(response.text)
            except ValueError as exc:
                invalid = self.call_row(
                    task, request, attempt_no, response=response, error=str(exc), error_kind="invalid_output"
                )
                self._store(invalid)
                self._bump("repairs")
                request = repair_request(task.request, request, response, exc)
                continue
            call_id = self._store(self.call_row(task, request, attempt_no, response=response, parsed=parsed))
            row = self.ledger.call(call_id)
            return CallResult(task=task, row=row, cached=False, attempts=attempt_no)
        self._count_error("invalid_output")
        problem = (
            f"model output invalid after {self.config.max_repairs + 1} answer(s); last answer: {last_text[:200]!r}"
        )
        return CallResult(
            task=task, row=None, cached=False, error=problem, error_kind="invalid_output", attempts=attempt_no
        )

    def _call_with_retries(self, task: CallTask, request: ModelRequest, attempt_no: int) -> tuple[ModelResponse, int]:
        caller = task.caller or self.caller
        estimate = sum(len(m["content"]) for m in request.messages) // 4 + request.max_tokens
        for attempt in self.config.retry.retrying():
            with attempt:
                if self._stopped.is_set():  # no new attempt, nor a retry, once the run is stopping
                    raise Interrupted("not asked: the run stopped")
                attempt_no += 1
                if attempt.retry_state.attempt_number > 1:
                    self._bump("retried")
                self._limiters[id(caller)].acquire(estimate)
                started = time.perf_counter()
                try:
                    response = caller.model.complete(request)
                except BackendError as exc:
                    kind = exc.kind if isinstance(exc, (TransientBackendError, BackendStopped)) else "backend"
                    latency_ms = (time.perf_counter() - started) * 1000
                    self._store(
                        self.call_row(task, request, attempt_no, error=str(exc), error_kind=kind, latency_ms=latency_ms)
                    )
                    self._bump("failed_attempts")
                    if isinstance(exc, ModelProcessDied):
                        self._count_crash(str(exc))
                    raise
                response.latency_ms = (time.perf_counter() - started) * 1000
                return response, attempt_no
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _store(self, row: CallRow) -> int:
        """Store one synchronous attempt at once (ledger-first), and count it."""
        self._bump("calls")
        return self.ledger.add_call(row)

    def call_row(
        self,
        task: CallTask,
        request: ModelRequest,
        attempt_no: int,
        *,
        response: ModelResponse | None = None,
        parsed: dict[str, Any] | None = None,
        error: str | None = None,
        error_kind: str | None = None,
        latency_ms: float | None = None,
        batch_id: str | None = None,
    ) -> CallRow:
        """One attempt as its ledger row, its tokens and cost counted: the one place a call row is built.

        A synchronous call and an answer ingested from a batch (``batch_id``, priced at the
        batch price) make the same row, so either answers for the other from the cache.
        """
        caller = task.caller or self.caller
        model_id = caller.model.model_id
        cost = None
        if response is not None:
            cost = self.prices.cost(
                model_id, response.prompt_tokens, response.completion_tokens, response.cached_tokens,
                batch=batch_id is not None,
            )  # fmt: skip
            self._count_usage(response, cost)
        return CallRow(
            run_id=self.run_id,
            stage=self.stage,
            record_id=task.record_id,
            record_sha256=task.record_sha256,
            template_name=caller.template_name,
            template_sha256=caller.template_sha256,
            model=model_id,
            params_json=self._params_json(caller, request),
            cache_key=task.cache_key,
            prompt_json=_prompt_json(task, request),
            ok=parsed is not None,
            attempt=attempt_no,
            served_model=response.served_model if response else None,
            raw_response=response.text if response else None,
            parsed_json=json_text(parsed, ensure_ascii=False) if parsed is not None else None,
            error=error,
            error_kind=error_kind,
            prompt_tokens=response.prompt_tokens if response else None,
            completion_tokens=response.completion_tokens if response else None,
            cached_tokens=response.cached_tokens if response else None,
            latency_ms=response.latency_ms if response else latency_ms,
            cost_usd=cost,
            p_include=response.p_label(request.positive_label) if response else None,
            confidence_source=response.confidence_source if response else None,
            batch_id=batch_id,
        )

    def _params_json(self, caller: Caller, request: ModelRequest) -> str:
        """The stored parameters with the model's identity; one string per set of them (a million rows share a few)."""
        params = request_params(request)
        key = (id(caller.model), tuple(sorted(params.items())))
        kept = self._params_text.get(key)
        if kept is None or kept[0] is not caller.model:
            text = json.dumps({**params, **caller.model.identity()}, sort_keys=True)
            kept = self._params_text[key] = (caller.model, text)
        return kept[1]

    def _bump(self, name: str) -> None:
        with self._stats_lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def _count_usage(self, response: ModelResponse, cost: float | None) -> None:
        with self._stats_lock:
            self._add_usage(response, cost)

    def _add_usage(self, response: ModelResponse, cost: float | None) -> None:
        self.stats.prompt_tokens += response.prompt_tokens or 0
        self.stats.completion_tokens += response.completion_tokens or 0
        self.stats.cached_tokens += response.cached_tokens or 0
        if cost is None or self.stats.cost_usd is None:
            self.stats.cost_usd = None
        else:
            self.stats.cost_usd += cost

    def _count_crash(self, message: str) -> None:
        with self._stats_lock:
            self.stats.crashes += 1
            self.stats.first_crash = self.stats.first_crash or message

    def _count_error(self, kind: str) -> None:
        with self._stats_lock:
            self.stats.errors += 1
            self.stats.errors_by_kind[kind] = self.stats.errors_by_kind.get(kind, 0) + 1


def repair_request(
    original: ModelRequest, last: ModelRequest, response: ModelResponse, problem: ValueError
) -> ModelRequest:
    """The request that asks again after an answer failed validation.

    A broken answer is shown back with the problem, so the model can fix it. An answer
    cut off at the token limit is not: it is as long as the limit, and sending it back
    would push the next prompt past a small context (llama.cpp's 4,096 tokens) and fail
    the task outright; the model is asked again, briefer, from the original prompt.
    """
    if response.finish_reason == "length":
        note = CUT_OFF_MESSAGE.format(max_tokens=original.max_tokens)
        return replace(original, messages=(*original.messages, {"role": "user", "content": note}))
    return replace(
        last,
        messages=(
            *last.messages,
            {"role": "assistant", "content": response.text[:4000]},
            {"role": "user", "content": REPAIR_MESSAGE.format(problem=problem)},
        ),
    )


def _take(iterator: Iterator[CallTask], n: int) -> Iterable[CallTask]:
    for _ in range(n):
        try:
            yield next(iterator)
        except StopIteration:
            return
