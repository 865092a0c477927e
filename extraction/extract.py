"""Data extraction: papers in, one row per PDF with a value, quote, page and evidence status per field.

The stage the run lifecycle runs for ``winnow extract``. The row is rebuilt from the
ledger rows of the calls that answered, so a cached answer, a fresh one and one
recovered after a crash give the same row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from winnow.answers import AnswerSpec
from winnow.engine import CallResult
from winnow.extraction.evidence import CONFIDENT, MergedField, merge_answers
from winnow.extraction.papers import Paper, page_ranges
from winnow.extraction.stage import ChunkOptions, PaperStage
from winnow.form import ExtractionForm, extraction_spec
from winnow.lifecycle import RunSpec
from winnow.protocol import LoadedForm, load_form
from winnow.screening.decisions import write_table
from winnow.templates import PromptTemplate, load_template

__all__ = [
    "DEFAULT_EXTRACT_TEMPLATE",
    "EXTRACTION_LEADING",
    "EXTRACTION_TRAILING",
    "ExtractionStage",
    "extraction_columns",
    "extraction_stage",
    "field_columns",
    "format_value",
]

DEFAULT_EXTRACT_TEMPLATE = "extract_fields"

EXTRACTION_LEADING = (
    "record_id",
    "title",
    "status",
    "pdf_status",
    "pdf_reason",
    "pages",
    "chunks_used",
    "chunks_total",
    "left_out",
    "truncated",
    "unverified",
    "not_reported",
)
EXTRACTION_TRAILING = (
    "conflicts",
    "flags",
    "error",
    "pdf_sha256",
    "model",
    "served_model",
    "template_name",
    "template_sha256",
    "run_id",
    "call_ids",
)
FIELD_PREFIXES = ("field", "quote", "page", "evidence")
NOT_RUN = "not extracted: the run was interrupted; re-run the same command to resume"
QUOTE_JOIN = " | "


def field_columns(names: Sequence[str]) -> list[str]:
    """``field:``, ``quote:``, ``page:`` and ``evidence:`` side by side for each field, in form order."""
    return [f"{prefix}:{name}" for name in names for prefix in FIELD_PREFIXES]


def extraction_columns(form: ExtractionForm) -> list[str]:
    return [*EXTRACTION_LEADING, *field_columns(form.names), *EXTRACTION_TRAILING]


def format_value(value: Any) -> str:
    """One cell, the same in CSV, XLSX and JSONL: lists as JSON, booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _field_cells(merged: MergedField) -> dict[str, str]:
    name = merged.name
    pages = ";".join(str(p) for p in merged.pages if p is not None)
    return {
        f"field:{name}": format_value(merged.value),
        f"quote:{name}": QUOTE_JOIN.join(q for q in merged.quotes if q),
        f"page:{name}": pages,
        f"evidence:{name}": merged.status,
    }


def _base_row(paper: Paper, template: PromptTemplate) -> dict[str, Any]:
    return {
        "record_id": paper.record_id,
        "title": paper.title,
        "pdf_status": paper.parsed.status,
        "pdf_reason": paper.parsed.reason,
        "pages": paper.parsed.page_count,
        "chunks_used": len(paper.chunks),
        "chunks_total": paper.total_chunks,
        "left_out": paper.left_out,
        "truncated": " | ".join(paper.truncated),
        "pdf_sha256": paper.parsed.sha256,
        "template_name": template.name,
        "template_sha256": template.sha256,
    }


def extraction_row(
    paper: Paper,
    form: ExtractionForm,
    template: PromptTemplate,
    results: Sequence[CallResult | None],
    quote_threshold: float,
) -> dict[str, Any]:
    """The table row for one PDF from its chunk results (None for a chunk never answered)."""
    row = _base_row(paper, template)
    if not paper.usable:
        row.update(status=paper.parsed.status, error=paper.parsed.reason or "no text to extract from")
        return row
    answers: list[dict[str, Any] | None] = []
    errors: list[str] = []
    calls = [r.row for r in results if r is not None and r.ok and r.row is not None]
    for chunk, result in zip(paper.chunks, results, strict=True):
        if result is not None and result.ok and result.row is not None:
            answers.append(json.loads(result.row["parsed_json"]))
            continue
        answers.append(None)
        problem = NOT_RUN if result is None else (result.error or "no answer")
        errors.append(f"pages {page_ranges(chunk.pages)}: {problem}")
    if calls:
        first = calls[0]
        row.update(
            model=first["model"],
            served_model=first["served_model"],
            run_id=first["run_id"],
            call_ids=";".join(str(c["call_id"]) for c in calls),
        )
    if not calls:
        row.update(status="error", error=" | ".join(errors))
        return row
    merged, _ = merge_answers(form, answers, paper.parsed, threshold=quote_threshold)
    flags: list[str] = []
    conflicts: list[str] = []
    for spec in form.fields:
        item = merged[spec.name]
        row.update(_field_cells(item))
        if not item.not_reported and item.status not in CONFIDENT:
            flags.append(f"unverified:{spec.name}")
        if item.conflicts:
            flags.append(f"conflict:{spec.name}")
            shown = QUOTE_JOIN.join(format_value(v) for v in [item.value, *item.conflicts])
            conflicts.append(f"{spec.name}: {shown}")
        if spec.required and item.not_reported:
            flags.append(f"required_missing:{spec.name}")
    if paper.instruction_like:
        flags.append("instruction_like_text")
    if paper.left_out:
        flags.append("pages_left_out")
    row.update(
        status="partial" if errors else "ok",
        unverified=sum(1 for f in flags if f.startswith("unverified:")),
        not_reported=sum(1 for m in merged.values() if m.not_reported),
        conflicts=" || ".join(conflicts),
        flags=";".join(flags),
        error=" | ".join(errors),
    )
    return row


class ExtractionStage(PaperStage):
    """``winnow extract``: the protocol's form filled from each PDF."""

    name = "extract"
    command = "extract"
    description = "extracting"
    suffix = "extraction"
    table = "extraction"
    outcomes = ()
    schema_name = "extraction_answer"

    def __init__(self, input_path: Path, loaded: LoadedForm, template: PromptTemplate, **kw: Any) -> None:
        self.form = loaded.form
        super().__init__(
            input_path,
            template,
            shared={"review_title": loaded.title, "fields": loaded.form.describe()},
            protocol_label=f"{loaded.path} sha256:{loaded.sha256[:12]} ({len(loaded.form.fields)} fields)",
            protocol_sha256=loaded.sha256,
            **kw,
        )

    @property
    def spec(self) -> AnswerSpec:
        return extraction_spec(self.form)

    @property
    def items(self) -> Sequence[str]:
        return self.form.names

    def paper_row(self, paper: Paper, results: Sequence[CallResult | None]) -> dict[str, Any]:
        return extraction_row(paper, self.form, self.template, results, self.chunking.quote_threshold)

    def outcome(self, row: dict[str, Any]) -> str:
        return str(row["status"])

    def write(self, path: Path, rows: Iterable[dict[str, Any]]) -> None:
        write_table(path, rows, extraction_columns(self.form), what="extraction")


def extraction_stage(spec: RunSpec, chunking: ChunkOptions) -> ExtractionStage:
    """The extraction stage for a command's files."""
    loaded = load_form(spec.protocol_path)
    template = load_template(spec.template)
    return ExtractionStage(spec.input_path, loaded, template, sampling=spec.sampling, chunking=chunking)
