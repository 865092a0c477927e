"""The answer a screening call must give, as a JSON schema and a validator.

One spec yields both, so the schema sent to the model and the check applied to
its answer cannot drift apart. Strings are bounded because a small model under a
grammar can otherwise loop until ``max_tokens``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from winnow.screening.decisions import VERDICTS

MODEL_DECISIONS = ("include", "exclude", "uncertain")
ModelDecision = Literal["include", "exclude", "uncertain"]
REASON_MAX = 120
RATIONALE_MAX = 240


def load_json_answer(text: str) -> Any:
    """JSON from a model, allowing raw control characters inside strings.

    llama.cpp's JSON grammar lets a literal tab or newline into a string value; the
    structure is still exactly the schema's, so refusing it would only waste a repair.
    """
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at char {exc.pos})") from None


def validate_answer(model: type[BaseModel], text: str) -> dict[str, Any]:
    """Model text parsed and checked against a pydantic answer model; ValueError names the fields."""
    data = load_json_answer(text)
    try:
        answer = model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise ValueError(problems) from None
    return dict(answer.model_dump(by_alias=True))


class CriterionVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Literal["met", "not_met", "unclear"]
    reason: str = Field(max_length=REASON_MAX)


def answer_schema(criterion_ids: Sequence[str], *, with_quotes: bool = False) -> dict[str, Any]:
    """JSON schema for one screening answer; key order is the order the model writes."""
    verdict: dict[str, Any] = {
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": list(VERDICTS)},
            "reason": {"type": "string", "maxLength": REASON_MAX},
        },
        "required": ["verdict", "reason"],
        "additionalProperties": False,
    }
    if with_quotes:
        verdict["properties"]["quote"] = {"type": "string", "maxLength": REASON_MAX}
        verdict["properties"]["page"] = {"type": "integer"}
        verdict["required"] = ["verdict", "reason", "quote", "page"]
    return {
        "type": "object",
        "properties": {
            "criteria": {
                "type": "object",
                "properties": {cid: verdict for cid in criterion_ids},
                "required": list(criterion_ids),
                "additionalProperties": False,
            },
            "rationale": {"type": "string", "maxLength": RATIONALE_MAX},
            "decision": {"type": "string", "enum": list(MODEL_DECISIONS)},
        },
        "required": ["criteria", "rationale", "decision"],
        "additionalProperties": False,
    }


class AnswerValidator:
    """Validates raw model text against the answer schema for one protocol."""

    def __init__(self, criterion_ids: Sequence[str], *, with_quotes: bool = False) -> None:
        self.criterion_ids = list(criterion_ids)
        verdict_model: type[BaseModel] = CriterionVerdict
        if with_quotes:
            verdict_model = create_model(
                "QuotedVerdict",
                __base__=CriterionVerdict,
                quote=(str, Field(max_length=REASON_MAX)),
                page=(int, ...),
            )
        fields: dict[str, Any] = {
            f"c{i}": (verdict_model, Field(alias=cid)) for i, cid in enumerate(self.criterion_ids)
        }
        criteria_model = create_model(
            "Criteria", __config__=ConfigDict(extra="forbid", populate_by_name=False), **fields
        )
        self.model = create_model(
            "ScreeningAnswer",
            __config__=ConfigDict(extra="forbid"),
            criteria=(criteria_model, ...),
            rationale=(str, Field(max_length=RATIONALE_MAX)),
            decision=(ModelDecision, ...),
        )

    def __call__(self, text: str) -> dict[str, Any]:
        """Parsed answer with only schema fields; ValueError names what is wrong."""
        return validate_answer(self.model, text)
