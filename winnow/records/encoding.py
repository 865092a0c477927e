"""Settle an export's encoding, or say clearly why it cannot be read as text.

Search tools and spreadsheet programs write UTF-8, UTF-8 with a BOM, UTF-16 or
Windows-1252 without saying which. Guessing silently would corrupt titles, so a
non-UTF-8 fallback is reported back as a warning, and bytes that are plainly
not text are refused instead of producing garbage records.

The encoding is settled in one pass over the file in chunks, and the readers then
read it line by line: a million-record export (1.9 GB) was held as bytes, as text,
as a copy with the line ends unified and as the CSV reader's own four-byte-per-
character copy, more than 10 GB at once. The chunked pass decides exactly what
decoding the whole file at once decided (same codec, same warning, same error and
byte offset), so the records are the same; ``tests/test_records_streaming.py``
holds the two side by side.
"""

from __future__ import annotations

import codecs
import io
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from winnow.errors import RecordParseError

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ALLOWED_CONTROLS = frozenset("\t\n\r\f")
_MAX_CONTROL_SHARE = 0.05
_SAMPLE_CHARS = 65536
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class TextSource:
    """An export's text with ``\\n`` line ends, read from its file on demand (or held, when given as text).

    Attributes:
        path: Shown in messages.
        encoding: The codec the file is read with.
        warning: Set when the file was not UTF-8 and a fallback codec was used.
        text: The whole text, for callers that already hold it; None reads ``path``.
    """

    path: str
    encoding: str = "utf-8"
    warning: str = ""
    text: str | None = None

    @classmethod
    def of(cls, text: str, path: str = "<text>") -> TextSource:
        """Text already in memory, with ``\\n`` line ends (what ``read`` returns)."""
        return cls(path=path, text=text)

    @contextmanager
    def stream(self) -> Iterator[TextIO]:
        """The text as a file object: lines end in ``\\n`` whatever the file used."""
        if self.text is not None:
            yield io.StringIO(self.text)
            return
        try:
            handle = open(self.path, encoding=self.encoding, newline=None)  # noqa: SIM115 - closed below
        except OSError as exc:
            raise RecordParseError(self.path, f"cannot read file ({exc.strerror or exc})") from exc
        with handle:
            try:
                yield handle
            except UnicodeDecodeError as exc:
                # Only a file rewritten since its encoding was settled gets here.
                raise RecordParseError(
                    self.path, f"changed while it was read: byte {exc.start} is no longer valid {self.encoding}"
                ) from exc

    def lines(self) -> Iterator[str]:
        """The lines exactly as ``read().split("\\n")`` gives them, one at a time."""
        if self.text is not None:
            yield from self.text.split("\n")
            return
        with self.stream() as handle:
            ended = True
            for line in handle:
                ended = line.endswith("\n")
                yield line[:-1] if ended else line
            if ended:
                yield ""

    def read(self) -> str:
        """The whole text: for the few readers (BibTeX) and callers that need it at once."""
        if self.text is not None:
            return self.text
        with self.stream() as handle:
            return handle.read()


def as_source(text: str | TextSource, path: str) -> TextSource:
    """Readers take a decoded text (tests, small callers) or a source that reads the file."""
    return text if isinstance(text, TextSource) else TextSource.of(text, path)


@dataclass
class _Pass:
    """What one decoding pass over the bytes found."""

    bad_offset: int | None = None
    sample: str = ""
    has_text: bool = False


def open_text(path: str) -> TextSource:
    """Settle the encoding of an export without holding it in memory.

    Args:
        path: The export; shown in errors and warnings.

    Returns:
        A source that reads the text with ``\\n`` line ends (so line numbers count
        physical lines whatever the platform wrote), the codec it uses, and a warning
        when the file was not UTF-8.

    Raises:
        RecordParseError: The file cannot be read, is empty, or is binary / in no
            supported encoding.
    """
    try:
        with open(path, "rb") as handle:
            return _settle(path, handle)
    except OSError as exc:
        raise RecordParseError(path, f"cannot read file ({exc.strerror or exc})") from exc


def _settle(path: str, handle: BinaryIO) -> TextSource:
    head = handle.read(max(CHUNK_BYTES, len(codecs.BOM_UTF8)))  # the first chunk holds any byte-order mark
    if not head:
        raise RecordParseError(path, "file is empty")
    bom = next(((mark, codec) for mark, codec in _BOMS if head.startswith(mark)), None)
    if bom is not None:
        mark, codec = bom
        # Decoding "utf-8-sig" counts a bad byte's offset after the mark; "utf-16" counts the mark.
        skip = len(mark) if codec == "utf-8-sig" else 0
        found, blank = _decode_pass(handle, head, "utf-8" if skip else codec, skip)
        _refuse_blank(path, blank)
        if found.bad_offset is not None:
            raise RecordParseError(
                path, f"starts with a {codec} byte-order mark but byte {found.bad_offset} is not valid {codec}"
            )
        return _accept(path, codec, found)
    found, blank = _decode_pass(handle, head, "utf-8", 0)
    _refuse_blank(path, blank)
    if found.bad_offset is None:
        return _accept(path, "utf-8", found)
    handle.seek(0)
    if _contains_nul(handle):
        raise RecordParseError(path, "not a text file (binary content or an unsupported encoding)")
    for codec in ("cp1252", "latin-1"):
        handle.seek(0)
        fallback, _ = _decode_pass(handle, handle.read(CHUNK_BYTES), codec, 0)
        if fallback.bad_offset is None:
            warning = f"{path}: not valid UTF-8 (first bad byte at offset {found.bad_offset}); read as {codec}"
            return _accept(path, codec, fallback, warning)
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def _decode_pass(handle: BinaryIO, head: bytes, codec: str, skip: int) -> tuple[_Pass, bool]:
    """Decode the file chunk by chunk from ``skip``; returns what was found and whether every byte is blank.

    A bad byte's offset is counted from ``skip``, as decoding the bytes from there at once counts it.
    """
    decoder = codecs.getincrementaldecoder(codec)()
    found = _Pass()
    blank = True
    fed = 0
    chunk = head
    first = True
    while chunk:
        blank = blank and not chunk.strip()
        if found.bad_offset is None:
            data = chunk[skip:] if first else chunk
            buffered = len(decoder.getstate()[0])
            try:
                _take(found, decoder.decode(data))
            except UnicodeDecodeError as exc:
                found.bad_offset = fed - buffered + exc.start
            fed += len(data)
        elif not blank:
            break  # the verdict is in: the file is not valid in this codec and is not blank
        first = False
        chunk = handle.read(CHUNK_BYTES)
    if found.bad_offset is None:
        buffered = len(decoder.getstate()[0])
        try:
            _take(found, decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            found.bad_offset = fed - buffered + exc.start
    return found, blank


def _take(found: _Pass, text: str) -> None:
    if len(found.sample) < _SAMPLE_CHARS:
        found.sample += text[: _SAMPLE_CHARS - len(found.sample)]
    if not found.has_text and text.strip():
        found.has_text = True


def _contains_nul(handle: BinaryIO) -> bool:
    while chunk := handle.read(CHUNK_BYTES):
        if b"\x00" in chunk:
            return True
    return False


def _refuse_blank(path: str, blank: bool) -> None:
    if blank:
        raise RecordParseError(path, "file is empty")


def _accept(path: str, codec: str, found: _Pass, warning: str = "") -> TextSource:
    if not found.has_text:
        raise RecordParseError(path, "file is empty")
    if _looks_binary(found.sample):
        raise RecordParseError(path, "not a text file (binary content or an unsupported encoding)")
    return TextSource(path=path, encoding=codec, warning=warning)


def _looks_binary(text: str) -> bool:
    sample = text[:_SAMPLE_CHARS]
    controls = sum(1 for ch in sample if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) in ("Cc", "Cs", "Co"))
    return "\x00" in sample or controls > _MAX_CONTROL_SHARE * len(sample)
