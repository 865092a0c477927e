"""Labelled exports of other tools (ASReview, Rayyan, Covidence, RIS) read as gold labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from winnow.errors import GoldSetError
from winnow.gold import load_gold

FIXTURES = Path(__file__).parent / "fixtures" / "labels"
KNOWN = [
    {"record_id": "r1", "doi": "10.1/a", "pmid": "", "title": "CLIP for chest X-rays"},
    {"record_id": "r2", "doi": "10.1/b", "pmid": "", "title": "A survey of foundation models"},
    {"record_id": "r3", "doi": "", "pmid": "", "title": "U-Net from scratch"},
    {"record_id": "r4", "doi": "10.1/d", "pmid": "", "title": "Unseen record"},
]
EXPECTED = {"r1": True, "r2": False, "r3": False}


@pytest.mark.parametrize(
    ("name", "fmt", "n_skipped"),
    [
        ("plain.csv", "table", 0),
        ("asreview_labelled.csv", "asreview", 1),
        ("asreview_labelled.ris", "asreview", 1),
        ("rayyan_export.csv", "rayyan", 1),
        ("rayyan_export.ris", "rayyan", 1),
        ("covidence_decisions.csv", "covidence", 1),
        ("ris_lb.ris", "ris", 0),
    ],
)
def test_every_format_gives_the_same_labels(name: str, fmt: str, n_skipped: int) -> None:
    gold = load_gold(FIXTURES / name, match_to=KNOWN)
    assert {rid: row.included for rid, row in gold.rows.items()} == EXPECTED
    assert gold.format == fmt
    assert len(gold.skipped) == n_skipped


def test_tool_ids_stay_without_records_to_match() -> None:
    gold = load_gold(FIXTURES / "rayyan_export.csv")
    assert set(gold.rows) == {"rayyan-101", "rayyan-102", "rayyan-103"}
    why = "no decision, Maybe, or reviewers in conflict (RAYYAN-INCLUSION)"
    assert gold.skipped == [f"{FIXTURES / 'rayyan_export.csv'}:5: record rayyan-104: {why}"]


def test_covidence_list_from_file_name() -> None:
    gold = load_gold(FIXTURES / "review_123456_included_csv_20240101.csv", match_to=KNOWN)
    assert {rid: row.included for rid, row in gold.rows.items()} == {"r1": True}
    assert gold.label_column == "(file name: review_123456_included_csv_20240101.csv)"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_rayyan.csv", "bad_rayyan.csv:3: record rayyan-102: unknown Rayyan decision 'Perhaps' in column notes"),
        ("bad_asreview.csv", "bad_asreview.csv:3: record r2: unknown label 'definitely' in column included"),
        ("bad_ris_nolabel.ris", "bad_ris_nolabel.ris:7: record r2: no label in LB, N1 or KW"),
        ("covidence_no_list.csv", "covidence_no_list.csv:1: Covidence export without a decision column"),
    ],
)
def test_malformed_exports_name_file_line_and_problem(name: str, message: str) -> None:
    with pytest.raises(GoldSetError) as caught:
        load_gold(FIXTURES / name)
    line = caught.value.one_line()
    assert message in line
    assert "\n" not in line


def test_prioritise_labels_take_a_rayyan_export_matched_to_the_records() -> None:
    from winnow.records import Record
    from winnow.screening.ranking.prioritise import read_label_file

    records = [Record(record_id=k["record_id"], title=k["title"], doi=k["doi"]) for k in KNOWN]
    answers = read_label_file(FIXTURES / "rayyan_export.csv", records)
    assert answers == {"r1": "include", "r2": "exclude", "r3": "exclude"}
