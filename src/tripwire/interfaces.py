"""Conversion of the event's list interfaces: exception, threads, stack traces, breadcrumbs.

Runs on the caller's thread, for ``serializer.serialize_event``. Frames built by events/frames.py
are JSON-safe already: a C-speed check recognises them and they are copied without a walk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from tripwire.converter import MAX_DATABAG_BREADTH, MAX_DEPTH, UNLIMITED, Converter
from tripwire.events.frames import FrameList

__all__ = [
    "convert_crumb",
    "convert_exception",
    "convert_stacktrace",
    "convert_thread",
    "convert_values",
    "copy_own_exceptions",
    "is_mapping",
]

_CRUMB_IDENTIFIERS = frozenset({"timestamp", "type", "category", "level"})
_EXCEPTION_IDENTIFIERS = frozenset({"type", "module", "thread_id", "mechanism"})
# The keys a frame may have (sentry's frame interface); others are checked one by one.
_FRAME_KEYS = frozenset(
    {
        "filename", "abs_path", "function", "raw_function", "module", "package", "platform",
        "lineno", "colno", "pre_context", "context_line", "post_context", "vars", "in_app",
        "instruction_addr", "symbol", "data",
    }
)  # fmt: skip
# Variable names found to be strings: a site captured again needs no check of its names.
_known_names: set[str] = set()
_MAX_KNOWN_NAMES = 10_000
_BIG_INT = 1 << 63  # Relay reads integers as i64: a larger one is converted, not copied
_FRAME_IDENTIFIERS = frozenset(
    {"filename", "abs_path", "function", "module", "package", "platform", "instruction_addr"}
)


def is_mapping(value: object) -> TypeGuard[Mapping[Any, Any]]:
    """``isinstance(value, Mapping)``, without the ABC check for the common exact dict."""
    return type(value) is dict or isinstance(value, Mapping)


def convert_values(
    value: object, converter: Converter, item: Callable[[Any, Converter], object]
) -> object:
    """An interface of the form ``{"values": [...]}`` (a bare list is taken as the values)."""
    if type(value) is dict and len(value) == 1 and value.get("values") == []:
        return {"values": []}
    if is_mapping(value):
        items, rest = value.get("values"), {k: v for k, v in value.items() if k != "values"}
    else:
        items, rest = value, {}
    out: dict[str, object] = {}
    meta: dict[str, Any] = {}
    if rest:  # an interface's other keys are rare
        converted = converter.value(rest, MAX_DEPTH)
        out = converted if isinstance(converted, dict) else {}
        meta = converter.pending or {}
        converter.pending = None
    values: list[object] = []
    values_meta: dict[str, Any] = {}
    if isinstance(items, (list, tuple)):
        for index, entry in enumerate(items):
            values.append(item(entry, converter))
            converter.take(values_meta, str(index))
    if values_meta:
        meta["values"] = values_meta
    out["values"] = values
    converter.done(meta)
    return out


_CRUMB_TEXT = ("type", "category", "message")
_LEVELS = frozenset({"fatal", "error", "warning", "info", "debug"})


def _crumb_shape(crumb: dict[str, Any]) -> None:
    # Relay wants text in these fields, a known level and a number or string timestamp;
    # a crumb recorded with other values keeps its data and loses only what cannot be sent.
    for key in _CRUMB_TEXT:
        value = crumb.get(key)
        if value is not None and not isinstance(value, str):
            crumb[key] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    level = crumb.get("level")
    if level is not None and level not in _LEVELS:
        lowered = level.lower() if isinstance(level, str) else ""
        if lowered in _LEVELS:
            crumb["level"] = lowered
        elif lowered in ("critical", "warn"):
            crumb["level"] = "fatal" if lowered == "critical" else "warning"
        else:
            del crumb["level"]
    stamp = crumb.get("timestamp")
    if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, (int, float, str))):
        del crumb["timestamp"]


def copy_own_exceptions(values: list[dict[str, Any]], converter: Converter) -> object:
    """``{"values": values}`` for exception values built by events/exceptions.py that no code
    outside tripwire has seen (``converter.own_frames``): their strings and mechanism are
    JSON-safe and need no cut, so each is copied and only its stack trace is converted."""
    out: list[object] = []
    values_meta: dict[str, Any] = {}
    for index, value in enumerate(values):
        copied = dict(value)
        copied["mechanism"] = converter.identifier(value["mechanism"])  # a copy, nested too
        converter.pending = None
        stacktrace = value.get("stacktrace")
        if stacktrace is not None:
            copied["stacktrace"] = convert_stacktrace(stacktrace, converter)
            if converter.pending is not None:
                values_meta[str(index)] = {"stacktrace": converter.pending}
                converter.pending = None
        out.append(copied)
    converter.done({"values": values_meta} if values_meta else {})
    return {"values": out}


def convert_crumb(value: object, converter: Converter) -> object:
    converted = converter.databag(value)
    if isinstance(converted, dict):
        _crumb_shape(converted)
    if converter.max_length is not None and is_mapping(value):
        meta = converter.pending or {}
        for key in _CRUMB_IDENTIFIERS:  # never shortened: put the originals back
            original = value.get(key)
            if type(original) is str and isinstance(converted, dict):
                converted[key] = original
                meta.pop(key, None)
        converter.done(meta)
    return converted


def convert_exception(value: object, converter: Converter) -> object:
    if not is_mapping(value):
        return converter.value(value, MAX_DEPTH)
    out: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        if name == "stacktrace":
            out[name] = convert_stacktrace(item, converter)
        elif name in _EXCEPTION_IDENTIFIERS:
            out[name] = converter.identifier(item)
        else:
            out[name] = converter.value(item, MAX_DEPTH)
        converter.take(meta, name)
    converter.done(meta)
    return out


def convert_thread(value: object, converter: Converter) -> object:
    if not is_mapping(value):
        return converter.value(value, MAX_DEPTH)
    out: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        if name == "stacktrace":
            out[name] = convert_stacktrace(item, converter)
        else:
            out[name] = converter.identifier(item)
        converter.take(meta, name)
    converter.done(meta)
    return out


def convert_stacktrace(value: object, converter: Converter) -> object:
    if not is_mapping(value):
        return converter.value(value, MAX_DEPTH)
    out: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        if name == "frames" and isinstance(item, (list, tuple)):
            frames: list[object] = []
            frames_meta: dict[str, Any] = {}
            if type(item) is FrameList and converter.own_frames:
                frames = list(item)  # JSON-safe and within the limits as built
                item = ()
            short = converter.short
            for index, frame in enumerate(item):
                copied = _plain_copy(frame, short) if type(frame) is dict else None
                if copied is not None:
                    frames.append(copied)
                    continue
                frames.append(_frame(frame, converter))
                converter.take(frames_meta, str(index))
            omitted = _omitted_count(value.get("frames_omitted"))
            if omitted:  # Relay drops frames_omitted; a length note on the list survives
                frames_meta[""] = {"len": len(frames) + omitted}
            if frames_meta:
                meta[name] = frames_meta
            if not frames:  # Relay rejects an empty list of frames
                converter.pending = meta or None
                return None
            out[name] = frames
            continue
        out[name] = converter.value(item, MAX_DEPTH)
        converter.take(meta, name)
    converter.done(meta)
    return out


def _omitted_count(omitted: object) -> int:
    """How many frames ``frames_omitted: [start, end]`` says were left out, else 0."""
    if type(omitted) is list and len(omitted) == 2:
        start, end = omitted
        if type(start) is int and type(end) is int and 0 <= start < end:
            return end - start
    return 0


def _plain_copy(frame: dict[Any, Any], short: int) -> dict[str, Any] | None:
    """A copy of ``frame`` if it is JSON-safe and within the limits already (the common case),
    else None. ``vars`` is copied too: the scrubber replaces values in place.

    ``str.join`` checks in C that every item of a list, or every key and value of ``vars``,
    is a string: a frame built by events/frames.py passes without a Python-level loop per line.
    """
    try:
        if not _FRAME_KEYS.issuperset(frame):
            "".join(frame)
        if short < UNLIMITED:
            if not _is_short_frame(frame, short):
                return None
        else:
            for value in frame.values():
                kind = type(value)
                if kind is str or kind is bool or value is None:
                    continue
                if kind is int:
                    if not -_BIG_INT < value < _BIG_INT:
                        return None
                elif kind is list:
                    "".join(value)
                elif kind is dict:
                    if len(value) > MAX_DATABAG_BREADTH:
                        return None
                    _check_names(value)
                    "".join(value.values())
                else:
                    return None
    except Exception:  # TypeError from a join; anything from a hostile key's __hash__
        return None
    copied = dict(frame)
    local_vars = copied.get("vars")
    if local_vars is not None:
        copied["vars"] = dict(local_vars)
    return copied


def _check_names(names: dict[Any, Any]) -> None:
    """Raise TypeError unless every key of ``names`` is a str; names seen before are known."""
    if not _known_names.issuperset(names):
        "".join(names)
        if len(_known_names) < _MAX_KNOWN_NAMES:
            _known_names.update(names)


def _is_short_frame(frame: dict[str, Any], short: int) -> bool:
    # max_value_length is set: every string must be short enough too (keys are str already).
    for value in frame.values():
        kind = type(value)
        if kind is str:
            if len(value) > short:
                return False
        elif kind is list:
            if len("".join(value)) > short and max(map(len, value)) > short:
                return False
        elif kind is dict:
            if len(value) > MAX_DATABAG_BREADTH:
                return False
            if len("".join(value.values())) > short and max(map(len, value.values())) > short:
                return False
            "".join(value)
        elif kind is int:
            if not -_BIG_INT < value < _BIG_INT:
                return False
        elif not (kind is bool or value is None):
            return False
    return True


def _frame(value: object, converter: Converter) -> object:
    if type(value) is not dict:
        return converter.value(value, MAX_DEPTH)
    out: dict[str, object] = {}
    meta: dict[str, Any] = {}
    short = converter.short
    for key, item in value.items():
        if type(item) is str and (len(item) <= short or key in _FRAME_IDENTIFIERS):
            out[key] = item
            continue
        if type(key) is not str:
            key = converter.key(key)
        if key == "vars":  # repr strings already (events/frames.py): only the limits apply
            out[key] = converter.databag(item)
        else:
            out[key] = converter.value(item, MAX_DEPTH)
        converter.take(meta, key)
    converter.done(meta)
    return out
