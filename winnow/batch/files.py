"""OpenAI's batch JSONL, both ways: request files written in parts, results files read by custom id.

A request line is ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}``;
the custom id is the answer's cache key. A results line (OpenAI's output and error files,
and ``vllm run-batch``'s output) is ``{"id", "custom_id", "response": {"status_code",
"request_id", "body"}, "error"}``. Files are streamed: a million requests are written one
line at a time, and a million results are found through an index of byte offsets, never
held in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from winnow.errors import InputError

ENDPOINT = "/v1/chat/completions"
# The provider's limits per input file (OpenAI Batch API: 50,000 requests, 200 MB).
MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024


def request_line(custom_id: str, body: dict[str, Any]) -> bytes:
    """One request as its file line (UTF-8, newline-terminated)."""
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


@dataclass
class Part:
    """One request file that is complete on disk: its path, its requests and size."""

    path: Path
    requests: list[tuple[str, str]]  # (custom id, record id), in file order
    bytes: int


@dataclass
class RequestFiles:
    """Writes request lines into parts of at most ``max_requests`` lines and ``max_bytes`` bytes.

    ``name(n)`` gives the n-th part's path (1-based). A part is written under a temporary
    name, flushed to disk and renamed before ``on_part`` hears of it, so a part that the
    ledger records is always whole.
    """

    name: Callable[[int], Path]
    on_part: Callable[[Part], None]
    max_requests: int = MAX_REQUESTS
    max_bytes: int = MAX_BYTES
    parts: int = 0
    requests: int = 0
    _handle: BinaryIO | None = None
    _tmp: Path | None = None
    _current: list[tuple[str, str]] = field(default_factory=list)
    _bytes: int = 0

    def add(self, custom_id: str, record_id: str, line: bytes) -> None:
        if len(line) > self.max_bytes:
            raise InputError(None, f"record {record_id}: its request is {len(line):,} bytes, over a file's limit")
        if self._handle is not None and (
            len(self._current) >= self.max_requests or self._bytes + len(line) > self.max_bytes
        ):
            self._close()
        if self._handle is None:
            target = self.name(self.parts + 1)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = target.with_name(f".{target.name}.tmp")
            self._handle = self._tmp.open("wb")
        self._handle.write(line)
        self._current.append((custom_id, record_id))
        self._bytes += len(line)
        self.requests += 1

    def close(self) -> None:
        if self._handle is not None:
            self._close()

    def abandon(self) -> None:
        """Drop a part still being written (the run stopped before it was whole)."""
        if self._handle is not None:
            self._handle.close()
            assert self._tmp is not None
            self._tmp.unlink(missing_ok=True)
            self._handle = None

    def _close(self) -> None:
        assert self._handle is not None and self._tmp is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self.parts += 1
        target = self.name(self.parts)
        self._tmp.replace(target)
        part = Part(target, self._current, self._bytes)
        self._handle, self._tmp, self._current, self._bytes = None, None, [], 0
        self.on_part(part)


@dataclass(frozen=True)
class ResultLine:
    """One line of a results file, reduced to what an answer needs.

    ``body`` is the chat completion when the request succeeded (HTTP 200 with a body);
    otherwise ``error`` says why not, in one line.
    """

    custom_id: str
    body: dict[str, Any] | None
    error: str | None
    status: int | None


def parse_result(raw: bytes, where: str) -> ResultLine:
    """Read one results line (OpenAI output or error file, or vLLM's output).

    Raises:
        InputError: the line is not JSON or has no custom id.
    """
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InputError(where, f"not a JSON line ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("custom_id"), str):
        raise InputError(where, "a results line needs a custom_id")
    response = data.get("response") if isinstance(data.get("response"), dict) else None
    status = response.get("status_code") if response else None
    body = response.get("body") if response else None
    error = _error_text(data.get("error"))
    if isinstance(body, dict) and "error" in body and "choices" not in body:
        error = error or _error_text(body["error"])
        body = None
    if status is not None and status != 200:
        error = f"HTTP {status}" + (f": {error}" if error else "")
        body = None
    if body is not None and not isinstance(body, dict):
        body, error = None, error or "the response body is not a JSON object"
    if body is None and error is None:
        error = "no response in the results line"
    return ResultLine(custom_id=data["custom_id"], body=body, error=error, status=status)


def _error_text(error: Any) -> str | None:
    """OpenAI's ``{"code", "message"}``, vLLM's string or ``ErrorResponse``, as one line."""
    if error is None:
        return None
    if isinstance(error, str):
        return " ".join(error.split())[:300] or None
    if isinstance(error, dict):
        nested = error.get("error")
        inner: dict[str, Any] = nested if isinstance(nested, dict) else error
        message = inner.get("message") or ""
        code = inner.get("code") or inner.get("type") or ""
        text = f"{code}: {message}" if code and message else str(message or code or json.dumps(error))
        return " ".join(text.split())[:300]
    return " ".join(str(error).split())[:300]


@dataclass(frozen=True)
class Source:
    """A results file to ingest, and the batch (``batches.batch_id``) its answers are stored under."""

    batch_id: str
    path: Path


class ResultIndex:
    """Where each custom id's lines are, across results files, by byte offset.

    The key is the custom id's hash (64 bits; a line's own custom id is checked when it is
    read), so a million lines cost about 110 MB, not the lines themselves.
    """

    def __init__(self) -> None:
        self.sources: list[Source] = []
        self._offsets: dict[int, int | list[int]] = {}
        self._handles: dict[int, BinaryIO] = {}
        self.lines = 0

    def add(self, source: Source) -> None:
        """Index one results file; a line that is not JSON with a custom id is an error naming the line."""
        number = len(self.sources)
        self.sources.append(source)
        if number >= 1 << 20:
            raise InputError(source.path, "too many results files in one run")
        offset = 0
        try:
            with source.path.open("rb") as handle:
                for line_no, raw in enumerate(handle, start=1):
                    if raw.strip():
                        custom_id = _custom_id(raw)
                        if custom_id is None:
                            raise InputError(source.path, "not a results line: no custom_id", line=line_no)
                        self._put(hash(custom_id), (offset << 20) | number)
                        self.lines += 1
                    offset += len(raw)
        except OSError as exc:
            raise InputError(source.path, f"cannot read results file: {exc.strerror or exc}") from None

    def _put(self, key: int, where: int) -> None:
        found = self._offsets.get(key)
        if found is None:
            self._offsets[key] = where
        elif isinstance(found, list):
            found.append(where)
        else:
            self._offsets[key] = [found, where]

    def __contains__(self, custom_id: str) -> bool:
        return hash(custom_id) in self._offsets

    def lines_for(self, custom_id: str) -> Iterator[tuple[Source, ResultLine]]:
        """Every line for this custom id, in the order its files were added, each with its source."""
        found = self._offsets.get(hash(custom_id))
        if found is None:
            return
        for where in found if isinstance(found, list) else (found,):
            number, offset = where & ((1 << 20) - 1), where >> 20
            source = self.sources[number]
            handle = self._handles.get(number)
            if handle is None:
                handle = self._handles[number] = source.path.open("rb")
            handle.seek(offset)
            raw = handle.readline()
            result = parse_result(raw, f"{source.path} (byte {offset})")
            if result.custom_id == custom_id:
                yield source, result

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


_CUSTOM_ID = b'"custom_id"'


def _custom_id(raw: bytes) -> str | None:
    """The custom id of a results line without parsing all of it (lines carry whole answers)."""
    start = raw.find(_CUSTOM_ID)
    if start >= 0:
        rest = raw[start + len(_CUSTOM_ID) :].lstrip()
        if rest.startswith(b":"):
            rest = rest[1:].lstrip()
            if rest.startswith(b'"'):
                end = rest.find(b'"', 1)
                value = rest[1:end]
                if end > 0 and b"\\" not in value:
                    return value.decode("utf-8", "replace")
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    custom_id = data.get("custom_id") if isinstance(data, dict) else None
    return custom_id if isinstance(custom_id, str) else None
