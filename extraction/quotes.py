"""Check that a quote a model returned really is on the page it names.

Every extracted value comes with a verbatim quote and a page. The quote is
model output, so it is only ever compared as data: normalised substring search
and rapidfuzz's partial ratio, never a regex built from it.

Both sides are normalised the same way (compatibility decomposition with accents
dropped, case folding, one space for any whitespace run, line-end hyphenation
removed, curly quotes and dashes unified) while keeping a map back to the
original characters, so ``matched_text`` is the span as it appears in the PDF
text. A quote is checked against both the raw pypdf text and the cleaned text of
a page because it may have been copied from either.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from rapidfuzz import fuzz

from .pdf import ParsedPdf, PdfPage

__all__ = ["MIN_FUZZY_CHARS", "QuoteCheck", "QuoteStatus", "normalise_for_match", "verify_quote"]

QuoteStatus = Literal["verified", "verified_fuzzy", "wrong_page", "not_found", "no_quote"]

# Fuzzy matching a short quote is meaningless ("2015" is 75% like "2016"), so
# quotes shorter than this after normalisation must match exactly.
MIN_FUZZY_CHARS = 16

_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
_SINGLE_QUOTES = frozenset("\u2018\u2019\u201a\u201b\u2032\u0060\u00b4")
_DOUBLE_QUOTES = frozenset("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb")

# Tokens of the normaliser, tried in order at each position: a line-end hyphen
# between word characters (dropped), a whitespace run (one space), an ASCII
# alphanumeric run (lower-cased in bulk, the fast path), any other character.
_TOKENS = re.compile(
    r"(?P<hyphen>(?<=\w)[-\u2010\u2011\u00ad][ \t]*\r?\n\s*(?=\w))"
    r"|(?P<space>\s+)"
    r"|(?P<alnum>[A-Za-z0-9]+)"
    r"|(?P<other>.)",
    re.DOTALL,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class QuoteCheck:
    """Outcome of :func:`verify_quote`.

    Attributes:
        status: ``verified`` (exact after normalisation, on the stated page),
            ``verified_fuzzy`` (partial ratio >= threshold on the stated page),
            ``wrong_page`` (found, but on ``found_page``), ``not_found`` or
            ``no_quote`` (the quote was empty).
        score: 1.0 for an exact match, else the best partial ratio seen (0-1).
        found_page: Page the quote was found on, or None.
        matched_text: The matching span as it appears in the page text.
    """

    status: QuoteStatus
    score: float
    found_page: int | None
    matched_text: str

    @property
    def verified(self) -> bool:
        return self.status in ("verified", "verified_fuzzy")


@lru_cache(maxsize=4096)
def _fold(char: str) -> str:
    if char in _DASHES:
        return "-"
    if char in _SINGLE_QUOTES:
        return "'"
    if char in _DOUBLE_QUOTES:
        return '"'
    if char == "\u00ad" or "\ud800" <= char <= "\udfff":
        return ""
    if unicodedata.category(char) == "Cc":
        return " "
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " " if kept.isspace() else kept


def _normalise(text: str) -> tuple[str, list[int]]:
    """Normalised text plus, per output character, its index in ``text``."""
    pieces: list[str] = []
    offsets: list[int] = []
    last_space = True  # drops leading whitespace
    for match in _TOKENS.finditer(text):
        kind = match.lastgroup
        start = match.start()
        if kind == "hyphen":
            continue
        if kind == "alnum":
            pieces.append(match.group().lower())
            offsets.extend(range(start, match.end()))
            last_space = False
            continue
        folded = " " if kind == "space" else _fold(match.group())
        for char in folded:
            if char.isspace():
                if last_space:
                    continue
                char = " "
            pieces.append(char)
            offsets.append(start)
            last_space = char == " "
    if pieces and pieces[-1] == " ":
        pieces.pop()
        offsets.pop()
    return "".join(pieces), offsets


def normalise_for_match(text: str) -> str:
    """The form both quote and page are compared in (exposed for tests and debugging)."""
    return _normalise(text)[0]


@dataclass(frozen=True)
class _Variant:
    """One page text in normalised and space-free forms, each mapped back to ``original``."""

    original: str
    norm: str
    offsets: array[int]
    compact: str
    compact_offsets: array[int]

    def span(self, offsets: Sequence[int], start: int, end: int) -> str:
        if end <= start or not offsets:
            return ""
        return self.original[offsets[start] : offsets[end - 1] + 1]


def _variant(text: str) -> _Variant:
    norm, offsets = _normalise(text)
    keep = [i for i, c in enumerate(norm) if c != " "]
    compact = "".join(norm[i] for i in keep)
    return _Variant(text, norm, array("i", offsets), compact, array("i", (offsets[i] for i in keep)))


# Bounded: each cached page holds int offsets per character (about 40 KB a page).
@lru_cache(maxsize=512)
def _variants(page: PdfPage) -> tuple[_Variant, ...]:
    """Raw text first (quotes are usually copied from it), then the cleaned text if different."""
    if page.text == page.raw_text:
        return (_variant(page.raw_text),)
    return (_variant(page.raw_text), _variant(page.text))


@dataclass(frozen=True)
class _Needle:
    norm: str
    compact: str
    numbers: Counter[str]


def _exact(needle: _Needle, page: PdfPage) -> tuple[int, int, str] | None:
    """Where the quote is a substring of the page, ignoring spacing differences.

    Returns the start and end offsets in the original text (raw or cleaned,
    whichever matched) and the span itself. The space-free comparison matters
    because pypdf glues words in some PDFs ("weadoptcrossentropy") and splits
    them in others ("th e").
    """
    for variant in _variants(page):
        forms = (
            (needle.norm, variant.norm, variant.offsets),
            (needle.compact, variant.compact, variant.compact_offsets),
        )
        for wanted, text, offsets in forms:
            at = text.find(wanted)
            if at >= 0:
                end = at + len(wanted)
                return offsets[at], offsets[end - 1] + 1, variant.span(offsets, at, end)
    return None


def _exact_across_break(needle: _Needle, stated: PdfPage, following: PdfPage) -> str | None:
    """The span when the quote starts on ``stated`` and runs onto ``following``."""
    for first, second in ((stated.raw_text, following.raw_text), (stated.text, following.text)):
        joined = PdfPage(stated.number, first + "\n" + second, first + "\n" + second)
        found = _exact(needle, joined)
        if found is not None and found[0] < len(first) < found[1]:
            return found[2]
    return None


def _numbers_agree(needle: _Needle, variant: _Variant, start: int, end: int) -> bool:
    """Every number in the quote also appears around the fuzzy match.

    Why: a one-digit change ("450 participants" vs "430 participants") scores far
    above any useful threshold, yet it is exactly the error that matters in a review.
    """
    if not needle.numbers:
        return True
    around = variant.norm[max(0, start - 12) : end + 12]
    found = Counter(_NUMBER.findall(around))
    return all(found[n] >= k for n, k in needle.numbers.items())


def _fuzzy(needle: _Needle, page: PdfPage, cutoff: float) -> tuple[float, str]:
    """Best partial-ratio score (0-1) on the page and its span; ("", 0) if below ``cutoff``."""
    best_score, best_text = 0.0, ""
    for variant in _variants(page):
        if not variant.norm:
            continue
        result = fuzz.partial_ratio_alignment(needle.norm, variant.norm, score_cutoff=cutoff * 100)
        if result is None:
            continue
        if len(needle.norm) <= len(variant.norm):
            start, end = result.dest_start, result.dest_end
        else:
            start, end = result.src_start, result.src_end
        score = result.score / 100
        if score > best_score and _numbers_agree(needle, variant, start, end):
            best_score, best_text = score, variant.span(variant.offsets, start, end)
    return best_score, best_text


def _best_score(needle: _Needle, pages: Sequence[PdfPage]) -> float:
    """Best plain partial ratio anywhere, reported with ``not_found`` to show how close it came."""
    scores = (fuzz.partial_ratio(needle.norm, v.norm) / 100 for p in pages for v in _variants(p) if v.norm)
    return max(scores, default=0.0)


def verify_quote(
    quote: str,
    pages: ParsedPdf | Sequence[PdfPage],
    page: int | None,
    threshold: float = 0.9,
) -> QuoteCheck:
    """Check a quote against a PDF's text, on the page it claims.

    Order: exact (normalised) match on the stated page; exact across the stated
    page and the next one (a quote may run over a page break); fuzzy partial
    ratio >= ``threshold`` on the stated page; then the same on every other
    page, which gives ``wrong_page``. With ``page=None`` all pages are searched
    and a hit is ``verified``/``verified_fuzzy`` with its ``found_page``. Quotes
    shorter than ``MIN_FUZZY_CHARS`` normalised characters must match exactly,
    and a fuzzy match must contain every number the quote contains.

    Args:
        quote: The verbatim quote returned by the model.
        pages: The parsed PDF, or its pages.
        page: The 1-based page the model named; None if it named none. A page
            outside the PDF is treated as a wrong page.
        threshold: Minimum partial ratio (0-1) for a fuzzy match.

    Returns:
        A :class:`QuoteCheck`.
    """
    all_pages = tuple(pages.pages if isinstance(pages, ParsedPdf) else pages)
    norm = normalise_for_match(quote or "")
    if not norm:
        return QuoteCheck("no_quote", 0.0, None, "")
    needle = _Needle(norm, norm.replace(" ", ""), Counter(_NUMBER.findall(norm)))
    fuzzy_ok = len(norm) >= MIN_FUZZY_CHARS
    by_number = {p.number: p for p in all_pages}
    stated = by_number.get(page) if page is not None else None

    if stated is not None:
        found = _exact(needle, stated)
        if found is not None:
            return QuoteCheck("verified", 1.0, stated.number, found[2])
        following = by_number.get(stated.number + 1)
        spanning = _exact_across_break(needle, stated, following) if following is not None else None
        if spanning is not None:
            return QuoteCheck("verified", 1.0, stated.number, spanning)
        if fuzzy_ok:
            score, text = _fuzzy(needle, stated, threshold)
            if score >= threshold:
                return QuoteCheck("verified_fuzzy", score, stated.number, text)

    others = [p for p in all_pages if p is not stated]
    hit: QuoteStatus = "verified" if page is None else "wrong_page"
    fuzzy_hit: QuoteStatus = "verified_fuzzy" if page is None else "wrong_page"
    for other in others:
        found = _exact(needle, other)
        if found is not None:
            return QuoteCheck(hit, 1.0, other.number, found[2])
    best: tuple[float, int | None, str] = (0.0, None, "")
    if fuzzy_ok:
        for other in others:
            score, text = _fuzzy(needle, other, threshold)
            if score > best[0]:
                best = (score, other.number, text)
        if best[0] >= threshold:
            return QuoteCheck(fuzzy_hit, best[0], best[1], best[2])

    searched = (stated, *others) if stated is not None else others
    return QuoteCheck("not_found", _best_score(needle, searched) if fuzzy_ok else 0.0, None, "")
