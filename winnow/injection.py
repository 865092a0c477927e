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
            r"\bassistant\s*:",  # a role turn inside an abstract whose line breaks were collapsed
            r"<<<|>>>|<\|im_(start|end)\|>|\[/?INST\]",
            r"\{\s*\"(decision|criteria|rationale)\"\s*:",
            r"[\u202a-\u202e\u2066-\u2069]",
        )
    ),
    re.IGNORECASE | re.MULTILINE,
)


# Every pattern above but the role line (and a bidi control) needs one of these words;
# checking for them first is ~20x faster than the full search, which costs ~1 ms per abstract.
_KEYWORDS = (
    "ignore",
    "disregard",
    "you are",
    "act as",
    "include this ",
    "exclude this ",
    "accept this ",
    "reject this ",
    "new instruction",
    "system prompt",
    "assistant",
    "<<<",
    ">>>",
    "<|im_",
    "[inst]",
    "[/inst]",
    '"decision"',
    '"criteria"',
    '"rationale"',
)
_ROLE_LINE = re.compile(r"^\s*(system|assistant|user)\s*:", re.IGNORECASE | re.MULTILINE)


_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")

# Zero-width characters inside a word ("dis\u200bregard") would hide it from the patterns.
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

# The non-ASCII characters that IGNORECASE matches to an ASCII letter ("İgnore" matches
# "ignore"), as that letter. tests/test_injection.py derives them from the re module over
# every code point, so a Python whose re adds one fails there, not here.
_ASCII_EQUIVALENTS = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}


# Each keyword under a "gate" it contains: a rare character (one memchr pass over the
# text), "this " for the four "... this " phrases, or the keyword itself. A gate absent
# from the text rules out its whole group, so the check makes 12 passes, most of them
# cheap, instead of 19 full substring searches (a quarter of it at a million records).
def _gates(keywords: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    groups: dict[str, list[str]] = {}
    for word in keywords:
        gate = "this " if "this " in word else word if word[0].isalnum() else word[0]
        groups.setdefault(gate, []).append(word)
    return tuple((gate, tuple(w for w in words if w != gate)) for gate, words in groups.items())


_GATES = _gates(_KEYWORDS)

# Whether a non-ASCII text holds a character the translations below change: most hold
# none, and str.translate on a non-ASCII string costs ~0.15 us a character.
_ZERO_WIDTH_ANY = re.compile("[" + "".join(map(chr, _ZERO_WIDTH)) + "]")
_ASCII_EQUIVALENT_ANY = re.compile("[" + "".join(map(chr, _ASCII_EQUIVALENTS)) + "]")


# A role line names one of these ("assistant" is a keyword already); the multiline search
# for one costs ~9 us an abstract, two substring passes a quarter of that.
_ROLE_WORDS = ("system", "user")


def _has_keyword(lowered: str) -> bool:
    return any(gate in lowered and (not words or any(w in lowered for w in words)) for gate, words in _GATES)


def looks_like_instructions(text: str) -> bool:
    """Whether the text matches any of the patterns, as ``_PATTERNS.search`` decides.

    The keyword check comes first. On text with non-ASCII characters (an abstract with a
    single "µ" or "–"), the characters the patterns would match to an ASCII letter become
    that letter before ``str.lower()``, so the check misses nothing the search would find;
    it used to skip such text straight to the full search, a tenth of a million-record ingest.
    The translations run only on text that holds a character they change.
    """
    ascii_only = text.isascii()
    folded = text
    if not ascii_only:
        if _ZERO_WIDTH_ANY.search(text) is not None:
            text = text.translate(_ZERO_WIDTH)
        folded = text.translate(_ASCII_EQUIVALENTS) if _ASCII_EQUIVALENT_ANY.search(text) is not None else text
    lowered = folded.lower()
    if (
        not _has_keyword(lowered)
        and (not any(word in lowered for word in _ROLE_WORDS) or _ROLE_LINE.search(text) is None)
        and (ascii_only or _BIDI.search(text) is None)
    ):
        return False
    return _PATTERNS.search(text) is not None
