"""The batch ingest's fast paths write exactly the bytes of the plain calls they replace.

``_csv_line`` stands in for ``csv.writer`` in every CSV table and ``messages_json`` for
``json.dumps`` in cache keys and ledger rows; a byte of difference would change a
table a reviewer cites or miss every cached answer.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from winnow.engine import messages_json
from winnow.screening.decisions import _csv_line, write_table

SPECIAL = st.text(alphabet=st.sampled_from([*"a ,\"\r\n\t;\\'", "é", "\x00", "\u2028", "\x7f"]), max_size=8)
CELL = SPECIAL | st.text(max_size=5) | st.integers() | st.floats(allow_nan=True) | st.booleans()


def _csv_writer_line(cells: list[object]) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


@settings(max_examples=500, deadline=None)
@given(st.lists(CELL, min_size=2, max_size=6))
def test_a_csv_line_is_what_the_csv_module_writes(cells: list[object]) -> None:
    assert _csv_line(cells) == _csv_writer_line(cells)


def _plain_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return ";".join(value) if isinstance(value, list) else value


def test_a_table_is_byte_for_byte_the_csv_modules(tmp_path: Path) -> None:
    columns = ["record_id", "title", "p_include", "flags", "abstract_missing"]
    rows: list[dict[str, Any]] = [
        {"record_id": "r1", "title": 'A "quoted", title\nover lines', "p_include": 0.1 + 0.2, "flags": ["a", "b"]},
        {"record_id": "r2", "title": "", "p_include": None, "abstract_missing": True},
        {"record_id": "", "title": " spaced ", "p_include": 3, "flags": []},
    ]
    written = write_table(tmp_path / "t.csv", rows, columns).read_bytes()
    expected = io.StringIO(newline="")
    writer = csv.writer(expected)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_plain_cell(row.get(c)) for c in columns])
    assert written == expected.getvalue().encode("utf-8")
    # One column: the csv module's own writer, which quotes a lone empty cell.
    assert write_table(tmp_path / "one.csv", [{"record_id": ""}], ["record_id"]).read_bytes() == b'record_id\r\n""\r\n'


TEXT = st.text(alphabet=st.sampled_from([*'ab "\\\n\t', "é", "µ", "\x00", "\x7f", "\u2028", "😀"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, max_size=4), TEXT, st.booleans(), st.booleans())
def test_messages_json_is_json_dumps(users: list[str], system: str, ensure_ascii: bool, sort_keys: bool) -> None:
    shared = {"role": "system", "content": system}
    for user in [*users, *users]:  # the same system string again and again, as a run's prompts share it
        for messages in (
            (shared, {"role": "user", "content": user}),
            ({"content": user, "role": "user"},),
            ({"role": "user", "content": user, "name": "x"}, {"role": "tool", "content": None}),
            (),
        ):
            expected = json.dumps(list(messages), ensure_ascii=ensure_ascii, sort_keys=sort_keys)
            assert messages_json(messages, ensure_ascii=ensure_ascii, sort_keys=sort_keys) == expected  # type: ignore[arg-type]
