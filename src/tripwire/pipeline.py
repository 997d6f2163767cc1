"""The capture steps, in the order ``client.PIPELINE`` runs them, on the caller's thread.

Each step takes the event and the ``Capture`` it belongs to and returns the event (changed
in place or anew) or a ``Drop`` naming its client-report reason (protocol.md §8). A step
hands real work to the module named for its noun; the loop in ``client.run_pipeline``
counts every drop.
"""

from __future__ import annotations

import logging
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from tripwire import drops, serializer
from tripwire.active import global_event_processors
from tripwire.breadcrumbs import merge_breadcrumbs
from tripwire.events import contexts, frames, pending
from tripwire.integrations.modules import add_modules
from tripwire.options import Options
from tripwire.scope import Scope
from tripwire.types import Event, Hint

if TYPE_CHECKING:
    from tripwire.client import Client

__all__ = [
    "Capture",
    "Drop",
    "add_process_data",
    "apply_scope",
    "attach_stacktrace",
    "drop_ignored_errors",
    "fill_defaults",
    "finish_reprs",
    "finish_reprs_now",
    "mark_in_app",
    "run_before_send",
    "run_error_processors",
    "run_event_processors",
    "sample",
    "scrub",
    "serialize",
]

logger = logging.getLogger(__name__)

# Relay's levels; the aliases are what Relay itself maps (event.md §1).
LEVELS = frozenset({"fatal", "error", "warning", "info", "debug"})
LEVEL_ALIASES = {"critical": "fatal", "warn": "warning", "log": "info"}


class Drop(NamedTuple):
    reason: str


@dataclass
class Capture:
    """What one capture carries through the steps besides the event."""

    hint: Hint
    layers: tuple[Scope, ...]  # lowest precedence first: global, isolation, current, ...
    client: Client
    options: Options


def drop_ignored_errors(event: Event, capture: Capture) -> Event | Drop:
    """``ignore_errors``: classes match subclasses, strings the name or ``module.Qualname``."""
    ignored = capture.options.ignore_errors
    exc_info = capture.hint.get("exc_info")
    if not ignored or not exc_info or exc_info[0] is None:
        return event
    exc_type: type[BaseException] = exc_info[0]
    full_name = f"{exc_type.__module__}.{exc_type.__qualname__}"
    for item in ignored:
        if isinstance(item, str):
            if item in (exc_type.__name__, exc_type.__qualname__, full_name):
                return Drop(drops.EVENT_PROCESSOR)
        elif issubclass(exc_type, item):
            return Drop(drops.EVENT_PROCESSOR)
    return event


def finish_reprs_now(event: Event, capture: Capture) -> Event:
    """Reprs of locals left for the worker are made now if a callback outside tripwire will
    read the event first (``error_sampler``, a processor; events/pending.py)."""
    if pending.may_hold_frames(event) and not pending.reprs_may_wait(
        capture.options, capture.layers
    ):
        pending.finish_reprs(event)  # type: ignore[arg-type]
    return event


def finish_reprs(event: Event, capture: Capture) -> Event:
    """The reprs of locals left for the worker (events/pending.py), before anything reads them."""
    pending.finish_reprs(event)  # type: ignore[arg-type]
    return event


def sample(event: Event, capture: Capture) -> Event | Drop:
    """``error_sampler`` or ``sample_rate``, early, so a sampled-out event costs nothing more."""
    options = capture.options
    rate: object = options.sample_rate
    if options.error_sampler is not None:
        try:
            rate = options.error_sampler(event, capture.hint)
        except Exception:
            logger.exception("error_sampler raised; keeping the event")
            return event
    if isinstance(rate, bool):
        rate = 1.0 if rate else 0.0
    if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        logger.warning(
            "ignoring a sample rate of type %s: expected a number from 0 to 1", type(rate).__name__
        )
        return event
    if rate < 1.0 and random.random() >= rate:
        return Drop(drops.SAMPLE_RATE)
    return event


def apply_scope(event: Event, capture: Capture) -> Event:
    """Merge the scope layers into the event; the event's own values win."""
    tags: dict[str, object] = {}
    extra: dict[str, object] = {}
    contexts_: dict[str, dict[str, object]] = {}
    user = level = fingerprint = transaction = None
    transaction_info: dict[str, object] = {}
    attachments: list[dict[str, Any]] = []
    for layer in capture.layers:
        if layer._tags:
            tags.update(layer._tags)
        if layer._extras:
            extra.update(layer._extras)
        if layer._contexts:
            contexts_.update(layer._contexts)
        if layer._attachments:
            attachments.extend(layer._attachments)
        user = layer._user if layer._user is not None else user
        level = layer._level or level
        fingerprint = layer._fingerprint if layer._fingerprint is not None else fingerprint
        transaction = layer._transaction or transaction
        transaction_info = layer._transaction_info or transaction_info
    if tags or "tags" in event:
        event["tags"] = {**tags, **event.get("tags", {})}
    if extra or "extra" in event:
        event["extra"] = {**extra, **event.get("extra", {})}
    given_contexts = event.get("contexts") or {}
    merged_contexts = {**contexts_, **given_contexts}
    if "trace" not in merged_contexts and len(capture.layers) > 1:
        merged_contexts["trace"] = dict(capture.layers[1].trace_context)
    event["contexts"] = merged_contexts
    if user is not None and "user" not in event:
        event["user"] = dict(user)
    if level is not None and "level" not in event:
        event["level"] = level
    if fingerprint is not None and "fingerprint" not in event:
        event["fingerprint"] = list(fingerprint)
    if transaction is not None and "transaction" not in event:
        event["transaction"] = transaction
        if transaction_info:
            event["transaction_info"] = dict(transaction_info)
    limit = capture.options.max_breadcrumbs
    crumbs, recorded = merge_breadcrumbs((layer._breadcrumbs for layer in capture.layers), limit)
    own = event.get("breadcrumbs")
    own_values = list(own.get("values") or []) if isinstance(own, dict) else []
    if crumbs or own_values:
        merged = crumbs + own_values
        recorded += len(own_values)
        if len(merged) > limit:
            merged = merged[len(merged) - limit :] if limit else []
        event["breadcrumbs"] = {"values": merged}  # type: ignore[dict-item]
        if recorded > len(merged):
            meta = event.setdefault("_meta", {})
            meta["breadcrumbs"] = {"": {"len": recorded}}
    if attachments:
        capture.hint.setdefault("attachments", []).extend(attachments)
    return event


def run_error_processors(event: Event, capture: Capture) -> Event | Drop:
    exc_info = capture.hint.get("exc_info")
    if not exc_info or exc_info[0] is None:
        return event
    for layer in capture.layers:
        for processor, cls in layer._error_processors:
            if cls is not None and not issubclass(exc_info[0], cls):
                continue
            try:
                result = processor(event, exc_info)
            except Exception:
                logger.exception("error processor %r raised; keeping the event", processor)
                continue
            if result is None:
                return Drop(drops.EVENT_PROCESSOR)
            event = result
    return event


def run_event_processors(event: Event, capture: Capture) -> Event | Drop:
    """The scopes' processors (the ``scope=`` one included), then the global ones."""
    processors = [p for layer in capture.layers for p in layer._event_processors]
    processors.extend(global_event_processors())
    for processor in processors:
        try:
            result = processor(event, capture.hint)
        except Exception:
            logger.exception("event processor %r raised; keeping the event", processor)
            continue
        if result is None:
            return Drop(drops.EVENT_PROCESSOR)
        event = result
    return event


def attach_stacktrace(event: Event, capture: Capture) -> Event:
    """``attach_stacktrace``: the calling thread's stack on events that carry none."""
    if not capture.options.attach_stacktrace:
        return event
    if "exception" in event or "stacktrace" in event or "threads" in event:
        return event
    current = threading.current_thread()
    stack = frames.frames_from_stack(sys._getframe(), capture.options)
    event["threads"] = {
        "values": [
            {
                "id": threading.get_ident(),
                "name": current.name,
                "current": True,
                "crashed": False,
                "stacktrace": {"frames": stack},
            }
        ]
    }
    return event


@lru_cache(maxsize=1)
def _hostname() -> str:
    return socket.gethostname()


def fill_defaults(event: Event, capture: Capture) -> Event:
    """Ids, time, level, release and the rest of what every event carries."""
    options = capture.options
    if "event_id" not in event:
        event["event_id"] = capture.client.new_event_id()
    if "timestamp" not in event:
        event["timestamp"] = time.time()
    level = event.get("level")
    if level is None:
        event["level"] = "error" if "exception" in event else "info"
    elif not isinstance(level, str) or level not in LEVELS:
        lowered = level.lower() if isinstance(level, str) else ""
        event["level"] = LEVEL_ALIASES.get(lowered, lowered if lowered in LEVELS else "error")
    event.setdefault("platform", "python")
    if options.release is not None:
        event.setdefault("release", options.release)
    event.setdefault("environment", options.environment)
    if options.dist is not None:
        event.setdefault("dist", options.dist)
    event.setdefault("server_name", options.server_name or _hostname())
    return event


def add_process_data(event: Event, capture: Capture) -> Event:
    """``sdk``, ``modules`` and the runtime, os and device contexts, after serialize and scrub.

    They are built by tripwire once per process, JSON-safe and free of secrets, so neither
    step needs to walk them again on every event; ``before_send`` still sees them.
    """
    if "sdk" not in event:
        event["sdk"] = dict(capture.client.sdk_info)
    event_contexts = event.get("contexts")
    if not isinstance(event_contexts, dict):
        event_contexts = event["contexts"] = {}
    for key, value in contexts.default_contexts().items():
        if key not in event_contexts:
            event_contexts[key] = value
    if "modules" in capture.client.integrations:
        add_modules(event)
    return event


def mark_in_app(event: Event, capture: Capture) -> Event:
    frames.mark_in_app(event, capture.options)
    return event


def serialize(event: Event, capture: Capture) -> Event:
    """JSON-safe, bounded data from here on: what ``before_send`` sees is what is sent."""
    return serializer.serialize_event(event, capture.options, capture.layers)


def scrub(event: Event, capture: Capture) -> Event:
    """Secrets by key name and by value shape become ``[Filtered]`` (scrubbing.md §4)."""
    capture.client.scrubber.scrub_event(event)  # thread-safe: each walk keeps its own state
    return event


def _forget_exception(hint: Hint) -> None:
    # An exception whose event before_send dropped may be captured again (e.g. by excepthook
    # once it escapes); dedupe must not treat that second capture as a repeat.
    exc_info = hint.get("exc_info")
    if exc_info and isinstance(exc_info[1], BaseException):
        from tripwire.integrations.dedupe import forget_exception

        forget_exception(exc_info[1])


def run_before_send(event: Event, capture: Capture) -> Event | Drop:
    before_send = capture.options.before_send
    if before_send is None:
        return event
    try:
        result = before_send(event, capture.hint)
    except Exception:
        logger.exception("before_send raised; the event is dropped")
        return Drop(drops.CALLBACK_ERROR)
    if result is None:
        _forget_exception(capture.hint)
        return Drop(drops.BEFORE_SEND)
    if not isinstance(result, dict):
        logger.warning("before_send returned %s, not a dict; the event is dropped", type(result))
        return Drop(drops.CALLBACK_ERROR)
    return result  # type: ignore[return-value]
