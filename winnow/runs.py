"""Shared run plumbing: run ids and the summary every long job ends with."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from winnow.engine import RunStats


def new_run_id() -> str:
    """Sortable by start time, unique across processes sharing a ledger."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class RunSummary:
    run_id: str
    model: str
    served_model: str | None
    records: int
    skipped: list[str]
    duplicate_groups: list[tuple[str, ...]]
    counts: dict[str, int]
    stats: RunStats
    outputs: dict[str, str]
    interrupted: bool = False
    undecided: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Full-text runs: per extraction field or criterion, how many PDFs had each evidence status.
    evidence: dict[str, dict[str, int]] = field(default_factory=dict)
    # Why the run stopped early on its own (a backend that cannot go on), as the one line the reviewer saw.
    stopped: str | None = None
    # The batch route's account: batches sent and still open, answers and cost by route (batch, sync).
    batch: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["duplicate_groups"] = [list(g) for g in self.duplicate_groups]
        return data


SECRET_OPTIONS = ("--api-key",)


def redact_argv(argv: list[str]) -> list[str]:
    """The command line as it may be stored or shown: secret option values masked."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
        elif arg in SECRET_OPTIONS:
            out.append(arg)
            hide_next = True
        elif any(arg.startswith(f"{opt}=") for opt in SECRET_OPTIONS):
            out.append(arg.split("=", 1)[0] + "=***")
        else:
            out.append(arg)
    return out
