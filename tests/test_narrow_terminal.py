"""The terminal reports read whole on an 80-column terminal: nothing cut short with "…"."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from instant_server import InstantServer
from rich.console import Console

from winnow.cli.review import synthesis_tables
from winnow.cli.summary import evidence_table
from winnow.form import ExtractionField
from winnow.progress import RunProgress
from winnow.synthesis.build import build_synthesis

from support import REPO, render_text, run_cli

CATEGORIES = ["vision_only", "vision_language", "histopathology_whole_slide", "ophthalmology_fundus"]


def _lines_fit(text: str) -> None:
    assert "…" not in text, text
    assert max(len(line) for line in text.splitlines()) <= 80, text


def test_synthesis_tables_keep_field_and_category_names_whole() -> None:
    rng = random.Random(1)
    specs = [
        ExtractionField(name="model_type", type="one_of", categories=CATEGORIES[:2]),
        ExtractionField(name="imaging_modality_reported", type="many_of", categories=CATEGORIES[2:]),
    ]
    rows, years = [], {}
    for i in range(40):
        rows.append({
            "record_id": f"p{i}",
            "field:model_type": rng.choice(CATEGORIES[:2]), "evidence:model_type": "verified",
            "field:imaging_modality_reported": f'["{rng.choice(CATEGORIES[2:])}"]',
            "evidence:imaging_modality_reported": "verified",
        })  # fmt: skip
        years[f"p{i}"] = 2019 + i % 6
    synthesis = build_synthesis(rows, specs, years=years, cross=("model_type", "imaging_modality_reported"))
    synthesis.years_from = "form field publication_year"
    tables = synthesis_tables(synthesis)
    for table in tables:
        _lines_fit(render_text(table, 80))
    trends = render_text(tables[1], 80)
    for name in [*CATEGORIES, "model_type", "imaging_modality_reported", "2019-2024"]:
        assert name in trends, name


def test_the_progress_display_keeps_every_field_whole_at_80_columns() -> None:
    with open(os.devnull, "w") as sink:
        progress = RunProgress(1_000_000, description="screening (panel)", console=Console(width=80, file=sink))
        for outcome in ("include", "include", "exclude", "uncertain", "error"):
            progress._texts_at = float("-inf")  # the texts are rebuilt at most 5 times a second
            progress.advance(outcome, tokens=2_000_000, cost=1.25)
    text = render_text(progress._progress.get_renderable(), 80)
    _lines_fit(text)
    for part in ("screening (panel)", "5/1000000", "/min", "eta", "include 2", "uncertain 1", "10,000,000 tok",
                 "$6.2500"):  # fmt: skip
        assert part in text, part


def test_the_evidence_caption_is_one_line_above_the_table() -> None:
    tally = {
        "imaging_modality": {"verified": 3, "verified_fuzzy": 1, "not_found": 2, "not_reported": 1},
        "training_paradigm": {"verified": 1, "wrong_page": 1, "no_quote": 2, "conflict": 1},
    }
    text = render_text(evidence_table(tally), 80)
    _lines_fit(text)
    assert text.splitlines()[0].strip() == "evidence per item (PDFs); a value counts only if its quote is on its page"


def test_extract_summary_speaks_of_extraction(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("COLUMNS", "80")
    pdf = REPO / "tests" / "fixtures" / "pdfs" / "edgecase_1page_table_fragment_SciBERT.pdf"
    broken = tmp_path / "pdfs" / "broken.pdf"
    broken.parent.mkdir()
    broken.write_bytes(pdf.read_bytes()[:2000])
    (tmp_path / "pdfs" / pdf.name).write_bytes(pdf.read_bytes())
    form = tmp_path / "form.yaml"
    form.write_text("fields:\n  - {name: model_type, type: one_of, categories: [cnn, transformer]}\n")
    with InstantServer() as server:
        code = run_cli("extract", tmp_path / "pdfs", "-p", form, "--model", "openai:instant", "--base-url",
                       server.base_url, "--api-key", "k", "--no-progress", "-o", tmp_path / "x.csv")  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "extracted " in err
    assert "decided" not in err and "decision" not in err, err
