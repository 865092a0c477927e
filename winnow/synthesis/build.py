"""Synthesis tables from an extraction table and its form: counts, cross-tabs, years, trends, datasets.

A paper counts for a field when its value is there and, by default, its quote was
verified (``evidence:FIELD`` is ``verified`` or ``verified_fuzzy``); with
``include_unverified`` every reported value counts. The denominator of a share is
the number of papers counted for that field, so "not reported" and unverified
values neither add to nor dilute a category. ``many_of`` fields let a paper count
in several categories, so their shares can sum past 100%.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.synthesis.datasets import NameGroups
from winnow.synthesis.stats import cochran_armitage, wilson_interval

__all__ = ["CATEGORICAL", "Synthesis", "build_synthesis", "paper_years"]

CATEGORICAL = ("one_of", "many_of", "boolean")
VERIFIED = frozenset({"verified", "verified_fuzzy"})
_YEAR_FIELDS = ("publication_year", "year", "pub_year")


@dataclass
class Synthesis:
    """Every table of the synthesis as plain rows (the CLI prints, writes CSV/Markdown and JSON from these)."""

    counted: str
    n_papers: int
    counts: list[dict[str, Any]] = field(default_factory=list)
    by_year: list[dict[str, Any]] = field(default_factory=list)
    trends: list[dict[str, Any]] = field(default_factory=list)
    cross: list[dict[str, Any]] = field(default_factory=list)
    cross_fields: tuple[str, str] | None = None
    top_names: list[dict[str, Any]] = field(default_factory=list)
    top_names_by_year: list[dict[str, Any]] = field(default_factory=list)
    merges: list[dict[str, Any]] = field(default_factory=list)
    years_from: str = ""
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "counted": self.counted,
            "n_papers": self.n_papers,
            "years_from": self.years_from,
            "counts": self.counts,
            "by_year": self.by_year,
            "trends": self.trends,
            "cross": {"fields": list(self.cross_fields or ()), "cells": self.cross},
            "top_names": self.top_names,
            "top_names_by_year": self.top_names_by_year,
            "merges": self.merges,
            "warnings": self.warnings,
        }


def _counted(row: Mapping[str, str], name: str, include_unverified: bool) -> bool:
    if not str(row.get(f"field:{name}", "")).strip():
        return False
    if include_unverified:
        return True
    evidence = f"evidence:{name}"
    return evidence not in row or row[evidence] in VERIFIED


def _values(spec: Any, cell: str) -> list[str]:
    from winnow.agreement.extraction import parse_cell

    value = parse_cell(spec, cell)
    if value is None:
        return []
    if spec.type == "boolean":
        return ["true" if value else "false"]
    items = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def paper_years(
    rows: Sequence[Mapping[str, str]], records: Path | None, year_field: str | None
) -> tuple[dict[str, int], str]:
    """Publication year per extraction row id, and where the years came from.

    The form's year field wins (``publication_year``/``year`` unless named); else the
    records export, matched on the record id without ``.pdf``, then on the title.
    """
    from winnow.prisma import report_key

    years: dict[str, int] = {}
    name = year_field or next((n for n in _YEAR_FIELDS if rows and f"field:{n}" in rows[0]), None)
    if name is not None:
        for row in rows:
            text = str(row.get(f"field:{name}", "")).strip()
            if text[:4].isdigit():
                years[row["record_id"]] = int(text[:4])
        if years:
            return years, f"form field {name}"
    if records is None:
        return {}, ""
    from winnow.records import read_records
    from winnow.records.normalise import title_key

    read = read_records(records)
    by_key = {report_key(r.record_id): r.year for r in read.records if r.year}
    by_title = {title_key(r.title): r.year for r in read.records if r.year}
    for row in rows:
        year = by_key.get(report_key(row["record_id"])) or by_title.get(title_key(str(row.get("title", ""))))
        if year:
            years[row["record_id"]] = int(year)
    return years, str(records)


def _share_row(fname: str, category: str, k: int, n: int, counted: str) -> dict[str, Any]:
    low, high = wilson_interval(k, n)
    return {
        "field": fname,
        "category": category,
        "papers": k,
        "of": n,
        "share": round(k / n, 4) if n else None,
        "ci_low": None if math.isnan(low) else round(low, 4),
        "ci_high": None if math.isnan(high) else round(high, 4),
        "counted": counted,
    }


def build_synthesis(
    rows: Sequence[Mapping[str, str]],
    specs: Sequence[Any],
    *,
    years: Mapping[str, int] | None = None,
    cross: tuple[str, str] | None = None,
    include_unverified: bool = False,
    top: int = 10,
) -> Synthesis:
    """All synthesis tables for one extraction table.

    Args:
        rows: Extraction table rows (``record_id``, ``field:NAME``, ``evidence:NAME``).
        specs: The form's fields (``ExtractionField``): categorical ones get counts, ``list``
            ones get normalised top names.
        years: Publication year per record id; enables counts per year and trend tests.
        cross: Two field names to cross-tabulate.
        include_unverified: Count values whose quote was not verified.
        top: How many names to list for list fields, overall and per year.
    """
    counted = "all reported values" if include_unverified else "verified values only"
    synthesis = Synthesis(counted=counted, n_papers=len(rows))
    by_name = {spec.name: spec for spec in specs}
    per_paper: dict[str, dict[str, list[str]]] = {}
    for spec in specs:
        values = {
            row["record_id"]: _values(spec, row[f"field:{spec.name}"])
            for row in rows
            if f"field:{spec.name}" in row and _counted(row, spec.name, include_unverified)
        }
        per_paper[spec.name] = {rid: v for rid, v in values.items() if v}
    for spec in specs:
        if spec.type not in CATEGORICAL:
            continue
        papers = per_paper[spec.name]
        categories = list(getattr(spec, "categories", None) or []) or (
            ["true", "false"] if spec.type == "boolean" else []
        )
        seen = Counter(v for vals in papers.values() for v in set(vals))
        for category in [*categories, *sorted(set(seen) - set(categories))]:
            synthesis.counts.append(_share_row(spec.name, category, seen[category], len(papers), counted))
        if years:
            _years_and_trend(synthesis, spec.name, [*categories, *sorted(set(seen) - set(categories))], papers, years)
    for spec in specs:
        if spec.type == "list" and per_paper.get(spec.name):
            _top_names(synthesis, spec.name, per_paper[spec.name], years or {}, top)
    if cross is not None:
        missing = [name for name in cross if name not in by_name]
        if missing:
            from winnow.errors import InputError

            raise InputError(None, f"--cross: no field {missing[0]!r} in the form; fields: {', '.join(by_name)}")
        _cross(synthesis, cross, per_paper)
    return synthesis


def _years_and_trend(
    synthesis: Synthesis, fname: str, categories: list[str], papers: Mapping[str, list[str]], years: Mapping[str, int]
) -> None:
    dated = {rid: vals for rid, vals in papers.items() if rid in years}
    span = sorted({years[rid] for rid in dated})
    totals = [sum(1 for rid in dated if years[rid] == y) for y in span]
    for category in categories:
        hits = [sum(1 for rid, vals in dated.items() if years[rid] == y and category in vals) for y in span]
        for year, k, n in zip(span, hits, totals, strict=True):
            synthesis.by_year.append(
                {"field": fname, "category": category, "year": year, "papers": k, "of": n, "counted": synthesis.counted}
            )
        trend = cochran_armitage(hits, totals, span)
        synthesis.trends.append(
            {
                "field": fname,
                "category": category,
                "years": f"{span[0]}-{span[-1]}" if span else "",
                "papers": sum(hits),
                "of": sum(totals),
                "z": None if math.isnan(trend.z) else round(trend.z, 3),
                "p_value": None if math.isnan(trend.p_value) else round(trend.p_value, 4),
                "direction": trend.direction if not math.isnan(trend.z) else "not testable",
                "counted": synthesis.counted,
            }
        )


def _top_names(
    synthesis: Synthesis, fname: str, papers: Mapping[str, list[str]], years: Mapping[str, int], top: int
) -> None:
    groups = NameGroups()
    keyed = {rid: {groups.add(v) for v in vals} for rid, vals in papers.items()}
    usage = Counter(key for keys in keyed.values() for key in keys)
    for key, n in usage.most_common(top):
        synthesis.top_names.append(
            {
                "field": fname,
                "name": groups.shown(key),
                "papers": n,
                "of": len(papers),
                "spellings": "; ".join(sorted(groups.spellings[key])),
                "counted": synthesis.counted,
            }
        )
    for shown, spellings in groups.merges().items():
        synthesis.merges.append({"field": fname, "name": shown, "merged": "; ".join(spellings)})
    for year in sorted({years[rid] for rid in keyed if rid in years}):
        in_year = Counter(key for rid, keys in keyed.items() if years.get(rid) == year for key in keys)
        for key, n in in_year.most_common(top):
            synthesis.top_names_by_year.append(
                {"field": fname, "year": year, "name": groups.shown(key), "papers": n, "counted": synthesis.counted}
            )


def _cross(synthesis: Synthesis, fields: tuple[str, str], per_paper: Mapping[str, Mapping[str, list[str]]]) -> None:
    a, b = fields
    both = sorted(set(per_paper.get(a, {})) & set(per_paper.get(b, {})))
    cells: Counter[tuple[str, str]] = Counter()
    for rid in both:
        for x in set(per_paper[a][rid]):
            for y in set(per_paper[b][rid]):
                cells[(x, y)] += 1
    synthesis.cross_fields = fields
    for (x, y), n in sorted(cells.items()):
        synthesis.cross.append({a: x, b: y, "papers": n, "of": len(both), "counted": synthesis.counted})
