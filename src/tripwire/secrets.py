"""Secrets recognised by their shape inside any string (the names that mark secrets: secret_names).

Used by the scrubber (scrubbing.md §4) on all the strings of an event at once. An exact pattern
per shape costs a regex pass over every string; instead each default shape has a cheap necessary
condition, looked for in the strings joined: literals one of which every match contains (found
by a C-speed search for their rarest character), or, for card numbers, a run of 13 or more
digits, spaces and dashes. Only the strings where it holds are searched with the exact pattern.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate, count
from operator import add
from typing import NamedTuple

__all__ = ["DEFAULT_VALUE_PATTERNS", "FILTERED", "ValueShapes", "is_card_number"]


class _Trigger(NamedTuple):
    """Every match contains one of ``literals``, each holding ``anchor`` at ``offset``."""

    anchor: str  # a character rare in ordinary text, so its occurrences are few
    offset: int
    literals: tuple[str, ...]
    is_folded: bool = False  # looked for with ASCII letters lower-cased


class _Needle(NamedTuple):
    anchor: int
    offset: int
    literals: tuple[bytes, ...]
    is_folded: bool
    searched: tuple[bytes, ...]  # what to search for once the anchor proves common here


_AWS_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA",
                 "APKA")  # fmt: skip
_CARD = r"(?<![0-9.])(?P<card>(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6)(?:[ -]?[0-9]){12,18})(?![0-9.])"
# Each pattern names the part to replace as its group "secret" (else the whole match).
_DEFAULT_SHAPES: list[tuple[str, _Trigger | None]] = [
    (
        r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----(?P<secret>[\s\S]*?)"
        r"(?:-----END[A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        _Trigger("V", 3, ("PRIVATE KEY",)),
    ),
    (
        r"\b(?i:bearer)\s+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)",
        _Trigger("b", 0, ("bearer",), is_folded=True),
    ),
    (
        rf"(?:{'|'.join(_AWS_PREFIXES)})[A-Z2-7]{{16}}\b",
        _Trigger("A", 0, _AWS_PREFIXES),
    ),
    (r"\bAIza[0-9A-Za-z\-_]{35}\b", _Trigger("I", 1, ("AIza",))),  # Google API key
    (
        r"gh(?:[pousr]_[A-Za-z0-9]{36,}|ithub_pat_[A-Za-z0-9_]{22,})\b",
        _Trigger("g", 0, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    ),
    (r"\bglpat-[A-Za-z0-9\-_]{20,}\b", _Trigger("-", 5, ("glpat-",))),  # GitLab
    (  # Slack
        r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
        _Trigger("-", 4, tuple(f"xox{kind}-" for kind in "abposr")),
    ),
    (  # Stripe
        r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b",
        _Trigger("k", 0, ("k_live_", "k_test_")),
    ),
    (r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{32,}\b", _Trigger("k", 1, ("sk-",))),  # OpenAI...
    (  # JWT
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
        _Trigger("J", 2, ("eyJ",)),
    ),
    (  # URL password
        r"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:(?P<secret>[^\s/?#@]+)@",
        _Trigger("@", 0, ("@",)),
    ),
    (_CARD, None),  # in runs of digits, spaces and dashes
]
DEFAULT_VALUE_PATTERNS: list[re.Pattern[str]] = [re.compile(p) for p, _ in _DEFAULT_SHAPES]
_TRIGGERS = {
    pattern: trigger
    for pattern, (_, trigger) in zip(DEFAULT_VALUE_PATTERNS, _DEFAULT_SHAPES, strict=True)
}
_CARD_PATTERN = DEFAULT_VALUE_PATTERNS[-1]

FILTERED = "[Filtered]"
_MIN_CARD, _MAX_CARD = 10**12, 10**19
_MIN_CARD_DIGITS = 13
_MAX_CLEAN, _MAX_CLEAN_CHARS = 4096, 1 << 19
_MAX_MISSES = 48  # anchors that start no literal before the literals are searched instead
_SEPARATOR = "\x00"
# One translation of the joined text (encoded one byte per character) serves two checks:
# ASCII letters lower-cased for the bearer trigger, and every character a card number is made
# of (digits, space, dash) read as "0", so a card lies in a run of 13 or more "0".
_FOLDED = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -", b"abcdefghijklmnopqrstuvwxyz" + b"0" * 12
)
_CARD_RUN = b"0" * _MIN_CARD_DIGITS
_ZERO_RUN = re.compile(b"0+")
_CARD_SEPARATORS = re.compile(r"[ -]")


def is_card_number(digits: str) -> bool:
    """True for 13 to 19 ASCII digits that pass the Luhn check."""
    if not 13 <= len(digits) <= 19 or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


class _Shape(NamedTuple):
    pattern: re.Pattern[str]
    needle: _Needle | None  # None: every string is searched (card numbers: their runs)
    secret: str | None  # the group replaced, else the whole match
    is_card: bool


class ValueShapes:
    """Secret patterns, found in an event's strings and replaced by ``[Filtered]``.

    ``clean`` holds strings seen without a secret (source lines and most reprs repeat across
    events), so that callers need not look again; it is only added to or cleared whole.
    """

    __slots__ = ("clean", "clean_chars", "shapes")

    def __init__(self, patterns: Iterable[re.Pattern[str] | str]) -> None:
        self.clean: set[str] = set()
        self.clean_chars = 0
        self.shapes: list[_Shape] = []
        for given in patterns:
            pattern = re.compile(given) if isinstance(given, str) else given
            groups = pattern.groupindex
            secret = "secret" if "secret" in groups else "card" if "card" in groups else None
            trigger = _TRIGGERS.get(pattern)
            needle = None if trigger is None else _needle(trigger)
            self.shapes.append(_Shape(pattern, needle, secret, secret == "card"))

    def found(self, texts: list[str]) -> set[str]:
        """The strings of ``texts`` holding a secret; empty (the rule) if none does."""
        hits: set[str] = set()
        if not texts:
            return hits
        unique = list(dict.fromkeys(texts))
        joined = _SEPARATOR.join(unique)
        # One byte per character keeps offsets; a character above U+00FF becomes "?".
        encoded = joined.encode("latin-1", "replace")
        # ASCII letters lower-cased, and digits, spaces and dashes read as "0".
        folded = encoded.translate(_FOLDED)
        # Where each string starts (its length and a separator after each one before it).
        starts = list(map(add, accumulate(map(len, unique), initial=0), count()))
        joint = _Joint(joined, encoded, folded, starts)
        for shape in self.shapes:
            needle = shape.needle
            if needle is not None:
                if needle.anchor not in (folded if needle.is_folded else encoded):
                    continue  # the rule: one C-speed scan, and the shape is ruled out
                candidates = [
                    unique[index] for index in _with_literals(joint, shape.pattern, needle)
                ]
                hits.update([text for text in candidates if _matches(text, shape)])
            elif shape.pattern is _CARD_PATTERN:
                if _CARD_RUN in folded:
                    hits.update([unique[index] for index in _with_cards(joint)])
            else:  # a pattern of the user's: searched in each string alone, as it was written
                hits.update([text for text in unique if _matches(text, shape)])
        return hits

    def remember_clean(self, texts: list[str], hits: set[str]) -> None:
        """Add the strings of ``texts`` not in ``hits`` to ``clean``, within its bounds."""
        if not texts:
            return
        clean = set(texts)
        clean -= hits
        chars = sum(map(len, clean))
        if len(self.clean) + len(clean) > _MAX_CLEAN or self.clean_chars + chars > _MAX_CLEAN_CHARS:
            self.clean.clear()
            self.clean_chars = 0
        self.clean.update(clean)
        self.clean_chars += chars

    def replace(self, text: str) -> tuple[str, list[list[object]]] | None:
        """``text`` with its secrets replaced, and the remarks; None if it holds none."""
        original = text
        for shape in self.shapes:  # in order: a secret replaced can reveal the next one
            text = _replace_one(text, shape)
        if text is original:
            return None
        remarks: list[list[object]] = []
        start = text.find(FILTERED)
        while start >= 0:
            remarks.append(["!config", "s", start, start + len(FILTERED)])
            start = text.find(FILTERED, start + len(FILTERED))
        return text, remarks

    @staticmethod
    def is_card_int(value: int) -> bool:
        return _MIN_CARD <= value < _MAX_CARD and is_card_number(str(value))


def _needle(trigger: _Trigger) -> _Needle:
    literals = tuple(literal.encode() for literal in trigger.literals)
    prefix = literals[0]
    while not all(literal.startswith(prefix) for literal in literals):
        prefix = prefix[:-1]
    # Searching a short prefix once beats searching each of many literals; the pattern itself
    # beats one character or many literals.
    if len(prefix) > 1 and len(literals) > 2:
        searched: tuple[bytes, ...] = (prefix,)
    else:
        searched = literals if len(literals) <= 2 and min(map(len, literals)) > 1 else ()
    return _Needle(ord(trigger.anchor), trigger.offset, literals, trigger.is_folded, searched)


class _Joint(NamedTuple):
    """An event's strings joined by NULs: as text, as one byte per character, and folded."""

    text: str
    encoded: bytes
    folded: bytes
    starts: list[int]  # where each string starts, then one past the end

    def holding(self, offset: int) -> int:
        return bisect_right(self.starts, offset) - 1


def _with_literals(joint: _Joint, pattern: re.Pattern[str], needle: _Needle) -> set[int]:
    """The indexes of the strings holding a literal of ``needle``.

    Once a string is found, the search goes on from the next one, so a character repeated all
    over an event costs one step per string that holds it.
    """
    anchor, offset, literals, is_folded, searched = needle
    text = joint.folded if is_folded else joint.encoded
    found: set[int] = set()
    misses = 0
    at = text.find(anchor, offset)
    while at >= 0:
        start = at - offset
        if text.startswith(literals, start):
            index = joint.holding(start)
            found.add(index)
            at = text.find(anchor, joint.starts[index + 1] + offset)
        elif (misses := misses + 1) > _MAX_MISSES:  # a common anchor here: search on in C
            for part in searched:
                at = text.find(part, start)
                while at >= 0:
                    if text.startswith(literals, at):
                        index = joint.holding(at)
                        found.add(index)
                        at = text.find(part, joint.starts[index + 1])
                    else:
                        at = text.find(part, at + 1)
            if not searched:  # no literal long enough to search for: the pattern itself
                match = pattern.search(joint.text, start)
                while match is not None:
                    index = joint.holding(match.start())
                    found.add(index)
                    match = pattern.search(joint.text, joint.starts[index + 1])
            break
        else:
            at = text.find(anchor, at + 1)
    return found


def _with_cards(joint: _Joint) -> set[int]:
    """The indexes of the strings holding a card number that passes Luhn."""
    found: set[int] = set()
    folded = joint.folded
    at = folded.find(_CARD_RUN)
    while at >= 0:
        run = _ZERO_RUN.match(folded, at)
        end = run.end() if run is not None else at + _MIN_CARD_DIGITS
        # A window one character wider each side, so the look-arounds see their neighbours.
        for match in _CARD_PATTERN.finditer(joint.text, max(at - 1, 0), end + 1):
            if is_card_number(_CARD_SEPARATORS.sub("", match["card"])):
                index = joint.holding(match.start())
                found.add(index)
                end = max(end, joint.starts[index + 1])
                break
        at = folded.find(_CARD_RUN, end)
    return found


def _matches(text: str, shape: _Shape) -> bool:
    if not shape.is_card:
        return shape.pattern.search(text) is not None
    return _replace_one(text, shape) is not text


def _replace_one(text: str, shape: _Shape) -> str:
    pieces: list[str] = []
    done = 0
    for match in shape.pattern.finditer(text):
        start, end = match.span(shape.secret) if shape.secret else match.span()
        if start < 0:
            start, end = match.span()
        if shape.is_card and not is_card_number(_CARD_SEPARATORS.sub("", match[shape.secret or 0])):
            continue
        pieces.append(text[done:start])
        pieces.append(FILTERED)
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)
