"""The one interface every model backend implements.

A backend turns chat messages plus a JSON schema into text, token usage and,
where the backend can give them honestly, label probabilities. Everything else
(retries, rate limits, caching, validation) lives above it, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ModelRequest:
    """What a backend is asked; ``labels``/``label_field`` say which probability to read."""

    messages: tuple[dict[str, str], ...]
    schema: dict[str, Any]
    schema_name: str = "answer"
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = 0
    label_field: str | None = None
    labels: tuple[str, ...] = ()


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
    extra: dict[str, Any] = field(default_factory=dict)


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
