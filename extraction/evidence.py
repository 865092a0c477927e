"""Evidence for every extracted value, and the rules that merge answers from several chunks.

Each chunk of a paper gets its own answer; each answered value carries a quote and
a page, checked with :func:`winnow.extraction.quotes.verify_quote` against the parsed
page text. The merge rules, in one place:

* a scalar field (string, integer, number, boolean, one_of) takes the **first
  confident value** in page order: reported, with a quote that verified
  (``verified`` or ``verified_fuzzy``). Other confident values that differ are
  kept as a **conflict** and flagged. With no confident value the first reported
  one is kept, with its failed evidence status shown, never as if it were fine.
* a list field (list, many_of) takes the **union** of the confident values, in
  order of first appearance, with every supporting quote and page; with no
  confident value, the first reported one (unverified).
* a field is **not reported** only when every chunk said so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from winnow.extraction.pdf import ParsedPdf
from winnow.extraction.quotes import QuoteCheck, normalise_for_match, verify_quote
from winnow.form import ExtractionField, ExtractionForm

__all__ = [
    "CONFIDENT",
    "EVIDENCE_STATUSES",
    "FieldEvidence",
    "MergedField",
    "check_answer",
    "check_quote",
    "merge_answers",
    "merge_field",
    "normalise_value",
]

EVIDENCE_STATUSES: tuple[str, ...] = (
    "verified",
    "verified_fuzzy",
    "wrong_page",
    "not_found",
    "no_quote",
    "not_reported",
)
CONFIDENT = frozenset({"verified", "verified_fuzzy"})
# A shorter quote ("1", "2015") is found almost anywhere and locates nothing: it counts as no quote.
MIN_QUOTE_CHARS = 12
_RANK = {status: i for i, status in enumerate(EVIDENCE_STATUSES)}


@dataclass(frozen=True)
class FieldEvidence:
    """One chunk's answer for one field, with its quote checked.

    Attributes:
        value: The value as answered (None when not reported).
        quote: The quote as answered.
        page: The page the model named.
        status: The quote check, or ``not_reported``.
        score: Match score of the quote check (0-1).
        found_page: Where the quote was found when that differs from ``page``.
        chunk: Index of the chunk that answered.
    """

    value: Any
    quote: str
    page: int | None
    status: str
    score: float = 0.0
    found_page: int | None = None
    chunk: int = 0

    @property
    def reported(self) -> bool:
        return self.status != "not_reported"

    @property
    def confident(self) -> bool:
        return self.status in CONFIDENT


@dataclass
class MergedField:
    """The final value of one field for one PDF, with the evidence that backs it."""

    name: str
    value: Any = None
    status: str = "not_reported"
    quotes: list[str] = field(default_factory=list)
    pages: list[int | None] = field(default_factory=list)
    conflicts: list[Any] = field(default_factory=list)
    chunks_answered: int = 0

    @property
    def not_reported(self) -> bool:
        return self.status == "not_reported"


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (list, str)) and not value)


def check_answer(
    spec: ExtractionField, answer: dict[str, Any], parsed: ParsedPdf, *, chunk: int = 0, threshold: float = 0.9
) -> FieldEvidence:
    """Verify one field's answer against the PDF text.

    A value the model marked not reported, or left empty, is ``not_reported``
    whatever quote came with it; a quote under ``MIN_QUOTE_CHARS`` normalised
    characters is ``no_quote``.
    """
    value = answer.get("value")
    quote = str(answer.get("quote") or "")
    page = stated_page(answer.get("page"))
    if answer.get("not_reported") or _is_empty(value):
        return FieldEvidence(None, quote, page, "not_reported", chunk=chunk)
    if spec.is_list and not isinstance(value, list):
        value = [value]
    check = check_quote(quote, parsed, page, threshold=threshold)
    found = check.found_page if check.found_page != page else None
    return FieldEvidence(value, quote, page, check.status, check.score, found, chunk)


def stated_page(page: Any) -> int:
    """The page the model named; 0 when it named none, so a quote found elsewhere is ``wrong_page``."""
    return page if isinstance(page, int) and not isinstance(page, bool) and page > 0 else 0


def check_quote(quote: str, parsed: ParsedPdf, page: int, *, threshold: float = 0.9) -> QuoteCheck:
    """:func:`verify_quote` on the stated page, with quotes too short to locate anything counted as none.

    The page is always passed as stated (0 or out of range included): ``verify_quote`` reads
    ``None`` as "search every page and call a hit verified", which would reward a model
    that names no page or an impossible one.
    """
    if len(normalise_for_match(quote)) < MIN_QUOTE_CHARS:
        return QuoteCheck("no_quote", 0.0, None, "")
    return verify_quote(quote, parsed, page, threshold=threshold)


def normalise_value(value: Any) -> Any:
    """A comparable form: strings case-, space- and hyphenation-folded; numbers as floats."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return tuple(normalise_value(v) for v in value)
    return normalise_for_match(str(value))


def merge_field(spec: ExtractionField, answers: Sequence[FieldEvidence]) -> MergedField:
    """Apply the merge rules (module docstring) to one field's answers, in chunk order."""
    merged = MergedField(spec.name, chunks_answered=len(answers))
    reported = [a for a in answers if a.reported]
    if not reported:
        return merged
    confident = [a for a in reported if a.confident]
    if spec.is_list:
        return _merge_list(merged, confident or reported[:1])
    chosen = confident[0] if confident else reported[0]
    merged.value = chosen.value
    merged.status = chosen.status
    merged.quotes = [chosen.quote]
    merged.pages = [chosen.found_page or chosen.page or None]
    seen = {normalise_value(chosen.value)}
    for other in confident[1:]:
        key = normalise_value(other.value)
        if key not in seen:
            seen.add(key)
            merged.conflicts.append(other.value)
    return merged


def _merge_list(merged: MergedField, answers: Sequence[FieldEvidence]) -> MergedField:
    items: list[Any] = []
    seen: set[Any] = set()
    for answer in answers:
        added = False
        for item in answer.value:
            key = normalise_value(item)
            if key not in seen and not _is_empty(item):
                seen.add(key)
                items.append(item)
                added = True
        if added:
            merged.quotes.append(answer.quote)
            merged.pages.append(answer.found_page or answer.page or None)
    merged.value = items
    merged.status = max((a.status for a in answers), key=lambda s: _RANK[s])
    return merged


def merge_answers(
    form: ExtractionForm, chunk_answers: Sequence[dict[str, Any] | None], parsed: ParsedPdf, *, threshold: float = 0.9
) -> tuple[dict[str, MergedField], dict[str, list[FieldEvidence]]]:
    """Check and merge every field over every chunk's answer (None for a chunk whose call failed).

    Returns:
        The merged fields by name, and every checked answer by field name (for the ledger and audit).
    """
    checked: dict[str, list[FieldEvidence]] = {f.name: [] for f in form.fields}
    for index, answer in enumerate(chunk_answers):
        if answer is None:
            continue
        for spec in form.fields:
            checked[spec.name].append(check_answer(spec, answer[spec.name], parsed, chunk=index, threshold=threshold))
    return {spec.name: merge_field(spec, checked[spec.name]) for spec in form.fields}, checked
