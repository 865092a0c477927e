"""PDF parsing and text clean-up, on real PDFs and on broken ones made here.

Bad PDFs (encrypted, truncated, blank, zero bytes) are generated with pypdf's
writer in ``tmp_path`` so every failure status has a fixture without shipping
broken files. The test over every shared PDF writes a table (file, status,
pages, chars, seconds) to ``$WINNOW_PDF_TABLE`` or ``/tmp/winnow_pdf_table.md``.
"""

from __future__ import annotations

import logging
import time
from functools import cache
from pathlib import Path

import pypdf
import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from winnow.errors import PdfError
from winnow.extraction.chunks import chunk_pages, page_marker, truncation_notes
from winnow.extraction.pdf import ParsedPdf, PdfPage, available_parsers, parse_pdf, register_parser
from winnow.extraction.text_cleanup import (
    clean_pages,
    dehyphenate,
    fix_surrogates,
    normalise_glyphs,
    remove_repeated_lines,
    repeated_edge_lines,
    word_vocabulary,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "pdfs"

# pypdf warns about fonts it cannot fully parse without fontTools; the page text is the same either way.
logging.getLogger("pypdf").setLevel(logging.ERROR)

FIXTURE_PAGES = {
    "bmc_systematic_review_DVT_prophylaxis_trauma.pdf": 4,
    "phytochemical_phoenix_paludosa.pdf": 4,
    "edgecase_1page_table_fragment_SciBERT.pdf": 1,
    "hep-ph_9412269_scanned_preprint_1994.pdf": 18,
    "arxiv_2304.02623_BeyondSummarization.pdf": 4,
    "arxiv_2202.00535_paraphrase_generation.pdf": 12,
}


def _text_pdf(path: Path, pages: list[list[str]], *, password: str | None = None, owner: str | None = None) -> Path:
    """Write a PDF whose pages show the given lines in Helvetica (one text object per page)."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    font_ref = writer._add_object(font)
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font_ref})}
        )
    if password is not None:
        writer.encrypt(user_password=password, owner_password=owner, algorithm="RC4-128")
    with path.open("wb") as handle:
        writer.write(handle)
    return path


@cache
def _fixture(name: str) -> ParsedPdf:
    return parse_pdf(FIXTURES / name)


BODY = [f"Line {i} of the body text about deep venous thrombosis prophylaxis." for i in range(8)]


# --- real fixture PDFs -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FIXTURE_PAGES))
def test_fixture_pdfs_parse_ok(name: str) -> None:
    parsed = _fixture(name)
    assert parsed.status == "ok", parsed.reason
    assert parsed.reason == ""
    assert parsed.page_count == FIXTURE_PAGES[name]
    assert [p.number for p in parsed.pages] == list(range(1, parsed.page_count + 1))
    assert parsed.char_count > 1000
    assert len(parsed.sha256) == 64


def test_raw_text_is_pypdf_plain_output() -> None:
    path = FIXTURES / "bmc_systematic_review_DVT_prophylaxis_trauma.pdf"
    parsed = _fixture(path.name)
    reader = pypdf.PdfReader(path)
    assert [p.raw_text for p in parsed.pages] == [p.extract_text() for p in reader.pages]


def test_cleanup_on_real_pdf_removes_running_footer() -> None:
    parsed = _fixture("bmc_systematic_review_DVT_prophylaxis_trauma.pdf")
    raw = "\n".join(p.raw_text for p in parsed.pages)
    text = "\n".join(p.text for p in parsed.pages)
    assert "Page 9 of 11" in raw and "Page 9 of 11" not in text
    # On pages 2-4 the journal line and URL are the last lines; on page 1 they sit above the licence text and stay.
    for page in parsed.pages[1:]:
        assert "traumamanagement.org" in page.raw_text and "traumamanagement.org" not in page.text
    assert "traumamanagement.org" in parsed.pages[0].text


def test_cleanup_on_real_pdf_expands_ligatures_and_dehyphenates() -> None:
    parsed = _fixture("arxiv_2202.00535_paraphrase_generation.pdf")
    raw = "\n".join(p.raw_text for p in parsed.pages)
    text = "\n".join(p.text for p in parsed.pages)
    assert "\ufb01" in raw and "\ufb01" not in text
    assert raw.count("-\n") > text.count("-\n")


def test_hard_cases_keep_ok_status() -> None:
    """The 1994 preprint has a (garbled) text layer and the fragment is one real page: both are ok, not OCR cases."""
    preprint = _fixture("hep-ph_9412269_scanned_preprint_1994.pdf")
    assert preprint.status == "ok"
    assert "\x0b" in "".join(p.raw_text for p in preprint.pages)  # TeX ligature codes survive in raw text only
    assert "\x0b" not in "".join(p.text for p in preprint.pages)
    fragment = _fixture("edgecase_1page_table_fragment_SciBERT.pdf")
    assert fragment.status == "ok" and fragment.page_count == 1


# --- broken PDFs made here ---------------------------------------------------------


def test_text_pdf_helper_round_trips(tmp_path: Path) -> None:
    parsed = parse_pdf(_text_pdf(tmp_path / "ok.pdf", [BODY, BODY]))
    assert parsed.status == "ok"
    assert "Line 3 of the body text" in parsed.pages[1].text


def test_encrypted_with_password_gets_status(tmp_path: Path) -> None:
    path = _text_pdf(tmp_path / "locked.pdf", [BODY], password="secret", owner="owner")
    parsed = parse_pdf(path)
    assert parsed.status == "encrypted"
    assert parsed.reason == f"{path}: encrypted: needs a password (the empty password was refused)"
    assert parsed.pages == ()
    err = parsed.to_error()
    assert isinstance(err, PdfError) and err.status == "encrypted"


def test_encrypted_with_empty_user_password_is_read(tmp_path: Path) -> None:
    path = _text_pdf(tmp_path / "owner_only.pdf", [BODY], password="", owner="owner")
    assert pypdf.PdfReader(path).is_encrypted
    parsed = parse_pdf(path)
    assert parsed.status == "ok", parsed.reason
    assert "Line 0 of the body text" in parsed.pages[0].text


def test_aes_encrypted_with_empty_user_password_is_read(tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="pypdf needs cryptography for AES")
    path = tmp_path / "aes.pdf"
    writer = PdfWriter(clone_from=_text_pdf(tmp_path / "plain.pdf", [BODY]))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    with path.open("wb") as handle:
        writer.write(handle)
    parsed = parse_pdf(path)
    assert parsed.status == "ok", parsed.reason
    assert "Line 0 of the body text" in parsed.pages[0].text


def test_truncated_pdf_is_damaged_not_raised(tmp_path: Path) -> None:
    data = (FIXTURES / "phytochemical_phoenix_paludosa.pdf").read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(data[:2000])
    parsed = parse_pdf(path)
    assert parsed.status == "damaged"
    assert parsed.reason == f"{path}: damaged: PdfReadError: Invalid object in /Pages"
    error = parsed.to_error()
    assert error is not None and error.one_line() == parsed.reason and error.status == "damaged"


def test_garbage_bytes_are_damaged(tmp_path: Path) -> None:
    path = tmp_path / "not_a_pdf.pdf"
    path.write_bytes(b"this is not a PDF at all\n" * 10)
    parsed = parse_pdf(path)
    assert parsed.status == "damaged"
    assert parsed.reason.startswith(f"{path}: damaged: ")


def test_blank_pages_need_ocr(tmp_path: Path) -> None:
    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(612, 792)
    path = tmp_path / "scan.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    parsed = parse_pdf(path)
    assert parsed.status == "no_text_layer"
    assert parsed.reason == (
        f"{path}: no text layer: 0 visible characters on 3 page(s); scanned or image-only, needs OCR"
    )
    assert parsed.page_count == 3
    assert parsed.pages_without_text() == (1, 2, 3)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.touch()
    parsed = parse_pdf(path)
    assert parsed.status == "empty_file"
    assert parsed.reason == f"{path}: empty file (0 bytes)"


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(PdfError) as info:
        parse_pdf(tmp_path / "nope.pdf")
    assert info.value.status == "missing"
    assert str(info.value) == f"{tmp_path / 'nope.pdf'}: no such file"
    with pytest.raises(PdfError, match="not a file"):
        parse_pdf(tmp_path)


def test_unknown_parser_raises(tmp_path: Path) -> None:
    path = _text_pdf(tmp_path / "ok.pdf", [BODY])
    with pytest.raises(PdfError, match=r"unknown PDF parser 'nope' \(known: .*pypdf"):
        parse_pdf(path, parser="nope")


def test_failing_page_is_recorded_and_rest_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _text_pdf(tmp_path / "three.pdf", [["alpha " * 20], ["beta " * 20], ["gamma " * 20]])
    original = pypdf.PageObject.extract_text

    def flaky(self: pypdf.PageObject, *args: object, **kwargs: object) -> str:
        text = original(self, *args, **kwargs)  # type: ignore[arg-type]
        if "beta" in text:
            raise KeyError("/Font")
        return text

    monkeypatch.setattr(pypdf.PageObject, "extract_text", flaky)
    parsed = parse_pdf(path)
    assert parsed.status == "partial"
    assert [(p.page, p.problem) for p in parsed.problems] == [(2, "text extraction failed: KeyError: '/Font'")]
    assert parsed.reason == (
        f"{path}: page 2: partial: text extraction failed on 1 of 3 pages (2); "
        "first: text extraction failed: KeyError: '/Font'"
    )
    assert parsed.pages[1].text == "" and "gamma" in parsed.pages[2].text
    error = parsed.to_error()
    assert error is not None and error.page == 2 and error.one_line() == parsed.reason
    assert parsed.usable and not parsed.ok


def test_all_pages_failing_is_damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _text_pdf(tmp_path / "two.pdf", [BODY, BODY])

    def broken(self: pypdf.PageObject, *args: object, **kwargs: object) -> str:
        raise ValueError("bad content stream")

    monkeypatch.setattr(pypdf.PageObject, "extract_text", broken)
    parsed = parse_pdf(path)
    assert parsed.status == "damaged"
    assert parsed.reason == (
        f"{path}: page 1: damaged: text extraction failed on all 2 pages "
        "(text extraction failed: ValueError: bad content stream)"
    )


def test_parser_registry_accepts_another_parser(tmp_path: Path) -> None:
    class FakeParser:
        name = "fake"

        def parse(self, path: Path) -> ParsedPdf:
            return ParsedPdf(str(path), "0" * 64, "ok", "", (PdfPage(1, "hello", "hello"),), (), self.name)

    register_parser("fake", FakeParser)
    path = _text_pdf(tmp_path / "ok.pdf", [BODY])
    assert "fake" in available_parsers()
    assert parse_pdf(path, parser="fake").pages[0].text == "hello"


def test_parser_that_raises_becomes_damaged(tmp_path: Path) -> None:
    class Exploding:
        name = "exploding"

        def parse(self, path: Path) -> ParsedPdf:
            raise RecursionError("maximum recursion depth exceeded")

    register_parser("exploding", Exploding)
    path = _text_pdf(tmp_path / "ok.pdf", [BODY])
    parsed = parse_pdf(path, parser="exploding")
    assert parsed.status == "damaged"
    assert parsed.reason == f"{path}: damaged: RecursionError: maximum recursion depth exceeded"


# --- clean-up units --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("image segmen-\ntation works", "image segmentation works"),
        ("segmen- \n  tation", "segmentation"),
        ("a state-of-the-art model", "a state-of-the-art model"),
        ("a state-of-the-\nart model", "a state-of-the-art model"),
        ("the S2ORC-\nSciBERT model", "the S2ORC-SciBERT model"),
        ("COVID-\n19 patients", "COVID-19 patients"),
        ("ends with a dash -\nnext line", "ends with a dash -\nnext line"),
        ("no hyphen\nhere", "no hyphen\nhere"),
    ],
)
def test_dehyphenate(raw: str, expected: str) -> None:
    assert dehyphenate(raw) == expected


def test_dehyphenate_keeps_hyphen_the_document_uses_elsewhere() -> None:
    pages = ["a non-randomised trial", "another non-\nrandomised study"]
    vocabulary = word_vocabulary(pages)
    assert dehyphenate(pages[1], vocabulary) == "another non-randomised study"
    assert dehyphenate("treat-\nment arm", vocabulary) == "treatment arm"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("de\ufb01ciency \ufb02ow e\ufb00ect o\ufb03ce ba\ufb04e", "deficiency flow effect office baffle"),
        ("\U0001d6fd = 0.5", "\u03b2 = 0.5"),
        ("10\u00a0mg", "10 mg"),
        ("\uff21\uff22", "AB"),
        ("10\u207b\u00b3 m\u00b2", "10\u207b\u00b3 m\u00b2"),
        ("\u00bd dose", "\u00bd dose"),
        ("e/\x0bective", "e/ ective"),
        ("cafe\u0301", "caf\u00e9"),
    ],
)
def test_normalise_glyphs(raw: str, expected: str) -> None:
    assert normalise_glyphs(raw) == expected


def test_fix_surrogates() -> None:
    assert fix_surrogates("a\ud835b") == "a\ufffdb"
    assert fix_surrogates("\ud835\udefd") == "\U0001d6fd"
    assert fix_surrogates("plain") == "plain"


def _paged(n: int) -> list[str]:
    return [
        "\n".join(
            [
                "Datta et al. World Journal of Emergency Surgery 2010, 5:1",
                f"Body line one of page {i} with findings.",
                *[f"Middle {j}" for j in range(3)],
                "Repeated body sentence that is not at an edge.",
                *[f"Middle {j}" for j in range(3, 6)],
                f"Last body line on page {i}.",
                f"Page {i + 8} of 11",
            ]
        )
        for i in range(1, n + 1)
    ]


def test_header_and_footer_lines_are_removed() -> None:
    pages = _paged(5)
    keys = repeated_edge_lines(pages)
    assert "page # of #" in keys
    assert "datta et al. world journal of emergency surgery 2010, 5:1" in keys
    assert not any("body line" in key for key in keys)
    cleaned = [remove_repeated_lines(p, keys) for p in pages]
    for i, page in enumerate(cleaned, start=1):
        assert "World Journal" not in page and "of 11" not in page
        assert f"Body line one of page {i}" in page and f"Last body line on page {i}." in page
        assert "Repeated body sentence" in page


def test_bare_page_numbers_are_removed() -> None:
    pages = [f"{i}\nIntroduction text number {i}.\nMore text about trial {i * 7}.\nEnd." for i in range(1, 6)]
    cleaned = clean_pages(pages)
    for i, page in enumerate(cleaned, start=1):
        assert page.split("\n")[0] == f"Introduction text number {i}."
        assert f"trial {i * 7}" in page


def test_short_documents_keep_their_edges() -> None:
    pages = _paged(2)
    assert repeated_edge_lines(pages) == frozenset()
    assert clean_pages(pages)[0].startswith("Datta et al.")


def test_clean_pages_is_fast() -> None:
    page = "\n".join(["Some ordinary words in a line of text, with a hyphen-\nated word."] * 80)
    pages = [f"Header line\n{page}\n{i}" for i in range(200)]
    start = time.perf_counter()
    clean_pages(pages)
    assert time.perf_counter() - start < 2.0


def test_long_unbroken_token_is_linear() -> None:
    start = time.perf_counter()
    dehyphenate("a" * 200_000 + "\nb")
    assert time.perf_counter() - start < 1.0


# --- chunks ------------------------------------------------------------------------------


def _pages(*texts: str) -> tuple[PdfPage, ...]:
    return tuple(PdfPage(i, t, t) for i, t in enumerate(texts, start=1))


def test_chunks_pack_whole_pages_with_markers() -> None:
    pages = _pages("a" * 400, "b" * 400, "c" * 400)
    chunks = chunk_pages(pages, max_tokens=250)
    assert [c.pages for c in chunks] == [(1, 2), (3,)]
    assert chunks[0].text.startswith("[page 1]\naaa") and "\n\n[page 2]\nbbb" in chunks[0].text
    assert not any(c.truncated for c in chunks)
    assert all(len(c.text) // 4 <= 250 for c in chunks)


def test_oversized_page_is_split_and_recorded() -> None:
    big = "\n\n".join(f"Paragraph {i}. " + "word " * 60 for i in range(20))
    pages = _pages("small page", big, "tail")
    chunks = chunk_pages(pages, max_tokens=200)
    split = [c for c in chunks if c.truncated]
    assert len(split) > 1 and all(c.pages == (2,) for c in split)
    assert split[0].text.startswith(page_marker(2, 1, len(split)))
    assert all(len(c.text) // 4 <= 200 for c in chunks)
    assert "".join(c.text.split("\n", 1)[1] for c in split).replace(" ", "").replace("\n", "") == big.replace(
        " ", ""
    ).replace("\n", "")
    assert truncation_notes(chunks) == (
        f"page 2 (~{len(big) // 4} tokens) exceeds the 200-token budget; split into {len(split)} parts",
    )
    assert chunks[0].pages == (1,) and chunks[-1].pages == (3,)


def test_unbreakable_page_is_hard_split() -> None:
    chunks = chunk_pages(_pages("x" * 5000), max_tokens=100)
    assert all(c.truncated and len(c.text) // 4 <= 100 for c in chunks)
    assert "".join(c.text.split("\n", 1)[1] for c in chunks) == "x" * 5000


def test_chunk_budget_too_small() -> None:
    with pytest.raises(ValueError, match="too small"):
        chunk_pages(_pages("abc"), max_tokens=1)


def test_chunks_of_real_pdf_cover_every_page() -> None:
    parsed = _fixture("arxiv_2202.00535_paraphrase_generation.pdf")
    chunks = chunk_pages(parsed, max_tokens=3000)
    covered = [n for c in chunks for n in c.pages]
    assert sorted(set(covered)) == list(range(1, 13))
    assert all(c.text.startswith("[page ") for c in chunks)
