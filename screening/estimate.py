"""What a screening run will cost and how long it will take, before any model call.

``winnow screen --dry-run`` renders the real prompts (the same ``build_tasks`` a
run uses), counts what is already answered in the ledger (re-runs are free), and
prices the rest from the editable price table. Token counts are estimates at four
characters per token; completion tokens come from this template's past answers in
the ledger when there are some, else from an assumption that is printed with them.
Nothing is written: the ledger is opened read-only, and only if it exists. With
``--batch`` the run is priced at the table's batch prices, its time is the
provider's completion window, and the request files it needs are counted.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.engine import Caller, CallTask, EngineConfig
from winnow.lifecycle import RunSpec
from winnow.prices import PriceTable
from winnow.screening.panel import PanelStage
from winnow.screening.screen import TitleAbstractStage

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators per chat message, as OpenAI counts them
ASSUMED_LATENCY_S = {"api": 2.0, "embedded": 10.0}
# OpenAI reuses a cached prompt prefix only from this length on; shorter prefixes are billed in full.
MIN_CACHED_PREFIX_TOKENS = 1024
BATCH_WINDOW_S = 24 * 3600.0


@dataclass
class Estimate:
    """The numbers ``--dry-run`` prints; every assumption is named in ``assumptions``."""

    model: str
    records: int
    already_answered: int
    to_call: int
    prompt_tokens_per_call: float
    shared_prefix_tokens: int
    completion_tokens_per_call: float
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    cost_usd_with_prompt_cache: float | None
    latency_s: float
    seconds: float
    limited_by: str
    assumptions: list[str] = field(default_factory=list)
    batch_files: int = 0  # request files a --batch run would send (0: not a batch run)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def estimate_screening(spec: RunSpec, stage: TitleAbstractStage | PanelStage) -> Estimate:
    """Estimate a run of ``stage`` as ``spec`` asks, without calling a model or writing anything.

    A panel is estimated reviewer by reviewer (each its own model, template, past answers
    and prices) and summed, so reviewers x samples multiply the calls; its time is the
    slowest reviewer's, since reviewers answer side by side. The calls are rendered and
    counted one at a time: a million prompts are never held at once.
    """
    model = spec.model.build()
    default = Caller(model, stage.template.name, stage.template.sha256)
    tallies: dict[int, _Tally] = {}
    with _LedgerView(spec.ledger_path(TitleAbstractStage.suffix)) as ledger:
        for task in stage.tasks(model):
            caller = task.caller or default
            tally = tallies.get(id(caller))
            if tally is None:
                tally = tallies[id(caller)] = _Tally(caller, ledger)
            tally.add(task)
        parts = [_estimate_calls(spec, tally, len(stage.records)) for tally in tallies.values()]
    if len(parts) == 1:
        return parts[0]
    return _panel_estimate(parts)


def _panel_estimate(parts: list[Estimate]) -> Estimate:
    calls = sum(p.to_call for p in parts) or 1
    slowest = max(parts, key=lambda p: p.seconds)

    def total(values: list[float | None]) -> float | None:
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    assumptions = [f"panel of {len(parts)} reviewer answer sets: calls, tokens and cost summed over them"]
    assumptions += list(dict.fromkeys(a for p in parts for a in p.assumptions))
    return Estimate(
        batch_files=sum(p.batch_files for p in parts),
        model=" + ".join(dict.fromkeys(p.model for p in parts)),
        records=parts[0].records,
        already_answered=sum(p.already_answered for p in parts),
        to_call=sum(p.to_call for p in parts),
        prompt_tokens_per_call=round(sum(p.prompt_tokens for p in parts) / calls, 1),
        shared_prefix_tokens=min(p.shared_prefix_tokens for p in parts),
        completion_tokens_per_call=round(sum(p.completion_tokens for p in parts) / calls, 1),
        prompt_tokens=sum(p.prompt_tokens for p in parts),
        completion_tokens=sum(p.completion_tokens for p in parts),
        cost_usd=total([p.cost_usd for p in parts]),
        cost_usd_with_prompt_cache=total([p.cost_usd_with_prompt_cache for p in parts]),
        latency_s=max(p.latency_s for p in parts),
        seconds=slowest.seconds,
        limited_by=f"{slowest.model}: {slowest.limited_by}",
        assumptions=assumptions,
    )


class _LedgerView:
    """A read-only look at an existing ledger: which keys are answered, past answer lengths and latencies.

    Any SQLite error (a file that is not a ledger) makes it a view of an empty ledger, as
    if there were none.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failed = False
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> _LedgerView:
        if self.path.is_file():
            try:
                self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            except sqlite3.Error:
                self._conn = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()

    def answered(self, keys: list[str]) -> set[str]:
        if self._conn is None or self.failed:
            return set()
        unique = list(dict.fromkeys(keys))
        found: set[str] = set()
        try:
            for start in range(0, len(unique), _BATCH):
                batch = unique[start : start + _BATCH]
                marks = ", ".join("?" for _ in batch)
                rows = self._conn.execute(f"SELECT cache_key FROM calls WHERE ok = 1 AND cache_key IN ({marks})", batch)
                found.update(row[0] for row in rows)
        except sqlite3.Error:
            self.failed = True
            return set()
        return found

    def history(self, template_sha256: str, model_id: str) -> tuple[list[int], list[float]]:
        """Completion tokens of this template's last 1,000 answers, latencies of this model's last 1,000 calls."""
        if self._conn is None or self.failed:
            return [], []
        try:
            completion = [
                int(row[0])
                for row in self._conn.execute(
                    "SELECT completion_tokens FROM calls WHERE ok = 1 AND template_sha256 = ?"
                    " AND completion_tokens > 0 ORDER BY call_id DESC LIMIT 1000",
                    (template_sha256,),
                )
            ]
            latencies = [
                float(row[0]) / 1000
                for row in self._conn.execute(
                    "SELECT latency_ms FROM calls WHERE ok = 1 AND model = ? AND latency_ms > 0"
                    " ORDER BY call_id DESC LIMIT 1000",
                    (model_id,),
                )
            ]
        except sqlite3.Error:
            self.failed = True
            return [], []
        return completion, latencies


_BATCH = 500


class _Tally:
    """One caller's calls, counted as they stream past: how many, how many answered, prompt size.

    Prompt tokens are kept as whole characters and messages, so the totals are exactly
    the sums of the per-call estimates (characters/4 + 4 per message) in any order.
    """

    def __init__(self, caller: Caller, ledger: _LedgerView) -> None:
        self.caller = caller
        self.ledger = ledger
        self.calls = 0
        self.answered = 0
        self.chars = 0
        self.messages = 0
        self.answered_chars = 0
        self.answered_messages = 0
        self.first_task: CallTask | None = None  # one request built exactly to size the batch files
        self._first_text: str | None = None
        self._common = 0
        self._waiting: list[tuple[str, int, int]] = []

    def add(self, task: CallTask) -> None:
        messages = task.request.messages
        chars = sum(len(m["content"]) for m in messages)
        if self.first_task is None:
            self.first_task = task
        self.calls += 1
        self.chars += chars
        self.messages += len(messages)
        self._share_prefix("".join(m["content"] for m in messages))
        self._waiting.append((task.cache_key, chars, len(messages)))
        if len(self._waiting) >= _BATCH:
            self._look_up()

    def _look_up(self) -> None:
        answered = self.ledger.answered([key for key, _, _ in self._waiting])
        for key, chars, messages in self._waiting:
            if key in answered:
                self.answered += 1
                self.answered_chars += chars
                self.answered_messages += messages
        self._waiting = []

    def _share_prefix(self, text: str) -> None:
        """Characters at the start of every prompt that are the same for all records (the cacheable part)."""
        if self._first_text is None:
            self._first_text, self._common = text, len(text)
            return
        first = self._first_text
        common = min(self._common, len(text))
        if text[:common] != first[:common]:
            lo, hi = 0, common
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if text[:mid] == first[:mid]:
                    lo = mid
                else:
                    hi = mid - 1
            common = lo
        self._common = common

    def finish(self) -> None:
        self._look_up()
        if self.ledger.failed:  # as if there were no ledger at all
            self.answered = self.answered_chars = self.answered_messages = 0

    @property
    def shared_prefix_tokens(self) -> int:
        return self._common // CHARS_PER_TOKEN


def _estimate_calls(spec: RunSpec, tally: _Tally, records: int) -> Estimate:
    """The estimate for one model's and template's calls."""
    tally.finish()
    caller = tally.caller
    model = caller.model
    completion_history, latency_history = tally.ledger.history(caller.template_sha256, model.model_id)
    if tally.ledger.failed:
        completion_history, latency_history = [], []
    n = tally.calls - tally.answered
    assumptions = [f"tokens counted as characters/{CHARS_PER_TOKEN} plus {MESSAGE_OVERHEAD_TOKENS} per message"]

    batch = spec.batch is not None
    pending_chars = tally.chars - tally.answered_chars
    pending_messages = tally.messages - tally.answered_messages
    prompt_sum = pending_chars / CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS * pending_messages
    prompt_per_call = prompt_sum / n if n else 0.0
    prefix = tally.shared_prefix_tokens
    if completion_history:
        completion_per_call = statistics.fmean(completion_history)
        assumptions.append(f"answer length: mean of {len(completion_history)} past answers of this template")
    else:
        completion_per_call = spec.sampling.max_tokens / 2
        assumptions.append(
            f"answer length: half of --max-tokens ({spec.sampling.max_tokens}); no past answers to go by"
        )

    prompt_total = round(prompt_sum)
    completion_total = round(completion_per_call * n)
    prices = PriceTable.load(spec.prices_path)
    cost = prices.cost(model.model_id, prompt_total, completion_total, batch=batch)
    cached_cost = None
    if cost is not None and n > 1 and prefix >= MIN_CACHED_PREFIX_TOKENS:
        cached_cost = prices.cost(model.model_id, prompt_total, completion_total, prefix * (n - 1), batch=batch)
    if not prices.known(model.model_id, batch=batch):
        what = "batch prices" if batch and prices.known(model.model_id) else "the price table"
        assumptions.append(f"{model.model_id} is not in {what}: no cost given (add it to --prices FILE)")
    elif batch:
        assumptions.append("priced at the price table's batch prices (OpenAI: half the synchronous price)")
    if not model.is_embedded and prefix < MIN_CACHED_PREFIX_TOKENS:
        assumptions.append(
            f"the shared prompt prefix (~{prefix} tokens) is below the {MIN_CACHED_PREFIX_TOKENS} tokens "
            "from which OpenAI caches prompts; other providers differ"
        )

    if latency_history:
        latency = statistics.median(latency_history)
        assumptions.append(f"latency: median of {len(latency_history)} past calls to {model.model_id}")
    else:
        latency = ASSUMED_LATENCY_S["embedded" if model.is_embedded else "api"]
        assumptions.append(f"latency: {latency:g} s per call assumed (no past calls to this model in the ledger)")
    seconds, limited_by = _duration(
        n, latency, spec.engine, model.max_concurrency, prompt_per_call + completion_per_call
    )
    files = 0
    if batch:
        files = _batch_files(model, tally, n, pending_chars)
        seconds, limited_by = BATCH_WINDOW_S, "the provider's 24 h completion window; most batches finish sooner"
    return Estimate(
        model=model.model_id,
        records=records,
        already_answered=tally.calls - n,
        to_call=n,
        prompt_tokens_per_call=round(prompt_per_call, 1),
        shared_prefix_tokens=prefix,
        completion_tokens_per_call=round(completion_per_call, 1),
        prompt_tokens=prompt_total,
        completion_tokens=completion_total,
        cost_usd=cost,
        cost_usd_with_prompt_cache=cached_cost,
        latency_s=latency,
        seconds=seconds,
        limited_by=limited_by,
        assumptions=assumptions,
        batch_files=files,
    )


def _batch_files(model: Any, tally: _Tally, n: int, pending_chars: int) -> int:
    """Request files for the ``n`` pending calls at the API's limits.

    The first call's line is built exactly; the others are scaled from it by their
    prompt characters (counted as they streamed past), so no request is held.
    """
    from winnow.backends.openai_compat import OpenAICompatibleModel
    from winnow.batch.files import MAX_BYTES, MAX_REQUESTS, request_line

    first = tally.first_task
    if not n or first is None or not isinstance(model, OpenAICompatibleModel):
        return 0
    line = len(request_line(first.cache_key, model.request_body(model.batch_method(), first.request)))
    first_chars = sum(len(m["content"]) for m in first.request.messages)
    size = n * (line - first_chars) + pending_chars
    return max(math.ceil(n / MAX_REQUESTS), math.ceil(size / MAX_BYTES))


def _duration(
    n: int, latency: float, engine: EngineConfig, model_limit: int | None, tokens_per_call: float
) -> tuple[float, str]:
    """The slowest of: latency over the calls in flight, the request limit, the token limit."""
    workers = max(1, min(engine.concurrency, model_limit) if model_limit else engine.concurrency)
    bounds = {f"concurrency {workers} at {latency:g} s per call": math.ceil(n / workers) * latency}
    if engine.rpm:
        bounds[f"--rpm {engine.rpm:g}"] = n * 60.0 / engine.rpm
    if engine.tpm:
        bounds[f"--tpm {engine.tpm:g}"] = n * tokens_per_call * 60.0 / engine.tpm
    limited_by = max(bounds, key=lambda k: bounds[k])
    return bounds[limited_by], limited_by
