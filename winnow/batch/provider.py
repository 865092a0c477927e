"""The provider's Files and Batches API through the openai SDK: upload, create, find, poll, cancel, download.

Every call goes through winnow's one retry policy (429 and 5xx retried, honouring
``Retry-After``); anything else is a ``BackendError`` naming the batch and the step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from winnow.batch.files import ENDPOINT
from winnow.errors import BackendError, TransientBackendError
from winnow.retry import RetryPolicy

COMPLETION_WINDOW = "24h"
# The metadata key a batch is created with, so a create whose answer was lost (winnow was
# killed while it was in flight) is found again instead of being sent twice.
METADATA_KEY = "winnow_batch"


@dataclass(frozen=True)
class RemoteBatch:
    """What winnow keeps of the provider's batch object."""

    id: str
    status: str
    input_file_id: str | None
    output_file_id: str | None
    error_file_id: str | None
    completed: int
    failed: int
    total: int
    created_at: int
    metadata: dict[str, str]
    errors: str | None

    @classmethod
    def of(cls, batch: Any) -> RemoteBatch:
        counts = getattr(batch, "request_counts", None)
        errors = getattr(getattr(batch, "errors", None), "data", None) or []
        messages = "; ".join(str(getattr(e, "message", e)) for e in errors[:3]) or None
        return cls(
            id=str(batch.id),
            status=str(batch.status),
            input_file_id=getattr(batch, "input_file_id", None),
            output_file_id=getattr(batch, "output_file_id", None),
            error_file_id=getattr(batch, "error_file_id", None),
            completed=int(getattr(counts, "completed", 0) or 0),
            failed=int(getattr(counts, "failed", 0) or 0),
            total=int(getattr(counts, "total", 0) or 0),
            created_at=int(getattr(batch, "created_at", 0) or 0),
            metadata=dict(getattr(batch, "metadata", None) or {}),
            errors=messages,
        )


class BatchProvider:
    """One endpoint's batch API; ``client`` is the model's openai client (built lazily by the model)."""

    def __init__(self, client: Any, *, where: str, retry: RetryPolicy, secret: str | None = None) -> None:
        self._client = client
        self.where = where
        self.retry = retry
        self._secret = secret

    def upload(self, path: Path) -> str:
        """Upload a request file with purpose ``batch``; the file id."""

        def send() -> Any:
            with path.open("rb") as handle:
                return self._client.files.create(file=(path.name, handle), purpose="batch")

        return str(self._call(f"upload {path.name}", send).id)

    def create(self, input_file_id: str, batch_id: str) -> RemoteBatch:
        return RemoteBatch.of(
            self._call(
                f"create batch {batch_id}",
                lambda: self._client.batches.create(
                    input_file_id=input_file_id,
                    endpoint=ENDPOINT,
                    completion_window=COMPLETION_WINDOW,
                    metadata={METADATA_KEY: batch_id},
                ),
            )
        )

    def find(self, batch_id: str, input_file_id: str, *, since: int) -> RemoteBatch | None:
        """The provider's batch made from this input file for this winnow batch, if a create got through.

        Batches are listed newest first; the walk stops at batches older than ``since``
        (when the file was uploaded), so a long history is not read.
        """

        def search() -> RemoteBatch | None:
            for batch in self._client.batches.list(limit=100):
                remote = RemoteBatch.of(batch)
                if remote.metadata.get(METADATA_KEY) == batch_id or remote.input_file_id == input_file_id:
                    return remote
                if remote.created_at and remote.created_at < since:
                    return None
            return None

        return self._call(f"look for batch {batch_id}", search)

    def retrieve(self, provider_id: str) -> RemoteBatch:
        return RemoteBatch.of(
            self._call(f"poll batch {provider_id}", lambda: self._client.batches.retrieve(provider_id))
        )

    def cancel(self, provider_id: str) -> RemoteBatch:
        return RemoteBatch.of(
            self._call(f"cancel batch {provider_id}", lambda: self._client.batches.cancel(provider_id))
        )

    def download(self, file_id: str, path: Path) -> None:
        """Stream a file's content to ``path`` (written under a temporary name, then renamed)."""
        tmp = path.with_name(f".{path.name}.tmp")

        def fetch() -> None:
            with self._client.files.with_streaming_response.content(file_id) as response, tmp.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())

        try:
            self._call(f"download {file_id}", fetch)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(path)

    def _call(self, what: str, action: Any) -> Any:
        import openai

        for attempt in self.retry.retrying():
            with attempt:
                try:
                    return action()
                except openai.APIStatusError as exc:
                    raise self._status_error(what, exc) from None
                except openai.APITimeoutError:
                    raise TransientBackendError(f"{self.where}: {what}: timed out", kind="timeout") from None
                except openai.APIConnectionError as exc:
                    cause = f" ({type(exc.__cause__).__name__})" if exc.__cause__ is not None else ""
                    raise TransientBackendError(
                        f"{self.where}: {what}: connection failed{cause}", kind="connection"
                    ) from None
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _status_error(self, what: str, exc: Any) -> BackendError:
        from winnow.backends.openai_compat import _retry_after

        status = int(getattr(exc, "status_code", 0) or 0)
        detail = " ".join(str(getattr(exc, "message", exc)).split())[:300]
        if self._secret:
            detail = detail.replace(self._secret, "***")
        message = f"{self.where}: {what}: HTTP {status}: {detail}"
        if status in (408, 409, 429) or status >= 500:
            return TransientBackendError(message, retry_after=_retry_after(exc), kind=f"http_{status}")
        return BackendError(message)
