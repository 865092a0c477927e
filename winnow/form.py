"""The extraction form: typed fields in the protocol YAML, and the answer model built from them.

It sits below both the protocol (which holds a form) and the extraction stage (which
fills one), so neither imports the other. One pydantic answer model per form yields
both the schema sent to the model and the check applied to its answer. Every field's
answer has the same shape, ``{"value", "not_reported", "quote", "page"}``: a value is
only worth keeping with a verbatim quote and the page it came from, and "not
reported" is always a valid answer. Strings and lists are bounded because a small
model under a grammar can otherwise loop until ``max_tokens``.

The hand-labelled PDF gold forms (``form:`` + ``fields:`` with ``categorical``,
``list_of_strings`` and ``allowed_values``) load into the same model, so one
form type serves both extraction and its agreement report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from winnow.answers import AnswerSpec
from winnow.errors import ProtocolError

__all__ = [
    "FIELD_TYPES",
    "LIST_ITEM_MAX",
    "LIST_TYPES",
    "QUOTE_MAX",
    "STRING_MAX",
    "ExtractionField",
    "ExtractionForm",
    "extraction_spec",
    "form_from_data",
]

FieldType = Literal["string", "integer", "number", "boolean", "one_of", "many_of", "list"]
FIELD_TYPES: tuple[str, ...] = ("string", "integer", "number", "boolean", "one_of", "many_of", "list")
LIST_TYPES = frozenset({"many_of", "list"})
CATEGORICAL_TYPES = frozenset({"one_of", "boolean"})
NUMERIC_TYPES = frozenset({"integer", "number"})

STRING_MAX = 160
QUOTE_MAX = 300
LIST_ITEM_MAX = 80
LIST_MAX_ITEMS = 8
FIELD_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,47}$"

# Spellings used by the hand-labelled gold forms, mapped to ours.
_TYPE_ALIASES = {
    "categorical": "one_of",
    "category": "one_of",
    "list_of_strings": "list",
    "multi": "many_of",
    "float": "number",
    "int": "integer",
    "bool": "boolean",
    "str": "string",
    "text": "string",
}


class ExtractionField(BaseModel):
    """One field of the form. ``required`` means the review needs it; "not reported" is still allowed."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=FIELD_NAME)
    description: str = ""
    type: FieldType = "string"
    categories: list[str] = Field(default_factory=list)
    unit: str | None = None
    required: bool = False

    @model_validator(mode="before")
    @classmethod
    def _accept_gold_spellings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "allowed_values" in data and "categories" not in data:
            data["categories"] = data.pop("allowed_values")
        data.pop("nullable", None)  # every field may be "not reported"
        kind = data.get("type", "string")
        if isinstance(kind, list):
            # e.g. [string, list_of_strings]: a list holds a single string as well.
            names = [_TYPE_ALIASES.get(str(k), str(k)) for k in kind]
            kind = "list" if "list" in names else names[0]
        data["type"] = _TYPE_ALIASES.get(str(kind), kind)
        return data

    @model_validator(mode="after")
    def _categories_match_type(self) -> ExtractionField:
        if self.type in ("one_of", "many_of"):
            if len(self.categories) < 2:
                raise ValueError(f"field {self.name}: a {self.type} field needs at least two categories")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError(f"field {self.name}: categories must be unique")
        elif self.categories:
            raise ValueError(f"field {self.name}: categories are only for one_of and many_of fields")
        if self.unit and self.type != "number":
            raise ValueError(f"field {self.name}: a unit is only for number fields")
        return self

    @property
    def is_list(self) -> bool:
        return self.type in LIST_TYPES

    def describe(self) -> str:
        """One line for the prompt: name, type, allowed values and what to extract."""
        kind: str = self.type
        if self.type in ("one_of", "many_of"):
            kind = f"{self.type}: {', '.join(self.categories)}"
        elif self.type == "number" and self.unit:
            kind = f"number, in {self.unit}"
        elif self.type == "list":
            kind = "list of short strings"
        required = ", required" if self.required else ""
        text = " ".join(self.description.split())
        return f"- {self.name} ({kind}{required}): {text}" if text else f"- {self.name} ({kind}{required})"


class ExtractionForm(BaseModel):
    """The fields every included study is read for."""

    model_config = ConfigDict(extra="forbid")

    name: str = "extraction"
    fields: list[ExtractionField] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> ExtractionForm:
        seen: set[str] = set()
        for field in self.fields:
            if field.name in seen:
                raise ValueError(f"field name {field.name!r} is used twice")
            seen.add(field.name)
        return self

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> ExtractionField:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    def answer_schema(self) -> dict[str, Any]:
        """JSON schema for one answer: every field, in form order."""
        return extraction_spec(self).schema

    def describe(self) -> str:
        return "\n".join(f.describe() for f in self.fields)


_STRICT = ConfigDict(extra="forbid", strict=True)


def _value_type(spec: ExtractionField) -> Any:
    """The value's type with its bounds; None always means "not reported"."""
    if spec.type == "string":
        return Annotated[str, Field(max_length=STRING_MAX)] | None
    if spec.type == "integer":
        return int | None
    if spec.type == "number":
        return float | None
    if spec.type == "boolean":
        return bool | None
    if spec.type in ("one_of", "many_of"):
        choice: Any = Literal.__getitem__(tuple(spec.categories))  # a Literal built from the form at run time
        if spec.type == "one_of":
            return choice | None
        return Annotated[list[choice], Field(max_length=len(spec.categories))] | None  # type: ignore[valid-type]
    return Annotated[list[Annotated[str, Field(max_length=LIST_ITEM_MAX)]], Field(max_length=LIST_MAX_ITEMS)] | None


def extraction_spec(form: ExtractionForm) -> AnswerSpec:
    """Schema and validator for one extraction answer: every field of the form, in form order."""
    fields: dict[str, Any] = {}
    for i, spec in enumerate(form.fields):
        answer = create_model(
            f"Answer{i}",
            __config__=_STRICT,
            value=(_value_type(spec), ...),
            not_reported=(bool, ...),
            quote=(str, Field(max_length=QUOTE_MAX)),
            page=(int, ...),
        )
        fields[f"f{i}"] = (answer, Field(alias=spec.name))
    return AnswerSpec(create_model("ExtractionAnswer", __config__=_STRICT, **fields))


def form_from_data(data: Any, source: str | Path) -> ExtractionForm:
    """A form from parsed YAML: a bare form, a gold form (``form:`` + ``fields:``) or a protocol's section."""
    if not isinstance(data, dict):
        raise ProtocolError(source, "an extraction form is a YAML mapping with a fields list")
    if "criteria" in data or "extraction" in data:
        data = data.get("extraction")
        if not data:
            raise ProtocolError(source, "the protocol has no extraction section (extraction: fields: [...])")
    if not isinstance(data, dict):
        raise ProtocolError(source, "field extraction: must be a mapping with a fields list")
    name = data.get("name") or data.get("form") or Path(str(source)).stem
    try:
        return ExtractionForm.model_validate({"name": str(name), "fields": data.get("fields")})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ProtocolError(source, f"extraction form: {where}: {message}".replace(": : ", ": ")) from None
