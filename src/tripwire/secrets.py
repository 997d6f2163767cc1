"""Secrets recognised by their shape inside any string (the names that mark secrets: secret_names).

Used by the scrubber (scrubbing.md §4) on the caller's thread: every pattern is compiled once
into one alternation, so a string without a secret costs a single regex search.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["DEFAULT_VALUE_PATTERNS", "FILTERED", "ValueShapes", "is_card_number"]

# Each pattern names the part to replace as its group "secret" (else the whole match). The
# literals after each are its triggers: the pattern can only match a text containing one, and a
# literal is found at C speed in all of an event's strings joined (see ValueShapes.found);
# None: the pattern, starting with literals, is its own trigger.
_DEFAULT_SHAPES: list[tuple[str, tuple[str, ...] | None]] = [
    (
        r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----(?P<secret>[\s\S]*?)"
        r"(?:-----END[A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        ("PRIVATE KEY",),
    ),
    (r"\b(?i:bearer)\s+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)", ("earer", "EARER")),
    (r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z2-7]{16}\b", None),
    (r"\bAIza[0-9A-Za-z\-_]{35}\b", ("AIza",)),  # Google API key
    (r"gh(?:[pousr]_[A-Za-z0-9]{36,}|ithub_pat_[A-Za-z0-9_]{22,})\b", None),
    (r"\bglpat-[A-Za-z0-9\-_]{20,}\b", ("glpat-",)),  # GitLab
    (r"\bxox[abposr]-[A-Za-z0-9-]{10,}", ("xox",)),  # Slack
    (r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b", ("k_live_", "k_test_")),  # Stripe
    (r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{32,}\b", ("sk-",)),  # OpenAI, Anthropic
    (r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", ("eyJ",)),  # JWT
    (r"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:(?P<secret>[^\s/?#@]+)@", ("://",)),  # URL password
    (
        r"(?<![\d.])(?P<card>(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6)(?:[ -]?\d){12,18})(?![\d.])",
        ("0000 0000 0000", "0000-0000-0000", "0000000000000"),
    ),
]
DEFAULT_VALUE_PATTERNS: list[re.Pattern[str]] = [re.compile(p) for p, _ in _DEFAULT_SHAPES]
_TRIGGERS = {
    pattern: triggers
    for pattern, (_, triggers) in zip(DEFAULT_VALUE_PATTERNS, _DEFAULT_SHAPES, strict=True)
}

FILTERED = "[Filtered]"
_MIN_CARD, _MAX_CARD = 10**12, 10**19
_ZEROED_DIGITS = str.maketrans("123456789", "000000000")


def is_card_number(digits: str) -> bool:
    """True for 13 to 19 digits that pass the Luhn check."""
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
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
    triggers: tuple[str, ...] | None  # None: the pattern itself is searched
    secret: str | None  # the group replaced, else the whole match
    is_card: bool


class ValueShapes:
    """Secret patterns, found in an event's strings and replaced by ``[Filtered]``."""

    __slots__ = ("shapes",)

    def __init__(self, patterns: Iterable[re.Pattern[str] | str]) -> None:
        self.shapes: list[_Shape] = []
        for given in patterns:
            pattern = re.compile(given) if isinstance(given, str) else given
            groups = pattern.groupindex
            secret = "secret" if "secret" in groups else "card" if "card" in groups else None
            self.shapes.append(_Shape(pattern, _TRIGGERS.get(pattern), secret, secret == "card"))

    def found(self, texts: Iterable[str]) -> list[_Shape]:
        """The shapes that may occur in ``texts``; an empty list (the rule) means none does."""
        joined = "\x00".join(texts)
        zeroed: str | None = None
        hits = []
        for shape in self.shapes:
            triggers = shape.triggers
            if triggers is None:
                if shape.pattern.search(joined) is not None:
                    hits.append(shape)
                continue
            if shape.is_card:
                if zeroed is None:
                    zeroed = joined.translate(_ZEROED_DIGITS)
                text = zeroed
            else:
                text = joined
            for trigger in triggers:
                if trigger in text:
                    hits.append(shape)
                    break
        return hits

    @staticmethod
    def replace(text: str, shapes: list[_Shape]) -> tuple[str, list[list[object]]] | None:
        """``text`` with the secrets of ``shapes`` replaced, and the remarks; None if none."""
        original = text
        for shape in shapes:
            triggers = shape.triggers
            if triggers is not None and not shape.is_card:
                for trigger in triggers:
                    if trigger in text:
                        break
                else:
                    continue  # this string cannot hold the secret another string does
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


def _replace_one(text: str, shape: _Shape) -> str:
    pieces: list[str] = []
    done = 0
    for match in shape.pattern.finditer(text):
        start, end = match.span(shape.secret) if shape.secret else match.span()
        if start < 0:
            start, end = match.span()
        if shape.is_card and not is_card_number(re.sub(r"[ -]", "", match[shape.secret or 0])):
            continue
        pieces.append(text[done:start])
        pieces.append(FILTERED)
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)
