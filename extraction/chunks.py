"""Pack a parsed PDF into page-aligned chunks that fit a model's context.

Chunks follow page boundaries so every quote a model returns can be tied to a
page: each page's text is preceded by a ``[page N]`` marker. Whole pages are
packed greedily; a page that alone exceeds the budget is split with
langchain's ``RecursiveCharacterTextSplitter`` (paragraphs, then lines, then
words) and its parts are marked ``[page N, part i/k]``. Splitting is never
silent: such chunks have ``truncated=True`` and a ``note``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .pdf import ParsedPdf, PdfPage

__all__ = ["Chunk", "approx_tokens", "chunk_pages", "page_marker", "truncation_notes"]

TokenCounter = Callable[[str], int]


def approx_tokens(text: str) -> int:
    """About four characters per token: good enough for English prose budgets."""
    return len(text) // 4


@dataclass(frozen=True)
class Chunk:
    """Text of one or more consecutive pages, within the token budget.

    Attributes:
        pages: 1-based numbers of the pages (or the one page) whose text is here.
        text: The text, each page (part) preceded by its marker line.
        truncated: True when this chunk holds only part of a page that was too
            big for the budget on its own.
        note: Why the chunk is partial, in one line; empty otherwise.
    """

    pages: tuple[int, ...]
    text: str
    truncated: bool = False
    note: str = ""


def page_marker(number: int, part: int | None = None, parts: int | None = None) -> str:
    """The line that opens a page's text inside a chunk."""
    if part is None:
        return f"[page {number}]"
    return f"[page {number}, part {part}/{parts}]"


def _section(marker: str, text: str) -> str:
    return f"{marker}\n{text}" if text else marker


def _hard_split(text: str, budget: int, count_tokens: TokenCounter) -> list[str]:
    """Cut text with no usable separators into the longest prefixes that fit."""
    parts: list[str] = []
    while text:
        low, high = 1, len(text)
        while low < high:
            mid = (low + high + 1) // 2
            if count_tokens(text[:mid]) <= budget:
                low = mid
            else:
                high = mid - 1
        parts.append(text[:low])
        text = text[low:]
    return parts


def _split_page(page: PdfPage, max_tokens: int, count_tokens: TokenCounter) -> list[Chunk]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    # Room for the longest marker this page could get.
    marker_cost = count_tokens(page_marker(page.number, 9999, 9999) + "\n") + 1
    budget = max_tokens - marker_cost
    if budget < 1:
        raise ValueError(f"max_tokens={max_tokens} leaves no room for text after the page marker")
    splitter = RecursiveCharacterTextSplitter(chunk_size=budget, chunk_overlap=0, length_function=count_tokens)
    pieces: list[str] = []
    for piece in splitter.split_text(page.text):
        pieces.extend([piece] if count_tokens(piece) <= budget else _hard_split(piece, budget, count_tokens))
    total = count_tokens(page.text)
    chunks = []
    for i, piece in enumerate(pieces, start=1):
        note = (
            f"page {page.number} (~{total} tokens) exceeds the {max_tokens}-token budget; "
            f"split into {len(pieces)} parts, this is part {i}"
        )
        chunks.append(Chunk((page.number,), _section(page_marker(page.number, i, len(pieces)), piece), True, note))
    return chunks


def chunk_pages(
    parsed: ParsedPdf | Sequence[PdfPage],
    max_tokens: int,
    count_tokens: TokenCounter = approx_tokens,
) -> list[Chunk]:
    """Split a PDF's cleaned text into page-aligned chunks of at most ``max_tokens``.

    Args:
        parsed: The parsed PDF (or its pages).
        max_tokens: Budget per chunk, markers included, as measured by ``count_tokens``.
        count_tokens: Token counter; the default guesses four characters per
            token. Pass the model's tokenizer when the budget is tight.

    Returns:
        Chunks in page order. Every page appears in exactly one chunk, or in
        several ``truncated`` chunks when it is too big alone.

    Raises:
        ValueError: ``max_tokens`` is too small to hold even a page marker.
    """
    pages = parsed.pages if isinstance(parsed, ParsedPdf) else tuple(parsed)
    if max_tokens < 1 or count_tokens(page_marker(1)) >= max_tokens:
        raise ValueError(f"max_tokens={max_tokens} is too small to hold a page marker")
    chunks: list[Chunk] = []
    group: list[PdfPage] = []
    sections: list[str] = []
    used = 0

    def flush() -> None:
        nonlocal used
        if group:
            chunks.append(Chunk(tuple(p.number for p in group), "\n\n".join(sections)))
        group.clear()
        sections.clear()
        used = 0

    for page in pages:
        section = _section(page_marker(page.number), page.text)
        cost = count_tokens(section)
        if cost > max_tokens:
            flush()
            chunks.extend(_split_page(page, max_tokens, count_tokens))
            continue
        joiner = count_tokens("\n\n") if group else 0
        # Sum of parts is only an estimate for real tokenizers; re-count the joined text before accepting.
        if group and (
            used + joiner + cost > max_tokens or count_tokens("\n\n".join([*sections, section])) > max_tokens
        ):
            flush()
            joiner = 0
        group.append(page)
        sections.append(section)
        used += joiner + cost
    flush()
    return chunks


def truncation_notes(chunks: Sequence[Chunk]) -> tuple[str, ...]:
    """One line per page that had to be split, for logs and run reports."""
    seen: dict[int, str] = {}
    for chunk in chunks:
        if chunk.truncated and chunk.pages[0] not in seen:
            seen[chunk.pages[0]] = chunk.note.rsplit(", this is part", 1)[0]
    return tuple(seen.values())
