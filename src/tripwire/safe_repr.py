"""Bounded ``repr`` of frame locals, computed on the caller's thread at capture time.

Never builds the full repr of a large builtin container: lists, tuples, sets, dicts and deques
are walked with a character budget (their first items, then ``...``); strings and bytes are cut
before they are repr'd and huge ints are described instead of converted. A small container that
holds only builtin values is handed to the builtin ``repr`` at C speed, after a cheap check
that bounds its size. An object with its own ``__repr__`` is asked once and its answer is cut.
Never raises: a ``__repr__`` that raises, recurses without end or returns a non-string gives
``<broken repr of Type>``.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable, Collection, Iterable
from itertools import islice
from typing import Any, NamedTuple

from tripwire.events.snapshot import PendingRepr, snapshot_of
from tripwire.repr_size import (
    ATOMS,
    FAST_CONTAINERS,
    FIXED_SIZE,
    MAX_DEPTH,
    SHORT,
    column_estimate,
    estimate,
)
from tripwire.secret_names import FILTERED, is_safe_name, names_are_safe

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "MAX_DEPTH",
    "PendingRepr",
    "safe_repr",
    "safe_reprs",
    "safe_str",
    "without_surrogates",
]

DEFAULT_MAX_LENGTH = 512  # characters of one local's repr; enough to read, cheap to build
_MAX_INT_BITS = 1024  # ~300 digits; int-to-decimal is quadratic, larger ints are described
_MIN_INLINE_LENGTH = 64  # shorter budgets cut even an int's repr: left to safe_repr
_BIG_INT = 1 << 64
_FAST_FACTOR = 4  # the builtin repr is used when its estimated length is under 4x the budget
_ELLIPSIS = "..."
_CYCLIC = "<cyclic>"

CustomRepr = Callable[[object], str | None]

_MAX_CACHED_CLASSES = 1024
_class_traits: dict[type, tuple[_Shape | None, Callable[[Any], object] | None]] = {}

_PAIRS = ("[", "(")  # the shapes a (name, value) pair comes in
_CUT_FIRST = ATOMS | {bytearray}


class _Shape(NamedTuple):
    """How to walk one kind of builtin container without calling its ``__repr__``."""

    open: str
    close: str
    empty: str
    iterate: Callable[[Any], Iterable[object]]
    size: Callable[[Any], int]
    is_mapping: bool = False


def _dict_shape(name: str) -> _Shape:
    prefix, suffix = ("", "") if name == "dict" else (f"{name}(", ")")
    return _Shape(
        prefix + "{", "}" + suffix, prefix + "{}" + suffix,
        dict.keys, dict.__len__, is_mapping=True,
    )  # fmt: skip


# Keyed by the class's __repr__, so subclasses that keep the builtin repr are walked too, while
# a subclass with its own __repr__ (a namedtuple, say) is asked for it.
_SHAPES: dict[object, _Shape] = {
    list.__repr__: _Shape("[", "]", "[]", list.__iter__, list.__len__),
    tuple.__repr__: _Shape("(", ")", "()", tuple.__iter__, tuple.__len__),
    set.__repr__: _Shape("{", "}", "set()", set.__iter__, set.__len__),
    frozenset.__repr__: _Shape(
        "frozenset({", "})", "frozenset()", frozenset.__iter__, frozenset.__len__
    ),
    deque.__repr__: _Shape("deque([", "])", "deque([])", deque.__iter__, deque.__len__),
    dict.__repr__: _dict_shape("dict"),
    OrderedDict.__repr__: _dict_shape("OrderedDict"),
    defaultdict.__repr__: _dict_shape("defaultdict"),
    Counter.__repr__: _dict_shape("Counter"),
}


def safe_repr(
    value: object,
    max_length: int = DEFAULT_MAX_LENGTH,
    custom_repr: Callable[[object], str | None] | None = None,
) -> str:
    """Return a repr of ``value`` of at most ``max_length`` characters (cut ones end in ``...``).

    ``custom_repr`` is tried first for every value that is not a builtin container; its ``None``
    or exception falls back to the normal repr. Never raises, never returns lone surrogates.
    """
    cls = type(value)
    budget = max_length if max_length > 0 else 1
    try:  # everything inside: even `cls in ...` runs a metaclass's __hash__
        if custom_repr is None and max_length >= SHORT:  # the common locals, without a walk
            if cls in FIXED_SIZE:
                return repr(value)
            if cls is int and value.bit_length() <= 128:  # type: ignore[attr-defined]
                return repr(value)
            if cls is str:
                cut = repr(value) if len(value) < max_length else repr(value[:max_length])  # type: ignore[arg-type, index]
                return cut if len(cut) <= max_length else cut[: max_length - 3] + _ELLIPSIS
        text: str | None = None
        if custom_repr is None and cls not in ATOMS:
            if cls in FAST_CONTAINERS:  # _builtin_repr, inlined: the commonest container path
                try:
                    if estimate(value, cls, 0, budget * _FAST_FACTOR) >= 0:  # type: ignore[arg-type]
                        text = repr(value)
                except Exception:  # a hostile item (a str subclass's __repr__, say): walk
                    text = None
            else:
                shape, hook = _class_traits.get(cls) or _traits(cls)
                if shape is None:
                    text = _object_repr(value, hook)
        result = _repr(value, budget, 0, set(), custom_repr) if text is None else text
    except Exception:  # a hostile item, or a container another thread changed mid-walk
        result = _broken(value)
    if len(result) > budget:
        result = result[: budget - 3] + _ELLIPSIS if budget > 3 else result[:budget]
    return result


def safe_reprs(
    pairs: Iterable[tuple[str, object]],
    max_length: int = DEFAULT_MAX_LENGTH,
    custom_repr: Callable[[object], str | None] | None = None,
    later: bool = False,
) -> dict[str, Any]:
    """``{name: safe_repr(value, max_length, custom_repr)}`` for ``pairs``. Never raises.

    For frame locals, thousands per capture: ints, strs and small builtin containers, the
    common values, are repr'd here without a ``safe_repr`` call each. With ``later``, long
    strings and small containers (nested ones too) of numbers and short strings become a ``PendingRepr``
    of an immutable snapshot instead (events/pending.py makes their text on the worker).
    """
    if custom_repr is not None or max_length < _MIN_INLINE_LENGTH:
        return {name: safe_repr(value, max_length, custom_repr) for name, value in pairs}
    limit = max_length * _FAST_FACTOR
    reprs: dict[str, Any] = {}
    for name, value in pairs:
        kind = type(value)
        if later and (kind is list or kind is dict or kind is tuple or kind is str):
            try:
                pending = snapshot_of(value, kind, max_length, limit)
            except Exception:  # a metaclass's __hash__ among the items: repr it now
                pending = None
            if pending is not None:
                reprs[name] = pending
                continue
        if kind is str:
            text = repr(value) if len(value) < max_length else repr(value[:max_length])  # type: ignore[arg-type, index]
        elif kind is int:
            big = not -_BIG_INT < value < _BIG_INT  # type: ignore[operator]
            text = safe_repr(value, max_length) if big else repr(value)
        elif value is None or kind is bool or kind is float:
            text = repr(value)
        elif kind is list or kind is dict or kind is tuple:  # identity: no metaclass __hash__
            try:
                fits = estimate(value, kind, 0, limit) >= 0  # type: ignore[arg-type]
            except Exception:  # a hostile item (a str subclass's __repr__, say): walk
                fits = False
            text = repr(value) if fits else safe_repr(value, max_length)
        else:
            try:  # bytes and the like are cut before their repr: left to safe_repr
                traits = None if kind in _CUT_FIRST else _class_traits.get(kind)
            except Exception:  # a metaclass's __hash__: safe_repr names it broken
                traits = None
            if traits is None or traits[0] is not None or traits[1] is not None:
                text = safe_repr(value, max_length)
            else:  # an object with its own __repr__, asked once, as safe_repr would
                try:
                    text = repr(value)
                except Exception:
                    text = _broken(value)
                else:
                    if type(text) is not str or not text.isascii():
                        text = _object_text(value, text)
        reprs[name] = text if len(text) <= max_length else text[: max_length - 3] + _ELLIPSIS
    return reprs


def safe_str(value: object) -> str:
    """Return ``str(value)``, or its ``safe_repr`` when ``__str__`` fails. Never raises."""
    try:
        text = str(value)
    except Exception:
        return safe_repr(value)
    return without_surrogates(str.__getitem__(text, slice(None)))


def without_surrogates(text: str) -> str:
    """Escape lone surrogates (``\\udcff``) so ``text`` can travel as UTF-8 JSON."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _repr(value: object, budget: int, depth: int, seen: set[int], custom: CustomRepr | None) -> str:
    cls = type(value)
    if custom is not None:
        shape = _traits(cls)[0]
        if shape is not None:
            return _walk(value, shape, budget, depth, seen, custom)
        text = _custom_text(value, custom)
        if text is not None:
            return text
    if cls is str or cls is bytes or cls is bytearray:
        return repr(value if len(value) <= budget else value[:budget])  # type: ignore[arg-type, index]
    if cls is int:
        bits = value.bit_length()  # type: ignore[attr-defined]
        return repr(value) if bits <= _MAX_INT_BITS else f"<int of {bits} bits>"
    if cls in FIXED_SIZE:
        return repr(value)
    shape, hook = _traits(cls)
    if shape is not None:
        return _walk(value, shape, budget, depth, seen, custom)
    return _object_repr(value, hook)


def _traits(cls: type) -> tuple[_Shape | None, Callable[[Any], object] | None]:
    """How to repr instances of ``cls``: a container shape to walk, or a ``__sentry_repr__``."""
    traits = _class_traits.get(cls)
    if traits is None:
        try:
            shape = _SHAPES.get(cls.__repr__)
            hook = getattr(cls, "__sentry_repr__", None)
        except Exception:  # a metaclass that breaks attribute lookup
            shape, hook = None, None
        traits = (shape, hook if callable(hook) else None)
        if len(_class_traits) >= _MAX_CACHED_CLASSES:
            _class_traits.clear()
        _class_traits[cls] = traits
    return traits


def _custom_text(value: object, custom: CustomRepr) -> str | None:
    try:
        text = custom(value)
    except Exception:
        return None
    if not isinstance(text, str):
        return None
    return without_surrogates(str.__getitem__(text, slice(None)))


def _object_repr(value: object, hook: Callable[[Any], object] | None) -> str:
    try:
        text = repr(value) if hook is None else hook(value)
    except Exception:  # includes RecursionError from a __repr__ that calls itself
        return _broken(value)
    return _object_text(value, text)


def _object_text(value: object, text: object) -> str:
    """What ``value``'s ``__repr__`` returned, as a plain str without lone surrogates."""
    if type(text) is not str:
        if not isinstance(text, str):
            return _broken(value)
        text = str.__getitem__(text, slice(None))  # a plain str: a subclass's slicing runs code
    return text if text.isascii() else without_surrogates(text)


def _walk(
    value: object,
    shape: _Shape,
    budget: int,
    depth: int,
    seen: set[int],
    custom: CustomRepr | None,
) -> str:
    size = shape.size(value)
    if size == 0:
        return shape.empty
    if depth >= MAX_DEPTH:
        return shape.open + _ELLIPSIS + shape.close
    key = id(value)
    if key in seen:
        return _CYCLIC
    # Each item costs at least one character plus ", " (a mapping entry at least "k: v, ").
    take = budget // (6 if shape.is_mapping else 3) + 1
    items = list(islice(shape.iterate(value), take))
    more = size > len(items)
    seen.add(key)
    if shape.is_mapping:
        values: list[object] = list(islice(dict.values(value), take))  # type: ignore[arg-type]
        if not names_are_safe(items):
            values = [
                FILTERED if not is_safe_name(name) else item
                for name, item in zip(items, values, strict=False)
            ]
        body, cut = _join_entries(items, values, budget, depth, seen, custom)
    else:
        if size == 2 and len(items) == 2 and shape.open in _PAIRS and not is_safe_name(items[0]):
            items[1] = FILTERED  # a (name, value) pair such as an ASGI header
        body, cut = _join_items(items, budget, depth, seen, custom)
        if len(items) == 1 and shape.open == "(" and not cut:
            body += ","
    seen.discard(key)
    if more or cut:
        body = body + ", ..." if body else _ELLIPSIS
    return shape.open + body + shape.close


def _join_items(
    items: list[object], budget: int, depth: int, seen: set[int], custom: CustomRepr | None
) -> tuple[str, bool]:
    if custom is None:
        text = _builtin_repr(items, list, budget, depth)
        if text is not None:
            return text[1:-1], False
    parts: list[str] = []
    left = budget
    for item in items:
        if left <= 0:
            return ", ".join(parts), True
        text = _item_repr(item, left, depth + 1, seen, custom)
        parts.append(text)
        left -= len(text) + 2
    return ", ".join(parts), False


def _join_entries(
    keys: list[object],
    values: list[object],
    budget: int,
    depth: int,
    seen: set[int],
    custom: CustomRepr | None,
) -> tuple[str, bool]:
    if custom is None and _are_atoms(keys, depth, budget * _FAST_FACTOR):
        entries = dict(zip(keys, values, strict=False))  # keys are builtin atoms: hashing is safe
        text = _builtin_repr(entries, dict, budget, depth)
        if text is not None:
            return text[1:-1], False
    parts: list[str] = []
    left = budget
    for key, item in zip(keys, values, strict=False):
        if left <= 0:
            return ", ".join(parts), True
        key_text = _item_repr(key, left, depth + 1, seen, custom)
        text = key_text + ": " + _item_repr(item, left - len(key_text), depth + 1, seen, custom)
        parts.append(text)
        left -= len(text) + 2
    return ", ".join(parts), False


def _builtin_repr(container: Collection[Any], cls: type, budget: int, depth: int) -> str | None:
    """The builtin repr of ``container`` if ``estimate`` finds it safe and small, else None."""
    try:
        if estimate(container, cls, depth, budget * _FAST_FACTOR) >= 0:
            return repr(container)
    except Exception:  # a hostile item (a str subclass's __repr__, say): walk instead
        pass
    return None


def _are_atoms(column: list[object], depth: int, limit: int) -> bool:
    try:
        return column_estimate(column, depth, limit) >= 0
    except Exception:  # a hostile class's __hash__ while collecting the kinds
        return False


def _item_repr(
    item: object, budget: int, depth: int, seen: set[int], custom: CustomRepr | None
) -> str:
    try:
        return _repr(item, budget, depth, seen, custom)
    except Exception:  # one hostile item spoils only its own place
        return _broken(item)


def _broken(value: object) -> str:
    try:
        name = type(value).__qualname__
    except Exception:
        name = "object"
    if not isinstance(name, str):
        name = "object"
    return f"<broken repr of {str.__getitem__(name, slice(200))}>"
