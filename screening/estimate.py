"""What a screening run will cost and how long it will take, before any model call.

``winnow screen --dry-run`` renders the real prompts (the same ``build_tasks`` a
run uses), counts what is already answered in the ledger (re-runs are free), and
prices the rest from the editable price table. Token counts are estimates at four
characters per token; completion tokens come from this template's past answers in
the ledger when there are some, else from an assumption that is printed with them.
Nothing is written: the ledger is opened read-only, and only if it exists.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.backends import build_model
from winnow.prices import PriceTable
from winnow.protocol import load_protocol
from winnow.screening.run import ScreeningRun, select_records
from winnow.screening.screen import build_tasks
from winnow.templates import load_template

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators per chat message, as OpenAI counts them
ASSUMED_LATENCY_S = {"api": 2.0, "embedded": 10.0}
# OpenAI reuses a cached prompt prefix only from this length on; shorter prefixes are billed in full.
MIN_CACHED_PREFIX_TOKENS = 1024


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

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def estimate_screening(job: ScreeningRun) -> Estimate:
    """Estimate a run of ``job`` without calling the model or writing anything."""
    loaded = load_protocol(job.protocol_path)
    template = load_template(job.template)
    _, records = select_records(job)
    model = build_model(
        job.model_id,
        base_url=job.base_url,
        api_key=job.api_key,
        timeout_s=job.timeout_s,
        structured=job.structured,
        require_key=False,  # nothing is called, and a price is what one wants before buying a key
    )
    tasks = build_tasks(records, loaded.protocol, template, model, job.options)
    history = _ledger_history(job.ledger_path(), [t.cache_key for t in tasks], template.sha256, model.model_id)
    pending = [t for t in tasks if t.cache_key not in history.answered]
    assumptions = [f"tokens counted as characters/{CHARS_PER_TOKEN} plus {MESSAGE_OVERHEAD_TOKENS} per message"]

    prompt_counts = [_prompt_tokens(t.request.messages) for t in pending]
    prompt_per_call = statistics.fmean(prompt_counts) if prompt_counts else 0.0
    prefix = _shared_prefix_tokens(tasks)
    if history.completion_tokens:
        completion_per_call = statistics.fmean(history.completion_tokens)
        assumptions.append(f"answer length: mean of {len(history.completion_tokens)} past answers of this template")
    else:
        completion_per_call = job.options.max_tokens / 2
        assumptions.append(f"answer length: half of --max-tokens ({job.options.max_tokens}); no past answers to go by")

    n = len(pending)
    prompt_total = round(sum(prompt_counts))
    completion_total = round(completion_per_call * n)
    prices = PriceTable.load(job.prices_path)
    cost = prices.cost(model.model_id, prompt_total, completion_total)
    cached_cost = None
    if cost is not None and n > 1 and prefix >= MIN_CACHED_PREFIX_TOKENS:
        cached_cost = prices.cost(model.model_id, prompt_total, completion_total, prefix * (n - 1))
    if not prices.known(model.model_id):
        assumptions.append(f"{model.model_id} is not in the price table: no cost given (add it to --prices FILE)")
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
    seconds, limited_by = _duration(n, latency, job, model.max_concurrency, prompt_per_call + completion_per_call)
    return Estimate(
        model=model.model_id,
        records=len(records),
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
    )


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
    n: int, latency: float, job: ScreeningRun, model_limit: int | None, tokens_per_call: float
) -> tuple[float, str]:
    """The slowest of: latency over the calls in flight, the request limit, the token limit."""
    workers = max(1, min(job.engine.concurrency, model_limit) if model_limit else job.engine.concurrency)
    bounds = {f"concurrency {workers} at {latency:g} s per call": math.ceil(n / workers) * latency}
    if job.engine.rpm:
        bounds[f"--rpm {job.engine.rpm:g}"] = n * 60.0 / job.engine.rpm
    if job.engine.tpm:
        bounds[f"--tpm {job.engine.tpm:g}"] = n * tokens_per_call * 60.0 / job.engine.tpm
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
