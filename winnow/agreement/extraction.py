"""Agreement between an extraction table and a hand-labelled extraction gold set, per field and overall.

Gold is JSONL, one line per PDF: ``{"file", "form", "fields": {name: {"value", "quote",
"page", "not_reported", "note"}}}`` (the shape of the shared PDF gold set). Field types
come from ``--protocol`` (a protocol or form YAML), else from ``forms/<form>.yaml`` or
``<form>.yaml`` beside the gold file, else they are inferred from the gold values.

Each (PDF, field) pair is compared in two steps, counted separately: whether each side
reported a value at all ("not reported" agreement), then, where both did, the values:

* one_of and boolean: accuracy, Cohen's kappa and Gwet's AC1 over the categories;
* integer and number: exact and within-tolerance (relative) agreement;
* string: normalised exact match (case, space, hyphenation, accents) and fuzzy match
  (rapidfuzz token-set ratio >= threshold);
* list and many_of: micro precision and recall of the items, and mean Jaccard.

A pair "agrees" when both sides say not reported, or both report and the values match
(categories equal, numbers within tolerance, strings fuzzy-match, lists Jaccard >= 0.5).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rapidfuzz import fuzz

from winnow.agreement.metrics import Estimate, ac1, kappa, wilson
from winnow.errors import GoldSetError, InputError
from winnow.extraction.evidence import EVIDENCE_STATUSES
from winnow.extraction.quotes import normalise_for_match
from winnow.form import CATEGORICAL_TYPES, LIST_TYPES, NUMERIC_TYPES, ExtractionField, ExtractionForm
from winnow.protocol import load_form

__all__ = [
    "ExtractionGold",
    "GoldPaper",
    "Pair",
    "build_extraction_agreement",
    "compare_values",
    "load_extraction_gold",
    "match_extraction",
    "parse_cell",
]

JACCARD_AGREE = 0.5


@dataclass(frozen=True)
class GoldValue:
    value: Any
    quote: Any
    page: Any
    not_reported: bool
    note: str = ""


@dataclass
class GoldPaper:
    file: str
    form: str | None
    fields: dict[str, GoldValue]
    line: int


@dataclass
class ExtractionGold:
    path: Path
    papers: list[GoldPaper]


def load_extraction_gold(path: str | Path) -> ExtractionGold:
    """Read a JSONL extraction gold file; errors name the line."""
    source = Path(path)
    if not source.is_file():
        raise GoldSetError(source, "no such gold file")
    papers: list[GoldPaper] = []
    seen: set[str] = set()
    try:
        lines = source.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldSetError(source, f"cannot read gold file: {exc}") from None
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GoldSetError(source, f"not valid JSON ({exc.msg})", line=number) from None
        if not isinstance(data, dict) or not isinstance(data.get("fields"), dict) or not data.get("file"):
            raise GoldSetError(source, 'each line needs "file" and a "fields" mapping', line=number)
        file = str(data["file"])
        if file in seen:
            raise GoldSetError(source, f"file {file!r} appears twice", line=number)
        seen.add(file)
        fields = {}
        for name, entry in data["fields"].items():
            if not isinstance(entry, dict) or "value" not in entry:
                raise GoldSetError(source, f'field {name}: needs at least "value"', line=number)
            value = entry.get("value")
            not_reported = bool(entry.get("not_reported", value is None)) or value is None
            fields[name] = GoldValue(
                value, entry.get("quote"), entry.get("page"), not_reported, str(entry.get("note") or "")
            )
        papers.append(GoldPaper(file, data.get("form"), fields, number))
    if not papers:
        raise GoldSetError(source, "the gold file has no records")
    return ExtractionGold(source, papers)


def _infer_field(name: str, values: Iterable[Any]) -> ExtractionField:
    kinds = set()
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            kinds.add("boolean")
        elif isinstance(value, int):
            kinds.add("integer")
        elif isinstance(value, float):
            kinds.add("number")
        elif isinstance(value, list):
            kinds.add("list")
        else:
            kinds.add("string")
    kind = "list" if "list" in kinds else (kinds.pop() if len(kinds) == 1 else "string")
    return ExtractionField(name=name, type=kind)  # type: ignore[arg-type]  # one of FIELD_TYPES by construction


def resolve_fields(
    gold: ExtractionGold, protocol_path: Path | None, table: pd.DataFrame | None = None
) -> tuple[dict[str, ExtractionField], list[str]]:
    """Field specs by name for every gold field, and where each form came from.

    A type inferred from gold values becomes ``list`` when the table holds JSON lists in that
    field (a gold that writes one string where the form allows a list).
    """
    specs: dict[str, ExtractionField] = {}
    sources: list[str] = []
    if protocol_path is not None:
        loaded = load_form(protocol_path)
        specs.update({f.name: f for f in loaded.form.fields})
        sources.append(f"{loaded.path} ({loaded.form.name})")
    else:
        for form_name in sorted({p.form for p in gold.papers if p.form}):
            for candidate in (gold.path.parent / "forms" / f"{form_name}.yaml", gold.path.parent / f"{form_name}.yaml"):
                if candidate.is_file():
                    form: ExtractionForm = load_form(candidate).form
                    for spec in form.fields:
                        specs.setdefault(spec.name, spec)
                    sources.append(str(candidate))
                    break
    names = {n for p in gold.papers for n in p.fields}
    for name in sorted(names - set(specs)):
        values: list[Any] = [p.fields[name].value for p in gold.papers if name in p.fields]
        if table is not None and f"field:{name}" in table.columns:
            values += [[] for cell in table[f"field:{name}"].astype(str) if cell.strip().startswith("[")]
        specs[name] = _infer_field(name, values)
        sources.append(f"{name}: type {specs[name].type} inferred from the gold values")
    return specs, sources


def parse_cell(spec: ExtractionField, text: str) -> Any:
    """A table cell back to a typed value (None when empty)."""
    text = str(text).strip()
    if not text:
        return None
    if spec.type in LIST_TYPES:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return [part.strip() for part in text.split(";") if part.strip()]
        return value if isinstance(value, list) else [value]
    if spec.type == "boolean":
        return text.lower() in ("true", "yes", "1", "y", "t")
    if spec.type in NUMERIC_TYPES:
        try:
            return float(text.replace(",", ""))
        except ValueError:
            return text
    return text


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _norm(value: Any) -> str:
    return normalise_for_match(str(value))


def _fuzzy(a: Any, b: Any) -> float:
    return float(fuzz.token_set_ratio(_norm(a), _norm(b))) / 100


def _list_match(model: list[Any], gold: list[Any], spec: ExtractionField, threshold: float) -> tuple[int, int, int]:
    """(matched model items, model items, gold items); list items match fuzzily, categories exactly."""
    left = [_norm(v) for v in model]
    right = [_norm(v) for v in gold]
    free = list(range(len(right)))
    matched = 0
    for item in left:
        for j in free:
            same = item == right[j] if spec.type == "many_of" else _fuzzy(item, right[j]) >= threshold
            if same:
                free.remove(j)
                matched += 1
                break
    return matched, len(left), len(right)


def compare_values(
    spec: ExtractionField, model: Any, gold: Any, *, tolerance: float, threshold: float
) -> dict[str, Any]:
    """Type-specific comparison of two reported values; ``agree`` says whether the pair counts as agreeing."""
    if spec.type in LIST_TYPES:
        matched, n_model, n_gold = _list_match(_as_list(model), _as_list(gold), spec, threshold)
        union = n_model + n_gold - matched
        jaccard = matched / union if union else 1.0
        return {"matched": matched, "n_model": n_model, "n_gold": n_gold, "jaccard": jaccard,
                "agree": jaccard >= JACCARD_AGREE}  # fmt: skip
    if spec.type in NUMERIC_TYPES:
        try:
            a, b = float(model), float(gold)
        except (TypeError, ValueError):
            return {"exact": False, "within": False, "agree": False}
        exact = math.isclose(a, b, rel_tol=0, abs_tol=1e-9)
        within = abs(a - b) <= tolerance * max(abs(b), 1e-9)
        return {"exact": exact, "within": within, "agree": within}
    if spec.type in CATEGORICAL_TYPES:
        same = _norm(model) == _norm(gold)
        return {"same": same, "agree": same}
    ratio = _fuzzy(model, gold)
    exact = _norm(model) == _norm(gold)
    return {"exact": exact, "fuzzy": ratio >= threshold, "ratio": ratio, "agree": exact or ratio >= threshold}


@dataclass
class Pair:
    """One (PDF, field) with both sides, ready to count or to show in an audit."""

    record_id: str
    field: str
    spec: ExtractionField
    model_value: Any
    model_quote: str
    model_page: str
    evidence: str
    gold: GoldValue
    no_answer: bool
    comparison: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def model_reported(self) -> bool:
        return self.model_value is not None and self.model_value != []

    @property
    def agree(self) -> bool:
        if self.gold.not_reported or not self.model_reported:
            return self.gold.not_reported and not self.model_reported
        return bool(self.comparison.get("agree"))

    @property
    def kind(self) -> str:
        """What went wrong, for the audit: no_answer, model_only, gold_only, value, or agree."""
        if self.agree:
            return "agree"
        if self.no_answer:
            return "no_answer"
        if not self.model_reported:
            return "gold_only"
        if self.gold.not_reported:
            return "model_only"
        return "value"


@dataclass
class MatchedExtraction:
    table_path: Path
    gold: ExtractionGold
    specs: dict[str, ExtractionField]
    form_sources: list[str]
    pairs: list[Pair]
    rows: dict[str, dict[str, str]]
    not_in_gold: list[str]
    not_in_table: list[str]
    fields_missing: list[str]


def match_extraction(
    table: pd.DataFrame,
    table_path: str | Path,
    gold: ExtractionGold,
    *,
    protocol_path: Path | None = None,
    tolerance: float = 0.05,
    threshold: float = 0.85,
) -> MatchedExtraction:
    """Join the extraction table to the gold by PDF file name, field by field."""
    path = Path(table_path)
    if "record_id" not in table.columns or not any(c.startswith("field:") for c in table.columns):
        raise InputError(path, "not a winnow extraction table: needs record_id and field:<name> columns")
    rows = {str(r["record_id"]): {k: str(v) for k, v in r.items()} for r in table.to_dict("records")}
    golds = {p.file: p for p in gold.papers}
    common = [rid for rid in rows if rid in golds]
    if not common:
        raise GoldSetError(gold.path, f"no PDF in {path} is in the gold set (table has e.g. {next(iter(rows), '-')})")
    specs, sources = resolve_fields(gold, protocol_path, table)
    pairs: list[Pair] = []
    missing_fields: set[str] = set()
    for rid in common:
        row = rows[rid]
        for name, gold_value in golds[rid].fields.items():
            if f"field:{name}" not in row:
                missing_fields.add(name)
                continue
            spec = specs[name]
            evidence = row.get(f"evidence:{name}", "")
            pair = Pair(
                record_id=rid,
                field=name,
                spec=spec,
                model_value=parse_cell(spec, row[f"field:{name}"]),
                model_quote=row.get(f"quote:{name}", ""),
                model_page=row.get(f"page:{name}", ""),
                evidence=evidence or "no_answer",
                gold=gold_value,
                no_answer=not evidence,
            )
            if pair.model_reported and not gold_value.not_reported:
                pair.comparison = compare_values(
                    spec, pair.model_value, gold_value.value, tolerance=tolerance, threshold=threshold
                )
            pairs.append(pair)
    return MatchedExtraction(
        table_path=path,
        gold=gold,
        specs=specs,
        form_sources=sources,
        pairs=pairs,
        rows={rid: rows[rid] for rid in common},
        not_in_gold=[rid for rid in rows if rid not in golds],
        not_in_table=[p.file for p in gold.papers if p.file not in rows],
        fields_missing=sorted(missing_fields),
    )


def _share(hits: int, n: int) -> dict[str, Any]:
    return wilson(hits, n).as_dict() | {"hits": hits, "n": n}


def _categorical(pairs: Sequence[Pair]) -> dict[str, Any]:
    both = [p for p in pairs if p.comparison]
    labels = sorted({_norm(p.model_value) for p in both} | {_norm(p.gold.value) for p in both})
    out: dict[str, Any] = {"accuracy": _share(sum(p.comparison["same"] for p in both), len(both))}
    if len(labels) >= 2:
        index = {label: i for i, label in enumerate(labels)}
        table = [[0] * len(labels) for _ in labels]
        for p in both:
            table[index[_norm(p.model_value)]][index[_norm(p.gold.value)]] += 1
        out["kappa"] = kappa(table).as_dict()
        out["ac1"] = ac1(table).as_dict()
    else:
        note = "one category only: chance-corrected agreement is undefined"
        undefined = Estimate(None, None, None, "", note=note).as_dict()
        out["kappa"] = out["ac1"] = undefined
    return out


def _value_metrics(spec: ExtractionField, pairs: Sequence[Pair]) -> dict[str, Any]:
    both = [p for p in pairs if p.comparison]
    n = len(both)
    if spec.type in CATEGORICAL_TYPES:
        return _categorical(pairs)
    if spec.type in NUMERIC_TYPES:
        return {
            "exact": _share(sum(p.comparison["exact"] for p in both), n),
            "within_tolerance": _share(sum(p.comparison["within"] for p in both), n),
        }
    if spec.type in LIST_TYPES:
        matched = sum(p.comparison["matched"] for p in both)
        n_model = sum(p.comparison["n_model"] for p in both)
        n_gold = sum(p.comparison["n_gold"] for p in both)
        jaccards = [p.comparison["jaccard"] for p in both]
        return {
            "precision": _share(matched, n_model),
            "recall": _share(matched, n_gold),
            "mean_jaccard": sum(jaccards) / n if n else None,
            "n": n,
        }
    ratios = [p.comparison["ratio"] for p in both]
    return {
        "exact": _share(sum(p.comparison["exact"] for p in both), n),
        "fuzzy": _share(sum(p.comparison["fuzzy"] for p in both), n),
        "mean_ratio": sum(ratios) / n if n else None,
    }


def _not_reported(pairs: Sequence[Pair]) -> dict[str, Any]:
    both = sum(1 for p in pairs if p.gold.not_reported and not p.model_reported)
    gold_only = sum(1 for p in pairs if p.gold.not_reported and p.model_reported)
    model_only = sum(1 for p in pairs if not p.gold.not_reported and not p.model_reported)
    neither = len(pairs) - both - gold_only - model_only
    return {
        "both": both,
        "gold_only": gold_only,
        "model_only": model_only,
        "neither": neither,
        "agreement": _share(both + neither, len(pairs)),
    }


def _evidence(pairs: Sequence[Pair]) -> dict[str, int]:
    counts = Counter(p.evidence for p in pairs)
    return {status: counts.get(status, 0) for status in (*EVIDENCE_STATUSES, "no_answer") if counts.get(status)}


def build_extraction_agreement(matched: MatchedExtraction, *, tolerance: float, threshold: float) -> dict[str, Any]:
    """Every figure, per field and overall, as plain data (the ``--json`` output)."""
    by_field: dict[str, list[Pair]] = {}
    for pair in matched.pairs:
        by_field.setdefault(pair.field, []).append(pair)
    fields = []
    for name, pairs in by_field.items():
        spec = matched.specs[name]
        fields.append(
            {
                "field": name,
                "type": spec.type,
                "n": len(pairs),
                "no_answer": sum(p.no_answer for p in pairs),
                "agreement": _share(sum(p.agree for p in pairs), len(pairs)),
                "not_reported": _not_reported(pairs),
                "values": _value_metrics(spec, pairs),
                "evidence": _evidence(pairs),
            }
        )
    pairs = matched.pairs
    both = [p for p in pairs if p.comparison]
    pdfs = []
    for rid, row in matched.rows.items():
        pdfs.append(
            {
                "record_id": rid,
                "status": row.get("status", ""),
                "pdf_status": row.get("pdf_status", ""),
                "reason": row.get("pdf_reason", "") or row.get("error", ""),
                "left_out": row.get("left_out", ""),
                "truncated": row.get("truncated", ""),
                "agreed": sum(p.agree for p in pairs if p.record_id == rid),
                "n": sum(1 for p in pairs if p.record_id == rid),
            }
        )
    return {
        "extraction": str(matched.table_path),
        "gold": str(matched.gold.path),
        "forms": matched.form_sources,
        "model": next((r.get("model") for r in matched.rows.values() if r.get("model")), ""),
        "tolerance": tolerance,
        "fuzzy_threshold": threshold,
        "n_pdfs": len(matched.rows),
        "n_pairs": len(pairs),
        "overall": {
            "agreement": _share(sum(p.agree for p in pairs), len(pairs)),
            "not_reported": _not_reported(pairs),
            "values_agree": _share(sum(bool(p.comparison.get("agree")) for p in both), len(both)),
            "evidence": _evidence(pairs),
        },
        "fields": fields,
        "pdfs": pdfs,
        "not_in_gold": matched.not_in_gold,
        "not_in_table": matched.not_in_table,
        "fields_missing": matched.fields_missing,
    }
