"""Readers for search exports: one fixture per format and per broken case."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winnow.errors import RecordParseError, WinnowError
from winnow.records import ReadResult, Record, read_records
from winnow.records.aliases import FIELD_ALIASES, canonical_field, normalise_name
from winnow.records.normalise import normalise_doi, normalise_pmid, normalise_year, title_key
from winnow.records.tables import sniff_delimiter

FIXTURES = Path(__file__).parent / "fixtures" / "records"
DENNSTAEDT = Path("/work/shared/data/screening/Dennstaedt_2024_CDSS_RO/Dennstaedt_2024_CDSS_RO.csv")
SAME_FORMATS = ["same.ris", "same.nbib", "same.bib", "same.csv", "same.xlsx"]


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def core(record: Record) -> tuple[str, str, str, str, str, str]:
    return (record.record_id, record.title, record.abstract, record.year, record.doi, record.pmid)


# --- the same five records in every format -------------------------------------------------


def test_same_records_identical_across_formats() -> None:
    results = {name: read_records(fixture(name)) for name in SAME_FORMATS}
    reference = [core(r) for r in results["same.csv"].records]
    assert [r[0] for r in reference] == ["38000101", "38000102", "38000103", "38000104", "38000105"]
    assert [r[3] for r in reference] == ["2024", "2023", "2024", "2023", "2025"]
    for name, result in results.items():
        assert [core(r) for r in result.records] == reference, name
        assert result.skipped == [] and result.duplicate_groups == [] and result.warnings == [], name


@pytest.mark.parametrize("name", SAME_FORMATS)
def test_same_records_metadata_and_hash(name: str) -> None:
    reference = read_records(fixture("same.csv")).records
    records = read_records(fixture(name)).records
    for got, want in zip(records, reference, strict=True):
        assert (got.authors, got.journal, got.keywords) == (want.authors, want.journal, want.keywords)
        assert got.content_sha256 == want.content_sha256
    first = records[0]
    assert first.authors == ("Moreau, Claire", "Okafor, Daniel", "Lindqvist, Sara")
    assert first.journal == "Medical Image Analysis"
    assert "1% of labelled" in first.abstract
    assert [r.has_abstract for r in records] == [True, True, True, False, True]
    assert "Dice ≤ 0.45" in records[1].abstract
    assert records[1].authors[1] == "Müller, Jonas"


def test_source_points_back_to_the_record_start() -> None:
    assert read_records(fixture("same.ris")).records[1].source == f"{fixture('same.ris')}:17"
    assert read_records(fixture("same.csv")).records[0].source == f"{fixture('same.csv')}:2"
    assert read_records(fixture("same.xlsx")).records[0].source == f"{fixture('same.xlsx')}:2"


# --- broken inputs: exact one-line messages ----------------------------------------------------

ERROR_CASES = [
    ("empty.ris", "{p}: file is empty"),
    ("blank.csv", "{p}: file is empty"),
    ("binary_junk.csv", "{p}: not a text file (binary content or an unsupported encoding)"),
    (
        "no_title.csv",
        "{p}:1: no title column (such as 'title' or 'TI'); columns found: 'Name', 'Abstract', 'Year'",
    ),
    (
        "truncated_only.ris",
        "{p}:1: no usable record (1 skipped); first problem: "
        "truncated record: the file ends before its ER (end of record) tag",
    ),
    (
        "notes.dat",
        "{p}: unrecognised '.dat' file: no RIS, MEDLINE or BibTeX content found "
        "(supported: .ris, .nbib, .medline, .bib, .csv, .tsv, .xlsx, or .txt with RIS/MEDLINE tags)",
    ),
]


@pytest.mark.parametrize(("name", "message"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_unreadable_file_raises_one_line(name: str, message: str) -> None:
    path = fixture(name)
    with pytest.raises(RecordParseError) as caught:
        read_records(path)
    assert caught.value.one_line() == message.replace("{p}", path)
    assert "\n" not in str(caught.value)


SKIP_CASES = [
    (
        "truncated.ris",
        ["38000201", "38000202"],
        ["{p}:15: truncated record: the file ends before its ER (end of record) tag"],
    ),
    ("duplicate_ids.csv", ["a1", "a2"], ["{p}:5: duplicate record id a1 (first at line 2)"]),
    ("no_content.ris", ["c1", "c3"], ["{p}:7: record c2: no title and no abstract"]),
    (
        "broken.bib",
        ["e1", "e3"],
        [
            "{p}:7: BibTeX block not parsed: Unexpected block start: `@article`. "
            "Was still looking for field-value closing `}`"
        ],
    ),
    (
        "bad_line.nbib",
        ["38000501"],
        ["{p}:6: line 8 is neither a 'TAG - value' line nor an indented continuation"],
    ),
]


@pytest.mark.parametrize(("name", "kept", "skipped"), SKIP_CASES, ids=[c[0] for c in SKIP_CASES])
def test_bad_record_is_skipped_and_batch_goes_on(name: str, kept: list[str], skipped: list[str]) -> None:
    path = fixture(name)
    result = read_records(path)
    assert [r.record_id for r in result.records] == kept
    assert result.skipped == [s.replace("{p}", path) for s in skipped]


def test_missing_file() -> None:
    path = fixture("does_not_exist.csv")
    with pytest.raises(RecordParseError, match=r"does_not_exist\.csv: cannot read file \(No such file"):
        read_records(path)


def test_title_without_abstract_is_kept() -> None:
    record = read_records(fixture("no_content.ris")).records[1]
    assert (record.title, record.has_abstract) == ("Title-only record about retinal imaging foundation models", False)


# --- encodings and delimiters ------------------------------------------------------------------


def test_latin1_csv_is_read_with_a_warning() -> None:
    path = fixture("latin1.csv")
    result = read_records(path)
    assert [r.title for r in result.records] == [
        "Évaluation d'un modèle de fondation pour l'IRM cérébrale",
        "Réseaux auto-supervisés en radiologie thoracique",
    ]
    assert result.warnings == [f"{path}: not valid UTF-8 (first bad byte at offset 28); read as cp1252"]


def test_semicolon_cp1252_csv_like_dennstaedt_original() -> None:
    result = read_records(fixture("semicolon_cp1252.csv"))
    assert [r.record_id for r in result.records] == ["n1", "n2", "n3"]
    first = result.records[0]
    assert first.title == "Deep learning–based auto-contouring for head and neck radiotherapy"
    assert first.abstract.endswith("RESULTS: Dice was 0.84 – the clinicians’ mean was 0.86.")
    assert "; we compared" in first.abstract
    assert result.records[2].title.startswith("Knowledge-based planning in Zürich")
    assert not result.records[2].has_abstract
    assert result.warnings and "read as cp1252" in result.warnings[0]


@pytest.mark.parametrize(
    ("name", "ids", "title"),
    [
        ("bom.csv", ["b1", "b2"], "Foundation model for ultrasound"),
        ("utf16.csv", ["u1", "u2"], "Foundation model for PET/CT – a pilot"),
    ],
)
def test_unicode_byte_order_marks(name: str, ids: list[str], title: str) -> None:
    result = read_records(fixture(name))
    assert [r.record_id for r in result.records] == ids
    assert result.records[0].title == title
    assert result.warnings == []


def test_tsv_with_ris_style_column_names() -> None:
    result = read_records(fixture("records.tsv"))
    assert [core(r) for r in result.records] == [
        (
            "38000301",
            "Foundation model for cardiac MRI",
            "Pretraining on cine MRI improves segmentation.",
            "2024",
            "10.1000/cmr.1",
            "38000301",
        ),
        ("38000302", "Foundation model for echocardiography", "", "2023", "10.1000/echo.2", "38000302"),
    ]


@pytest.mark.parametrize(("name", "count"), [("pubmed_export.txt", 5), ("ris_export.txt", 2)])
def test_txt_is_recognised_by_content(name: str, count: int) -> None:
    assert len(read_records(fixture(name)).records) == count


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [("title,abstract", ","), ("Title;Abstract;label", ";"), ("TI\tAB", "\t"), ('"a,b";c;d', ";"), ("title", ",")],
)
def test_sniff_delimiter(header: str, delimiter: str) -> None:
    assert sniff_delimiter(header + "\nx\n") == delimiter


# --- duplicates -------------------------------------------------------------------------------


def test_duplicates_by_doi_pmid_and_title_year() -> None:
    result = read_records(fixture("duplicates.csv"))
    assert [r.record_id for r in result.records] == ["d1", "d5", "d6", "d7"]
    assert result.records[0].duplicates == ("d2", "d3", "d4")
    assert result.duplicate_groups == [("d1", "d2", "d3", "d4")]
    assert result.skipped == []


@pytest.mark.skipif(not DENNSTAEDT.exists(), reason="shared screening data not present")
def test_real_dennstaedt_export() -> None:
    result = read_records(DENNSTAEDT)
    # 521 rows; rows 238 and 254 are the same ASTRO/ASCO/AUA guideline (identical
    # abstract, titles differ only by a comma), so one record absorbs the other.
    assert len(result.records) == 520
    assert result.duplicate_groups == [("238", "254")]
    assert result.skipped == [] and result.warnings == []
    assert sum(not r.has_abstract for r in result.records) == 1


# --- normalisation and the alias table -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "year"),
    [
        ("2023", "2023"),
        ("2023///", "2023"),
        ("2023 Jun 5", "2023"),
        ("Jun 2021", "2021"),
        ("2024.0", "2024"),
        ("2019-05-01 00:00:00", "2019"),
        ("n.d.", ""),
        ("12345", ""),
        ("0999", ""),
    ],
)
def test_normalise_year(raw: str, year: str) -> None:
    assert normalise_year(raw) == year


def test_normalise_identifiers() -> None:
    assert normalise_doi("https://doi.org/10.1000/ABC.1") == "10.1000/abc.1"
    assert normalise_doi(" doi: 10.1000/abc.1 ") == "10.1000/abc.1"
    assert normalise_doi("http://dx.doi.org/10.1000/X") == "10.1000/x"
    assert normalise_pmid("38000101.0") == "38000101"
    assert normalise_pmid("PMID: 38000101") == "38000101"
    assert normalise_pmid("WOS:000123") == ""
    assert title_key("Deep-Learning, for CT!") == title_key("deep learning for ct")


def test_alias_table_is_case_insensitive_and_unambiguous() -> None:
    seen = [normalise_name(a) for aliases in FIELD_ALIASES.values() for a in aliases]
    assert len(seen) == len(set(seen))
    assert canonical_field("Abstract Note") == "abstract"
    assert canonical_field("PubMed ID") == "pmid"
    assert canonical_field("T2") == "journal"
    assert canonical_field("label_included") is None


# --- robustness -------------------------------------------------------------------------------

EXTENSIONS = [".ris", ".nbib", ".medline", ".bib", ".csv", ".tsv", ".xlsx", ".txt", ".dat"]
FORMAT_LINES = st.sampled_from(
    [
        "TY  - JOUR",
        "ER  - ",
        "ER  -",
        "TI  - title",
        "AB  - abstract",
        "AU  - A",
        "ID  - 1",
        "PY  - 2020",
        "PMID- 123",
        "TI  - t",
        "      continued",
        "AID - 10.1/x [doi]",
        "@article{k,",
        "title = {T},",
        "}",
        "@article{k, title={x}",
        "title,abstract",
        "record_id;title",
        "1,t,a",
        '"unclosed',
        "x\ty",
        "",
        "\x00",
    ]
)
STRUCTURED = st.lists(FORMAT_LINES, max_size=30).map("\n".join)


def _read_written(suffix: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data)
        try:
            result = read_records(path)
        except WinnowError as exc:
            assert "\n" not in exc.one_line()
        else:
            assert isinstance(result, ReadResult)
            assert result.records


FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("suffix", EXTENSIONS)
@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes_never_escape(suffix: str, data: bytes) -> None:
    _read_written(suffix, data)


@pytest.mark.parametrize("suffix", EXTENSIONS)
@FUZZ
@given(text=st.text(max_size=1000))
def test_random_text_never_escapes(suffix: str, text: str) -> None:
    _read_written(suffix, text.encode("utf-8"))


@pytest.mark.parametrize("suffix", EXTENSIONS)
@FUZZ
@given(text=STRUCTURED)
def test_format_like_garbage_never_escapes(suffix: str, text: str) -> None:
    _read_written(suffix, text.encode("utf-8"))
