"""Every benchmark in bench/ runs end to end on tiny sizes, so none of them rots.

These are not timed tests: they assert that each benchmark produces its figures
and that the figures are the right kind of thing (calls made, zero calls on a
re-run, no 429 under a matched limit), never that anything is fast.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from support import REPO

sys.path.insert(0, str(REPO / "bench"))

import benchlib
import cache
import concurrency
import embedded
import embedded_decided
import extraction_embedded
import overhead
import pdf_parse
import reader_scale
import reports
import synthesis_gold
import tokens
from fake_openai_server import FakeOpenAIServer


@pytest.fixture(autouse=True)
def _scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINNOW_BENCH_TMP", str(tmp_path / "work"))


def test_fake_server_answers_the_schema_and_enforces_rpm() -> None:
    import openai

    schema = {"type": "object", "properties": {"criteria": {"required": ["I1", "E1"]}}}
    with FakeOpenAIServer(rpm=60) as server:
        client = openai.OpenAI(api_key="x", base_url=server.base_url, max_retries=0)
        messages = [{"role": "system", "content": "s" * 400}, {"role": "user", "content": "record"}]
        response_format = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
        first = client.chat.completions.create(model="m", messages=messages, response_format=response_format)  # type: ignore[arg-type,call-overload]
        assert '"I1"' in (first.choices[0].message.content or "")
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=messages, response_format=response_format)  # type: ignore[arg-type,call-overload]
        stats = server.stats()
    assert (stats["ok"], stats["refused_429"]) == (1, 1)
    assert first.usage is not None and first.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0


def test_overhead(tmp_path: Path) -> None:
    figures = overhead.main(["--records", "30", "--profile-records", "10", "--out", str(tmp_path / "o.json")])
    assert len(figures["http_client_cpu_ms_per_call"]) == 3
    assert figures["per_record_median_ms"] > 0 and figures["cli_cpu_ms_per_record"] > 0
    assert (tmp_path / "o.json").is_file()


def test_concurrency_and_rate_limit(tmp_path: Path) -> None:
    figures = concurrency.main(
        [
            "--latency-ms",
            "50",
            "--levels",
            "4",
            "--rounds",
            "3",
            "--rpm",
            "1200",
            "--rpm-records",
            "12",
            "--rpm-latency-ms",
            "10",
            "--rpm-concurrency",
            "4",
            "--out",
            str(tmp_path / "c.json"),
        ]
    )
    assert [level["calls"] for level in figures["levels"]] == [12]
    assert figures["rate_limit"]["server_429s"] == 0, "a client limit matched to the server's must not draw 429s"


def test_cache_rerun_makes_no_calls(tmp_path: Path) -> None:
    figures = cache.main(["--records", "25", "--concurrency", "4", "--out", str(tmp_path / "k.json")])
    assert figures["first_run_calls"] == 25 and figures["rerun_model_calls"] == 0


def test_tokens_and_dry_run(tmp_path: Path) -> None:
    figures = tokens.main(["--records", "8", "--out", str(tmp_path / "t.json")])
    assert figures["distinct_system_messages"] == 1, "the criteria must stay in one shared prefix"
    assert figures["cached_tokens_per_call"] > 0 and figures["prompt_over_floor"] > 1
    assert figures["dry_run_prompt_tokens_per_call"]


def test_pdf_parse(tmp_path: Path) -> None:
    one_page = tmp_path / "pdfs"
    one_page.mkdir()
    shutil.copy(REPO / "tests" / "fixtures" / "pdfs" / "edgecase_1page_table_fragment_SciBERT.pdf", one_page)
    figures = pdf_parse.main(
        [
            "--pdfs",
            str(one_page),
            "--runs",
            "1",
            "--out",
            str(tmp_path / "p.json"),
        ]
    )
    assert figures["libraries"]["winnow parse_pdf (pypdf + clean-up)"]["pages"] >= 1


def test_reports(tmp_path: Path) -> None:
    figures = reports.main(["--records", "200", "--runs", "1", "--out", str(tmp_path / "r.json")])
    assert set(figures["commands"]) == {"agree (terminal report)", "agree --json", "audit --json"}


def test_runs_scale(tmp_path: Path) -> None:
    import json

    import runs_scale

    work = tmp_path / "w"
    assert runs_scale.main(["build", "--work", str(work), "--calls", "2000"]) == 0
    assert runs_scale.main(["measure", "--work", str(work), "--repeats", "1", "--out", str(tmp_path / "r.json")]) == 0
    figures = json.loads((tmp_path / "r.json").read_text())["figures"]
    assert figures["ledger"]["calls"] == 2000 and figures["runs_listed"] == 41
    assert figures["killed_run"]["state"] == "unfinished" and figures["killed_run"]["calls_made"] == 400


def test_synthesis_gold(tmp_path: Path) -> None:
    assert synthesis_gold.main(["--work", str(tmp_path / "w"), "--out", str(tmp_path / "s.json")]) == 0


@pytest.mark.model
def test_embedded(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    figures = embedded.main(["--records", "1", "--rounds", "1", "--out", str(tmp_path / "e.json")])
    only = figures["rounds"][0]
    assert only["raw_records_per_min"] > 0 and only["winnow_records_per_min"] > 0


def test_reader_scale(tmp_path: Path) -> None:
    figures = reader_scale.main(["--sizes", "1", "2", "--out", str(tmp_path / "s.json")])
    assert len(figures["runs"]) == 6 and all(r["outcome"].split()[0] in ("records", "error") for r in figures["runs"])
    assert set(figures["growth_largest_over_smallest"]) == set(reader_scale.KINDS)


@pytest.mark.model
def test_embedded_decided(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    figures = embedded_decided.main(["--records", "1", "--out", str(tmp_path / "d.json")])
    assert figures["records"] == 1 and figures["decided"] + figures["errors"] == 1
    assert figures["errors_without_cause"] == 0
    if figures["errors"] == 0:
        assert figures["rerun_new_calls"] == 0, "answered records are never re-asked"


@pytest.mark.model
def test_extraction_embedded(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    one = tmp_path / "pdfs"
    one.mkdir()
    shutil.copy(REPO / "tests" / "fixtures" / "pdfs" / "bmc_systematic_review_DVT_prophylaxis_trauma.pdf", one)
    args = ["--pdfs", str(one), "--max-chunks", "1", "--work", str(tmp_path / "w"), "--out", str(tmp_path / "x.json")]
    figures = extraction_embedded.main(args)
    assert figures["pdfs"] == 1 and figures["calls_answered"] >= 1
    assert figures["every_value_has_evidence_status"]
    assert sum(figures["evidence_per_field"]["model_type"].values()) == 1


def test_machine_header_names_versions() -> None:
    header = benchlib.machine()
    assert header["nproc"] and header["python"] and "winnow" in header["versions"]


def test_validation_coverage_runs_on_one_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import validation_coverage

    if not validation_coverage.SETS["dennstaedt_2024_cdss_ro"].is_file():
        pytest.skip("the shared screening data is not on this machine")
    out = tmp_path / "coverage.json"
    argv = ["validation_coverage.py", "--reps", "5", "--certify-reps", "3", "--splits", "5"]
    monkeypatch.setattr(sys, "argv", [*argv, "--sets", "dennstaedt_2024_cdss_ro", "--out", str(out)])
    assert validation_coverage.main() == 0
    import json

    figures = json.loads(out.read_text())["figures"]
    assert len(figures["settings"]) == 10 and len(figures["calibration"]) == 3
    assert all(0 <= row["lower_bound_coverage"] <= 1 for row in figures["settings"])
    assert set(validation_coverage.markdown_tables(figures)) == {"COVERAGE_TABLE", "CERTIFY_TABLE", "CALIBRATION_TABLE"}
