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

from tripwire.secret_names import FILTERED, KNOWN_SAFE_NAMES, is_safe_name, names_are_safe

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "MAX_DEPTH",
    "safe_repr",
    "safe_str",
    "without_surrogates",
]

DEFAULT_MAX_LENGTH = 512  # characters of one local's repr; enough to read, cheap to build
MAX_DEPTH = 5  # containers nested deeper show as [...] / {...}, like the serializer's depth
_MAX_INT_BITS = 1024  # ~300 digits; int-to-decimal is quadratic, larger ints are described
_MAX_FAST_ITEMS = 256  # larger containers are walked, never handed to the builtin repr
_FAST_FACTOR = 4  # the builtin repr is used when its estimated length is under 4x the budget
_ELLIPSIS = "..."
_CYCLIC = "<cyclic>"

CustomRepr = Callable[[object], str | None]

_MAX_CACHED_CLASSES = 1024
_class_traits: dict[type, tuple[_Shape | None, Callable[[Any], object] | None]] = {}

_FIXED_SIZE = frozenset({float, bool, type(None), complex})  # repr at most _SHORT characters
_SHORT = 52
_SMALL = 8  # containers this small are estimated item by item, larger ones column-wise
_ATOMS = frozenset({int, str, bytes}) | _FIXED_SIZE
_FAST_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
_PAIRS = ("[", "(")  # the shapes a (name, value) pair comes in


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
        if custom_repr is None and max_length >= _SHORT:  # the common locals, without a walk
            if cls in _FIXED_SIZE:
                return repr(value)
            if cls is int and value.bit_length() <= 128:  # type: ignore[attr-defined]
                return repr(value)
            if cls is str:
                cut = repr(value) if len(value) < max_length else repr(value[:max_length])  # type: ignore[arg-type, index]
                return cut if len(cut) <= max_length else cut[: max_length - 3] + _ELLIPSIS
        text: str | None = None
        if custom_repr is None and cls not in _ATOMS:
            if cls in _FAST_CONTAINERS:  # _builtin_repr, inlined: the commonest container path
                try:
                    if 0 <= _estimate(value, cls, 0) <= budget * _FAST_FACTOR:  # type: ignore[arg-type]
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
    if cls in _FIXED_SIZE:
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
    if type(text) is not str:
        if not isinstance(text, str):
            return _broken(value)
        text = str.__getitem__(text, slice(None))  # a plain str: a subclass's slicing runs code
    return text if text.isascii() else without_surrogates(text)


def _estimate(value: Collection[Any], cls: type, depth: int) -> int:
    """An upper bound of ``len(repr(value))`` if builtin ``repr`` is safe on it, else -1.

    Safe means: an exact builtin container, not too large, holding only builtin values
    (nested the same way) whose reprs are known to be short.
    """
    size = len(value)
    if size > _MAX_FAST_ITEMS or depth >= MAX_DEPTH:
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
            keys = _column_estimate(value, depth)
            if keys < 0 or not names_are_safe(value):
                return -1
            total += keys + 2 * size
        items = value.values()  # type: ignore[attr-defined]
    elif size == 2 and cls is not set and cls is not frozenset:
        first = value[0]  # type: ignore[index]
        if (type(first) is str or type(first) is bytes) and not is_safe_name(first):
            return -1
    if size > _SMALL:
        # A homogeneous column is checked and measured in one C-speed pass: the typed map
        # raises TypeError at the first item of another type.
        first = type(next(iter(items)))
        try:
            if first is int:
                bits = max(map(int.bit_length, items))
                return total + size * (bits * 3 // 10 + 5) if bits <= 64 else -1
            if first is str:
                return total + sum(map(str.__len__, items)) + 4 * size
        except TypeError:
            pass
        column = _column_estimate(items, depth)  # type: ignore[arg-type]
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
        elif kind in _FAST_CONTAINERS:
            nested = _estimate(item, kind, depth + 1)
            if nested < 0:
                return -1
            total += nested + 2
        elif kind in _FIXED_SIZE:
            total += _SHORT + 2
        elif kind is bytes:
            total += 4 * len(item) + 5
        else:
            return -1
    return total


def _column_estimate(column: Collection[Any], depth: int) -> int:
    # Guess from the first item; the typed map raises TypeError on any item of another type,
    # so one C-speed pass both checks and measures a homogeneous column.
    first = type(next(iter(column)))
    try:
        if first is str:
            return sum(map(str.__len__, column)) + 2 * len(column)
        if first is int:
            bits = max(map(int.bit_length, column))
            return len(column) * (bits * 3 // 10 + 3) if bits <= 64 else -1
    except TypeError:
        pass
    kinds = set(map(type, column))
    if kinds <= _FIXED_SIZE:
        return 52 * len(column)
    if not kinds <= _ATOMS | _FAST_CONTAINERS:
        return -1
    total = 0
    for item in column:
        cls = type(item)
        if cls in _FAST_CONTAINERS:
            size = _estimate(item, cls, depth + 1)
        elif cls is str:
            size = len(item) + 2
        elif cls is bytes:
            size = 4 * len(item) + 3
        elif cls is int:
            bits = item.bit_length()
            size = bits * 3 // 10 + 3 if bits <= 64 else -1
        else:
            size = 52
        if size < 0:
            return -1
        total += size
    return total


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
    if custom is None and _are_atoms(keys, depth):
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
    """The builtin repr of ``container`` if ``_estimate`` finds it safe and small, else None."""
    try:
        if 0 <= _estimate(container, cls, depth) <= budget * _FAST_FACTOR:
            return repr(container)
    except Exception:  # a hostile item (a str subclass's __repr__, say): walk instead
        pass
    return None


def _are_atoms(column: list[object], depth: int) -> bool:
    try:
        return _column_estimate(column, depth) >= 0
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
