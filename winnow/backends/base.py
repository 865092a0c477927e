"""The one interface every model backend implements.

A backend turns chat messages plus a JSON schema into text, token usage and,
where the backend can give them honestly, label probabilities. Everything else
(retries, rate limits, caching, validation) lives above it, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ModelRequest:
    """What a backend is asked.

    ``label_field`` names the answer field whose value is a label, ``labels`` its choices
    (the backend reads a probability for each), and ``positive_label`` the one whose
    probability is P(include). Naming it keeps that figure independent of list order.
    """

    messages: tuple[dict[str, str], ...]
    schema: dict[str, Any]
    schema_name: str = "answer"
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = 0
    label_field: str | None = None
    labels: tuple[str, ...] = ()
    positive_label: str | None = None
    sample: int = 0  # which of a reviewer's repeated answers this is; 0 for the only one


@dataclass
class ModelResponse:
    """What came back, before validation."""

    text: str
    served_model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    label_probs: dict[str, float] | None = None
    confidence_source: str = "none"
    finish_reason: str | None = None
    structured_method: str | None = None
    latency_ms: float | None = None

    def p_label(self, label: str | None) -> float | None:
        """P(label) where the backend gave label probabilities, else None (never invented)."""
        if label is None or not self.label_probs:
            return None
        return self.label_probs.get(label)


@runtime_checkable
class Model(Protocol):
    """A configured model. Building one must not load weights or open connections."""

    model_id: str
    max_concurrency: int | None
    is_embedded: bool

    def identity(self) -> dict[str, Any]:
        """Everything beyond the request that changes answers; part of the cache key."""
        ...

    def complete(self, request: ModelRequest) -> ModelResponse:
        """One call, no retries. Raise TransientBackendError for retryable failures."""
        ...

    def runtime(self) -> dict[str, str]:
        """Run-header lines on where the model runs (the embedded model's CPU features); empty for an endpoint."""
        ...

    def close(self) -> None:
        """Release child processes or connections at the end of a run; a later call may open them again."""
        ...
