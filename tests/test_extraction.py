"""Extraction: the form, quote evidence, merge rules, the run flow and agreement with the PDF gold.

The flow tests use a scripted model on purpose: they test winnow's own logic (chunks,
merge, evidence, caching, the table). The embedded model is exercised end to end in
test_extraction_model.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from winnow.agreement.extraction import (
    build_extraction_agreement,
    compare_values,
    load_extraction_gold,
    match_extraction,
)
from winnow.backends.base import ModelRequest
from winnow.engine import CallEngine, EngineConfig
from winnow.errors import GoldSetError, ProtocolError
from winnow.extraction.evidence import FieldEvidence, check_answer, merge_field
from winnow.extraction.extract import ExtractionStage, extraction_columns
from winnow.extraction.papers import page_ranges, prepare_papers
from winnow.extraction.pdf import parse_pdf
from winnow.extraction.stage import ChunkOptions
from winnow.fencing import clean_untrusted
from winnow.form import ExtractionField, ExtractionForm, extraction_spec
from winnow.ledger import Ledger
from winnow.lifecycle import Sampling
from winnow.prices import PriceTable
from winnow.protocol import LoadedForm, load_form
from winnow.retry import RetryPolicy
from winnow.screening.decisions import read_table, write_table
from winnow.templates import load_template

from support import REPO, FakeModel, render_text, run_cli, run_paper_stage

FIXTURES = REPO / "tests" / "fixtures" / "pdfs"
DVT = FIXTURES / "bmc_systematic_review_DVT_prophylaxis_trauma.pdf"
PHYTO = FIXTURES / "phytochemical_phoenix_paludosa.pdf"
GOLD_SUBSET = FIXTURES / "gold_subset.jsonl"
SAMPLE = REPO / "gold" / "pdf_extraction_sample"
FORM_A = SAMPLE / "study_characteristics.yaml"
TEMPLATE = load_template("extract_fields")
FAST_RETRY = RetryPolicy(max_attempts=2, initial_s=0.001, max_backoff_s=0.002)


def gold_lines() -> dict[str, dict[str, Any]]:
    return {json.loads(line)["file"]: json.loads(line) for line in GOLD_SUBSET.read_text().splitlines()}


# -- the form ------------------------------------------------------------------


def test_shipped_protocol_has_the_foundation_model_form() -> None:
    loaded = load_form("foundation_models_medical_imaging")
    form = loaded.form
    assert loaded.title == "Foundation models in medical image analysis"
    assert form.names == [
        "model_type", "architecture", "training_strategy", "imaging_modality", "anatomy", "clinical_task",
        "datasets", "dataset_size", "adaptation_method", "headline_result",
    ]  # fmt: skip
    assert form.field("model_type").categories == ["vision_only", "vision_language"]
    assert form.field("dataset_size").unit == "images"
    adaptation = form.field("adaptation_method")
    assert adaptation.type == "many_of" and "parameter_efficient" in adaptation.categories


def test_answer_schema_bounds_strings_and_allows_not_reported() -> None:
    schema = load_form("foundation_models_medical_imaging").form.answer_schema()
    assert list(schema["properties"]) == schema["required"]
    arch = schema["properties"]["architecture"]
    assert list(arch["properties"]) == ["value", "not_reported", "quote", "page"]
    assert arch["properties"]["quote"]["maxLength"] == 300
    string, null = arch["properties"]["value"]["anyOf"]
    assert string["maxLength"] > 0 and null == {"type": "null"}
    many = schema["properties"]["clinical_task"]["properties"]["value"]["anyOf"][0]
    assert many["items"]["enum"][0] == "classification" and many["maxItems"] == len(many["items"]["enum"])


def test_gold_forms_load_with_their_own_spellings() -> None:
    form = load_form(SAMPLE / "ml_method_paper.yaml").form
    assert form.name == "ml_method_paper"
    assert form.field("application_domain").type == "one_of"
    assert form.field("datasets").type == "list"
    assert form.field("code_available").type == "boolean"
    country = load_form(FORM_A).form.field("country")
    assert country.type == "list", "[string, list_of_strings] is a list"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([{"name": "x", "type": "one_of"}], "a one_of field needs at least two categories"),
        ([{"name": "x", "type": "string", "categories": ["a", "b"]}], "categories are only for one_of"),
        ([{"name": "x", "type": "integer", "unit": "mg"}], "a unit is only for number fields"),
        ([{"name": "x"}, {"name": "x"}], "field name 'x' is used twice"),
        ([{"name": "x", "type": "date"}], "fields.0.type"),
    ],
)
def test_bad_forms_name_the_problem(tmp_path: Path, fields: list[dict[str, Any]], message: str) -> None:
    path = tmp_path / "form.yaml"
    path.write_text(json.dumps({"fields": fields}))
    with pytest.raises(ProtocolError) as err:
        load_form(path)
    assert message in err.value.one_line() and str(path) in err.value.one_line()


def test_protocol_without_extraction_section_is_refused() -> None:
    with pytest.raises(ProtocolError, match="no extraction section"):
        load_form(REPO / "gold" / "dennstaedt_2024_cdss_ro" / "protocol.yaml")


def test_validator_accepts_typed_answers_and_names_bad_ones() -> None:
    form = ExtractionForm(
        fields=[
            ExtractionField(name="kind", type="one_of", categories=["a", "b"]),
            ExtractionField(name="n", type="integer"),
        ]
    )
    validate = extraction_spec(form)
    ok = {"kind": {"value": "a", "not_reported": False, "quote": "q", "page": 1},
          "n": {"value": None, "not_reported": True, "quote": "", "page": 0}}  # fmt: skip
    assert validate(json.dumps(ok))["kind"]["value"] == "a"
    bad = {**ok, "kind": {**ok["kind"], "value": "c"}}
    with pytest.raises(ValueError, match=r"kind\.value"):
        validate(json.dumps(bad))
    with pytest.raises(ValueError, match="not valid JSON"):
        validate("{")


# -- evidence and merge rules ----------------------------------------------------


SPEC = ExtractionField(name="design", type="string")
LIST_SPEC = ExtractionField(name="items", type="list")


def answer(value: Any, quote: str = "", page: int = 0, nr: bool = False) -> dict[str, Any]:
    return {"value": value, "not_reported": nr, "quote": quote, "page": page}


def test_real_quote_verifies_and_invented_one_does_not() -> None:
    parsed = parse_pdf(DVT)
    good = check_answer(SPEC, answer("SR", "A systematic review was completed using PRISMA guidelines", 1), parsed)
    assert good.status == "verified" and good.confident
    moved = check_answer(SPEC, answer("SR", "The authors declare that they have no competing interests.", 1), parsed)
    assert moved.status == "wrong_page" and moved.found_page == 2 and not moved.confident
    invented = check_answer(SPEC, answer("RCT", "A randomised controlled trial of 900 patients", 1), parsed)
    assert invented.status == "not_found" and not invented.confident
    empty = check_answer(SPEC, answer("RCT", "", 1), parsed)
    assert empty.status == "no_quote"
    short = check_answer(SPEC, answer("SR", "review", 1), parsed)
    assert short.status == "no_quote", "a quote too short to locate anything is no quote"
    no_page = check_answer(SPEC, answer("SR", "A systematic review was completed using PRISMA guidelines", 0), parsed)
    assert no_page.status == "wrong_page" and no_page.found_page == 1, "a quote without a page is not fine"
    impossible = check_answer(SPEC, answer("SR", "A systematic review was completed using PRISMA guidelines", 10**15),
                              parsed)  # fmt: skip
    assert impossible.status == "wrong_page"
    nr = check_answer(SPEC, answer(None, "whatever", 3, nr=True), parsed)
    assert nr.status == "not_reported"
    flagged_nr = check_answer(SPEC, answer("x", "whatever", 3, nr=True), parsed)
    assert flagged_nr.status == "not_reported", "not_reported wins over a value"


def ev(value: Any, status: str, chunk: int = 0, page: int = 1) -> FieldEvidence:
    return FieldEvidence(value, f"quote {chunk}", page, status, chunk=chunk)


def test_scalar_takes_first_confident_value_and_flags_conflicts() -> None:
    merged = merge_field(
        SPEC,
        [ev("A", "not_found", 0), ev("B", "verified", 1, 3), ev("b", "verified_fuzzy", 2), ev("C", "verified", 3)],
    )
    assert merged.value == "B" and merged.status == "verified" and merged.pages == [3]
    assert merged.conflicts == ["C"], "same value in another case is no conflict; a different one is"


def test_scalar_without_confident_value_stays_visibly_unverified() -> None:
    merged = merge_field(SPEC, [ev(None, "not_reported", 0), ev("A", "not_found", 1), ev("B", "no_quote", 2)])
    assert merged.value == "A" and merged.status == "not_found"


def test_not_reported_only_when_every_chunk_says_so() -> None:
    assert merge_field(SPEC, [ev(None, "not_reported", 0), ev(None, "not_reported", 1)]).not_reported
    assert merge_field(SPEC, []).not_reported


def test_list_takes_union_of_confident_values() -> None:
    merged = merge_field(
        LIST_SPEC,
        [ev(["a", "b"], "verified", 0, 1), ev(["x"], "not_found", 1, 2), ev(["B", "c"], "verified_fuzzy", 2, 5)],
    )
    assert merged.value == ["a", "b", "c"]
    assert merged.pages == [1, 5] and merged.status == "verified_fuzzy"


def test_list_without_confident_value_takes_first_reported() -> None:
    merged = merge_field(LIST_SPEC, [ev(["x"], "not_found", 0), ev(["y"], "wrong_page", 1)])
    assert merged.value == ["x"] and merged.status == "not_found"


# -- papers: chunks, caps, bad PDFs ------------------------------------------------


def bad_pdfs(folder: Path) -> list[Path]:
    empty = folder / "empty.pdf"
    empty.write_bytes(b"")
    broken = folder / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really a pdf")
    return [empty, broken]


def test_prepare_papers_caps_chunks_and_records_what_was_left_out(tmp_path: Path) -> None:
    papers = prepare_papers([DVT, *bad_pdfs(tmp_path)], chunk_tokens=1500, max_chunks=1)
    dvt, empty, broken = papers
    assert dvt.usable and len(dvt.chunks) == 1 and dvt.total_chunks > 1
    assert dvt.left_out.startswith("pages ") and "left out by --max-chunks 1" in dvt.left_out
    assert any("not read" in note for note in dvt.notes())
    assert empty.parsed.status == "empty_file" and not empty.chunks and "empty file" in empty.parsed.reason
    assert broken.parsed.status == "damaged" and not broken.usable


def test_page_ranges() -> None:
    assert page_ranges([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"
    assert page_ranges([]) == ""


# -- the run flow with a gold-reading scripted model -------------------------------


# Which PDF a chunk came from: its longest line is in that PDF's cleaned text.
TEXTS = {path.name: clean_untrusted("\n".join(p.text for p in parse_pdf(path).pages)) for path in (DVT, PHYTO)}


def oracle(gold: dict[str, dict[str, Any]]) -> Any:
    """Answers from the hand-labelled gold, but only for pages present in the chunk."""

    def script(request: ModelRequest, n: int) -> str:
        prompt = request.messages[1]["content"]
        pages = {int(p) for p in re.findall(r"^\[page (\d+)", prompt, flags=re.MULTILINE)}
        longest = max((line for line in prompt.splitlines() if not line.startswith(("[page", "<<<"))), key=len)
        paper = next(gold[name] for name, text in TEXTS.items() if longest in text)
        out = {}
        for name in request.schema["required"]:
            entry = paper["fields"][name]
            quote, page = entry["quote"], entry["page"]
            if isinstance(quote, list):
                quote, page = quote[0], page[0]
            value = entry["value"]
            inner = request.schema["properties"][name]["properties"]["value"]["anyOf"][0]
            is_list = inner["type"] == "array"
            if is_list and value is not None and not isinstance(value, list):
                value = [value]
            if isinstance(value, str) and "maxLength" in inner:
                value = value[: inner["maxLength"]]  # as a model under the schema's grammar would
            if value is not None and (page is None or page in pages):
                out[name] = answer(value, quote or "", page or 0)
            else:
                out[name] = answer(None, nr=True)
        return json.dumps(out)

    return script


def run_extract(model: FakeModel, ledger: Ledger, papers: list[Any], run_id: str = "r1") -> Any:
    form = load_form(FORM_A).form
    engine = CallEngine(
        model=model,
        ledger=ledger,
        run_id=run_id,
        stage="extract",
        template_name=TEMPLATE.name,
        template_sha256=TEMPLATE.sha256,
        config=EngineConfig(retry=FAST_RETRY),
        prices=PriceTable({}),
    )
    loaded = LoadedForm(form, "test", str(FORM_A), "0" * 64)
    stage = ExtractionStage(DVT, loaded, TEMPLATE, sampling=Sampling(max_tokens=1200), chunking=ChunkOptions())
    return run_paper_stage(stage, papers, engine)


def test_flow_rows_evidence_bad_pdfs_and_rerun_from_the_ledger(tmp_path: Path) -> None:
    papers = prepare_papers([DVT, PHYTO, *bad_pdfs(tmp_path)], chunk_tokens=1500, max_chunks=2)
    model = FakeModel(oracle(gold_lines()))
    with Ledger(tmp_path / "l.sqlite") as ledger:
        first = run_extract(model, ledger, papers)
        n_calls = len(model.calls)
        assert n_calls == sum(len(p.chunks) for p in papers) and n_calls >= 3
        second = run_extract(model, ledger, papers, run_id="r2")
        assert len(model.calls) == n_calls, "a re-run must make no new calls"
        assert {c["stage"] for c in ledger.calls()} == {"extract"}
        assert {c["record_id"] for c in ledger.calls()} == {DVT.name, PHYTO.name}
    assert [r["record_id"] for r in first.rows] == [DVT.name, PHYTO.name, "empty.pdf", "broken.pdf"]
    assert second.rows == first.rows
    dvt, phyto, empty, broken = first.rows
    assert dvt["status"] == "ok" and dvt["field:study_design"] == "systematic_review_or_meta_analysis"
    assert dvt["evidence:study_design"] == "verified" and dvt["page:study_design"] == "1"
    assert dvt["field:publication_year"] == "2010"
    assert dvt["evidence:sample_size"] == "not_reported" and dvt["field:sample_size"] == ""
    assert dvt["field:funding_reported"] == "false" and dvt["evidence:funding_reported"] == "no_quote"
    assert "unverified:funding_reported" in dvt["flags"], "a value without a checked quote is flagged"
    assert phyto["field:country"] == '["Bangladesh"]' and phyto["evidence:country"] == "verified"
    assert empty["status"] == "empty_file" and "empty file" in empty["error"]
    assert broken["status"] == "damaged" and broken["pdf_reason"].startswith(str(tmp_path))
    assert all(empty.get(f"field:{name}") is None for name in ("title", "country"))


def test_evidence_per_field_counts_answered_pdfs_and_prints_within_80_columns(tmp_path: Path) -> None:
    from winnow.cli.summary import evidence_table
    from winnow.extraction.evidence_report import evidence_tally

    papers = prepare_papers([DVT, PHYTO, *bad_pdfs(tmp_path)], chunk_tokens=1500, max_chunks=2)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        rows = run_extract(FakeModel(oracle(gold_lines())), ledger, papers).rows
    names = load_form(FORM_A).form.names
    tally = evidence_tally(rows, names)
    assert all(sum(counts.values()) == 2 for counts in tally.values()), "the empty and broken PDFs have no evidence"
    assert tally["study_design"]["verified"] >= 1 and tally["sample_size"]["not_reported"] >= 1
    assert tally["funding_reported"]["no_quote"] >= 1
    for name in names:
        for status, n in tally[name].items():
            assert n == sum(1 for r in rows[:2] if r[f"evidence:{name}"] == status)
    text = render_text(evidence_table(tally))
    assert "study_design" in text and "verified" in text and "not rep." in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_failed_chunk_calls_leave_a_partial_row_with_the_error(tmp_path: Path) -> None:
    from winnow.errors import BackendError

    script = oracle(gold_lines())

    def flaky(request: ModelRequest, n: int) -> str | Exception:
        if "[page 1" not in request.messages[1]["content"]:
            return BackendError("prompt too long for the context")
        return script(request, n)

    papers = prepare_papers([DVT], chunk_tokens=1500, max_chunks=0)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        row = run_extract(FakeModel(flaky), ledger, papers).rows[0]
    assert row["status"] == "partial" and "prompt too long" in row["error"] and row["error"].startswith("pages ")
    assert row["evidence:title"] == "verified"


def test_table_round_trips_in_every_format(tmp_path: Path) -> None:
    papers = prepare_papers([PHYTO], chunk_tokens=1500, max_chunks=0)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        rows = run_extract(FakeModel(oracle(gold_lines())), ledger, papers).rows
    columns = extraction_columns(load_form(FORM_A).form)
    for suffix in (".csv", ".jsonl", ".xlsx"):
        path = write_table(tmp_path / f"x{suffix}", rows, columns, what="extraction")
        frame = read_table(path, what="extraction")
        assert list(frame.columns) == columns
        assert frame.loc[0, "field:country"] == '["Bangladesh"]', suffix
        assert frame.loc[0, "evidence:title"] == "verified", suffix


# -- agreement --------------------------------------------------------------------


def test_compare_values_per_type() -> None:
    num = ExtractionField(name="n", type="integer")
    assert compare_values(num, 450.0, 450, tolerance=0.05, threshold=0.85)["exact"]
    near = compare_values(num, 460.0, 450, tolerance=0.05, threshold=0.85)
    assert near["within"] and not near["exact"]
    text = compare_values(SPEC, "Systematic  Review", "systematic review", tolerance=0.05, threshold=0.85)
    assert text["exact"] and text["agree"]
    listed = compare_values(
        LIST_SPEC, ["QQP 50K", "MSRPC"], ["QQP 50K", "QQP 140K", "msrpc"], tolerance=0, threshold=0.85
    )
    assert (listed["matched"], listed["n_model"], listed["n_gold"]) == (2, 2, 3)
    assert listed["jaccard"] == pytest.approx(2 / 3)


def test_agreement_against_gold_counts_values_and_not_reported(tmp_path: Path) -> None:
    papers = prepare_papers([DVT, PHYTO, *bad_pdfs(tmp_path)], chunk_tokens=1500, max_chunks=0)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        rows = run_extract(FakeModel(oracle(gold_lines())), ledger, papers).rows
    rows[0]["field:study_design"] = "cohort"  # one wrong category
    rows[1]["field:sample_size"] = "12"  # one value the gold says is not reported
    rows[1]["evidence:sample_size"] = "not_found"
    table_path = write_table(tmp_path / "x.csv", rows, extraction_columns(load_form(FORM_A).form))
    gold = load_extraction_gold(GOLD_SUBSET)
    matched = match_extraction(read_table(table_path), table_path, gold, protocol_path=FORM_A)
    report = build_extraction_agreement(matched, tolerance=0.05, threshold=0.85)
    assert report["n_pdfs"] == 2 and report["n_pairs"] == 24
    by = {f["field"]: f for f in report["fields"]}
    design = by["study_design"]
    assert design["values"]["accuracy"]["hits"] == 1 and design["values"]["accuracy"]["n"] == 2
    size = by["sample_size"]["not_reported"]
    assert (size["both"], size["gold_only"]) == (1, 1)
    assert by["title"]["agreement"]["hits"] == 2 and by["title"]["evidence"] == {"verified": 2}
    overall = report["overall"]["agreement"]
    assert overall["n"] == 24 and overall["hits"] < 24
    assert report["not_in_gold"] == ["empty.pdf", "broken.pdf"]


def test_gold_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text('{"file": "a.pdf", "fields": {}}\n{"file": "a.pdf", "fields": {}}\n')
    with pytest.raises(GoldSetError, match=r"g.jsonl:2: file 'a.pdf' appears twice"):
        load_extraction_gold(path)
    path.write_text("{nope\n")
    with pytest.raises(GoldSetError, match=r"g.jsonl:1: not valid JSON"):
        load_extraction_gold(path)


def test_cli_agree_and_audit_route_jsonl_gold_to_extraction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    papers = prepare_papers([DVT, PHYTO], chunk_tokens=1500, max_chunks=0)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        rows = run_extract(FakeModel(oracle(gold_lines())), ledger, papers).rows
    rows[0]["field:journal"] = "The Lancet"
    table = write_table(tmp_path / "x.csv", rows, extraction_columns(load_form(FORM_A).form))
    assert run_cli("agree", table, "--gold", GOLD_SUBSET, "--protocol", FORM_A, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert {f["field"] for f in report["fields"]} >= {"title", "journal", "country"}
    assert run_cli("agree", table, "--gold", GOLD_SUBSET, "--protocol", FORM_A, "--no-pager") == 0
    text = capsys.readouterr().out
    assert "Per field" in text and "journal" in text and "overall" in text
    assert run_cli("audit", table, "--gold", GOLD_SUBSET, "--json") == 0
    audit = json.loads(capsys.readouterr().out)
    journal = [d for d in audit["disagreements"] if d["field"] == "journal"]
    assert journal and journal[0]["model"]["value"] == "The Lancet" and journal[0]["kind"] == "value"
    assert journal[0]["gold"]["quote"].startswith("Journal of Trauma Management")
    assert run_cli("audit", table, "--gold", GOLD_SUBSET, "--no-pager") == 0
    assert "The Lancet" in capsys.readouterr().out
    assert run_cli("audit", table, "--gold", GOLD_SUBSET, "--adjudicate") == 2
    assert "apply to screening gold" in capsys.readouterr().err
