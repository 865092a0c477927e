"""Quote verification against real PDF text and the hand-labelled gold quotes.

The gold quotes were copied from pypdf's default ``extract_text()``, so every
one must verify on its stated page; altered copies must not, and a correct quote
with the wrong page must come back as ``wrong_page`` with the right page.
``tests/fixtures/pdfs/gold_subset.jsonl`` covers the six fixture PDFs; the slow
test covers all 20 shared PDFs when ``../shared`` is beside the repo.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winnow.extraction.pdf import ParsedPdf, PdfPage, parse_pdf
from winnow.extraction.quotes import MIN_FUZZY_CHARS, QuoteCheck, normalise_for_match, verify_quote

from support import gold_quotes

logging.getLogger("pypdf").setLevel(logging.ERROR)

FIXTURES = Path(__file__).parent / "fixtures" / "pdfs"

FIXTURE_QUOTES = gold_quotes(FIXTURES / "gold_subset.jsonl")


@cache
def _parsed(directory: Path, name: str) -> ParsedPdf:
    return parse_pdf(directory / name)


def _fixture(name: str) -> ParsedPdf:
    return _parsed(FIXTURES, name)


# --- gold quotes on real PDF text ---------------------------------------------------


def test_fixture_gold_subset_is_not_empty() -> None:
    assert len(FIXTURE_QUOTES) >= 50
    assert {f for f, *_ in FIXTURE_QUOTES} == {p.name for p in FIXTURES.glob("*.pdf")}


@pytest.mark.parametrize(("file", "field", "quote", "page"), FIXTURE_QUOTES, ids=lambda v: str(v)[:40])
def test_gold_quote_verifies_on_stated_page(file: str, field: str, quote: str, page: int) -> None:
    check = verify_quote(quote, _fixture(file), page)
    assert check.status == "verified", (field, check)
    assert check.found_page == page and check.score == 1.0
    assert normalise_for_match(quote) in normalise_for_match(check.matched_text) or (
        normalise_for_match(quote).replace(" ", "") in normalise_for_match(check.matched_text).replace(" ", "")
    )


def _reversed_words(quote: str) -> str:
    return " ".join(reversed(quote.split()))


def _every_other_word_replaced(quote: str) -> str:
    return " ".join(w if i % 2 else "zebra" for i, w in enumerate(quote.split()))


ALTERABLE = [q for q in FIXTURE_QUOTES if len(q[2].split()) >= 6 and len(set(q[2].split())) >= 5]


@pytest.mark.parametrize("alter", [_reversed_words, _every_other_word_replaced])
def test_altered_gold_quotes_fail(alter: object) -> None:
    assert len(ALTERABLE) >= 20
    for file, field, quote, page in ALTERABLE:
        altered = alter(quote)  # type: ignore[operator]
        check = verify_quote(altered, _fixture(file), page)
        assert check.status == "not_found", (file, field, altered, check)
        assert check.found_page is None and check.score < 0.9


def _unique_page(parsed: ParsedPdf, quote: str) -> int | None:
    """The only page whose text contains the quote (spacing ignored), or None if several do."""
    needle = normalise_for_match(quote).replace(" ", "")
    hits = [
        p.number
        for p in parsed.pages
        if any(needle in normalise_for_match(t).replace(" ", "") for t in (p.raw_text, p.text))
    ]
    return hits[0] if len(hits) == 1 else None


def test_gold_quotes_on_wrong_page_report_found_page() -> None:
    tried = 0
    for file, field, quote, page in FIXTURE_QUOTES:
        parsed = _fixture(file)
        if parsed.page_count < 2 or len(normalise_for_match(quote)) < 20 or _unique_page(parsed, quote) != page:
            continue
        wrong = page + 1 if page < parsed.page_count else page - 1
        check = verify_quote(quote, parsed, wrong)
        assert check.status == "wrong_page", (file, field, check)
        assert check.found_page == page
        tried += 1
    assert tried >= 20


# --- units on small texts ---------------------------------------------------------------


def _pages(*texts: str) -> tuple[PdfPage, ...]:
    return tuple(PdfPage(i, t, t) for i, t in enumerate(texts, start=1))


PAGES = _pages(
    "Abstract\nWe studied 450 participants in eight randomised trials of iron supplementation.",
    "The image segmen-\ntation network was trained for de\ufb01ciency detection with \u201cstrong\u201d augmentation.",
    "weadoptcrossentropyasthe loss. Conﬂict of interest: none declared by th e authors.",
)


@pytest.mark.parametrize("quote", ["", "   ", "\n\t"])
def test_empty_quote_is_no_quote(quote: str) -> None:
    assert verify_quote(quote, PAGES, 1) == QuoteCheck("no_quote", 0.0, None, "")


@pytest.mark.parametrize(
    ("quote", "page", "matched"),
    [
        ("we studied 450 PARTICIPANTS", 1, "We studied 450 participants"),
        ("image segmentation network", 2, "image segmen-\ntation network"),
        ("trained for deficiency detection", 2, "trained for de\ufb01ciency detection"),
        ('with "strong" augmentation', 2, "with \u201cstrong\u201d augmentation"),
        ("we adopt cross entropy as the loss", 3, "weadoptcrossentropyasthe loss"),
        ("none declared by the authors", 3, "none declared by th e authors"),
        ("Conflict of interest", 3, "Conﬂict of interest"),
        ("Abstract We studied", 1, "Abstract\nWe studied"),
    ],
)
def test_normalised_exact_match(quote: str, page: int, matched: str) -> None:
    check = verify_quote(quote, PAGES, page)
    assert check == QuoteCheck("verified", 1.0, page, matched)


def test_fuzzy_match_on_stated_page() -> None:
    check = verify_quote("We studied 450 participants in eight randomized trials of iron", PAGES, 1)
    assert check.status == "verified_fuzzy"
    assert 0.9 <= check.score < 1.0
    assert check.found_page == 1
    assert check.matched_text.startswith("We studied 450 participants in eight randomised")


def test_changed_number_is_not_a_fuzzy_match() -> None:
    check = verify_quote("We studied 430 participants in eight randomised trials of iron", PAGES, 1)
    assert check.status == "not_found"
    assert check.score > 0.9  # close in characters, but the number differs


def test_threshold_is_respected() -> None:
    quote = "We studied 450 participants in eight randomized trials of iron"
    assert verify_quote(quote, PAGES, 1, threshold=0.999).status == "not_found"


def test_wrong_page_exact_and_fuzzy() -> None:
    exact = verify_quote("image segmentation network", PAGES, 1)
    assert exact == QuoteCheck("wrong_page", 1.0, 2, "image segmen-\ntation network")
    fuzzy = verify_quote("We studied 450 participants in eight randomized trials", PAGES, 3)
    assert fuzzy.status == "wrong_page" and fuzzy.found_page == 1 and fuzzy.score < 1.0


def test_page_none_searches_everywhere() -> None:
    assert verify_quote("cross entropy", PAGES, None) == QuoteCheck("verified", 1.0, 3, "crossentropy")


def test_page_outside_pdf_is_wrong_page() -> None:
    check = verify_quote("image segmentation network", PAGES, 99)
    assert check.status == "wrong_page" and check.found_page == 2


def test_short_quotes_need_an_exact_match() -> None:
    assert len(normalise_for_match("451 participants")) == MIN_FUZZY_CHARS
    assert verify_quote("451 participant", PAGES, 1).status == "not_found"
    assert verify_quote("eight", PAGES, 1).status == "verified"


def test_quote_over_a_page_break() -> None:
    pages = _pages("The primary outcome was", "mortality at 30 days.")
    check = verify_quote("The primary outcome was mortality at 30 days", pages, 1)
    assert check.status == "verified" and check.found_page == 1


def test_regex_metacharacters_in_quote_are_plain_text() -> None:
    pages = _pages("The value (p < 0.05) was significant [see Table 2*].")
    assert verify_quote("(p < 0.05) was significant [see Table 2*]", pages, 1).status == "verified"
    assert verify_quote(".*", pages, 1).status == "not_found"


def test_quote_from_cleaned_text_verifies() -> None:
    pages = (PdfPage(1, "the segmentation model performed well", "the segmen-\ntation model performed well"),)
    assert verify_quote("the segmentation model", pages, 1).status == "verified"


def test_accepts_parsed_pdf() -> None:
    parsed = _fixture("bmc_systematic_review_DVT_prophylaxis_trauma.pdf")
    check = verify_quote("Deep venous thrombosis prophylaxis is essential", parsed, 1)
    assert check.status == "verified"


_ALPHABET = st.sampled_from([*"abcdefghij ABC.,;:()\n\t", "\ufb01", "\u00e9", "\u0301", "\u201c", "\u00df", "\u00a0"])


@settings(max_examples=200, deadline=None)
@given(text=st.text(_ALPHABET, min_size=1, max_size=300), data=st.data())
def test_any_slice_of_a_page_verifies_on_it(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    quote = text[start:end]
    check = verify_quote(quote, _pages(text), 1)
    if normalise_for_match(quote):
        assert check.status == "verified", (quote, text, check)
    else:
        assert check.status == "no_quote"


def _all_statuses() -> Iterator[str]:
    yield from ("verified", "verified_fuzzy", "wrong_page", "not_found", "no_quote")


def test_quote_check_verified_property() -> None:
    assert [QuoteCheck(s, 0.0, None, "").verified for s in _all_statuses()] == [True, True, False, False, False]  # type: ignore[arg-type]
