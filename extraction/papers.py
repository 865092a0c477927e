"""Full-text papers as model work: PDFs found, parsed, chunked and turned into engine tasks.

Shared by ``winnow extract`` and ``winnow screen --full-text`` so both read PDFs,
budget context, cap chunks and key the cache the same way. A bad PDF never stops
the batch: it keeps its status and reason and simply gets no tasks. What is left
out to respect ``max_chunks``, and pages split to fit the budget, are recorded as
one-line notes that go to the table, the run summary and the ledger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from winnow.backends.base import Model, ModelRequest
from winnow.engine import CallTask, cache_key
from winnow.errors import InputError
from winnow.extraction.chunks import Chunk, chunk_pages, truncation_notes
from winnow.extraction.pdf import ParsedPdf, parse_pdf
from winnow.fencing import fence
from winnow.injection import looks_like_instructions
from winnow.templates import PromptTemplate

__all__ = [
    "Paper",
    "collect_pdfs",
    "conservative_tokens",
    "context_budget",
    "page_ranges",
    "paper_tasks",
    "prepare_papers",
]

# SmolLM2's tokenizer gives 2.7-3.7 characters per token on real PDF text (measured on
# the fixture PDFs), so the four-characters guess would overflow a 4096-token context.
CHARS_PER_TOKEN = 2.7
# Reply length, prompt framing and tokenizer error come off the context before the paper.
CONTEXT_MARGIN = 200
DEFAULT_REMOTE_CHUNK_TOKENS = 12_000
MAX_LOCAL_CHUNK_TOKENS = 2_500


def conservative_tokens(text: str) -> int:
    """Token estimate that errs high for PDF text (glued words, numbers, symbols)."""
    return int(len(text) / CHARS_PER_TOKEN) + 1


@dataclass
class Paper:
    """One PDF as model work.

    Attributes:
        record_id: The PDF's file name: the id in the table, the ledger and the gold set.
        parsed: The parsed PDF (status, reason, pages).
        chunks: The chunks that will be sent, in page order.
        total_chunks: How many chunks the whole text makes.
        left_out: One line naming the pages not sent because of ``max_chunks``; empty if none.
        truncated: One line per page too big for one chunk and split.
        instruction_like: True when the text talks to the model; a human should look.
    """

    record_id: str
    parsed: ParsedPdf
    chunks: list[Chunk] = field(default_factory=list)
    total_chunks: int = 0
    left_out: str = ""
    truncated: tuple[str, ...] = ()
    instruction_like: bool = False

    @property
    def usable(self) -> bool:
        return self.parsed.usable and bool(self.chunks)

    @property
    def title(self) -> str:
        """The first line of text on page 1: a label for people, not a parsed title."""
        for page in self.parsed.pages[:1]:
            for line in page.text.splitlines():
                if line.strip():
                    return " ".join(line.split())[:200]
        return Path(self.record_id).stem

    def notes(self) -> list[str]:
        """What a reader of the results must know about this PDF, one line each."""
        lines = [] if self.parsed.ok else [self.parsed.reason]
        if self.left_out:
            lines.append(f"{self.record_id}: {self.left_out}")
        lines += [f"{self.record_id}: {note}" for note in self.truncated]
        return lines


def collect_pdfs(path: Path) -> list[Path]:
    """The PDFs to process: one file, or every ``*.pdf`` directly inside a folder, by name."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(path, "no such PDF file or folder")
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".pdf")
    if not found:
        raise InputError(path, "no .pdf files in this folder")
    return found


def page_ranges(pages: Iterable[int]) -> str:
    """``1-3, 7, 9-12`` for a set of page numbers."""
    numbers = sorted(set(pages))
    parts: list[str] = []
    start = prev = None
    for n in numbers:
        if start is None:
            start = prev = n
        elif prev is not None and n == prev + 1:
            prev = n
        else:
            parts.append(f"{start}-{prev}" if start != prev else f"{start}")
            start = prev = n
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else f"{start}")
    return ", ".join(parts)


def context_budget(model: Model, template_overhead: str, max_tokens: int) -> int:
    """Tokens of paper text per chunk: what the model's context leaves after the prompt and the reply."""
    n_ctx = getattr(model, "n_ctx", None)
    if not isinstance(n_ctx, int):
        return DEFAULT_REMOTE_CHUNK_TOKENS
    room = n_ctx - max_tokens - conservative_tokens(template_overhead) - CONTEXT_MARGIN
    if room < 200:
        raise InputError(
            None,
            f"the model's {n_ctx}-token context leaves no room for paper text with --max-tokens {max_tokens}; "
            "lower --max-tokens or use a model with a longer context",
        )
    return min(room, MAX_LOCAL_CHUNK_TOKENS)


def prepare_papers(
    paths: Sequence[Path],
    *,
    chunk_tokens: int,
    max_chunks: int | None,
    parse: Callable[[Path], ParsedPdf] = parse_pdf,
    on_parsed: Callable[[Paper], None] | None = None,
) -> list[Paper]:
    """Parse and chunk every PDF; bad ones keep their status and get no chunks."""
    papers = []
    for path in paths:
        parsed = parse(path)
        paper = Paper(record_id=path.name, parsed=parsed)
        if parsed.usable:
            chunks = [c for c in chunk_pages(parsed, chunk_tokens, conservative_tokens) if c.text.strip()]
            paper.total_chunks = len(chunks)
            kept = chunks if not max_chunks else chunks[:max_chunks]
            paper.chunks = kept
            paper.truncated = truncation_notes(kept)
            sent = {n for c in kept for n in c.pages}
            missing = [p.number for p in parsed.pages if p.number not in sent]
            if missing and len(kept) < len(chunks):
                paper.left_out = (
                    f"pages {page_ranges(missing)} of {parsed.page_count} not read "
                    f"({len(chunks) - len(kept)} of {len(chunks)} chunks left out by --max-chunks {max_chunks})"
                )
            paper.instruction_like = any(looks_like_instructions(c.text) for c in kept)
        papers.append(paper)
        if on_parsed is not None:
            on_parsed(paper)
    return papers


def chunk_sha256(paper: Paper, chunk: Chunk) -> str:
    """What the cache keys a chunk by: the PDF bytes, its pages and the exact text sent."""
    text = hashlib.sha256(chunk.text.encode("utf-8")).hexdigest()
    pages = ",".join(str(n) for n in chunk.pages)
    return hashlib.sha256(f"{paper.parsed.sha256}:{pages}:{text}".encode()).hexdigest()


def paper_tasks(
    papers: Sequence[Paper],
    template: PromptTemplate,
    model: Model,
    *,
    shared: dict[str, str],
    schema: dict[str, object],
    schema_name: str,
    validate: Callable[[str], dict[str, object]],
    temperature: float,
    max_tokens: int,
    seed: int | None,
) -> dict[tuple[str, int], CallTask]:
    """One task per (PDF, chunk), keyed by (record_id, chunk index)."""
    tasks: dict[tuple[str, int], CallTask] = {}
    for paper in papers:
        for index, chunk in enumerate(paper.chunks):
            request = ModelRequest(
                messages=template.render(**shared, pages=page_ranges(chunk.pages), paper=fence("PAPER", chunk.text)),
                schema=schema,
                schema_name=schema_name,
                temperature=temperature,
                max_tokens=max_tokens,
                seed=seed,
            )
            sha = chunk_sha256(paper, chunk)
            key = cache_key(record_sha256=sha, template_sha256=template.sha256, model=model, request=request)
            tasks[(paper.record_id, index)] = CallTask(
                record_id=paper.record_id, record_sha256=sha, request=request, validate=validate, cache_key=key
            )
    return tasks
