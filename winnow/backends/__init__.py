"""Backend registry: ``provider:name`` model ids to lazily-built models.

Building a model never loads weights or opens a connection; that happens on the
first call, so ``--help``, ``--dry-run`` and tests of the plumbing stay cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from winnow.backends.base import Model, ModelRequest, ModelResponse
from winnow.errors import BackendError

__all__ = [
    "PROVIDERS",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "build_model",
    "default_model_id",
    "is_embedded_id",
]

EMBEDDED_PROVIDER = "local"


def is_embedded_id(model_id: str) -> bool:
    """Whether a model id as stored in a table or ledger names the embedded model.

    A built model says so itself (``Model.is_embedded``); this is for ids read back
    from files, where only the provider prefix is left.
    """
    return str(model_id).partition(":")[0] == EMBEDDED_PROVIDER


def _local(name: str, **options: Any) -> Model:
    from winnow.backends.local import LocalModel

    return LocalModel(name, n_ctx=int(options.get("n_ctx") or 4096))


def _openai(name: str, **options: Any) -> Model:
    from winnow.backends.openai_compat import OpenAICompatibleModel

    return OpenAICompatibleModel(
        name,
        base_url=options.get("base_url"),
        api_key=options.get("api_key"),
        timeout_s=float(options.get("timeout_s") or 120.0),
        structured=str(options.get("structured") or "auto"),
        require_key=bool(options.get("require_key", True)),
    )


PROVIDERS: dict[str, Callable[..., Model]] = {EMBEDDED_PROVIDER: _local, "openai": _openai}


def default_model_id() -> str:
    """The embedded model unless an API key or base URL says a real one is configured."""
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4o-mini"
    return "local"


def build_model(model_id: str | None, **options: Any) -> Model:
    """Build a model from ``provider:name`` (``local`` alone means the bundled GGUF)."""
    spec = model_id or default_model_id()
    provider, _, name = spec.partition(":")
    if provider not in PROVIDERS:
        known = ", ".join(f"{p}:" for p in PROVIDERS)
        raise BackendError(f"unknown model {spec!r}: the provider must be one of {known}")
    return PROVIDERS[provider](name, **options)
