"""The terminal loop a human labels records in: one panel, one answer line, the same keys everywhere.

``winnow prioritise`` and ``winnow validate`` both ask through here, so a reviewer
learns the keys once: ``i``/``e``/``s`` with an optional note after a space, ``q``
to stop.
"""

from __future__ import annotations

import getpass
import os
from typing import TYPE_CHECKING

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

if TYPE_CHECKING:
    from winnow.screening.ranking.prioritise import Answer

ANSWER_PROMPT = "(i)nclude / (e)xclude / (s)kip / (q)uit, optional note after a space > "
_KEYS: dict[str, Answer] = {
    "i": "include",
    "include": "include",
    "e": "exclude",
    "exclude": "exclude",
    "s": "skip",
    "skip": "skip",
}


def os_user() -> str:
    """Who is labelling, when ``--who`` does not say."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def record_panel(record_id: str, title: str, abstract: str, *, subtitle: str = "", extra: Text | None = None) -> Panel:
    """Title and abstract of one record, with whatever the command adds below them."""
    body = Text()
    body.append(title or "(no title)", style="bold")
    body.append("\n\n")
    body.append(abstract or "(no abstract: decide on the title)")
    if extra is not None:
        body.append("\n\n")
        body.append_text(extra)
    return Panel(body, title=f"record {record_id}", subtitle=subtitle or None)


def ask_answer(console: Console) -> tuple[Answer, str] | None:
    """One answer line: i/e/s with an optional note, q to stop; None means stop."""
    while True:
        line = console.input(ANSWER_PROMPT, markup=False).strip()
        if not line:
            continue
        head, _, note = line.partition(" ")
        if head.lower() in ("q", "quit"):
            return None
        if head.lower() in _KEYS:
            return _KEYS[head.lower()], note.strip()
        console.print(f"not an answer: {head!r}", highlight=False)
