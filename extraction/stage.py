"""What ``winnow extract`` and ``winnow screen --full-text`` share as lifecycle stages.

Both parse a folder of PDFs, chunk what fits the model's context, send one call per
chunk and write one row per PDF. What was left out or split is in the table, the
run summary and the run's parameters in the ledger. The two stages differ only in
the answer they ask for and how a PDF's chunk answers become its row.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from winnow.answers import AnswerSpec
from winnow.backends.base import Model
from winnow.engine import CallResult
from winnow.extraction.evidence_report import evidence_tally
from winnow.extraction.papers import Paper, collect_pdfs, context_budget, paper_tasks, prepare_papers
from winnow.lifecycle import Sampling, Stage, StageReport, Unit
from winnow.templates import PromptTemplate

# The embedded model reads about 250 tokens/s: every chunk of every PDF would take hours.
LOCAL_MAX_CHUNKS = 3


@dataclass(frozen=True)
class ChunkOptions:
    """``--max-chunks``, ``--chunk-tokens`` and ``--quote-threshold``.

    ``max_chunks`` None means: 3 for the embedded model, every chunk otherwise; 0 means
    every chunk. ``chunk_tokens`` None means: what the model's context leaves after the
    prompt and the reply.
    """

    max_chunks: int | None = None
    chunk_tokens: int | None = None
    quote_threshold: float = 0.9

    def chunks_for(self, model: Model) -> int | None:
        if self.max_chunks is None:
            return LOCAL_MAX_CHUNKS if model.is_embedded else None
        return self.max_chunks or None


class PaperStage(Stage):
    """A stage over a folder of PDFs: one unit per PDF, one task per chunk sent."""

    schema_name: str

    def __init__(
        self,
        input_path: Path,
        template: PromptTemplate,
        *,
        sampling: Sampling,
        chunking: ChunkOptions,
        shared: dict[str, str],
        protocol_label: str,
        protocol_sha256: str,
    ) -> None:
        self.input_path = input_path
        self.template = template
        self.sampling = sampling
        self.chunking = chunking
        self.shared = shared
        self.protocol_label = protocol_label
        self.protocol_sha256 = protocol_sha256
        self.paths = collect_pdfs(input_path)
        self.papers: list[Paper] = []
        self._by_id: dict[str, Paper] = {}

    @property
    @abstractmethod
    def spec(self) -> AnswerSpec:
        """The answer one chunk's call must give."""

    @property
    @abstractmethod
    def items(self) -> Sequence[str]:
        """The fields or criteria whose evidence the run summary tallies."""

    @abstractmethod
    def paper_row(self, paper: Paper, results: Sequence[CallResult | None]) -> dict[str, Any]: ...

    def _budget(self, model: Model) -> int:
        overhead = "".join(m["content"] for m in self.template.render(**self.shared, pages="", paper=""))
        return self.chunking.chunk_tokens or context_budget(model, overhead, self.sampling.max_tokens)

    def header(self, model: Model) -> dict[str, str]:
        max_chunks = self.chunking.chunks_for(model)
        return {
            "protocol": self.protocol_label,
            "pdfs": f"{len(self.paths)} in {self.input_path}",
            "chunks": f"up to {self._budget(model)} tokens each, "
            + (f"at most {max_chunks} per PDF" if max_chunks else "every chunk"),
        }

    def units(self, model: Model) -> list[Unit]:
        papers = prepare_papers(
            self.paths, chunk_tokens=self._budget(model), max_chunks=self.chunking.chunks_for(model)
        )
        return self.units_for(papers, model)

    def units_for(self, papers: Sequence[Paper], model: Model) -> list[Unit]:
        """Units for papers already parsed and chunked: one task per chunk, in page order."""
        self.papers = list(papers)
        self._by_id = {p.record_id: p for p in self.papers}
        spec = self.spec
        tasks = paper_tasks(
            self.papers,
            self.template,
            model,
            shared=self.shared,
            schema=spec.schema,
            schema_name=self.schema_name,
            validate=spec,
            temperature=self.sampling.temperature,
            max_tokens=self.sampling.max_tokens,
            seed=self.sampling.seed,
        )
        return [Unit(p.record_id, [tasks[(p.record_id, i)] for i in range(len(p.chunks))]) for p in self.papers]

    def row(self, unit: Unit, results: Sequence[CallResult | None]) -> dict[str, Any]:
        return self.paper_row(self._by_id[unit.record_id], results)

    def params(self) -> dict[str, Any]:
        return {
            "max_chunks": self.chunking.max_chunks,
            "chunk_tokens": self.chunking.chunk_tokens,
            "max_tokens": self.sampling.max_tokens,
            "quote_threshold": self.chunking.quote_threshold,
            "pdfs": {p.record_id: {"status": p.parsed.status, "notes": p.notes()} for p in self.papers},
        }

    def report(self, rows: Sequence[dict[str, Any]]) -> StageReport:
        return StageReport(
            skipped=[p.parsed.reason for p in self.papers if not p.parsed.usable],
            warnings=[line for p in self.papers for line in p.notes() if p.parsed.usable],
            evidence=evidence_tally(rows, self.items),
        )
