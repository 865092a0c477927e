"""Flags text that talks to the model instead of describing a study.

Fencing stops such text from changing the prompt's structure; this flag makes
sure a human looks at the record anyway, because a small or careless model may
still obey it. The patterns are deliberately broad: a false flag costs a glance.
"""

from __future__ import annotations

import re

_PATTERNS = re.compile(
    r"|".join(
        (
            r"\bignore\b.{0,40}\b(instructions?|criteria|above|previous|prompt|rules)\b",
            r"\bdisregard\b.{0,40}\b(instructions?|criteria|above|previous|prompt|rules)\b",
            r"\b(you are|act as)\b.{0,30}\b(assistant|model|ai|screener|language model)\b",
            r"\b(include|exclude|accept|reject) this (study|record|paper|article)\b",
            r"\bnew instructions?\b",
            r"\bsystem prompt\b",
            r"^\s*(system|assistant|user)\s*:",
            r"<<<|>>>|<\|im_(start|end)\|>|\[/?INST\]",
            r"\{\s*\"(decision|criteria|rationale)\"\s*:",
            r"[\u202a-\u202e\u2066-\u2069]",
        )
    ),
    re.IGNORECASE | re.MULTILINE,
)


def looks_like_instructions(text: str) -> bool:
    return _PATTERNS.search(text) is not None
