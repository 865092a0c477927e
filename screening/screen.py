"""Title/abstract screening: records in, one auditable decision row per record out.

The decision row is rebuilt from the ledger row of the call that answered, so a
cached answer, a fresh one and one recovered after a crash give the same row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from winnow.backends.base import Model, ModelRequest
from winnow.engine import CallEngine, CallResult, CallTask, cache_key, schema_sha256
from winnow.errors import Interrupted
from winnow.fencing import fence
from winnow.injection import looks_like_instructions
from winnow.protocol import Protocol
from winnow.records.model import Record
from winnow.screening.schema import MODEL_DECISIONS, POSITIVE_DECISION, screening_spec
from winnow.templates import PromptTemplate

NOT_SCREENED = "not screened: the run was interrupted; re-run the same command to resume"
NO_ABSTRACT = "[no abstract available: judge on the title alone]"


@dataclass(frozen=True)
class ScreeningOptions:
    temperature: float = 0.0
    max_tokens: int = 768
    seed: int | None = 0


@dataclass
class ScreeningOutcome:
    rows: list[dict[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False


def render_criteria(protocol: Protocol) -> str:
    return "\n".join(f"- {c.id} ({c.kind.upper()}): {c.text}" for c in protocol.all_criteria)


def render_record(record: Record) -> str:
    """The record as the model sees it: labelled fields inside a data fence."""
    lines = [f"Title: {record.title}"]
    if record.year:
        lines.append(f"Year: {record.year}")
    if record.journal:
        lines.append(f"Journal: {record.journal}")
    if record.keywords:
        lines.append(f"Keywords: {'; '.join(record.keywords)}")
    lines.append(f"Abstract: {record.abstract if record.has_abstract else NO_ABSTRACT}")
    return fence("RECORD", "\n".join(lines))


def build_tasks(
    records: Sequence[Record], protocol: Protocol, template: PromptTemplate, model: Model, options: ScreeningOptions
) -> list[CallTask]:
    spec = screening_spec(protocol.criterion_ids)
    schema = spec.schema
    schema_digest = schema_sha256(schema)
    shared = {"review_title": protocol.title, "question": protocol.question, "criteria": render_criteria(protocol)}
    tasks = []
    for record in records:
        request = ModelRequest(
            messages=template.render(**shared, record=render_record(record)),
            schema=schema,
            schema_name="screening_answer",
            temperature=options.temperature,
            max_tokens=options.max_tokens,
            seed=options.seed,
            label_field="decision",
            labels=MODEL_DECISIONS,
            positive_label=POSITIVE_DECISION,
        )
        sha256 = record.content_sha256  # a property that hashes on every access
        key = cache_key(
            record_sha256=sha256,
            template_sha256=template.sha256,
            model=model,
            request=request,
            schema_digest=schema_digest,
        )
        tasks.append(
            CallTask(
                record_id=record.record_id,
                record_sha256=sha256,
                request=request,
                validate=spec,
                cache_key=key,
            )
        )
    return tasks


def final_decision(answer: dict[str, Any], protocol: Protocol) -> tuple[str, list[str]]:
    """Apply the conservative rule: a record goes out only when a criterion clearly fails."""
    verdicts = answer["criteria"]
    failed = [
        c.id
        for c in protocol.all_criteria
        if (c.kind == "inclusion" and verdicts[c.id]["verdict"] == "not_met")
        or (c.kind == "exclusion" and verdicts[c.id]["verdict"] == "met")
    ]
    decision = answer["decision"]
    if decision == "exclude" and not failed:
        return "uncertain", ["exclude_without_failed_criterion"]
    return decision, []


def decision_row(
    record: Record, protocol: Protocol, template: PromptTemplate, result_row: sqlite3.Row | None, error: str | None
) -> dict[str, Any]:
    flags = []
    if not record.has_abstract:
        flags.append("no_abstract")
    if looks_like_instructions(f"{record.title}\n{record.abstract}"):
        flags.append("instruction_like_text")
    row: dict[str, Any] = {
        "record_id": record.record_id,
        "title": record.title,
        "year": record.year,
        "abstract": record.abstract,
        "doi": record.doi,
        "pmid": record.pmid,
        "abstract_missing": not record.has_abstract,
        "duplicates": list(record.duplicates),
        "template_name": template.name,
        "template_sha256": template.sha256,
    }
    if result_row is None or not result_row["ok"]:
        row.update(decision="error", error=error or "no answer", flags=flags)
        if result_row is not None:
            row.update(model=result_row["model"], run_id=result_row["run_id"])
        return row
    answer = json.loads(result_row["parsed_json"])
    decision, extra_flags = final_decision(answer, protocol)
    for cid in protocol.criterion_ids:
        row[f"criterion:{cid}"] = answer["criteria"][cid]["verdict"]
        row[f"reason:{cid}"] = answer["criteria"][cid]["reason"]
    p_include = result_row["p_include"]
    row.update(
        decision=decision,
        model_decision=answer["decision"],
        p_include=None if p_include is None else round(float(p_include), 6),
        confidence_source=result_row["confidence_source"] or "none",
        rationale=answer["rationale"],
        flags=flags + extra_flags,
        model=result_row["model"],
        served_model=result_row["served_model"],
        run_id=result_row["run_id"],
        call_id=result_row["call_id"],
    )
    return row


def screen_records(
    records: Sequence[Record],
    protocol: Protocol,
    template: PromptTemplate,
    engine: CallEngine,
    options: ScreeningOptions,
    on_decision: Callable[[dict[str, Any], CallResult], None] | None = None,
) -> ScreeningOutcome:
    """Screen every record once; already-answered ones come from the ledger."""
    tasks = build_tasks(records, protocol, template, engine.model, options)
    by_id = {r.record_id: r for r in records}
    rows: dict[str, dict[str, Any]] = {}
    counts = dict.fromkeys(("include", "exclude", "uncertain", "error"), 0)

    def collect(result: CallResult) -> None:
        record = by_id[result.task.record_id]
        row = decision_row(record, protocol, template, result.row, result.error)
        rows[record.record_id] = row
        counts[row["decision"]] += 1
        if on_decision is not None:
            on_decision(row, result)

    interrupted = False
    try:
        engine.run(tasks, collect)
    except Interrupted:
        interrupted = True
    ordered = []
    for record in records:
        row = rows.get(record.record_id)
        if row is None:
            row = decision_row(record, protocol, template, None, NOT_SCREENED)
            counts["error"] += 1
        ordered.append(row)
    return ScreeningOutcome(rows=ordered, counts=counts, interrupted=interrupted)
