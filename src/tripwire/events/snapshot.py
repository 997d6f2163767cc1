"""Immutable snapshots of frame locals whose repr may wait for the worker (caller's thread).

``safe_reprs(..., later=True)`` asks ``snapshot_of`` for each long string and each exact
dict, list or tuple: a copy of a small container (nested ones too) of numbers and short
strings never changes and runs no application code when repr'd, so events/pending.py can
repr it on the transport's worker and get the text the caller would have got. Anything else
(objects, subclasses, big or long containers) is repr'd on the caller's thread at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tripwire.repr_size import MAX_DEPTH, MAX_FAST_ITEMS
from tripwire.secret_names import KNOWN_SAFE_NAMES

__all__ = ["PendingRepr", "TextFilter", "snapshot_of"]

_SCALARS = frozenset({int, float, bool, type(None), complex})
_TEXTS = frozenset({str})
_MIN_LATE_TEXT = 64  # shorter strings are repr'd at once: cheaper than keeping them
_SMALL = 8  # containers this small are copied item by item, larger ones checked column-wise
_MAX_LATE_DEPTH = MAX_DEPTH  # deeper nesting is repr'd at once (shown as [...] anyway)


TextFilter = Callable[[str], str]


class PendingRepr(tuple[Any, ...]):
    """A local's repr to be made later (events/pending.py): ``(value, max_length)``, where
    ``value`` is an immutable snapshot that ``safe_reprs(..., max_length)`` turns into the
    text the caller would have made. A tuple: made at C speed, thousands per capture.

    ``(value, max_length, text_filter)`` when a processor would have edited the text (the
    request integrations take a request's secrets out of frame variables): the filter is
    applied to the text once it is made.
    """

    __slots__ = ()

    @property
    def value(self) -> object:
        return self[0]

    @property
    def max_length(self) -> int:
        return int(self[1])

    @property
    def text_filter(self) -> TextFilter | None:
        return self[2] if len(self) > 2 else None

    def then(self, text_filter: TextFilter) -> PendingRepr:
        """This repr, with ``text_filter`` applied to its text after any filter it has."""
        first = self.text_filter
        if first is None:
            return PendingRepr((self[0], self[1], text_filter))
        return PendingRepr((self[0], self[1], lambda text: text_filter(first(text))))


def snapshot_of(value: Any, kind: type, max_length: int, limit: int) -> PendingRepr | None:
    """A ``PendingRepr`` of ``value`` (``kind`` is its exact type: str, dict, list or tuple),
    or None to repr it now. Strings in a snapshot total at most ``limit`` characters and
    containers at most ``MAX_FAST_ITEMS`` items, so a snapshot never holds on to much.

    May raise (a metaclass's ``__hash__`` while a column's types are collected).
    """
    if kind is str:
        if len(value) < _MIN_LATE_TEXT:
            return None
        return PendingRepr((value if len(value) < max_length else value[:max_length], max_length))
    if not value:
        return None  # an empty container's repr is as cheap as keeping it
    copied = _copy(value, kind, 0, [MAX_FAST_ITEMS, limit])
    return None if copied is None else PendingRepr((copied, max_length))


def _copy(value: Any, kind: type, depth: int, budget: list[int]) -> Any:
    """A deep copy of ``value`` (an exact dict, list or tuple) of numbers, strings and such
    containers, or None; ``budget`` holds the items and characters left, and is spent."""
    size = len(value)
    budget[0] -= size
    if budget[0] < 0 or depth >= _MAX_LATE_DEPTH:
        return None
    if size > _SMALL:  # flat only, checked column-wise at C speed
        if kind is dict:
            if set(map(type, value)) != _TEXTS:
                return None
            # Names known safe are short (secret_names): most dicts skip the sum of lengths.
            if not KNOWN_SAFE_NAMES.issuperset(value):
                budget[1] -= sum(map(len, value))
            items = value.values()
        else:
            items = value
        kinds = set(map(type, items))
        if kinds == _TEXTS:
            budget[1] -= sum(map(len, items))
        elif not kinds <= _SCALARS:
            return None
        if budget[1] < 0:
            return None
        return dict(value) if kind is dict else value if kind is tuple else list(value)
    if kind is dict:
        entries: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                return None
            budget[1] -= len(key)
            item = _copy_item(item, depth, budget)
            if item is _REFUSED:
                return None
            entries[key] = item
        return entries if budget[1] >= 0 else None
    items_copied: list[Any] = []
    for item in value:
        item = _copy_item(item, depth, budget)
        if item is _REFUSED:
            return None
        items_copied.append(item)
    if budget[1] < 0:
        return None
    return tuple(items_copied) if kind is tuple else items_copied


_REFUSED = object()


def _copy_item(item: Any, depth: int, budget: list[int]) -> Any:
    kind = type(item)
    if kind is int or kind is str or kind is float or kind is bool or item is None:
        if kind is str:
            budget[1] -= len(item)
        return item
    if kind is dict or kind is list or kind is tuple:
        if not item:
            return item if kind is tuple else kind()
        copied = _copy(item, kind, depth + 1, budget)
        return _REFUSED if copied is None else copied
    if kind is complex:
        return item
    return _REFUSED
