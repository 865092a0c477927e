"""``iter_json`` writes exactly what ``json.dumps(obj, indent=2, ensure_ascii=False)`` writes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winnow import jsontext
from winnow.jsontext import iter_json

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.sampled_from([1e-07, 5e-05, 1e16, -0.0, 0.1 + 0.2]),
)
KEYS = st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.lists(inner, max_size=3).map(tuple), st.dictionaries(KEYS, inner, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(value=VALUES, stream_above=st.sampled_from([0, 1, 3, 64]), stream_depth=st.sampled_from([0, 1, 2, 5]))
def test_same_text_as_json_dumps(value: Any, stream_above: int, stream_depth: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsontext, "_STREAM_ABOVE", stream_above)
        patch.setattr(jsontext, "_STREAM_DEPTH", stream_depth)
        assert "".join(iter_json(value)) == json.dumps(value, indent=2, ensure_ascii=False)


def test_an_audit_sized_list_streams_in_pieces() -> None:
    records = [
        {"record_id": f"r{i}", "p_include": i / 7, "criteria": [{"id": "I1", "verdict": "met"}]} for i in range(500)
    ]
    data = {"schema": "winnow.audit/1", "records": records, "warnings": [], "n": math.pi}
    pieces = list(iter_json(data))
    assert len(pieces) > 500 and "".join(pieces) == json.dumps(data, indent=2, ensure_ascii=False)


@pytest.mark.parametrize(
    ("value", "error"),
    [({"a": object()}, TypeError), ({(1, 2): 1}, TypeError), ([set()], TypeError)],
)
def test_unencodable_values_fail_as_json_dumps_fails(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        json.dumps(value, indent=2)
    with pytest.raises(error):
        "".join(iter_json(value))


def test_a_container_inside_itself_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        "".join(iter_json(loop))
