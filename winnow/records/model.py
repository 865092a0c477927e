"""The normalised bibliographic record every reader produces.

Readers differ in field names; everything downstream (prompts, dedupe, decisions
tables, gold joins) sees only this shape, so aliases are resolved exactly once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

# ``json.dumps(..., sort_keys=True, ensure_ascii=False)`` with one encoder, not a new one per record.
_CONTENT_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Record:
    """One unique search result to screen.

    ``source`` says where it came from (``file:line`` or ``file#n``) so any error
    about it can point back to the export.
    """

    record_id: str
    title: str
    abstract: str = ""
    year: str = ""
    doi: str = ""
    pmid: str = ""
    authors: tuple[str, ...] = ()
    journal: str = ""
    keywords: tuple[str, ...] = ()
    source: str = ""
    duplicates: tuple[str, ...] = field(default=(), compare=False)

    @property
    def has_abstract(self) -> bool:
        return bool(self.abstract.strip())

    @property
    def content_sha256(self) -> str:
        """Hash of exactly the text a screening prompt sees.

        Metadata that never reaches the model (source, duplicates) is left out so a
        re-export of the same records hits the ledger cache.
        """
        payload = _CONTENT_ENCODER.encode(
            {
                "title": self.title,
                "abstract": self.abstract,
                "year": self.year,
                "journal": self.journal,
                "keywords": list(self.keywords),
            }
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class ReadResult:
    """Records read from one export, plus everything that was set aside and why.

    ``records`` is a ``RecordStore`` when read from a file: a sequence whose records
    live in a temporary file, not in memory (``winnow.records.store``).
    """

    path: str
    records: Sequence[Record]
    skipped: list[str] = field(default_factory=list)
    duplicate_groups: list[tuple[str, ...]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
