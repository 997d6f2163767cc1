"""Bounds on the length of builtin ``repr`` of containers, for ``safe_repr`` (caller's thread).

The builtin ``repr`` runs at C speed but builds its whole answer. ``estimate`` says when that is
safe: an exact builtin container, nested at most ``MAX_DEPTH`` deep, of builtin values whose
reprs run no application code, and whose repr is at most ``limit`` characters. The walk gives up
as soon as its bound passes ``limit``, so a 200 x 200 x 200 nested list costs about as much as a
short one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from tripwire.secret_names import KNOWN_SAFE_NAMES, is_safe_name, names_are_safe

__all__ = [
    "ATOMS",
    "FAST_CONTAINERS",
    "FIXED_SIZE",
    "MAX_DEPTH",
    "MAX_FAST_ITEMS",
    "SHORT",
    "column_estimate",
    "estimate",
]

MAX_DEPTH = 5  # containers nested deeper show as [...] / {...}, like the serializer's depth
MAX_FAST_ITEMS = 256  # larger containers are walked, never handed to the builtin repr
FIXED_SIZE = frozenset({float, bool, type(None), complex})  # repr at most SHORT characters
SHORT = 52
ATOMS = frozenset({int, str, bytes}) | FIXED_SIZE
FAST_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
_SMALL = 8  # containers this small are estimated item by item, larger ones column-wise


def estimate(value: Collection[Any], cls: type, depth: int, limit: int) -> int:
    """An upper bound of ``len(repr(value))`` if builtin ``repr`` is safe on it and the bound is
    at most ``limit``, else -1. ``cls`` is ``type(value)``, one of ``FAST_CONTAINERS``."""
    size = len(value)
    # Every item shows as at least one character and a ", " separator.
    if size > MAX_FAST_ITEMS or depth >= MAX_DEPTH or 3 * size > limit:
        return -1
    if size == 0:
        return 11  # "frozenset()"
    total = 12
    items: Iterable[Any] = value
    if cls is dict:
        # Known names are short str/bytes, checked once: the common dict skips its keys.
        if KNOWN_SAFE_NAMES.issuperset(value):
            total += 8 * size
        else:
            keys = column_estimate(value, depth, limit - total)
            if keys < 0 or not names_are_safe(value):
                return -1
            total += keys + 2 * size
        items = value.values()  # type: ignore[attr-defined]
    elif size == 2 and cls is not set and cls is not frozenset:
        first = value[0]  # type: ignore[index]
        if (type(first) is str or type(first) is bytes) and not is_safe_name(first):
            return -1  # a (name, value) pair naming a secret: walked, to filter the value
    if size > _SMALL:
        # column_estimate's homogeneous columns, inlined: the commonest large containers
        first = type(next(iter(items)))
        try:
            if first is int:
                bits = max(map(int.bit_length, items))
                total += size * (bits * 3 // 10 + 5) if bits <= 64 else limit
                return total if total <= limit else -1
            if first is str:
                total += sum(map(str.__len__, items)) + 4 * size
                return total if total <= limit else -1
        except TypeError:
            pass
        column = column_estimate(items, depth, limit - total - 2 * size)  # type: ignore[arg-type]
        return total + column + 2 * size if column >= 0 else -1
    for item in items:
        kind = type(item)
        if kind is str:
            total += len(item) + 4
        elif kind is int:
            bits = item.bit_length()
            if bits > 64:
                return -1
            total += bits * 3 // 10 + 5
        elif kind in FAST_CONTAINERS:
            nested = estimate(item, kind, depth + 1, limit - total - 2)
            if nested < 0:
                return -1
            total += nested + 2
        elif kind in FIXED_SIZE:
            total += SHORT + 2
        elif kind is bytes:
            total += 4 * len(item) + 5
        else:
            return -1
        if total > limit:
            return -1
    return total


def column_estimate(column: Collection[Any], depth: int, limit: int) -> int:
    """An upper bound of the summed reprs of ``column``'s items (each with 2 characters to
    spare), or -1 when one is unsafe or the bound passes ``limit``."""
    # Guess from the first item; the typed map raises TypeError on any item of another type,
    # so one C-speed pass both checks and measures a homogeneous column.
    first = type(next(iter(column)))
    total = 0
    try:
        if first is str:
            total = sum(map(str.__len__, column)) + 2 * len(column)
        elif first is int:
            bits = max(map(int.bit_length, column))
            total = len(column) * (bits * 3 // 10 + 3) if bits <= 64 else limit + 1
    except TypeError:
        total = 0
    if total:
        return total if total <= limit else -1
    kinds = set(map(type, column))
    if kinds <= FIXED_SIZE:
        total = SHORT * len(column)
        return total if total <= limit else -1
    if not kinds <= ATOMS | FAST_CONTAINERS:
        return -1
    for item in column:
        cls = type(item)
        if cls in FAST_CONTAINERS:
            size = estimate(item, cls, depth + 1, limit - total)
        elif cls is str:
            size = len(item) + 2
        elif cls is bytes:
            size = 4 * len(item) + 3
        elif cls is int:
            bits = item.bit_length()
            size = bits * 3 // 10 + 3 if bits <= 64 else -1
        else:
            size = SHORT
        if size < 0:
            return -1
        total += size
        if total > limit:
            return -1
    return total
