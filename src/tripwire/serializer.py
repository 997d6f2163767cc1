"""The event as JSON-safe data, with ``_meta`` notes for what was cut (event.md §7).

Runs on the caller's thread, once per captured event, after the scope was merged and before
scrubbing and ``before_send``. It copies every container it keeps, so later steps may change
the result in place without touching scope data. Databags (``extra``, each breadcrumb,
``request.data``, frame ``vars``, ``logentry.params``) get the limits of event.md §7.2 and every
cut is noted in ``_meta`` - frame ``vars`` included, unlike the official SDK. Identifiers,
timestamps and enum-like fields are never shortened by ``max_value_length``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from tripwire.converter import MAX_DATABAG_BREADTH, MAX_DEPTH, MAX_ITEMS, Converter
from tripwire.meta import merge_meta
from tripwire.options import Options
from tripwire.types import Event

__all__ = ["serialize_event"]

logger = logging.getLogger(__name__)

_IDENTIFIER_KEYS = frozenset(
    {
        "level", "platform", "logger", "server_name", "release", "environment", "dist",
        "transaction", "type",
    }
)  # fmt: skip
_CRUMB_IDENTIFIERS = frozenset({"timestamp", "type", "category", "level"})
_EXCEPTION_IDENTIFIERS = frozenset({"type", "module", "thread_id", "mechanism"})
_FRAME_IDENTIFIERS = frozenset(
    {"filename", "abs_path", "function", "module", "package", "platform", "instruction_addr"}
)
_HEX = frozenset("0123456789abcdef")
# Relay rejects a tag whose name holds other characters, or whose value holds a line break.
_TAG_NAME_INVALID = re.compile(r"[^A-Za-z0-9_.:\- ]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _event_id(value: object) -> str:
    if isinstance(value, str):
        compact = value.replace("-", "").lower()
        if len(compact) == 32 and _HEX.issuperset(compact):
            return compact
    return os.urandom(16).hex()


def _timestamp(value: object, converter: Converter) -> object:
    if type(value) is float or type(value) is int:
        return value if math.isfinite(value) else time.time()
    if isinstance(value, (datetime, str)):
        return converter.identifier(value)
    return time.time()


# -- the event's fields ---------------------------------------------------------------------------

_Field = Callable[[Any, Converter, Options], object]


def _take(converter: Converter, meta: dict[str, Any], key: str) -> None:
    if converter.pending is not None:
        meta[key], converter.pending = converter.pending, None


def _done(converter: Converter, meta: dict[str, Any]) -> None:
    converter.pending = meta or None


def _identifier(value: object, converter: Converter, options: Options) -> object:
    return converter.identifier(value)


def _plain(value: object, converter: Converter, options: Options) -> object:
    return converter.value(value, MAX_DEPTH)


def _object(value: object, converter: Converter, options: Options) -> object:
    converted = converter.value(value, MAX_DEPTH)
    return converted if isinstance(converted, dict) else {"value": converted}


def _extra(value: object, converter: Converter, options: Options) -> object:
    converted = converter.databag(value)
    return converted if isinstance(converted, dict) else {"value": converted}


def _user(value: object, converter: Converter, options: Options) -> object:
    converted = converter.value(value, MAX_DEPTH)
    if not isinstance(converted, dict):
        converter.pending = None
        return None
    data = converted.get("data")
    if data is not None and not isinstance(data, dict):
        converted["data"] = {"value": data}
    for name, check in _USER_FIELDS.items():  # Relay's types; what does not fit moves to data
        if name in converted and converted[name] is not None and not check(converted[name]):
            if converted.get("data") is None:
                converted["data"] = {}
            converted["data"][name] = converted.pop(name)
    return converted


def _is_primitive(value: object) -> bool:
    return isinstance(value, (str, int, float, bool))


def _is_ip_address(value: object) -> bool:
    if value == "{{auto}}":
        return True
    try:
        ipaddress.ip_address(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    return isinstance(value, str)


def _is_geo(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


_USER_FIELDS: dict[str, Callable[[object], bool]] = {
    "id": _is_primitive,
    "username": _is_primitive,
    "email": lambda value: isinstance(value, str),
    "name": lambda value: isinstance(value, str),
    "segment": lambda value: isinstance(value, str),
    "ip_address": _is_ip_address,
    "geo": _is_geo,
}


def _tags(value: object, converter: Converter, options: Options) -> object:
    if not isinstance(value, Mapping):
        return {}
    tags: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        if _TAG_NAME_INVALID.search(name):
            name = _TAG_NAME_INVALID.sub("_", name)
        if not name.strip():  # Relay rejects an empty tag name
            continue
        if item is not None and type(item) is not str:
            item = converter.repr(item)  # Relay wants strings; a number may lose precision
        converted = converter.value(item, 0)
        if isinstance(converted, str):
            if not converted.isprintable():
                converted = _CONTROL.sub(" ", converted)
            if not converted.strip():
                converted = None  # Relay rejects an empty value; null it accepts
        tags[name] = converted
        _take(converter, meta, name)
    _done(converter, meta)
    return tags


def _contexts(value: object, converter: Converter, options: Options) -> object:
    if not isinstance(value, Mapping):
        return {}
    contexts: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        if name == "trace":  # ids, op and status: never shortened
            converted = converter.identifier(item)
        else:
            converted = converter.value(item, MAX_DEPTH)
        contexts[name] = converted if isinstance(converted, dict) else {"value": converted}
        _take(converter, meta, name)
    _done(converter, meta)
    return contexts


def _request(value: object, converter: Converter, options: Options) -> object:
    if not isinstance(value, Mapping):
        return None
    request: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        if name == "data" and options.max_request_body_size != "always":
            request[name] = converter.databag(item)
        else:
            request[name] = converter.value(item, MAX_DEPTH)
        _take(converter, meta, name)
    _done(converter, meta)
    return request


def _logentry(value: object, converter: Converter, options: Options) -> object:
    if not isinstance(value, Mapping):
        return {"formatted": converter.value(value, 0)}
    entry: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        entry[name] = converter.databag(item) if name == "params" else converter.value(item, 0)
        _take(converter, meta, name)
    _done(converter, meta)
    return entry


def _values(
    value: object, converter: Converter, item: Callable[[Any, Converter], object]
) -> object:
    """An interface of the form ``{"values": [...]}`` (a bare list is taken as the values)."""
    if isinstance(value, Mapping):
        items, rest = value.get("values"), {k: v for k, v in value.items() if k != "values"}
    else:
        items, rest = value, {}
    converted = converter.value(rest, MAX_DEPTH)
    out: dict[str, object] = converted if isinstance(converted, dict) else {}
    meta: dict[str, Any] = converter.pending or {}
    converter.pending = None
    values: list[object] = []
    values_meta: dict[str, Any] = {}
    if isinstance(items, (list, tuple)):
        for index, entry in enumerate(items):
            values.append(item(entry, converter))
            _take(converter, values_meta, str(index))
    if values_meta:
        meta["values"] = values_meta
    out["values"] = values
    _done(converter, meta)
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


def _crumb(value: object, converter: Converter) -> object:
    converted = converter.databag(value)
    if isinstance(converted, dict):
        _crumb_shape(converted)
    if converter.max_length is not None and isinstance(value, Mapping):
        meta = converter.pending or {}
        for key in _CRUMB_IDENTIFIERS:  # never shortened: put the originals back
            original = value.get(key)
            if type(original) is str and isinstance(converted, dict):
                converted[key] = original
                meta.pop(key, None)
        _done(converter, meta)
    return converted


def _exception(value: object, converter: Converter) -> object:
    if not isinstance(value, Mapping):
        return converter.value(value, MAX_DEPTH)
    out: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        if name == "stacktrace":
            out[name] = _stacktrace(item, converter)
        elif name in _EXCEPTION_IDENTIFIERS:
            out[name] = converter.identifier(item)
        else:
            out[name] = converter.value(item, MAX_DEPTH)
        _take(converter, meta, name)
    _done(converter, meta)
    return out


def _thread(value: object, converter: Converter) -> object:
    if not isinstance(value, Mapping):
        return converter.value(value, MAX_DEPTH)
    out: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        if name == "stacktrace":
            out[name] = _stacktrace(item, converter)
        else:
            out[name] = converter.identifier(item)
        _take(converter, meta, name)
    _done(converter, meta)
    return out


def _stacktrace(value: object, converter: Converter) -> object:
    if not isinstance(value, Mapping):
        return converter.value(value, MAX_DEPTH)
    out: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        if name == "frames" and isinstance(item, (list, tuple)):
            frames: list[object] = []
            frames_meta: dict[str, Any] = {}
            short = converter.short
            for index, frame in enumerate(item):
                if type(frame) is dict and _is_plain_frame(frame, short):
                    frames.append(_copy_frame(frame))
                    continue
                frames.append(_frame(frame, converter))
                _take(converter, frames_meta, str(index))
            if frames_meta:
                meta[name] = frames_meta
            if not frames:  # Relay rejects an empty list of frames
                converter.pending = meta or None
                return None
            out[name] = frames
            continue
        out[name] = converter.value(item, MAX_DEPTH)
        _take(converter, meta, name)
    _done(converter, meta)
    return out


def _is_plain_frame(frame: dict[Any, Any], short: int) -> bool:
    """True when ``frame`` is JSON-safe and within the limits already (the common case).

    ``str.join`` checks in C that every item of a list, or every key and value of ``vars``,
    is a string: a frame built by events/frames.py passes without a Python-level loop per line.
    """
    try:
        "".join(frame)
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
            elif not (kind is int or kind is bool or value is None):
                return False
    except TypeError:
        return False
    return True


def _copy_frame(frame: dict[str, Any]) -> dict[str, Any]:
    # vars is copied too: the scrubber replaces values in place.
    copied = dict(frame)
    local_vars = copied.get("vars")
    if local_vars is not None:
        copied["vars"] = dict(local_vars)
    return copied


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
        _take(converter, meta, key)
    _done(converter, meta)
    return out


def _exceptions(value: object, converter: Converter, options: Options) -> object:
    return _values(value, converter, _exception)


def _threads(value: object, converter: Converter, options: Options) -> object:
    return _values(value, converter, _thread)


def _breadcrumbs(value: object, converter: Converter, options: Options) -> object:
    return _values(value, converter, _crumb)


def _top_stacktrace(value: object, converter: Converter, options: Options) -> object:
    return _stacktrace(value, converter)


_FIELDS: dict[str, _Field] = {
    **dict.fromkeys(_IDENTIFIER_KEYS, _identifier),
    "fingerprint": _identifier,
    "modules": _identifier,
    "sdk": _identifier,
    "transaction_info": _identifier,
    "message": _plain,
    "logentry": _logentry,
    "tags": _tags,
    "contexts": _contexts,
    "extra": _extra,
    "user": _user,
    "request": _request,
    "breadcrumbs": _breadcrumbs,
    "exception": _exceptions,
    "threads": _threads,
    "stacktrace": _top_stacktrace,
}


def serialize_event(event: Event, options: Options) -> Event:
    """A JSON-safe copy of ``event``: every container new, every value a JSON type.

    Runs on the caller's thread. Databags are cut to their limits and strings to
    ``max_value_length``, each cut noted in ``_meta`` (merged with the notes the event already
    had). Never raises: a field whose conversion fails becomes ``null`` and is logged.
    """
    converter = Converter(options.max_value_length, options.custom_repr)
    out: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for key, value in event.items():
        if key == "_meta":
            continue
        converter.items_left = MAX_ITEMS
        try:
            name = key if type(key) is str else converter.key(key)
            if name == "event_id":
                out[name] = _event_id(value)
            elif name == "timestamp":
                out[name] = _timestamp(value, converter)
            else:
                out[name] = _FIELDS.get(name, _plain)(value, converter, options)
        except Exception:
            logger.warning("event field %r could not be serialized", key, exc_info=True)
            out[str(key)] = None
            converter.pending = None
        else:
            _take(converter, meta, name)
    existing = event.get("_meta")
    if existing:
        try:
            kept = converter.identifier(existing)
        except Exception:
            logger.warning("the event's _meta could not be serialized", exc_info=True)
        else:
            if isinstance(kept, dict):
                meta = merge_meta(kept, meta)
    if meta:
        out["_meta"] = meta
    return out  # type: ignore[return-value]
