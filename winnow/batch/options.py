"""What the batch flags of a command ask for, as one typed value (``RunSpec.batch``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from winnow.errors import InputError

POLL_ENV = "WINNOW_BATCH_POLL_S"
FALLBACKS = ("batch", "sync")


@dataclass(frozen=True)
class BatchOptions:
    """``--batch``, ``--no-wait``, ``--batch-file``, ``--batch-results``, ``--batch-fallback``, ``--batch-cancel``.

    ``submit``: send requests to the provider's batch API. ``requests_file``: write them
    for a served cluster instead. ``results_files``: answers to ingest first. ``fallback``:
    where a request goes again after a failed batch answer (a follow-up batch, or a
    synchronous call).
    """

    submit: bool = False
    wait: bool = True
    requests_file: Path | None = None
    results_files: tuple[Path, ...] = ()
    fallback: str = "batch"
    cancel: bool = False

    @property
    def calls_model(self) -> bool:
        """Whether this run talks to the endpoint at all (a key is needed)."""
        return self.submit or self.cancel or self.fallback == "sync"

    def describe(self) -> str:
        """The run header's route line."""
        parts = []
        if self.results_files:
            parts.append("ingest " + ", ".join(p.name for p in self.results_files))
        if self.cancel:
            parts.append("cancel open batches, then ingest what they answered")
        elif self.submit:
            parts.append("provider batch API, " + ("submit and exit" if not self.wait else "submit, wait, collect"))
        if self.requests_file is not None:
            parts.append(f"write requests to {self.requests_file}")
        if self.fallback == "sync":
            parts.append("failed answers retried synchronously")
        return "batch: " + "; ".join(parts)


def poll_interval_s() -> float | None:
    """A fixed poll interval from ``WINNOW_BATCH_POLL_S`` (tests, local servers), else None: 5 s growing to 60 s."""
    raw = os.environ.get(POLL_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise InputError(None, f"{POLL_ENV}={raw!r}: give the poll interval as a positive number of seconds")
    return value
