"""JSON-safe conversion of arbitrary values, with ``_meta`` notes for what was cut.

Runs on the caller's thread (for ``serializer.serialize_event``). Conversion rules are
event.md §7.1 normal mode; the limits are §7.2, with ``_meta`` shapes of §7.3.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timezone
from typing import Any

from tripwire.safe_repr import safe_repr

__all__ = [
    "CYCLIC",
    "FAILED",
    "MAX_DATABAG_BREADTH",
    "MAX_DATABAG_DEPTH",
    "MAX_DATABAG_ITEMS",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_REPR_LENGTH",
    "UNLIMITED",
    "Converter",
    "is_flat",
]

logger = logging.getLogger(__name__)

# Depth 5 as sentry: the databag root counts, so extra["a"]["b"]["c"]["d"] is the deepest kept.
MAX_DATABAG_DEPTH = 5
# Sentry keeps 10 items per container, which cuts ordinary data (a 12-field form, sys.argv of a
# worker, a page of ids). 50 keeps those whole; MAX_DATABAG_ITEMS bounds what 50 ** 5 could cost.
MAX_DATABAG_BREADTH = 50
# Items converted per databag at most: bounds the caller-thread cost of one hostile value.
MAX_DATABAG_ITEMS = 1000
# Nesting kept outside databags (contexts, user, tags...), so a self-similar value cannot
# exhaust the interpreter's recursion limit.
MAX_DEPTH = 20
# Objects are shown by a bounded repr; more than this is never useful on an issue page.
MAX_REPR_LENGTH = 1024

CYCLIC = "<cyclic>"
FAILED = "<failed to serialize, use init(debug=True) to see error logs>"

# Items converted per event field outside databags: a DAG of shared lists stays cheap.
MAX_ITEMS = 10_000

UNLIMITED = 1 << 62
# Relay reads integers as i64/u64 (a larger one silently became 0): those travel as strings.
_MIN_INT, _MAX_INT = -(1 << 63), (1 << 64) - 1
_DEPTH_REMARK: dict[str, object] = {"rem": [["!limit", "x"]]}


class Converter:
    """One event's conversion state: limits, the containers being visited, pending ``_meta``."""

    __slots__ = (
        "breadth",
        "custom_repr",
        "items_left",
        "max_length",
        "own_frames",
        "pending",
        "short",
        "visiting",
    )

    def __init__(self, max_length: int | None, custom_repr: Callable[[object], str | None] | None):
        self.max_length = max_length
        # Strings of at most this many characters cannot exceed max_length UTF-8 bytes.
        self.short = UNLIMITED if max_length is None else max_length // 4
        self.custom_repr = custom_repr
        self.breadth = UNLIMITED
        self.items_left = MAX_ITEMS
        self.pending: dict[str, Any] | None = None  # _meta of the value converted last
        self.visiting: set[int] = set()
        # True when frames built by events/frames.py (a FrameList) can be taken as they are:
        # max_value_length is unset and no code outside tripwire saw the event.
        self.own_frames = False

    # -- values ---------------------------------------------------------------------------------

    def value(self, value: object, depth: int) -> object:
        """``value`` as JSON-safe data; ``depth`` is how many container levels may follow."""
        kind = type(value)
        if kind is str:
            return value if len(value) <= self.short else self.string(value)  # type: ignore[arg-type]
        if kind is bool or value is None:
            return value
        if kind is int:
            return value if _MIN_INT <= value <= _MAX_INT else self.repr(value)  # type: ignore[operator]
        if kind is float:
            return value if math.isfinite(value) else repr(value)  # type: ignore[arg-type]
        if kind is dict:
            return self.mapping(value, depth)  # type: ignore[arg-type]
        if kind is list or kind is tuple:
            return self.sequence(value, depth)  # type: ignore[arg-type]
        return self.other(value, depth)

    def other(self, value: object, depth: int) -> object:
        if isinstance(value, str):
            return self.value(str.__str__(value), depth)
        if isinstance(value, int):
            return self.value(int.__int__(value), depth)
        if isinstance(value, float):
            return self.value(float.__float__(value), depth)
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value[: self.max_length or len(value)])
            text = self.value(raw.decode("utf-8", "replace"), depth)
            if len(value) > len(raw):
                self.pending = {"": {"len": len(value), "rem": [["!limit", "x"]]}}
            return text
        if isinstance(value, datetime):
            moment = value.astimezone(timezone.utc) if value.tzinfo else value
            return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if isinstance(value, (date, time)):
            return value.isoformat()
        if hasattr(type(value), "__sentry_repr__"):
            shown = value.__sentry_repr__()  # type: ignore[attr-defined]
            return self.value(shown if isinstance(shown, str) else self.repr(shown), depth)
        if isinstance(value, Mapping):
            return self.mapping(value, depth)
        if isinstance(value, (list, tuple, set, frozenset)) or _is_array(value):
            return self.sequence(value, depth)  # type: ignore[arg-type]
        return self.value(self.repr(value), depth)

    def repr(self, value: object) -> str:
        return safe_repr(value, MAX_REPR_LENGTH, self.custom_repr)

    def string(self, text: str) -> str:
        """``text`` cut to ``max_length`` UTF-8 bytes (characters if not encodable) + ``...``."""
        limit = self.max_length
        assert limit is not None
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            if len(text) <= limit:
                return text
            size, cut = len(text), text[: limit - 3]
        else:
            if size <= limit:
                return text
            cut = text.encode("utf-8")[: limit - 3].decode("utf-8", "ignore")
        self.pending = {"": {"len": size, "rem": [["!limit", "x", len(cut), len(cut) + 3]]}}
        return cut + "..."

    def mapping(self, value: Mapping[object, object], depth: int) -> object:
        if depth <= 0:
            return self.too_deep(value)
        if (
            type(value) is dict
            and len(value) <= self.breadth
            and is_flat(value.values(), self.short)
        ):
            try:
                "".join(value)  # every key a string, checked in C
            except TypeError:
                pass
            else:
                self.items_left -= len(value)
                return dict(value)
        marker = id(value)
        if marker in self.visiting:
            return CYCLIC
        self.visiting.add(marker)
        out: dict[str, object] = {}
        meta: dict[str, Any] | None = None
        limit = min(self.breadth, self.items_left)
        short = self.short
        count = 0
        try:
            for key, item in value.items():
                if count >= limit:
                    meta = meta or {}
                    meta[""] = {"len": _length(value)}
                    break
                count += 1
                if type(key) is not str:
                    key = self.key(key)
                if type(item) is str and len(item) <= short:  # the common leaf, inlined
                    out[key] = item
                    continue
                try:
                    out[key] = self.value(item, depth - 1)
                except Exception:
                    logger.debug("value under %r not serializable", key, exc_info=True)
                    out[key] = FAILED
                if self.pending is not None:
                    meta = meta or {}
                    meta[key], self.pending = self.pending, None
        finally:
            self.visiting.discard(marker)
            self.items_left -= count
        self.pending = meta
        return out

    def sequence(self, value: list[object] | tuple[object, ...], depth: int) -> object:
        if depth <= 0:
            return self.too_deep(value)
        if len(value) <= min(self.breadth, self.items_left) and is_flat(value, self.short):
            self.items_left -= len(value)
            return list(value)
        marker = id(value)
        if marker in self.visiting:
            return CYCLIC
        self.visiting.add(marker)
        out: list[object] = []
        meta: dict[str, Any] | None = None
        limit = min(self.breadth, self.items_left)
        short = self.short
        count = 0
        try:
            for item in value:
                if count >= limit:
                    meta = meta or {}
                    meta[""] = {"len": _length(value)}
                    break
                if type(item) is str and len(item) <= short:
                    out.append(item)
                else:
                    try:
                        out.append(self.value(item, depth - 1))
                    except Exception:
                        logger.debug("list item not serializable", exc_info=True)
                        out.append(FAILED)
                    if self.pending is not None:
                        meta = meta or {}
                        meta[str(count)], self.pending = self.pending, None
                count += 1
        finally:
            self.visiting.discard(marker)
            self.items_left -= count
        self.pending = meta
        return out

    def take(self, meta: dict[str, Any], key: str) -> None:
        """Move the notes of the value converted last into ``meta`` under ``key``."""
        if self.pending is not None:
            meta[key], self.pending = self.pending, None

    def done(self, meta: dict[str, Any]) -> None:
        """``meta`` (the notes of a container's items) becomes the pending notes."""
        self.pending = meta or None

    def key(self, key: object) -> str:
        if isinstance(key, str):
            return str.__str__(key)
        if isinstance(key, (bytes, bytearray)):
            return bytes(key).decode("utf-8", "replace")
        shown = self.value(key, 0)
        self.pending = None
        return shown if isinstance(shown, str) else str(shown)

    def too_deep(self, value: object) -> str:
        shown = self.repr(value)
        self.pending = {"": dict(_DEPTH_REMARK)}
        return shown

    def databag(self, value: object) -> object:
        """``value`` under the databag limits (event.md §7.2), its cuts noted in ``pending``."""
        items_left = self.items_left
        self.breadth, self.items_left = MAX_DATABAG_BREADTH, MAX_DATABAG_ITEMS
        try:
            return self.value(value, MAX_DATABAG_DEPTH)
        finally:
            self.breadth, self.items_left = UNLIMITED, items_left

    def identifier(self, value: object) -> object:
        """A scalar that must never be shortened: strings as they are, others converted."""
        if type(value) is str:
            return value
        short, self.short = self.short, UNLIMITED
        try:
            return self.value(value, MAX_DEPTH)
        finally:
            self.short = short


def is_flat(values: Iterable[object], short: int) -> bool:
    """True when every value is a JSON scalar that needs no change: the container is copied."""
    for item in values:
        kind = type(item)
        if kind is str:
            if len(item) > short:  # type: ignore[arg-type]
                return False
        elif kind is int:
            if not _MIN_INT <= item <= _MAX_INT:  # type: ignore[operator]
                return False
        elif kind is float:
            if item - item != 0.0:  # type: ignore[operator]  # inf or nan
                return False
        elif kind is not bool and item is not None:
            return False
    return True


def _length(value: object) -> int:
    try:
        return len(value)  # type: ignore[arg-type]
    except Exception:
        return -1


def _is_array(value: object) -> bool:
    module = type(value).__module__
    return module == "array" or module == "collections"  # array.array, deque
