"""PRISMA 2020 counts from hand-made tables with known answers, adjudications overriding the model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from winnow.cli import cli
from winnow.ledger import Ledger
from winnow.prisma import PrismaInputs, build_flow, first_failing_criterion, report_key

PROTOCOL = """title: Test review
question: Which foundation models are used on medical images?
criteria:
  inclusion:
    - {id: imaging, text: medical images}
    - {id: model, text: a foundation model}
  exclusion:
    - {id: review_only, text: a review}
"""
RIS = (
    "".join(
        f"TY  - JOUR\nID  - {rid}\nTI  - {title}\nDO  - {doi}\nER  - \n\n"
        for rid, title, doi in [
            ("a", "Paper A", "10.1/a"),
            ("b", "Paper B", "10.1/b"),
            ("c", "Paper C", "10.1/c"),
            ("d", "Paper D", "10.1/d"),
            ("e", "Paper E", "10.1/e"),
            ("f", "Paper F", "10.1/f"),
            ("a2", "Paper A again", "10.1/a"),
        ]
    )
    + "TY  - JOUR\nID  - empty\nER  - \n"
)


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _row(
    rid: str, decision: str, imaging: str = "met", model: str = "met", review: str = "not_met", **kw: str
) -> dict[str, str]:
    return {
        "record_id": rid,
        "decision": decision,
        "criterion:imaging": imaging,
        "criterion:model": model,
        "criterion:review_only": review,
        "duplicates": "",
        **kw,
    }


@pytest.fixture
def review(tmp_path: Path) -> PrismaInputs:
    (tmp_path / "protocol.yaml").write_text(PROTOCOL)
    (tmp_path / "records.ris").write_text(RIS)
    screen = _write(
        tmp_path / "decisions.csv",
        [
            _row("a", "include", duplicates="a2"),
            _row("b", "exclude", model="not_met"),  # excluded: model
            _row("c", "exclude", review="met"),  # adjudicated to include
            _row("d", "uncertain", model="unclear"),  # goes on to full text
            _row("e", "include"),  # adjudicated to exclude
            _row("f", "include"),
        ],
    )
    with Ledger(tmp_path / "decisions.ledger.sqlite") as db:
        for rid, label in (("c", "include"), ("e", "exclude")):
            db.add_adjudication(
                decisions_path="decisions.csv",
                record_id=rid,
                run_id=None,
                model_decision=None,
                gold_label=None,
                final_label=label,
                choice=label,
                note="",
                who="t",
            )
    full_text = _write(
        tmp_path / "fulltext.csv",
        [
            _row("a.pdf", "include"),
            _row("c.pdf", "exclude", review="met"),
            {**_row("d.pdf", "error", imaging="", model="", review=""), "error": "no text layer"},
        ],
    )
    extraction = _write(
        tmp_path / "extraction.csv",
        [
            {"record_id": "a.pdf", "pdf_status": "ok", "pdf_reason": ""},
            {"record_id": "d.pdf", "pdf_status": "no_text_layer", "pdf_reason": "scanned pages"},
        ],
    )
    return PrismaInputs(
        screen=screen,
        full_text=full_text,
        extraction=extraction,
        records=[tmp_path / "records.ris"],
        protocol=tmp_path / "protocol.yaml",
    )


def test_counts_and_ids_follow_the_rows(review: PrismaInputs) -> None:
    flow = build_flow(review)
    counts = flow.counts()
    assert counts["identified"] == 8  # 7 records (one a duplicate by DOI) + 1 unreadable
    assert flow.duplicates == ["a2"]
    assert len(flow.removed_other) == 1 and "no title and no abstract" in flow.removed_other[0]
    assert flow.screened == ["a", "b", "c", "d", "e", "f"]
    assert flow.excluded == ["b", "e"]
    assert flow.excluded_reasons == {"model": ["b"], "excluded by reviewer": ["e"]}
    assert flow.sought == ["a", "c", "d", "f"]
    assert flow.not_retrieved == {"PDF no_text_layer": ["d"], "no PDF": ["f"]}
    assert flow.not_retrieved_details == {"d": "scanned pages"}
    assert flow.assessed == ["a", "c"]
    assert flow.reports_excluded == {"review_only": ["c"]}
    assert flow.included == ["a"]
    assert flow.overridden == {"title_abstract:c": "exclude -> include", "title_abstract:e": "include -> exclude"}
    # the template's arithmetic holds
    assert counts["screened"] == counts["identified"] - counts["duplicates_removed"] - counts["removed_other"]
    assert counts["sought"] == counts["screened"] - counts["excluded"]
    assert counts["assessed"] == counts["sought"] - counts["not_retrieved"]
    assert counts["included"] == counts["assessed"] - counts["reports_excluded"]


def test_first_failing_criterion_reads_exclusion_criteria_the_other_way() -> None:
    kinds = {"imaging": "inclusion", "review_only": "exclusion"}
    assert first_failing_criterion({"criterion:imaging": "met", "criterion:review_only": "met"}, kinds) == "review_only"
    assert first_failing_criterion({"criterion:imaging": "not_met", "criterion:review_only": "met"}, kinds) == "imaging"
    assert first_failing_criterion({"criterion:imaging": "met", "criterion:review_only": "not_met"}, kinds) is None
    assert report_key("Paper.PDF") == report_key("paper")


def test_cli_json_svg_png(review: PrismaInputs, tmp_path: Path) -> None:
    out = tmp_path / "flow" / "prisma.svg"
    args = [
        "prisma",
        "--screen",
        str(review.screen),
        "--full-text",
        str(review.full_text),
        "--extract",
        str(review.extraction),
        "--records",
        str(review.records[0]),
        "-p",
        str(review.protocol),
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"]["included"] == 1
    assert data["records"]["reports_excluded_by_reason"] == {"review_only": ["c"]}
    assert out.read_text().startswith("<") and out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0
    assert "reports not retrieved" in table.output and "PDF no_text_layer" in table.output


def test_without_full_text_the_flow_says_so(review: PrismaInputs) -> None:
    review.full_text = None
    flow = build_flow(review)
    assert not flow.full_text_counted
    assert flow.included == flow.sought
    assert any("no --full-text" in w for w in flow.warnings)


def test_without_records_the_ledger_run_summary_counts_set_aside_records(review: PrismaInputs) -> None:
    assert review.ledger is None
    with Ledger(review.screen.with_name("decisions.ledger.sqlite")) as db:
        db.start_run("run-1", command="screen", argv=["winnow", "screen"], input_path="search.ris")
        db.finish_run("run-1", status="finished", summary={"skipped": ["search.ris:40: no title and no abstract"]})
    review.records = []
    flow = build_flow(review)
    assert flow.sources == {
        "search.ris": ["a", "b", "c", "d", "e", "f", "a2", "search.ris:40: no title and no abstract"]
    }
    assert flow.removed_other == ["search.ris:40: no title and no abstract"]
    assert flow.counts()["screened"] == flow.n_identified - 2
