"""One spec per answer: what the validator accepts, the JSON schema sent to the model accepts, and back.

Answers are drawn near the schema's edge (strings one past their cap, lists one item
too long, a wrong enum value, a missing or extra key, a number where an integer
belongs), because uniformly random JSON almost never comes close to being valid.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winnow.answers import AnswerSpec
from winnow.form import ExtractionField, ExtractionForm, extraction_spec
from winnow.protocol import load_form
from winnow.screening.schema import screening_spec

EVERY_TYPE = ExtractionForm(
    name="every_type",
    fields=[
        ExtractionField(name="s", type="string"),
        ExtractionField(name="i", type="integer"),
        ExtractionField(name="x", type="number", unit="mg"),
        ExtractionField(name="b", type="boolean"),
        ExtractionField(name="one", type="one_of", categories=["a", "b", "c"]),
        ExtractionField(name="many", type="many_of", categories=["p", "q"]),
        ExtractionField(name="names", type="list"),
        ExtractionField(name="title", type="string"),  # a field named like a schema keyword
    ],
)

SPECS = {
    "screening": screening_spec(["I1", "E1"]),
    "screening_quotes": screening_spec(["I1"], with_quotes=True),
    "extraction_every_type": extraction_spec(EVERY_TYPE),
    "extraction_shipped": extraction_spec(load_form("foundation_models_medical_imaging").form),
}

CHECKERS = {name: jsonschema.Draft202012Validator(spec.schema) for name, spec in SPECS.items()}

_NOISE = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=3), st.just(1.5))


def near(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that are valid for ``schema`` most of the time, and just outside it otherwise."""
    if "anyOf" in schema:
        return st.one_of([near(s) for s in schema["anyOf"]])
    kind = schema.get("type")
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), st.just("not-a-choice"))
    if kind == "string":
        cap = schema.get("maxLength", 20)
        return st.one_of(st.text(max_size=cap), st.text(min_size=cap + 1, max_size=cap + 2), _NOISE)
    if kind == "integer":
        # 2.0 is left out: JSON schema calls it an integer, a model never writes it.
        return st.one_of(st.integers(-5, 500), st.just(2.5), st.just("3"))
    if kind == "number":
        return st.one_of(st.integers(-5, 5), st.floats(-1e6, 1e6, allow_nan=False), st.just("1.5"))
    if kind == "boolean":
        return st.one_of(st.booleans(), st.just(0), st.just("true"))
    if kind == "null":
        return st.none()
    if kind == "array":
        cap = schema.get("maxItems", 3)
        return st.one_of(st.lists(near(schema["items"]), max_size=cap + 1), _NOISE)
    if kind == "object":
        props = schema["properties"]
        base = st.fixed_dictionaries({name: near(sub) for name, sub in props.items()})

        def mutate(value: dict[str, Any], how: int, key: str) -> Any:
            value = dict(value)
            if how == 1 and value:
                value.pop(sorted(value)[0])
            elif how == 2:
                value[key] = "extra"
            return value

        return st.one_of(
            base,
            st.builds(mutate, base, st.integers(0, 2), st.sampled_from(["zz_unknown", *props])),
            _NOISE,
        )
    raise AssertionError(f"unhandled schema: {schema}")


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_validator_and_schema_accept_the_same_answers(name: str, data: st.DataObject) -> None:
    spec: AnswerSpec = SPECS[name]
    answer = data.draw(near(spec.schema))
    schema_ok = CHECKERS[name].is_valid(answer)
    try:
        spec(json.dumps(answer))
        validator_ok = True
    except ValueError:
        validator_ok = False
    assert validator_ok == schema_ok, f"schema says {schema_ok}, validator says {validator_ok}: {answer!r}"


def test_the_schema_caps_what_the_validator_caps() -> None:
    """The drift this spec removed: extraction strings and lists were capped only in the schema."""
    spec = extraction_spec(EVERY_TYPE)
    values = {
        "s": "x" * 161,
        "names": ["a"] * 9,
    }
    for field, value in values.items():
        answer = {f.name: {"value": None, "not_reported": True, "quote": "", "page": 0} for f in EVERY_TYPE.fields}
        answer[field]["value"] = value
        assert not jsonschema.Draft202012Validator(spec.schema).is_valid(answer)
        with pytest.raises(ValueError, match=field):
            spec(json.dumps(answer))


def test_schema_is_plain_for_every_backend() -> None:
    """No $ref, $defs, titles or descriptions: llama.cpp's grammar compiler and OpenAI strict mode take it."""
    for spec in SPECS.values():
        text = json.dumps(spec.schema)
        assert "$ref" not in text and "$defs" not in text and '"description"' not in text
    assert "title" in SPECS["extraction_every_type"].schema["properties"], "a field may be named title"
