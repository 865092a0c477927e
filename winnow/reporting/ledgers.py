"""Which ledgers a report reads: one file, or every ledger in a folder and the folders below it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from winnow.errors import InputError
from winnow.ledger.readonly import is_ledger

__all__ = ["find_ledgers", "ledgers_of", "resolve_stored_path"]

_SKIP = frozenset({"node_modules", "site-packages", "__pycache__"})


def find_ledgers(target: str | Path) -> list[Path]:
    """The ledger ``target`` names, or every winnow ledger under the folder ``target``, sorted by path.

    A folder's ledgers are the ``*.sqlite`` files that have winnow's ``runs`` table;
    hidden folders and installed packages are not searched.

    Raises:
        InputError: ``target`` does not exist, is a file that is not a ledger, or a folder with none.
    """
    path = Path(target)
    if path.is_file():
        if not is_ledger(path):
            raise InputError(path, "not a winnow ledger (no runs table)")
        return [path]
    if not path.is_dir():
        raise InputError(path, "no such file or folder")
    found = []
    for candidate in sorted(path.rglob("*.sqlite")):
        parts = candidate.relative_to(path).parts[:-1]
        if any(part.startswith(".") or part in _SKIP for part in parts):
            continue
        if is_ledger(candidate):
            found.append(candidate)
    if not found:
        raise InputError(path, "no winnow ledger (*.sqlite with a runs table) in this folder")
    return found


def ledgers_of(targets: Sequence[str | Path]) -> list[Path]:
    """Every ledger of every target (a ledger or a folder), each once, in the order given."""
    found: dict[Path, Path] = {}
    for target in targets or (".",):
        for path in find_ledgers(target):
            found.setdefault(path.resolve(), path)
    return list(found.values())


def resolve_stored_path(stored: str | None, *, ledger: Path, cwd: str | None) -> Path | None:
    """A path a run stored (relative to the folder it ran in) as it can be found now.

    Tried in order: the same file name beside the ledger (where winnow writes a table's
    ledger by default, so a review folder copied or moved whole still finds its own tables),
    then the path as stored (absolute, or relative to the folder the run was started in),
    and last relative to the current folder.
    """
    if not stored:
        return None
    given = Path(stored)
    candidates = [ledger.parent / given.name]
    if given.is_absolute():
        candidates.append(given)
    elif cwd:
        candidates.append(Path(cwd) / given)
    candidates.append(given)
    return next((c for c in candidates if c.exists()), None)
