"""Writing a synthesis: CSV and Markdown per table, PNG figures, and one JSON, into one folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from winnow.errors import InputError
from winnow.synthesis.build import Synthesis

__all__ = ["markdown_table", "write_synthesis"]


def markdown_table(rows: Sequence[dict[str, Any]], *, caption: str) -> str:
    """A GitHub-flavoured Markdown table with the caption (which says what was counted) above it."""
    if not rows:
        return f"{caption}\n\n(no rows)\n"
    columns = list(rows[0])
    lines = [caption, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = ["" if row.get(c) is None else str(row.get(c)).replace("|", "\\|") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _tables(synthesis: Synthesis) -> dict[str, list[dict[str, Any]]]:
    tables = {
        "counts": synthesis.counts,
        "by_year": synthesis.by_year,
        "trends": synthesis.trends,
        "top_names": synthesis.top_names,
        "top_names_by_year": synthesis.top_names_by_year,
        "merges": synthesis.merges,
    }
    if synthesis.cross_fields:
        tables["cross_" + "_x_".join(synthesis.cross_fields)] = synthesis.cross
    return {name: rows for name, rows in tables.items() if rows}


def write_synthesis(synthesis: Synthesis, out: Path, *, specs: Sequence[Any]) -> list[Path]:
    """Every table as CSV and Markdown, the figures as PNG, and synthesis.json; returns the paths written."""
    from winnow.screening.decisions import write_table

    written: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, rows in _tables(synthesis).items():
            written.append(write_table(out / f"{name}.csv", rows, list(rows[0]), what="synthesis table"))
            caption = f"**{name.replace('_', ' ')}** ({synthesis.counted}; {synthesis.n_papers} papers)"
            (out / f"{name}.md").write_text(markdown_table(rows, caption=caption), encoding="utf-8")
            written.append(out / f"{name}.md")
        (out / "synthesis.json").write_text(json.dumps(synthesis.as_dict(), indent=2, ensure_ascii=False), "utf-8")
        written.append(out / "synthesis.json")
    except OSError as exc:
        raise InputError(out, f"cannot write the synthesis: {exc.strerror or exc}") from exc
    written += _figures(synthesis, out, specs)
    return written


def _figures(synthesis: Synthesis, out: Path, specs: Sequence[Any]) -> list[Path]:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        synthesis.warnings.append("matplotlib is not installed (pip install 'winnow[plot]'): no PNG figures")
        return []
    from winnow.synthesis.figures import cross_heatmap, stacked_by_year

    paths = []
    by_name = {s.name: s for s in specs}
    for fname in dict.fromkeys(r["field"] for r in synthesis.by_year):
        multi = getattr(by_name.get(fname), "type", "") == "many_of"
        target = out / f"by_year_{fname}.png"
        paths.append(stacked_by_year(synthesis.by_year, fname, target, counted=synthesis.counted, multi=multi))
    if synthesis.cross_fields and synthesis.cross:
        a, b = synthesis.cross_fields

        def cats(name: str) -> list[str]:
            seen = list(dict.fromkeys(c[name] for c in synthesis.cross))
            declared = list(getattr(by_name.get(name), "categories", None) or [])
            return [c for c in declared if c in seen] + [c for c in seen if c not in declared]

        target = out / f"cross_{a}_x_{b}.png"
        paths.append(cross_heatmap(synthesis.cross, (a, b), (cats(a), cats(b)), target, counted=synthesis.counted))
    return paths
