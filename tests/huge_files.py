"""Very large search exports, built on disk, and a child process that reads one.

Shared by ``tests/test_fuzz_readers.py`` (a few MB each: the reader must end in
records or a typed error naming the file) and ``bench/reader_scale.py`` (10 to
100 MB: seconds and memory per MB, held to a stated bound), so both build and
read the same files the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import REPO

MB = 1024 * 1024
KINDS = {"csv-one-huge-field": ".csv", "nbib-huge-abstracts": ".nbib", "ris-many-records": ".ris"}

READ = """
import sys
from pathlib import Path
from winnow.errors import WinnowError
from winnow.records import read_records
path = Path(sys.argv[1])
try:
    result = read_records(path)
    print("records", len(result.records), max(len(r.abstract) for r in result.records))
except WinnowError as exc:
    print("error", exc.one_line()[:300])
"""


def build_huge(path: Path, kind: str, size: int) -> None:
    """One of three shapes: a single CSV field of ``size`` bytes, 100 MEDLINE records with
    huge abstracts, or RIS records of ~1 KB until the file reaches ``size``."""
    with path.open("wb") as handle:
        if kind == "csv-one-huge-field":
            handle.write(b'record_id,title,abstract\n1,A title,"')
            handle.write(b"a" * size)
            handle.write(b'"\n')
        elif kind == "nbib-huge-abstracts":
            chunk = b"      " + b"word " * 20 + b"\n"
            lines_per_record = size // 100 // len(chunk) + 1
            for n in range(100):
                handle.write(b"PMID- %d\nTI  - Title %d\nAB  - start\n" % (n + 1, n))
                handle.write(chunk * lines_per_record)
                handle.write(b"\n")
        elif kind == "ris-many-records":
            record = b"TY  - JOUR\nTI  - Title %d\nAB  - " + b"abstract text " * 70 + b"\nER  - \n\n"
            n = 0
            while handle.tell() < size:
                handle.write(record.replace(b"%d", str(n).encode()))
                n += 1
        else:
            raise ValueError(f"unknown kind {kind!r}; one of {sorted(KINDS)}")


def huge_path(folder: Path, kind: str) -> Path:
    return folder / f"huge{KINDS[kind]}"


def read_in_child(path: Path) -> subprocess.Popen[str]:
    """Start ``read_records(path)`` in a child process (its memory is its own); stdout is the outcome."""
    return subprocess.Popen(
        [sys.executable, "-c", READ, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
