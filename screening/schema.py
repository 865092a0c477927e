"""The answer a screening call must give: one pydantic model per protocol, schema and check alike.

Strings are bounded because a small model under a grammar can otherwise loop until
``max_tokens``. Field order is the order the model writes: verdicts first, the
decision last, so the decision follows from the verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from winnow.answers import AnswerSpec

MODEL_DECISIONS = ("include", "exclude", "uncertain")
POSITIVE_DECISION = "include"
VERDICTS = ("met", "not_met", "unclear")
REASON_MAX = 120
RATIONALE_MAX = 240

# strict: the schema says integer and string, so "3" for a page is refused by both.
_STRICT = ConfigDict(extra="forbid", strict=True)


class CriterionVerdict(BaseModel):
    model_config = _STRICT

    verdict: Literal["met", "not_met", "unclear"]
    reason: str = Field(max_length=REASON_MAX)


class QuotedVerdict(CriterionVerdict):
    """Full-text screening: each verdict carries the quote and page it rests on."""

    quote: str = Field(max_length=REASON_MAX)
    page: int


def screening_answer_model(criterion_ids: Sequence[str], *, with_quotes: bool = False) -> type[BaseModel]:
    """The answer model for one protocol's criteria (criterion ids become field aliases)."""
    verdict: type[BaseModel] = QuotedVerdict if with_quotes else CriterionVerdict
    fields: dict[str, Any] = {f"c{i}": (verdict, Field(alias=cid)) for i, cid in enumerate(criterion_ids)}
    criteria = create_model("Criteria", __config__=_STRICT, **fields)
    answer: type[BaseModel] = create_model(
        "ScreeningAnswer",
        __config__=_STRICT,
        criteria=(criteria, ...),
        rationale=(str, Field(max_length=RATIONALE_MAX)),
        decision=(Literal["include", "exclude", "uncertain"], ...),
    )
    return answer


def screening_spec(criterion_ids: Sequence[str], *, with_quotes: bool = False) -> AnswerSpec:
    """Schema and validator for one screening answer."""
    return AnswerSpec(screening_answer_model(criterion_ids, with_quotes=with_quotes))
