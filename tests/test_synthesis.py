"""Synthesis on a hand-made extraction table whose answers are counted by hand, checked against statsmodels."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from statsmodels.stats.contingency_tables import Table
from statsmodels.stats.proportion import proportion_confint

from winnow.cli import cli
from winnow.synthesis.datasets import dataset_key, group_names
from winnow.synthesis.stats import cochran_armitage, wilson_interval

PROTOCOL = "foundation_models_medical_imaging"
# record_id, year, model_type (+evidence), imaging_modality (+evidence), datasets (+evidence)
PAPERS = [
    ("p1", 2020, "vision_only", "verified", '["ct"]', "verified", '["MIMIC-CXR", "LIDC-IDRI"]', "verified"),
    ("p2", 2020, "vision_only", "verified", '["mri", "ct"]', "verified", '["BraTS 2021"]', "verified"),
    ("p3", 2021, "vision_only", "verified_fuzzy", '["radiography"]', "verified", '["MIMIC CXR v2"]', "verified"),
    ("p4", 2021, "vision_language", "verified", '["radiography"]', "verified", '["mimic-cxr", "CheXpert"]', "verified"),
    ("p5", 2022, "vision_language", "verified", '["radiography", "ct"]', "not_found", '["CheXpert"]', "verified"),
    ("p6", 2022, "vision_language", "verified", '["histopathology"]', "verified", '["TCGA"]', "wrong_page"),
    ("p7", 2023, "vision_language", "verified", '["radiography"]', "verified", '["MIMIC-CXR v2.0"]', "verified"),
    ("p8", 2023, "vision_only", "not_found", '["mri"]', "verified", "", "not_reported"),
]


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "extraction.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "record_id",
                "status",
                "field:publication_year",
                "field:model_type",
                "evidence:model_type",
                "field:imaging_modality",
                "evidence:imaging_modality",
                "field:datasets",
                "evidence:datasets",
            ]
        )
        for rid, year, mt, mte, mod, mode, ds, dse in PAPERS:
            writer.writerow([rid, "ok", year, mt, mte, mod, mode, ds, dse])
    return path


def _run(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["synthesise", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _count(data: dict, field: str, category: str) -> dict:
    return next(r for r in data["counts"] if r["field"] == field and r["category"] == category)


def test_counts_and_wilson_cis_match_a_hand_count(table: Path) -> None:
    # model_type verified: p1-p7 (p8 not_found) -> 3 vision_only of 7, 4 vision_language of 7
    data = _run(str(table), "-p", PROTOCOL, "--year-field", "publication_year")
    assert data["counted"] == "verified values only"
    row = _count(data, "model_type", "vision_only")
    assert (row["papers"], row["of"]) == (3, 7)
    low, high = proportion_confint(3, 7, method="wilson")
    assert (row["ci_low"], row["ci_high"]) == (round(low, 4), round(high, 4))
    # imaging_modality verified: all but p5 -> ct in p1, p2 (2 of 7); radiography p3, p4, p7 (3 of 7)
    assert (_count(data, "imaging_modality", "ct")["papers"], _count(data, "imaging_modality", "ct")["of"]) == (2, 7)
    assert _count(data, "imaging_modality", "radiography")["papers"] == 3
    assert _count(data, "imaging_modality", "pet")["papers"] == 0
    every = _run(str(table), "-p", PROTOCOL, "--include-unverified")
    assert every["counted"] == "all reported values"
    assert (_count(every, "model_type", "vision_only")["papers"], _count(every, "model_type", "vision_only")["of"]) == (
        4,
        8,
    )
    assert _count(every, "imaging_modality", "ct")["papers"] == 3


def test_years_and_trend_match_statsmodels(table: Path) -> None:
    data = _run(str(table), "-p", PROTOCOL)
    assert data["years_from"] == "form field publication_year"
    vl = [r for r in data["by_year"] if r["field"] == "model_type" and r["category"] == "vision_language"]
    assert [(r["year"], r["papers"], r["of"]) for r in vl] == [(2020, 0, 2), (2021, 1, 2), (2022, 2, 2), (2023, 1, 1)]
    trend = next(r for r in data["trends"] if r["field"] == "model_type" and r["category"] == "vision_language")
    x, n, years = [0, 1, 2, 1], [2, 2, 2, 1], [2020, 2021, 2022, 2023]
    reference = Table(
        np.array([x, [b - a for a, b in zip(x, n, strict=False)]]), shift_zeros=False
    ).test_ordinal_association(row_scores=np.array([1, 0]), col_scores=np.array(years, dtype=float))
    big_n = sum(n)  # statsmodels' permutation variance uses N - 1 where Armitage uses N
    assert trend["z"] == pytest.approx(reference.zscore / math.sqrt((big_n - 1) / big_n), abs=1e-3)
    assert trend["direction"] == "rising"


def test_dataset_names_merge_and_show_the_merge(table: Path) -> None:
    assert dataset_key("MIMIC-CXR") == dataset_key("MIMIC CXR v2") == dataset_key("mimic-cxr") == "mimiccxr"
    assert dataset_key("MIMIC-CXR v2.0 dataset") == "mimiccxr"
    assert dataset_key("BraTS 2021") != dataset_key("BraTS 2020")
    groups = group_names(["CheXpert", "chexpert", "CheXpert"])
    assert groups.merges() == {"CheXpert": ["CheXpert", "chexpert"]}
    data = _run(str(table), "-p", PROTOCOL)
    top = data["top_names"][0]
    # MIMIC: p1, p3, p4, p7 (datasets verified); p6's TCGA is wrong_page, so not counted
    assert (top["name"], top["papers"], top["of"]) == ("MIMIC-CXR", 4, 6)
    assert top["spellings"] == "MIMIC CXR v2; MIMIC-CXR; MIMIC-CXR v2.0; mimic-cxr"
    assert not any(r["name"] == "TCGA" for r in data["top_names"])
    assert {
        "field": "datasets",
        "name": "MIMIC-CXR",
        "merged": "MIMIC CXR v2; MIMIC-CXR; MIMIC-CXR v2.0; mimic-cxr",
    } in data["merges"]


def test_outputs_tables_figures_and_cross_tab(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "synthesis"
    result = CliRunner().invoke(
        cli, ["synthesise", str(table), "-p", PROTOCOL, "--cross", "model_type", "imaging_modality", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "verified values only" in result.output
    for name in (
        "counts.csv",
        "counts.md",
        "trends.csv",
        "top_names.md",
        "merges.csv",
        "synthesis.json",
        "by_year_model_type.png",
        "cross_model_type_x_imaging_modality.png",
    ):
        assert (out / name).is_file(), name
    assert (out / "by_year_model_type.png").read_bytes()[:4] == b"\x89PNG"
    cells = json.loads((out / "synthesis.json").read_text())["cross"]["cells"]
    # papers with both verified: p1-p4, p6, p7 (p5 modality unverified, p8 model type unverified)
    assert {(c["model_type"], c["imaging_modality"]): c["papers"] for c in cells} == {
        ("vision_only", "ct"): 2,
        ("vision_only", "mri"): 1,
        ("vision_only", "radiography"): 1,
        ("vision_language", "radiography"): 2,
        ("vision_language", "histopathology"): 1,
    }
    assert "| field | category |" in (out / "counts.md").read_text()


def test_statistics_edge_cases() -> None:
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    assert wilson_interval(0, 5)[0] == 0.0
    flat = cochran_armitage([2, 2], [2, 2], [2020, 2021])
    assert math.isnan(flat.z)  # every paper in the category: nothing to test
    assert cochran_armitage([1], [3], [2020]).groups == 1


def test_unknown_cross_field_is_one_line(table: Path) -> None:
    result = CliRunner().invoke(cli, ["synthesise", str(table), "-p", PROTOCOL, "--cross", "model_type", "colour"])
    assert result.exit_code != 0
    assert "no field 'colour'" in str(result.exception) or "no field 'colour'" in result.output
