"""Dataset names normalised so spellings of one dataset count once, with every merge shown.

Rule (docs/synthesis.md): case-fold; treat every run of non-alphanumerics as a
space; drop version tokens (``v2``, ``v2.0``, ``version 2``) and the generic words
``dataset``, ``database``, ``data set``, ``corpus``; then join what is left without
spaces. "MIMIC-CXR", "mimic cxr" and "MIMIC CXR v2" all become ``mimiccxr``. The name
shown is the most frequent spelling (first seen on a tie). Anything subtler
(abbreviation versus full name) is left to the reviewer: the merge table shows
exactly what was merged, so a wrong merge is visible.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["NameGroups", "dataset_key", "group_names"]

_SPLIT = re.compile(r"[^0-9a-z]+")
_VERSION = re.compile(r"\b(?:v|version\s*)\d+(?:\.\d+)*\b")
_GENERIC = frozenset({"dataset", "datasets", "database", "corpus"})


def dataset_key(name: str) -> str:
    """The key two spellings of one dataset share (the whole name folded when nothing else is left)."""
    folded = unicodedata.normalize("NFKD", name).casefold()
    stripped = _VERSION.sub(" ", folded).replace("data set", "dataset")
    tokens = [t for t in _SPLIT.split(stripped) if t and t not in _GENERIC]
    return "".join(tokens) or "".join(t for t in _SPLIT.split(folded) if t)


@dataclass
class NameGroups:
    """Spellings per key, and the name shown for each key."""

    spellings: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, name: str) -> str:
        key = dataset_key(name)
        self.spellings.setdefault(key, Counter())[name.strip()] += 1
        return key

    def shown(self, key: str) -> str:
        counts = self.spellings[key]
        best = max(counts.values())
        return next(name for name, n in counts.items() if n == best)

    def merges(self) -> dict[str, list[str]]:
        """Shown name to every spelling merged into it, only where there were several."""
        return {self.shown(k): sorted(c) for k, c in self.spellings.items() if len(c) > 1}


def group_names(names: Iterable[str]) -> NameGroups:
    groups = NameGroups()
    for name in names:
        if name.strip():
            groups.add(name)
    return groups
