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
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tripwire.active import global_event_processors
from tripwire.converter import (
    MAX_DATABAG_BREADTH,
    MAX_DATABAG_ITEMS,
    MAX_DEPTH,
    MAX_ITEMS,
    UNLIMITED,
    Converter,
    is_flat,
)
from tripwire.events.exceptions import ExceptionList
from tripwire.events.pending import finish_reprs, may_hold_frames
from tripwire.interfaces import (
    convert_crumb,
    convert_exception,
    convert_stacktrace,
    convert_thread,
    convert_values,
    copy_own_exceptions,
    is_mapping,
)
from tripwire.meta import merge_meta
from tripwire.options import Options
from tripwire.types import Event

if TYPE_CHECKING:
    from tripwire.scope import Scope

__all__ = ["frames_untouched", "serialize_event"]

logger = logging.getLogger(__name__)

_IDENTIFIER_KEYS = frozenset(
    {
        "level", "platform", "logger", "server_name", "release", "environment", "dist",
        "transaction", "type",
    }
)  # fmt: skip
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


def _identifier(value: object, converter: Converter, options: Options) -> object:
    return converter.identifier(value)


def _plain(value: object, converter: Converter, options: Options) -> object:
    return converter.value(value, MAX_DEPTH)


def _object(value: object, converter: Converter, options: Options) -> object:
    converted = converter.value(value, MAX_DEPTH)
    return converted if isinstance(converted, dict) else {"value": converted}


def _extra(value: object, converter: Converter, options: Options) -> object:
    if type(value) is dict:
        flat = _flat_databag(value, converter.short)
        if flat is not None:  # the common extra: scalars and flat lists (sys.argv)
            return flat
    converted = converter.databag(value)
    return converted if isinstance(converted, dict) else {"value": converted}


def _flat_databag(value: dict[Any, Any], short: int) -> dict[str, Any] | None:
    """A copy of a databag of scalars and flat lists that needs no cut, else None (then the
    converter walks it; it would give the same copy)."""
    if len(value) > MAX_DATABAG_BREADTH:
        return None
    items = len(value)
    out: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:
            return None
        if type(item) is list:
            if len(item) > MAX_DATABAG_BREADTH or not is_flat(item, short):
                return None
            items += len(item)
            item = list(item)
        elif not is_flat((item,), short):
            return None
        out[key] = item
    return out if items <= MAX_DATABAG_ITEMS else None


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
    if not is_mapping(value):
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
        converter.take(meta, name)
    converter.done(meta)
    return tags


def _contexts(value: object, converter: Converter, options: Options) -> object:
    if not is_mapping(value):
        return {}
    contexts: dict[str, object] = {}
    meta: dict[str, Any] = {}
    short = converter.short
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        if type(item) is dict and is_flat(item.values(), UNLIMITED if name == "trace" else short):
            flat = _flat_copy(item)  # the common context: a few scalars
            if flat is not None:
                contexts[name] = flat
                continue
        if name == "trace":  # ids, op and status: never shortened
            converted = converter.identifier(item)
        else:
            converted = converter.value(item, MAX_DEPTH)
        contexts[name] = converted if isinstance(converted, dict) else {"value": converted}
        converter.take(meta, name)
    converter.done(meta)
    return contexts


def _request(value: object, converter: Converter, options: Options) -> object:
    if not is_mapping(value):
        return None
    request: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        if name == "data" and options.max_request_body_size != "always":
            request[name] = converter.databag(item)
        else:
            request[name] = converter.value(item, MAX_DEPTH)
        converter.take(meta, name)
    converter.done(meta)
    return request


def _logentry(value: object, converter: Converter, options: Options) -> object:
    if not is_mapping(value):
        return {"formatted": converter.value(value, 0)}
    entry: dict[str, object] = {}
    meta: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else converter.key(key)
        entry[name] = converter.databag(item) if name == "params" else converter.value(item, 0)
        converter.take(meta, name)
    converter.done(meta)
    return entry


def _sdk(value: object, converter: Converter, options: Options) -> object:
    # The client's own sdk info, on every event: its known shape is copied without a walk.
    if type(value) is dict and _is_flat_except(value, ("packages", "integrations")):
        packages, integrations = value.get("packages", []), value.get("integrations", [])
        if (
            type(packages) is list
            and type(integrations) is list
            and is_flat(integrations, UNLIMITED)
        ):
            copied = [
                _flat_copy(p) if type(p) is dict and is_flat(p.values(), UNLIMITED) else None
                for p in packages
            ]
            if None not in copied:
                return {**value, "packages": copied, "integrations": list(integrations)}
    return converter.identifier(value)


def _is_flat_except(value: dict[Any, Any], nested: tuple[str, ...]) -> bool:
    return is_flat((v for k, v in value.items() if k not in nested), UNLIMITED)


def _flat_copy(value: dict[Any, Any]) -> dict[str, Any] | None:
    """A copy of a dict of scalars whose keys are all strings, else None."""
    try:
        "".join(value)
    except TypeError:
        return None
    return dict(value)


def _exceptions(value: object, converter: Converter, options: Options) -> object:
    if converter.own_frames and type(value) is dict and len(value) == 1:
        values = value.get("values")
        if type(values) is ExceptionList:  # as events/exceptions.py built them
            return copy_own_exceptions(values, converter)
    return convert_values(value, converter, convert_exception)


def _threads(value: object, converter: Converter, options: Options) -> object:
    return convert_values(value, converter, convert_thread)


def _breadcrumbs(value: object, converter: Converter, options: Options) -> object:
    return convert_values(value, converter, convert_crumb)


def _top_stacktrace(value: object, converter: Converter, options: Options) -> object:
    return convert_stacktrace(value, converter)


_FIELDS: dict[str, _Field] = {
    **dict.fromkeys(_IDENTIFIER_KEYS, _identifier),
    "fingerprint": _identifier,
    "modules": _identifier,
    "sdk": _sdk,
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


def frames_untouched(layers: Iterable[Scope]) -> bool:
    """True when every event and error processor of ``layers`` (and every global one) is
    tripwire's own: none of them changes frames, so frames built by events/frames.py are
    still as built when the event reaches the serializer."""
    try:
        for layer in layers:
            for processor in layer._event_processors:
                if not _is_own(processor):
                    return False
            for error_processor, _ in layer._error_processors:
                if not _is_own(error_processor):
                    return False
        for processor in global_event_processors():
            if not _is_own(processor):
                return False
    except Exception:  # a hostile processor's __module__, say: check the frames
        return False
    return True


def _is_own(processor: object) -> bool:
    module = processor.__module__
    return type(module) is str and module.startswith("tripwire.")


def serialize_event(event: Event, options: Options, layers: Iterable[Scope] | None = None) -> Event:
    """A JSON-safe copy of ``event``: every container new, every value a JSON type.

    Runs on the caller's thread. Databags are cut to their limits and strings to
    ``max_value_length``, each cut noted in ``_meta`` (merged with the notes the event already
    had). Never raises: a field whose conversion fails becomes ``null`` and is logged.

    ``layers`` are the scopes the event was captured with: when ``frames_untouched`` says no
    processor outside tripwire saw it, its frames built by events/frames.py are taken as they
    are (their dicts are not copied: nothing else holds them).
    """
    converter = Converter(options.max_value_length, options.custom_repr)
    if may_hold_frames(event):  # a message has none: no processor check
        if layers is not None and options.max_value_length is None:
            converter.own_frames = frames_untouched(layers)
        if not converter.own_frames:
            finish_reprs(event)  # type: ignore[arg-type]  # the frames are checked: plain text
    out: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for key, value in event.items():
        if type(value) is str and key in _IDENTIFIER_KEYS:  # the common scalars, inlined
            out[key] = value
            continue
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
            if converter.pending is not None:
                meta[name], converter.pending = converter.pending, None
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
