"""What a synthesis reads: the extraction rows, the form's field types, and publication years.

The form comes from ``--protocol`` (a protocol, a shipped protocol name or a form
YAML), else from the ``winnow extract`` run recorded in the ledger beside the table,
else each field's type is inferred from its cells (JSON lists are ``list``,
true/false is ``boolean``, anything else ``string``), which leaves no categorical
field to count, and the caller is told so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["load_synthesis_inputs"]


def _infer_specs(rows: list[dict[str, str]]) -> list[Any]:
    from winnow.form import ExtractionField

    names = [c.split(":", 1)[1] for c in (rows[0] if rows else {}) if c.startswith("field:")]
    specs = []
    for name in names:
        cells = [r[f"field:{name}"].strip() for r in rows if r.get(f"field:{name}", "").strip()]
        if cells and all(c.startswith("[") for c in cells):
            kind = "list"
        elif cells and all(c.lower() in ("true", "false") for c in cells):
            kind = "boolean"
        else:
            kind = "string"
        specs.append(ExtractionField(name=name, type=kind))  # type: ignore[arg-type]  # one of FIELD_TYPES
    return specs


def load_synthesis_inputs(
    extraction: Path, protocol: str | None, records: Path | None, year_field: str | None, *, by_year: bool
) -> tuple[list[dict[str, str]], list[Any], dict[str, int], str]:
    """(rows, field specs, years per record id, where the years came from).

    Raises:
        InputError: the table or the form cannot be read.
    """
    from winnow.audit.adjudicate import default_ledger_path
    from winnow.prisma import protocol_from_ledger, read_rows
    from winnow.protocol import load_form
    from winnow.synthesis.build import paper_years

    rows = read_rows(extraction, "extraction")
    source = protocol or protocol_from_ledger(default_ledger_path(extraction))
    if source:
        form = load_form(source).form
        specs = [spec for spec in form.fields if any(f"field:{spec.name}" in row for row in rows[:1])]
    else:
        specs = _infer_specs(rows)
    years, origin = paper_years(rows, records, year_field) if by_year else ({}, "")
    return rows, specs, years, origin
