"""One typed error hierarchy for winnow.

Library code raises these with enough location detail (file, line, record, page,
field) that the CLI edge can turn any of them into a single actionable line.
Nothing below the CLI formats errors for humans beyond ``__str__``.
"""

from __future__ import annotations

from pathlib import Path


class WinnowError(Exception):
    """Base class: everything winnow raises on purpose derives from this."""

    exit_code: int = 1

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled whole, whatever its ``__init__`` takes: a record a forked reader skipped crosses back intact."""
        return (_rebuilt, (type(self), self.args, self.__dict__))

    def one_line(self) -> str:
        """The message the CLI prints: one line, location first."""
        return " ".join(str(self).split())


def _rebuilt(cls: type[WinnowError], args: tuple[object, ...], state: dict[str, object]) -> WinnowError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InputError(WinnowError):
    """A user-supplied file or option cannot be used."""

    def __init__(self, path: str | Path | None, problem: str, *, line: int | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.problem = problem
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {problem}")


class RecordParseError(InputError):
    """A search export (RIS, MEDLINE, BibTeX, CSV, XLSX) cannot be read."""


class RecordSkip(InputError):
    """One record inside an otherwise readable file is unusable; the batch goes on."""

    def __init__(
        self, path: str | Path | None, problem: str, *, line: int | None = None, record: str | None = None
    ) -> None:
        self.record = record
        if record is not None:
            problem = f"record {record}: {problem}"
        super().__init__(path, problem, line=line)


class ProtocolError(InputError):
    """The review protocol YAML is invalid; the message names the field."""


class TemplateError(InputError):
    """A prompt template is missing, malformed or declares the wrong variables."""


class GoldSetError(InputError):
    """A gold set cannot be read or does not match the decisions it is compared with."""


class PdfError(InputError):
    """A PDF cannot be turned into text; carries the page where known."""

    def __init__(
        self, path: str | Path | None, problem: str, *, page: int | None = None, status: str = "damaged"
    ) -> None:
        self.page = page
        self.status = status
        if page is not None:
            problem = f"page {page}: {problem}"
        super().__init__(path, problem)


class LedgerError(WinnowError):
    """The run ledger cannot be opened, migrated or written."""


class BackendError(WinnowError):
    """A model backend cannot be built or called (bad id, missing model file, transport failure)."""


class EmbeddingsUnavailable(BackendError):
    """The optional sentence-embedding model (the ``embeddings`` extra) is not installed."""


class Interrupted(WinnowError):
    """The user stopped a run; finished work is already in the ledger."""

    exit_code = 130


class TransientBackendError(BackendError):
    """A failure worth retrying (429, 5xx, timeout, dropped connection).

    ``retry_after`` carries the server's ``Retry-After`` in seconds when it sent one,
    so the retry policy can honour it instead of guessing.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, kind: str = "transient") -> None:
        self.retry_after = retry_after
        self.kind = kind
        super().__init__(message)


class ModelProcessDied(TransientBackendError):
    """A model's own process died in the middle of a call (a native crash, or the kernel killed it).

    Retryable: the backend starts a new process for the next attempt. ``signal`` is the
    signal that ended it, where one did.
    """

    def __init__(self, message: str, *, signal: int | None = None) -> None:
        self.signal = signal
        super().__init__(message, kind="crash")


class BackendStopped(BackendError):
    """The backend cannot go on: every further call would fail the same way.

    Unlike every other backend error, this one stops the run instead of marking the
    record ``error``; what was answered is in the ledger and the same command resumes.
    ``kind`` says what stopped it, as the ledger's ``error_kind`` (``crash``).
    """

    def __init__(self, message: str, *, kind: str = "backend") -> None:
        self.kind = kind
        super().__init__(message)
