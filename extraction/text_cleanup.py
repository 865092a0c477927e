"""Tidy pypdf page text before a model reads it.

pypdf's plain output keeps typesetting artefacts that waste tokens and split
words: ligature glyphs (``ﬁ``), words broken across lines (``segmen-\\ntation``),
running headers, footers and page numbers on every page, lone UTF-16 surrogates
from math fonts. Everything here is a pure string function so it can be tested
without a PDF; :func:`clean_pages` runs the whole pipeline over one document.

The raw pypdf text is always kept next to the cleaned text (see
``winnow.extraction.pdf.PdfPage``) because a quote may be copied from either; nothing
here has to be reversible.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Sequence
from functools import lru_cache

__all__ = [
    "clean_pages",
    "dehyphenate",
    "fix_surrogates",
    "normalise_glyphs",
    "remove_repeated_lines",
    "repeated_edge_lines",
    "tidy_whitespace",
    "word_vocabulary",
]

LIGATURES: dict[str, str] = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",
    "\ufb06": "st",
}

# NFKC tags whose replacement keeps the meaning of running text. Superscripts,
# subscripts, fractions, circled and squared forms are left alone: NFKC would turn
# "10⁻³" into "10-3" and "m²" into "m2", which changes what a number says.
_SAFE_COMPAT_TAGS = frozenset(
    {"<compat>", "<font>", "<noBreak>", "<wide>", "<narrow>", "<initial>", "<medial>", "<final>", "<isolated>"}
)

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_PAIR = re.compile(r"[\ud800-\udbff][\udc00-\udfff]")

# A word broken at a line end: "segmen-\ntation". Group 1 is the whole token
# before the hyphen (it may itself hold hyphens: "state-of-the-\nart").
_LINE_END_HYPHEN = re.compile(r"(?<![\w-])(\w[\w-]*)[-\u2010\u00ad][ \t]*\n[ \t]*(\w+)")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")

# How many non-blank lines at the top and bottom of a page count as its edges, and
# how common a line must be across pages to be taken for a running header/footer.
EDGE_LINES = 3
MIN_PAGES_FOR_EDGES = 3
MIN_SHARE_OF_PAGES = 0.4
MAX_MASKED_WORDS = 2


def fix_surrogates(text: str) -> str:
    """Join split UTF-16 surrogate pairs and drop lone halves.

    Why: pypdf emits math-italic glyphs from some fonts as lone surrogates
    (``\\ud835``), which cannot be encoded as UTF-8 and crash any writer
    (JSON, SQLite, a log file) far from the PDF code.
    """
    if not _SURROGATE.search(text):
        return text
    text = _SURROGATE_PAIR.sub(_join_pair, text)
    return _SURROGATE.sub("\ufffd", text)


def _join_pair(match: re.Match[str]) -> str:
    return match.group(0).encode("utf-16", "surrogatepass").decode("utf-16")


@lru_cache(maxsize=8192)
def _glyph(char: str) -> str:
    if char in LIGATURES:
        return LIGATURES[char]
    decomposition = unicodedata.decomposition(char)
    if not decomposition.startswith("<"):
        return char
    tag = decomposition.split(" ", 1)[0]
    if tag not in _SAFE_COMPAT_TAGS:
        return char
    return unicodedata.normalize("NFKC", char)


def _glyph_match(match: re.Match[str]) -> str:
    return _glyph(match.group(0))


def normalise_glyphs(text: str) -> str:
    """Expand ligatures and apply NFKC only where it is meaning-preserving.

    Control characters become spaces (pypdf emits TeX font codes such as U+000B
    for "ff" in old Type 3 fonts; guessing the letters is unsafe, a space at least
    keeps the words apart).

    Args:
        text: Page text as pypdf returned it.

    Returns:
        The text with ligatures, math-alphabet letters, full-width forms and
        no-break spaces replaced, in NFC.
    """
    text = fix_surrogates(text)
    text = _CONTROL.sub(" ", text)
    if _NON_ASCII.search(text):
        text = _NON_ASCII.sub(_glyph_match, text)
        text = unicodedata.normalize("NFC", text)
    return text


def word_vocabulary(pages: Sequence[str]) -> frozenset[str]:
    """Lower-cased words (hyphenated compounds kept whole) seen in a document."""
    words: set[str] = set()
    for page in pages:
        words.update(w.lower() for w in _WORD.findall(page))
    return frozenset(words)


def dehyphenate(text: str, vocabulary: Collection[str] = frozenset()) -> str:
    """Rejoin words that typesetting broke across a line end.

    ``segmen-\\ntation`` becomes ``segmentation``. The hyphen is kept (only the
    line break goes) when it is probably a real one: the word already holds a
    hyphen (``state-of-the-\\nart``), the next part starts with a capital or a
    digit (``S2ORC-\\nSciBERT``, ``COVID-\\n19``), or the document elsewhere writes
    the hyphenated form but never the joined one. Hyphens that are not at a line
    end are never touched.

    Args:
        text: Text with newlines still in place.
        vocabulary: Lower-cased words of the whole document
            (:func:`word_vocabulary`), used to tell ``non-\\nrandomised`` from
            ``treat-\\nment``.

    Returns:
        The text with each line-end hyphenation resolved.
    """

    def join(match: re.Match[str]) -> str:
        left, right = match.group(1), match.group(2)
        keep = (
            "-" in left
            or not right[0].islower()
            or not left[-1].isalpha()
            or (f"{left}-{right}".lower() in vocabulary and f"{left}{right}".lower() not in vocabulary)
        )
        return f"{left}-{right}" if keep else f"{left}{right}"

    if "\n" not in text:
        return text
    return _LINE_END_HYPHEN.sub(join, text)


def _edge_keys(line: str) -> tuple[str, ...]:
    """The line itself (case-folded, spaces squeezed) and, for short lines, a digit-blind key.

    Digits are masked only in lines of at most ``MAX_MASKED_WORDS`` words
    ("Page 9 of 11", "4971"): a body line that differs between pages only in
    a number ("Results for trial 3") must not look like a running header.
    """
    exact = _SPACES.sub(" ", line.strip().casefold())
    if not exact:
        return ()
    masked = _DIGITS.sub("#", exact)
    if masked != exact and len(_WORD.findall(masked)) <= MAX_MASKED_WORDS:
        return (exact, masked)
    return (exact,)


def _edges(lines: list[str]) -> list[int]:
    """Indexes of the first and last few non-blank lines of a page."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if len(filled) <= 2 * EDGE_LINES:
        return filled
    return filled[:EDGE_LINES] + filled[-EDGE_LINES:]


def repeated_edge_lines(pages: Sequence[str]) -> frozenset[str]:
    """Keys of lines that recur at the top or bottom of many pages.

    A key is the stripped, case-folded line; short lines also get a key with
    every digit run replaced by ``#``, so "Page 3 of 11" and "Page 4 of 11"
    (and bare page numbers) share one. A line counts when it sits among the
    first or last ``EDGE_LINES`` non-blank lines of at least
    ``MIN_SHARE_OF_PAGES`` of the pages (and at least ``MIN_PAGES_FOR_EDGES``
    pages): running heads often alternate between even and odd pages, so a
    strict majority would miss them.
    """
    if len(pages) < MIN_PAGES_FOR_EDGES:
        return frozenset()
    seen: Counter[str] = Counter()
    for page in pages:
        lines = page.split("\n")
        seen.update({key for i in _edges(lines) for key in _edge_keys(lines[i])})
    need = max(MIN_PAGES_FOR_EDGES, math.ceil(MIN_SHARE_OF_PAGES * len(pages)))
    return frozenset(key for key, count in seen.items() if count >= need)


def remove_repeated_lines(page: str, keys: Collection[str]) -> str:
    """Drop the page's edge lines whose key is in ``keys`` (see :func:`repeated_edge_lines`)."""
    if not keys:
        return page
    lines = page.split("\n")
    drop = {i for i in _edges(lines) if any(key in keys for key in _edge_keys(lines[i]))}
    if not drop:
        return page
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def tidy_whitespace(text: str) -> str:
    """Strip trailing spaces and squeeze runs of blank lines to one."""
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def clean_pages(raw_pages: Sequence[str]) -> list[str]:
    """Run the whole clean-up over one document's pages.

    Order matters: glyphs first (so ligatures do not hide repeated headers or
    split words), then running headers/footers while lines are still intact,
    then hyphenation, which joins lines.

    Args:
        raw_pages: pypdf's text for each page, in page order.

    Returns:
        Cleaned text for each page, same length and order.
    """
    pages = [normalise_glyphs(p) for p in raw_pages]
    keys = repeated_edge_lines(pages)
    pages = [remove_repeated_lines(p, keys) for p in pages]
    vocabulary = word_vocabulary(pages)
    return [tidy_whitespace(dehyphenate(p, vocabulary)) for p in pages]
