"""Title/abstract screening: records in, one auditable decision row per record out.

The stage the run lifecycle (``winnow.lifecycle``) runs for ``winnow screen``. The
decision row is rebuilt from the ledger row of the call that answered, so a cached
answer, a fresh one and one recovered after a crash give the same row.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from winnow.backends.base import Model, ModelRequest
from winnow.engine import CallResult, CallTask, cache_key, messages_json, schema_sha256
from winnow.fencing import fence
from winnow.injection import looks_like_instructions
from winnow.lifecycle import Sampling, Stage, StageReport, Unit
from winnow.prefetch import prefetched
from winnow.protocol import LoadedProtocol, Protocol
from winnow.records.model import ReadResult, Record
from winnow.screening.decisions import output_format, write_decisions
from winnow.screening.schema import MODEL_DECISIONS, POSITIVE_DECISION, screening_spec
from winnow.templates import PromptTemplate

# What ``iter_tasks`` works out for a record: id, request, content hash, cache key; and ahead, the
# ledger's JSON of the request's messages and the record's flags for its row.
_Prepared = tuple[str, ModelRequest, str, str, str | None, tuple[str, ...] | None]

# From this many records on, prompts are rendered and keyed ahead by a forked child (``winnow.prefetch``).
PREFETCH_MIN_RECORDS = 2_000

NOT_SCREENED = "not screened: the run was interrupted; re-run the same command to resume"
NO_ABSTRACT = "[no abstract available: judge on the title alone]"


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
    records: Sequence[Record],
    protocol: Protocol,
    template: PromptTemplate,
    model: Model,
    options: Sampling,
    *,
    sample: int = 0,
) -> list[CallTask]:
    """One task per record. ``sample`` k > 0 is a repeated answer: its own seed and its own cache key."""
    return list(iter_tasks(records, protocol, template, model, options, sample=sample))


def iter_tasks(
    records: Iterable[Record],
    protocol: Protocol,
    template: PromptTemplate,
    model: Model,
    options: Sampling,
    *,
    sample: int = 0,
) -> Iterator[CallTask]:
    """``build_tasks`` one record at a time, for callers that must not hold every rendered prompt
    (a million prompts are 3.4 GB): a dry run's estimate, a batch file's writer."""
    for task, _ in _iter_prepared(records, protocol, template, model, options, sample=sample, streamed=False):
        yield task


def _iter_prepared(
    records: Iterable[Record],
    protocol: Protocol,
    template: PromptTemplate,
    model: Model,
    options: Sampling,
    *,
    sample: int = 0,
    streamed: bool,
) -> Iterator[tuple[CallTask, tuple[str, ...] | None]]:
    """Each record's task, with its row's flags when a forked child worked them out ahead.

    ``streamed``: each task is stored and let go before many more are made (the batch
    route), so the child also encodes the prompt's ledger JSON; a caller that holds every
    task (a synchronous run's list) is not sent a second copy of every prompt.
    """
    spec = screening_spec(protocol.criterion_ids)
    schema = spec.schema
    schema_digest = schema_sha256(schema)
    render = template.bind(review_title=protocol.title, question=protocol.question, criteria=render_criteria(protocol))
    seed = options.seed if options.seed is None else options.seed + sample

    def prepare(chosen: Iterable[Record], ahead: bool) -> Iterator[_Prepared]:
        """The pure per-record work; ahead (on the other core) it also encodes the ledger's JSON."""
        for record in chosen:
            request = ModelRequest(
                messages=render(record=render_record(record)),
                schema=schema,
                schema_name="screening_answer",
                temperature=options.temperature,
                max_tokens=options.max_tokens,
                seed=seed,
                label_field="decision",
                labels=MODEL_DECISIONS,
                positive_label=POSITIVE_DECISION,
                sample=sample,
            )
            sha256 = record.content_sha256  # a property that hashes on every access
            key = cache_key(
                record_sha256=sha256,
                template_sha256=template.sha256,
                model=model,
                request=request,
                schema_digest=schema_digest,
            )
            if ahead:
                stored = messages_json(request.messages, ensure_ascii=False) if streamed else None
                yield record.record_id, request, sha256, key, stored, tuple(record_flags(record))
            else:
                yield record.record_id, request, sha256, key, None, None

    def produce(start: int, ahead: bool) -> Iterator[_Prepared]:
        return prepare(itertools.islice(records, start, None), ahead)

    worth_it = isinstance(records, Sequence) and len(records) >= PREFETCH_MIN_RECORDS
    for record_id, request, sha256, key, stored, flags in prefetched(produce, worth_it=worth_it):
        task = CallTask(
            record_id=record_id,
            record_sha256=sha256,
            request=request,
            validate=spec,
            cache_key=key,
            prompt_json=None if stored is None else (request.messages, stored),
        )
        yield task, flags


def record_flags(record: Record) -> list[str]:
    """What a reviewer should know about the record itself, whatever the model answered."""
    flags = []
    if not record.has_abstract:
        flags.append("no_abstract")
    if looks_like_instructions(f"{record.title}\n{record.abstract}"):
        flags.append("instruction_like_text")
    return flags


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
    record: Record,
    protocol: Protocol,
    template: PromptTemplate,
    result_row: sqlite3.Row | None,
    error: str | None,
    flags_ahead: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The record's decision row, rebuilt from the ledger row that answered; ``flags_ahead`` are
    ``record_flags(record)`` when already worked out."""
    flags = record_flags(record) if flags_ahead is None else list(flags_ahead)
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


class TitleAbstractStage(Stage):
    """``winnow screen``: one call per record, one decision row per record."""

    name = "screen"
    command = "screen"
    description = "screening"
    suffix = "decisions"

    def __init__(
        self,
        records: Sequence[Record],
        protocol: LoadedProtocol,
        template: PromptTemplate,
        sampling: Sampling,
        read: ReadResult | None = None,
        *,
        sample: int = 0,
    ) -> None:
        self.records = records  # a RecordStore from read_records keeps them off the heap
        self.loaded = protocol
        self.protocol = protocol.protocol
        self.template = template
        self.protocol_sha256 = protocol.sha256
        self.sampling = sampling
        self.read = read
        self.sample = sample

    @cached_property
    def _positions(self) -> dict[str, int]:
        """Where each record sits, built on the first row (a dry run builds none)."""
        return {record.record_id: i for i, record in enumerate(self.records)}

    def check_output(self, path: Path) -> None:
        output_format(path)

    def header(self, model: Model) -> dict[str, str]:
        skipped = len(self.read.skipped) if self.read else 0
        groups = len(self.read.duplicate_groups) if self.read else 0
        return {
            "protocol": f"{self.loaded.path} sha256:{self.loaded.sha256[:12]}",
            "records": f"{len(self.records)} ({skipped} skipped, {groups} duplicate group(s))",
        }

    def units(self, model: Model) -> list[Unit]:
        return [Unit(task.record_id, [task]) for task in self.tasks(model)]

    def tasks(self, model: Model) -> Iterator[CallTask]:
        """Every call the stage makes, one at a time (what ``units`` holds all at once)."""
        return iter_tasks(self.records, self.protocol, self.template, model, self.sampling, sample=self.sample)

    def row(self, unit: Unit, results: Sequence[CallResult | None]) -> dict[str, Any]:
        (result,) = results
        record = self.records[self._positions[unit.record_id]]
        if result is None:
            return decision_row(record, self.protocol, self.template, None, NOT_SCREENED, unit.flags)
        return decision_row(record, self.protocol, self.template, result.row, result.error, unit.flags)

    def write(self, path: Path, rows: Iterable[dict[str, Any]]) -> None:
        write_decisions(path, rows, self.protocol.criterion_ids)

    def report(self, rows: Sequence[dict[str, Any]]) -> StageReport:
        if self.read is None:
            return StageReport()
        return StageReport(skipped=self.read.skipped, duplicate_groups=self.read.duplicate_groups)

    def iter_units(self, model: Model) -> Iterator[Unit]:
        """One unit per record, its prompt rendered only when the batch route reaches it."""
        prepared = _iter_prepared(
            self.records, self.protocol, self.template, model, self.sampling, sample=self.sample, streamed=True
        )
        for task, flags in prepared:
            yield Unit(task.record_id, [task], flags=flags)

    def unit_count(self) -> int:
        return len(self.records)
