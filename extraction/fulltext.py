"""Full-text screening: the abstract-screening criteria, judged on PDF text with a checked quote per verdict.

One call per chunk gives a verdict, reason, quote and page for every criterion.
Merge rules per criterion, in page order: the first decisive verdict (met or
not_met) whose quote verified wins; verified decisive verdicts that disagree make
the criterion ``unclear`` with a ``conflict:<id>`` flag; with no verified decisive
verdict the first decisive one is kept and its failed evidence shown; otherwise
``unclear``. A paper is excluded only when a criterion fails **with a verified
quote**; a failure resting on an unverified quote gives ``uncertain`` and an
``unverified_exclusion`` flag, because an unchecked quote must never remove a study.

The stage the run lifecycle runs for ``winnow screen --full-text``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from winnow.answers import AnswerSpec
from winnow.engine import CallResult
from winnow.extraction.evidence import CONFIDENT, check_quote, stated_page
from winnow.extraction.papers import Paper, page_ranges
from winnow.extraction.stage import ChunkOptions, PaperStage
from winnow.lifecycle import RunSpec
from winnow.protocol import LoadedProtocol, Protocol, load_protocol
from winnow.screening.decisions import write_decisions
from winnow.screening.schema import screening_spec
from winnow.screening.screen import NOT_SCREENED, render_criteria
from winnow.templates import PromptTemplate, load_template

__all__ = [
    "DEFAULT_FULL_TEXT_TEMPLATE",
    "CriterionEvidence",
    "FullTextScreeningStage",
    "full_text_stage",
    "merge_criterion",
]

DEFAULT_FULL_TEXT_TEMPLATE = "screen_full_text"
DECISIVE = ("met", "not_met")


@dataclass(frozen=True)
class CriterionEvidence:
    """One chunk's verdict on one criterion, with its quote checked."""

    verdict: str
    reason: str
    quote: str
    page: int | None
    status: str

    @property
    def confident(self) -> bool:
        return self.status in CONFIDENT


def check_verdict(answer: dict[str, Any], paper: Paper, threshold: float) -> CriterionEvidence:
    page = stated_page(answer.get("page"))
    quote = str(answer.get("quote") or "")
    check = check_quote(quote, paper.parsed, page, threshold=threshold)
    shown_page = check.found_page or page or None
    return CriterionEvidence(answer["verdict"], answer["reason"], quote, shown_page, check.status)


def merge_criterion(answers: Sequence[CriterionEvidence]) -> tuple[CriterionEvidence | None, bool]:
    """The verdict that stands for one criterion, and whether verified verdicts conflicted."""
    decisive = [a for a in answers if a.verdict in DECISIVE]
    confident = [a for a in decisive if a.confident]
    if confident:
        first = confident[0]
        if any(a.verdict != first.verdict for a in confident[1:]):
            return CriterionEvidence("unclear", "verified quotes support both verdicts", "", None, "conflict"), True
        return first, False
    if decisive:
        return decisive[0], False
    return (answers[0] if answers else None), False


def _decide(protocol: Protocol, merged: dict[str, CriterionEvidence]) -> tuple[str, list[str]]:
    flags: list[str] = []
    failed = [
        c.id
        for c in protocol.all_criteria
        if (c.kind == "inclusion" and merged[c.id].verdict == "not_met")
        or (c.kind == "exclusion" and merged[c.id].verdict == "met")
    ]
    if failed:
        if any(merged[cid].confident for cid in failed):
            return "exclude", flags
        return "uncertain", ["unverified_exclusion"]
    inclusion_met = all(merged[c.id].verdict == "met" for c in protocol.criteria.inclusion)
    return ("include" if inclusion_met else "uncertain"), flags


def screening_row(
    paper: Paper,
    protocol: Protocol,
    template: PromptTemplate,
    results: Sequence[CallResult | None],
    threshold: float,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "record_id": paper.record_id,
        "title": paper.title,
        "abstract_missing": False,
        "template_name": template.name,
        "template_sha256": template.sha256,
    }
    flags = ["pages_left_out"] if paper.left_out else []
    if paper.instruction_like:
        flags.append("instruction_like_text")
    if not paper.usable:
        row.update(decision="error", error=paper.parsed.reason or "no text to screen", flags=flags)
        return row
    answers: list[dict[str, Any]] = []
    errors: list[str] = []
    calls = []
    for chunk, result in zip(paper.chunks, results, strict=True):
        if result is not None and result.ok and result.row is not None:
            answers.append(json.loads(result.row["parsed_json"]))
            calls.append(result.row)
        else:
            problem = NOT_SCREENED if result is None else (result.error or "no answer")
            errors.append(f"pages {page_ranges(chunk.pages)}: {problem}")
    if not answers:
        row.update(decision="error", error=" | ".join(errors), flags=flags)
        return row
    merged: dict[str, CriterionEvidence] = {}
    for cid in protocol.criterion_ids:
        checked = [check_verdict(a["criteria"][cid], paper, threshold) for a in answers]
        verdict, conflict = merge_criterion(checked)
        assert verdict is not None
        merged[cid] = verdict
        if conflict:
            flags.append(f"conflict:{cid}")
        elif verdict.verdict in DECISIVE and not verdict.confident:
            flags.append(f"unverified:{cid}")
        row[f"criterion:{cid}"] = verdict.verdict
        row[f"reason:{cid}"] = verdict.reason
        row[f"quote:{cid}"] = verdict.quote
        row[f"page:{cid}"] = verdict.page
        row[f"evidence:{cid}"] = verdict.status
    decision, extra = _decide(protocol, merged)
    model_decisions = {a["decision"] for a in answers}
    model_decision = (
        "exclude" if "exclude" in model_decisions else "include" if model_decisions == {"include"} else "uncertain"
    )
    if errors:
        flags.append("chunks_failed")
    row.update(
        decision=decision,
        model_decision=model_decision,
        confidence_source="none",
        rationale=" | ".join(dict.fromkeys(a["rationale"] for a in answers if a["rationale"])),
        flags=flags + extra,
        error=" | ".join(errors),
        model=calls[0]["model"],
        served_model=calls[0]["served_model"],
        run_id=calls[0]["run_id"],
        call_id=";".join(str(c["call_id"]) for c in calls),
    )
    return row


class FullTextScreeningStage(PaperStage):
    """``winnow screen --full-text``: the screening criteria judged on each PDF, with checked quotes."""

    name = "screen_full_text"
    command = "screen --full-text"
    description = "screening full text"
    suffix = "fulltext.decisions"
    schema_name = "full_text_screening_answer"

    def __init__(self, input_path: Path, loaded: LoadedProtocol, template: PromptTemplate, **kw: Any) -> None:
        self.protocol = loaded.protocol
        super().__init__(
            input_path,
            template,
            shared={
                "review_title": self.protocol.title,
                "question": self.protocol.question,
                "criteria": render_criteria(self.protocol),
            },
            protocol_label=f"{loaded.path} sha256:{loaded.sha256[:12]}",
            protocol_sha256=loaded.sha256,
            **kw,
        )

    @property
    def spec(self) -> AnswerSpec:
        return screening_spec(self.protocol.criterion_ids, with_quotes=True)

    @property
    def items(self) -> Sequence[str]:
        return self.protocol.criterion_ids

    def paper_row(self, paper: Paper, results: Sequence[CallResult | None]) -> dict[str, Any]:
        return screening_row(paper, self.protocol, self.template, results, self.chunking.quote_threshold)

    def write(self, path: Path, rows: Iterable[dict[str, Any]]) -> None:
        write_decisions(path, rows, self.protocol.criterion_ids, with_quotes=True)


def full_text_stage(spec: RunSpec, chunking: ChunkOptions) -> FullTextScreeningStage:
    """The full-text screening stage for a command's files."""
    loaded = load_protocol(spec.protocol_path)
    template = load_template(spec.template)
    return FullTextScreeningStage(spec.input_path, loaded, template, sampling=spec.sampling, chunking=chunking)
