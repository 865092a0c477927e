"""Which reader handles a file: by extension first, by content for ``.txt`` and the unknown.

Extensions are trusted because users rename files rarely and deliberately; only
``.txt`` (PubMed and many databases save MEDLINE and RIS as ``.txt``) and
unknown extensions are sniffed, and sniffing never guesses a table format.
Sniffing reads the file line by line and finds what searching the whole text with
the three patterns below would find, in the same order of preference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import partial

from winnow.errors import RecordParseError, RecordSkip
from winnow.records.assemble import RawRecord
from winnow.records.bibtex import read_bibtex
from winnow.records.encoding import TextSource
from winnow.records.medline import read_medline
from winnow.records.ris import read_ris
from winnow.records.tables import read_delimited

TextReader = Callable[[str, TextSource], Iterable[RawRecord | RecordSkip]]

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

# The patterns, as searched over a whole text in MULTILINE mode, in order of preference:
# MEDLINE ``^PMID- ?\d``, RIS ``^TY  - ``, BibTeX ``^\s*@[A-Za-z]+\s*[{(]``. Only the
# BibTeX one can span lines, where ``\s*`` crosses line ends: between the entry type and
# its brace, over blank lines ("@article" alone on a line, "{" on a later one).
_MEDLINE = re.compile(r"PMID- ?\d")
_BIBTEX = re.compile(r"\s*@[A-Za-z]+\s*[{(]")
_BIBTEX_OPEN = re.compile(r"\s*@[A-Za-z]+\s*\Z")
_BIBTEX_BRACE = re.compile(r"\s*[{(]")
_BLANK = re.compile(r"\s*\Z")


def sniff_reader(source: TextSource) -> TextReader | None:
    """The reader the content calls for (MEDLINE, then RIS, then BibTeX), or None."""
    ris = bibtex = False
    entry_open = False  # the last non-blank line was "@type" with its brace still to come
    for line in source.lines():
        if _MEDLINE.match(line):
            return read_medline
        ris = ris or line.startswith("TY  - ")
        if bibtex:
            continue
        if (entry_open and _BIBTEX_BRACE.match(line)) or _BIBTEX.match(line):
            bibtex = True
        elif _BIBTEX_OPEN.match(line):
            entry_open = True
        elif not _BLANK.match(line):
            entry_open = False
    if ris:
        return read_ris
    return read_bibtex if bibtex else None


def text_reader_for(path: str, suffix: str, source: TextSource) -> TextReader:
    """The reader for a text export.

    Raises:
        RecordParseError: Neither the extension nor the content identifies a format.
    """
    reader = TEXT_READERS.get(suffix)
    if reader is not None:
        return reader
    sniffed = sniff_reader(source)
    if sniffed is not None:
        return sniffed
    kind = f"'{suffix}' file" if suffix else "file without extension"
    raise RecordParseError(
        path, f"unrecognised {kind}: no RIS, MEDLINE or BibTeX content found (supported: {SUPPORTED})"
    )
