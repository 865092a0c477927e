"""A model's answer: one pydantic model yields the JSON schema sent and the check applied.

Writing a schema beside a validator lets them drift (the extraction schema once
capped string lengths that its validator did not check). Here the pydantic model
is the only spec: ``AnswerSpec.schema`` is derived from it, cleaned to the plain
subset every backend accepts (no ``$defs``, no titles), and ``AnswerSpec.__call__``
validates with the same model, so what one accepts the other accepts.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["AnswerSpec", "json_schema_of", "load_json_answer"]


def load_json_answer(text: str) -> Any:
    """JSON from a model, allowing raw control characters inside strings.

    llama.cpp's JSON grammar lets a literal tab or newline into a string value; the
    structure is still exactly the schema's, so refusing it would only waste a repair.
    """
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at char {exc.pos})") from None


def json_schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with references inlined, and titles and descriptions dropped.

    llama.cpp compiles the schema to a grammar and OpenAI's strict mode rejects some
    keywords, so only the structural keywords pydantic emits for these models remain;
    docstrings would also change the cache key of every answer when reworded.
    """
    raw = model.model_json_schema(by_alias=True)
    definitions = raw.pop("$defs", {})

    def clean(node: Any) -> Any:
        if isinstance(node, list):
            return [clean(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return clean(definitions[node["$ref"].rsplit("/", 1)[-1]])
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("title", "description"):
                continue
            if key == "properties":
                out[key] = {name: clean(sub) for name, sub in value.items()}
            else:
                out[key] = clean(value)
        return out

    cleaned: dict[str, Any] = clean(raw)
    return cleaned


class AnswerSpec:
    """The schema a model must answer in and the validator of its text, from one pydantic model."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.schema = json_schema_of(model)

    def __call__(self, text: str) -> dict[str, Any]:
        """The parsed answer with only schema fields; ValueError names what is wrong."""
        return self.validate_data(load_json_answer(text))

    def validate_data(self, data: Any) -> dict[str, Any]:
        try:
            answer = self.model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}" for err in exc.errors()[:5]
            )
            raise ValueError(problems) from None
        return dict(answer.model_dump(by_alias=True))
