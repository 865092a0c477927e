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
    slowest reviewer's, since reviewers answer side by side.
    """
    model = spec.model.build()
    default = Caller(model, stage.template.name, stage.template.sha256)
    groups: dict[int, tuple[Caller, list[CallTask]]] = {}
    for unit in stage.units(model):
        for task in unit.tasks:
            caller = task.caller or default
            groups.setdefault(id(caller), (caller, []))[1].append(task)
    parts = [_estimate_calls(spec, caller, tasks, len(stage.records)) for caller, tasks in groups.values()]
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


def _estimate_calls(spec: RunSpec, caller: Caller, tasks: list[CallTask], records: int) -> Estimate:
    """The estimate for one model's and template's calls."""
    model = caller.model
    ledger_path = spec.ledger_path(TitleAbstractStage.suffix)
    history = _ledger_history(ledger_path, [t.cache_key for t in tasks], caller.template_sha256, model.model_id)
    pending = [t for t in tasks if t.cache_key not in history.answered]
    assumptions = [f"tokens counted as characters/{CHARS_PER_TOKEN} plus {MESSAGE_OVERHEAD_TOKENS} per message"]

    batch = spec.batch is not None
    prompt_counts = [_prompt_tokens(t.request.messages) for t in pending]
    prompt_per_call = statistics.fmean(prompt_counts) if prompt_counts else 0.0
    prefix = _shared_prefix_tokens(tasks)
    if history.completion_tokens:
        completion_per_call = statistics.fmean(history.completion_tokens)
        assumptions.append(f"answer length: mean of {len(history.completion_tokens)} past answers of this template")
    else:
        completion_per_call = spec.sampling.max_tokens / 2
        assumptions.append(
            f"answer length: half of --max-tokens ({spec.sampling.max_tokens}); no past answers to go by"
        )

    n = len(pending)
    prompt_total = round(sum(prompt_counts))
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

    if history.latencies_s:
        latency = statistics.median(history.latencies_s)
        assumptions.append(f"latency: median of {len(history.latencies_s)} past calls to {model.model_id}")
    else:
        latency = ASSUMED_LATENCY_S["embedded" if model.is_embedded else "api"]
        assumptions.append(f"latency: {latency:g} s per call assumed (no past calls to this model in the ledger)")
    seconds, limited_by = _duration(
        n, latency, spec.engine, model.max_concurrency, prompt_per_call + completion_per_call
    )
    files = 0
    if batch:
        files = _batch_files(model, pending)
        seconds, limited_by = BATCH_WINDOW_S, "the provider's 24 h completion window; most batches finish sooner"
    return Estimate(
        model=model.model_id,
        records=records,
        already_answered=len(tasks) - n,
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


def _batch_files(model: Any, tasks: list[CallTask]) -> int:
    """Request files for ``tasks`` at the API's limits; one line is built exactly, the rest scaled by prompt size."""
    from winnow.backends.openai_compat import OpenAICompatibleModel
    from winnow.batch.files import MAX_BYTES, MAX_REQUESTS, request_line

    if not tasks or not isinstance(model, OpenAICompatibleModel):
        return 0
    first = tasks[0]
    line = len(request_line(first.cache_key, model.request_body(model.batch_method(), first.request)))
    first_chars = sum(len(m["content"]) for m in first.request.messages)
    size = sum(line + sum(len(m["content"]) for m in t.request.messages) - first_chars for t in tasks)
    return max(math.ceil(len(tasks) / MAX_REQUESTS), math.ceil(size / MAX_BYTES))


def _prompt_tokens(messages: tuple[dict[str, str], ...]) -> float:
    return sum(len(m["content"]) / CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS for m in messages)


def _shared_prefix_tokens(tasks: list[Any]) -> int:
    """Tokens at the start of every prompt that are the same for all records (the cacheable part)."""
    if not tasks:
        return 0
    first = "".join(m["content"] for m in tasks[0].request.messages)
    common = len(first)
    for task in tasks[1:]:
        text = "".join(m["content"] for m in task.request.messages)
        common = min(common, len(text))
        if text[:common] != first[:common]:
            lo, hi = 0, common
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if text[:mid] == first[:mid]:
                    lo = mid
                else:
                    hi = mid - 1
            common = lo
    return common // CHARS_PER_TOKEN


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


@dataclass
class _History:
    answered: set[str] = field(default_factory=set)
    completion_tokens: list[int] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)


def _ledger_history(path: Path, keys: list[str], template_sha256: str, model_id: str) -> _History:
    """Read-only look at an existing ledger: answered keys, past answer lengths and latencies."""
    history = _History()
    if not path.is_file():
        return history
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return history
    try:
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            batch = unique[start : start + 500]
            marks = ", ".join("?" for _ in batch)
            rows = conn.execute(f"SELECT cache_key FROM calls WHERE ok = 1 AND cache_key IN ({marks})", batch)
            history.answered.update(row[0] for row in rows)
        history.completion_tokens = [
            int(row[0])
            for row in conn.execute(
                "SELECT completion_tokens FROM calls WHERE ok = 1 AND template_sha256 = ? AND completion_tokens > 0"
                " ORDER BY call_id DESC LIMIT 1000",
                (template_sha256,),
            )
        ]
        history.latencies_s = [
            float(row[0]) / 1000
            for row in conn.execute(
                "SELECT latency_ms FROM calls WHERE ok = 1 AND model = ? AND latency_ms > 0"
                " ORDER BY call_id DESC LIMIT 1000",
                (model_id,),
            )
        ]
    except sqlite3.Error:
        return _History()
    finally:
        conn.close()
    return history
