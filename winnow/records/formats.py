"""Which reader handles a file: by extension first, by content for ``.txt`` and the unknown.

Extensions are trusted because users rename files rarely and deliberately; only
``.txt`` (PubMed and many databases save MEDLINE and RIS as ``.txt``) and
unknown extensions are sniffed, and sniffing never guesses a table format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from winnow.errors import RecordParseError, RecordSkip
from winnow.records.assemble import RawRecord
from winnow.records.bibtex import read_bibtex
from winnow.records.medline import read_medline
from winnow.records.ris import read_ris
from winnow.records.tables import read_delimited

TextReader = Callable[[str, str], list[RawRecord | RecordSkip]]

TEXT_READERS: dict[str, TextReader] = {
    ".ris": read_ris,
    ".nbib": read_medline,
    ".medline": read_medline,
    ".bib": read_bibtex,
    ".csv": read_delimited,
    ".tsv": partial(read_delimited, delimiter="\t"),
}
BINARY_EXTENSIONS = frozenset({".xlsx"})
SUPPORTED = ".ris, .nbib, .medline, .bib, .csv, .tsv, .xlsx, or .txt with RIS/MEDLINE tags"

_SNIFFERS: tuple[tuple[re.Pattern[str], TextReader], ...] = (
    (re.compile(r"^PMID- ?\d", re.MULTILINE), read_medline),
    (re.compile(r"^TY  - ", re.MULTILINE), read_ris),
    (re.compile(r"^\s*@[A-Za-z]+\s*[{(]", re.MULTILINE), read_bibtex),
)


def text_reader_for(path: str, suffix: str, text: str) -> TextReader:
    """The reader for a decoded text export.

    Raises:
        RecordParseError: Neither the extension nor the content identifies a format.
    """
    reader = TEXT_READERS.get(suffix)
    if reader is not None:
        return reader
    for pattern, sniffed in _SNIFFERS:
        if pattern.search(text):
            return sniffed
    kind = f"'{suffix}' file" if suffix else "file without extension"
    raise RecordParseError(
        path, f"unrecognised {kind}: no RIS, MEDLINE or BibTeX content found (supported: {SUPPORTED})"
    )
