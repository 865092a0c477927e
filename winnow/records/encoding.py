"""Turn an export's bytes into text, or say clearly why that is impossible.

Search tools and spreadsheet programs write UTF-8, UTF-8 with a BOM, UTF-16 or
Windows-1252 without saying which. Guessing silently would corrupt titles, so a
non-UTF-8 fallback is reported back as a warning, and bytes that are plainly
not text are refused instead of producing garbage records.
"""

from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass

from winnow.errors import RecordParseError

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ALLOWED_CONTROLS = frozenset("\t\n\r\f")
_MAX_CONTROL_SHARE = 0.05


@dataclass(frozen=True)
class DecodedText:
    """Text of an export with ``\\n`` line ends, and how it was decoded."""

    text: str
    encoding: str
    warning: str = ""


def decode_text(path: str, data: bytes) -> DecodedText:
    """Decode an export, preferring UTF-8 and reporting any fallback.

    Args:
        path: Shown in errors and warnings.
        data: The whole file.

    Returns:
        The text with line ends unified to ``\\n`` (so line numbers count
        physical lines whatever the platform wrote), the codec used, and a
        warning when the file was not UTF-8.

    Raises:
        RecordParseError: The file is empty, or is binary / in no supported encoding.
    """
    if not data.strip():
        raise RecordParseError(path, "file is empty")
    text, encoding, warning = _decode(path, data)
    if not text.strip():
        raise RecordParseError(path, "file is empty")
    if _looks_binary(text):
        raise RecordParseError(path, "not a text file (binary content or an unsupported encoding)")
    return DecodedText(text.replace("\r\n", "\n").replace("\r", "\n"), encoding, warning)


def _decode(path: str, data: bytes) -> tuple[str, str, str]:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), codec, ""
            except UnicodeDecodeError as exc:
                raise RecordParseError(
                    path, f"starts with a {codec} byte-order mark but byte {exc.start} is not valid {codec}"
                ) from exc
    try:
        return data.decode("utf-8"), "utf-8", ""
    except UnicodeDecodeError as exc:
        if b"\x00" in data:
            raise RecordParseError(path, "not a text file (binary content or an unsupported encoding)") from exc
        first_bad = exc.start
    for codec in ("cp1252", "latin-1"):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        return text, codec, f"{path}: not valid UTF-8 (first bad byte at offset {first_bad}); read as {codec}"
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def _looks_binary(text: str) -> bool:
    sample = text[:65536]
    controls = sum(1 for ch in sample if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) in ("Cc", "Cs", "Co"))
    return "\x00" in sample or controls > _MAX_CONTROL_SHARE * len(sample)
