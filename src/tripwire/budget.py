"""Encoding an event to JSON bytes within the event byte budget (``max_event_bytes``).

Runs on the transport's worker thread, never on the caller's. An event that fits is encoded
once. One that does not is trimmed step by step, least useful data first, until it fits:
the ``vars`` of frames outside the app, the oldest breadcrumbs, all ``vars``, the middle
frames of the longest stack traces, long strings in ``extra`` and ``request``, then long
strings anywhere, then whole optional sections; each removal is noted in ``_meta``. The last
resort is a skeleton that keeps the event's id, time, level and what was raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from tripwire.meta import add_note, node_at
from tripwire.options import DEFAULT_MAX_EVENT_BYTES, MIN_EVENT_BYTES, Options
from tripwire.serializer import serialize_event

__all__ = ["KEPT_FRAMES", "MIN_EVENT_BYTES", "encode_event"]

logger = logging.getLogger(__name__)

# The skeleton event (ids, time, level, the exception's type and value) fits in this; a smaller
# budget is raised to it.
# Frames kept at each end of a stack trace whose middle is dropped: the entry point and the
# frames closest to the error tell the most.
KEPT_FRAMES = 10
_NOTE_BYTES = 96  # what one _meta note costs, roughly: trims aim this much lower per note
_SKELETON_TEXT = 200
_MAX_ROUNDS = 64  # per step; each round frees the excess if it can, so two or three suffice
_SHORT_STRING = 64  # strings this long (in bytes) or shorter are never cut
_REMOVED: dict[str, Any] = {"rem": [["!limit", "x"]]}
# Never shortened by the string steps: ids, times and enum-like values (event.md §7.2 Note).
_KEPT_KEYS = frozenset(
    {
        "event_id", "timestamp", "level", "platform", "type", "trace_id", "span_id",
        "parent_span_id", "release", "environment", "_meta", "sdk", "in_app", "lineno",
        "filename", "abs_path", "function", "module",
    }
)  # fmt: skip
_USER_DATA = frozenset({"extra", "request"})
_NOTHING: frozenset[str] = frozenset()
# Sections dropped whole when strings are cut and it still does not fit, least useful first.
_SECTIONS = (
    ("modules",), ("extra",), ("request",), ("breadcrumbs",), ("threads",), ("logentry", "params"),
    ("contexts",), ("tags",), ("user",), ("fingerprint",), ("sdk",), ("_meta",),
)  # fmt: skip

Path = tuple[str, ...]
_Found = tuple[Path, Any, Any, str]  # path, container, key in it, the string


def _dumps(value: object) -> bytes:
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: Relay rejects them, "?" it takes
        return text.encode("utf-8", "replace")


def encode_event(event: dict[str, Any], max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> bytes:
    """Compact UTF-8 JSON of ``event``, at most ``max(max_bytes, MIN_EVENT_BYTES)`` bytes.

    Runs on the worker thread. ``event`` itself is not changed; a value that is not JSON-safe
    (a ``before_send`` may add one) is converted as the serializer would. Never raises for
    any event content.
    """
    budget = max(max_bytes, MIN_EVENT_BYTES)
    try:
        body = _dumps(event)
    except (TypeError, ValueError, RecursionError):
        body = _dumps(serialize_event(event, Options()))  # type: ignore[arg-type]
    if len(body) <= budget:
        return body
    work: dict[str, Any] = json.loads(body)
    meta = work.get("_meta")
    if not isinstance(meta, dict):
        meta = work["_meta"] = {}
    for step in _STEPS:
        for _ in range(_MAX_ROUNDS):
            excess = len(body) - budget
            if excess <= 0 or not step(work, meta, excess):
                break
            if not meta:
                del work["_meta"]
            body = _dumps(work)
            work.setdefault("_meta", meta)
        if len(body) <= budget:
            return body
    logger.warning(
        "event %s over %d bytes even trimmed; sent as a skeleton", work.get("event_id"), budget
    )
    return _dumps(_skeleton(work))


# -- where things are ----------------------------------------------------------------------------


def _drop_meta_items(meta: dict[str, Any], path: Path, start: int, stop: int) -> None:
    """Items ``start:stop`` of the list at ``path`` are gone: renumber their notes."""
    node = meta
    for key in path:
        node = node.get(key)  # type: ignore[assignment]
        if not isinstance(node, dict):
            return
    for key in [k for k in node if k.isdigit()]:
        index = int(key)
        value = node.pop(key)
        if index >= stop:
            node[str(index - (stop - start))] = value
        elif index < start:
            node[key] = value


def _stacktraces(event: dict[str, Any]) -> Iterator[tuple[Path, dict[str, Any]]]:
    for section in ("exception", "threads"):
        container = event.get(section)
        values = container.get("values") if isinstance(container, dict) else None
        if isinstance(values, list):
            for index, value in enumerate(values):
                trace = value.get("stacktrace") if isinstance(value, dict) else None
                if isinstance(trace, dict) and isinstance(trace.get("frames"), list):
                    yield (section, "values", str(index), "stacktrace"), trace
    trace = event.get("stacktrace")
    if isinstance(trace, dict) and isinstance(trace.get("frames"), list):
        yield ("stacktrace",), trace


def _frames_with_vars(event: dict[str, Any]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Frames carrying ``vars``, farthest from the error first."""
    for path, trace in _stacktraces(event):
        for index, frame in enumerate(trace["frames"]):
            if isinstance(frame, dict) and frame.get("vars"):
                yield (*path, "frames", str(index)), frame


# -- the steps: each frees at least ``excess`` bytes if it can; False when it has nothing left --


def _drop_vars(in_app_too: bool) -> Callable[[dict[str, Any], dict[str, Any], int], bool]:
    def step(event: dict[str, Any], meta: dict[str, Any], excess: int) -> bool:
        freed = 0
        for path, frame in _frames_with_vars(event):
            if frame.get("in_app") is True and not in_app_too:
                continue
            freed += len(_dumps(frame["vars"])) - _NOTE_BYTES
            frame["vars"] = None
            add_note(meta, (*path, "vars"), _REMOVED)
            if freed >= excess:
                break
        return freed > 0

    return step


def _drop_breadcrumbs(event: dict[str, Any], meta: dict[str, Any], excess: int) -> bool:
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else None
    if not isinstance(values, list) or not values:
        return False
    freed, count = -_NOTE_BYTES, 0
    while count < len(values) and freed < excess:
        freed += len(_dumps(values[count])) + 1
        count += 1
    original = node_at(meta, ("breadcrumbs", "values")).get("", {}).get("len", len(values))
    del values[:count]
    _drop_meta_items(meta, ("breadcrumbs", "values"), 0, count)
    add_note(meta, ("breadcrumbs", "values"), {"len": original})
    return True


def _drop_middle_frames(event: dict[str, Any], meta: dict[str, Any], excess: int) -> bool:
    traces = [
        (path, trace)
        for path, trace in _stacktraces(event)
        if len(trace["frames"]) > 2 * KEPT_FRAMES
    ]
    if not traces:
        return False
    path, trace = max(traces, key=lambda found: len(_dumps(found[1]["frames"])))
    frames = trace["frames"]
    start, stop, freed = KEPT_FRAMES, KEPT_FRAMES, -_NOTE_BYTES
    while stop < len(frames) - KEPT_FRAMES and freed < excess:
        freed += len(_dumps(frames[stop])) + 1
        stop += 1
    omitted = trace.get("frames_omitted")
    earlier = omitted[1] - omitted[0] if isinstance(omitted, list) and len(omitted) == 2 else 0
    original = len(frames) + (earlier if isinstance(earlier, int) else 0)
    del frames[start:stop]
    trace["frames_omitted"] = [start, stop + (earlier if isinstance(earlier, int) else 0)]
    _drop_meta_items(meta, (*path, "frames"), start, stop)
    add_note(meta, (*path, "frames"), {"len": original})
    return True


def _strings(value: object, path: Path, kept: frozenset[str]) -> Iterator[_Found]:
    """Every string under ``value`` that may be shortened, with its container and key."""
    stack: list[tuple[object, Path]] = [(value, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, dict):
            pairs: Any = current.items()
        elif isinstance(current, list):
            pairs = enumerate(current)
        else:
            continue
        for key, item in pairs:
            if key in kept or where[-1:] == ("trace",):
                continue
            if isinstance(item, str):
                yield (*where, str(key)), current, key, item
            elif isinstance(item, (dict, list)):
                stack.append((item, (*where, str(key))))


def _first_desc(pair: tuple[int, object]) -> int:
    return -pair[0]


def _cut_strings(*sections: str) -> Callable[[dict[str, Any], dict[str, Any], int], bool]:
    def step(event: dict[str, Any], meta: dict[str, Any], excess: int) -> bool:
        found: list[_Found] = []
        for section in sections or tuple(k for k in event if k not in _KEPT_KEYS):
            value = event.get(section)
            if isinstance(value, str):
                found.append(((section,), event, section, value))
            else:
                # In extra and request every key is the application's: none is an identifier.
                kept = _NOTHING if section in _USER_DATA else _KEPT_KEYS
                found.extend(_strings(value, (section,), kept))
        sized = sorted(((len(_dumps(entry[3])) - 2, entry) for entry in found), key=_first_desc)
        if not sized or sized[0][0] <= _SHORT_STRING:
            return False
        # The longest strings are cut to one common length, chosen to free ``excess`` bytes.
        limit, freed, count, total = sized[0][0], 0, 0, 0
        while count < len(sized) and freed < excess:
            total += sized[count][0]
            count += 1
            limit = max(sized[count][0] if count < len(sized) else 0, _SHORT_STRING)
            freed = total - count * (limit + _NOTE_BYTES)
        limit = max(limit, (total - excess) // count - _NOTE_BYTES)  # no more than needed
        changed = False
        for size, (path, container, key, text) in sized[:count]:
            if size <= limit:
                continue
            keep = len(text) * limit // size - 3  # characters, in proportion to encoded bytes
            if keep >= len(text):
                continue
            container[key] = text[:keep] + "..."
            add_note(meta, path, {"len": len(text), "rem": [["!limit", "x", keep, keep + 3]]})
            changed = True
        return changed

    return step


def _drop_sections(event: dict[str, Any], meta: dict[str, Any], excess: int) -> bool:
    for path in _SECTIONS:
        parent: Any = event
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        if path == ("contexts",) and isinstance(event.get("contexts"), dict):
            trace = event["contexts"].get("trace")
            if len(event["contexts"]) <= 1:
                continue
            event["contexts"] = {"trace": trace} if isinstance(trace, dict) else {}
        elif path == ("_meta",):
            if not meta:
                continue
            meta.clear()
        else:
            del parent[path[-1]]
        if path != ("_meta",):
            add_note(meta, path, _REMOVED)
        return True
    return False


def _skeleton(event: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {"event_id": event.get("event_id"), "platform": "python"}
    for key in ("timestamp", "level"):
        value = event.get(key)
        if isinstance(value, (str, int, float)):
            kept[key] = str(value)[:64] if isinstance(value, str) else value
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else None
    if isinstance(values, list) and values and isinstance(values[-1], dict):
        last = values[-1]
        shown = {k: str(last.get(k))[:_SKELETON_TEXT] for k in ("type", "value") if last.get(k)}
        kept["exception"] = {"values": [shown]} if shown else None
    message = event.get("message")
    if isinstance(message, str):
        kept["message"] = message[:_SKELETON_TEXT]
    return kept


_STEPS: tuple[Callable[[dict[str, Any], dict[str, Any], int], bool], ...] = (
    _drop_vars(in_app_too=False),
    _drop_breadcrumbs,
    _drop_vars(in_app_too=True),
    _drop_middle_frames,
    _cut_strings("extra", "request"),
    _cut_strings(),
    _drop_sections,
)
