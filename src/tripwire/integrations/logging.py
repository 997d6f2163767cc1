"""Log records as breadcrumbs (from ``level``) and events (from ``event_level``).

Runs on the caller's thread. ``setup_once`` wraps ``logging.Logger.callHandlers``, which the
logging module only reaches for records that passed the logger's own level check; a record
below every configured level then costs one call and one integer comparison. After the app's
handlers ran, an error record becomes an event first and a breadcrumb second, so it is not a
crumb of its own event (scopes-and-options.md §7).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from fnmatch import fnmatch
from types import FrameType, TracebackType
from typing import Any, ClassVar, cast

from tripwire import api
from tripwire.active import get_client
from tripwire.events.exceptions import event_from_exception
from tripwire.events.frames import frames_from_stack
from tripwire.integrations import Integration
from tripwire.options import Options
from tripwire.safe_repr import safe_repr, safe_str, without_surrogates
from tripwire.types import Breadcrumb, Event, Hint

__all__ = [
    "DEFAULT_EVENT_LEVEL",
    "DEFAULT_LEVEL",
    "BreadcrumbHandler",
    "EventHandler",
    "LoggingIntegration",
    "SentryHandler",
    "breadcrumb_from_record",
    "event_from_record",
    "extra_from_record",
    "ignore_logger",
    "sentry_level",
    "unignore_logger",
]

DEFAULT_LEVEL = logging.INFO
DEFAULT_EVENT_LEVEL = logging.ERROR

_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "fatal",
}

# Loggers whose records would loop back into tripwire (its own, its HTTP library's), as
# sentry_sdk ignores "sentry_sdk.errors"; fnmatch patterns.
_ignored: set[str] = {
    "tripwire",
    "tripwire.*",
    "sentry_sdk.errors",
    "urllib3.connectionpool",
    "urllib3.connection",
}
_ignored_cache: dict[str, bool] = {}
_MAX_CACHED_NAMES = 1000

# LogRecord attributes that logging itself sets; any other attribute came from ``extra=``.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
_MAX_DEPTH = 4
_MAX_ITEMS = 100
_MAX_REPR = 1024

# The lowest level any LoggingIntegration asked for: the fast path's one comparison. It only
# ever goes down, so a record it lets through may still be below the active instance's levels.
_lowest_level = sys.maxsize
# Set while tripwire handles a record, so a record logged from inside (a before_breadcrumb
# callback that logs, say) is not handled again.
_handling: ContextVar[bool] = ContextVar("tripwire_logging_handling", default=False)
_HERE = os.path.normcase(__file__)
_LOGGING_FILE = os.path.normcase(logging.__file__)


def ignore_logger(name: str) -> None:
    """Never record breadcrumbs or events from logger ``name`` (an fnmatch pattern)."""
    _ignored.add(str(name))
    _ignored_cache.clear()


def unignore_logger(name: str) -> None:
    """Undo ``ignore_logger(name)``."""
    _ignored.discard(str(name))
    _ignored_cache.clear()


def _is_ignored(name: str) -> bool:
    found = _ignored_cache.get(name)
    if found is None:
        stripped = str(name).strip()
        found = any(fnmatch(stripped, pattern) for pattern in tuple(_ignored))
        if len(_ignored_cache) >= _MAX_CACHED_NAMES:
            _ignored_cache.clear()
        _ignored_cache[name] = found
    return found


def _as_level(option: str, value: int | str | None) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        found = logging.getLevelName(value.upper())  # gives the number of a known name
        if isinstance(found, int):
            return found
    raise ValueError(f"{option} must be a logging level like logging.INFO or 'INFO', got {value!r}")


def sentry_level(levelno: int) -> str:
    """The event level of a logging level; custom levels round down to the nearest known one."""
    exact = _LEVELS.get(levelno)
    if exact is not None:
        return exact
    for bound in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= bound:
            return _LEVELS[bound]
    return "debug"


def _snapshot(value: object, depth: int = 0) -> object:
    """A JSON-safe copy made now, so later changes to the app's objects do not leak in."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # past 64 bits Relay cannot take it, and str() is quadratic
        return value if -(2**63) <= value < 2**64 else safe_repr(value, _MAX_REPR)
    if isinstance(value, str):
        return without_surrogates(str.__getitem__(value, slice(None)))
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth < _MAX_DEPTH:
        if isinstance(value, dict):
            items = list(value.items())[:_MAX_ITEMS]
            return {safe_str(key): _snapshot(item, depth + 1) for key, item in items}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [_snapshot(item, depth + 1) for item in list(value)[:_MAX_ITEMS]]
    return safe_repr(value, _MAX_REPR)


def _formatted(record: logging.LogRecord) -> str:
    try:
        return without_surrogates(record.getMessage())
    except Exception:  # bad %-args: logging reports those itself, the event keeps the template
        return safe_str(record.msg)


def extra_from_record(record: logging.LogRecord) -> dict[str, object]:
    """The fields passed as ``extra=`` (attributes logging does not set itself), as a copy."""
    fields = vars(record)
    own = fields.keys() - _RECORD_ATTRS  # a set difference at C speed: usually empty
    return {key: _snapshot(fields[key]) for key in own if not key.startswith("_")}


def breadcrumb_from_record(record: logging.LogRecord, message: str | None = None) -> Breadcrumb:
    """The ``log`` breadcrumb of ``record``."""
    crumb: Breadcrumb = {
        "type": "log",
        "level": sentry_level(record.levelno),
        "category": safe_str(record.name),
        "message": _formatted(record) if message is None else message,
        "timestamp": record.created,
    }
    data = extra_from_record(record)
    if data:
        crumb["data"] = data
    return crumb


def _caller_frame() -> FrameType | None:
    # The first frame outside logging and this module: where the app called the logger.
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and os.path.normcase(frame.f_code.co_filename) in (
        _HERE,
        _LOGGING_FILE,
    ):
        frame = frame.f_back
    return frame


def _exception_of(record: logging.LogRecord) -> tuple[BaseException, TracebackType | None] | None:
    exc_info: object = record.exc_info
    if isinstance(exc_info, BaseException):  # a record made by hand, not by Logger._log
        return exc_info, exc_info.__traceback__
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value, tb = exc_info[1], exc_info[2]
        if isinstance(value, BaseException):
            return value, tb if isinstance(tb, TracebackType) else value.__traceback__
    return None


def event_from_record(
    record: logging.LogRecord, options: Options, message: str | None = None
) -> tuple[Event, Hint]:
    """The event of ``record``: its exception or stack, level, logger, logentry and extra."""
    found = _exception_of(record)
    event: Event
    if found is not None:
        error, tb = found
        event, hint = event_from_exception(
            (type(error), error, tb), options, mechanism={"type": "logging", "handled": True}
        )
    else:
        event, hint = {}, {}
        if record.exc_info or record.stack_info:  # exc_info=True outside an except block
            current = threading.current_thread()
            frames = frames_from_stack(_caller_frame(), options)
            event["threads"] = {
                "values": [
                    {
                        "id": threading.get_ident(),
                        "name": current.name,
                        "current": True,
                        "crashed": False,
                        "stacktrace": {"frames": frames},
                    }
                ]
            }
    hint["log_record"] = record
    event["level"] = sentry_level(record.levelno)
    event["logger"] = safe_str(record.name)
    template: object = record.msg
    params: object = record.args
    if sys.version_info < (3, 11) and record.name == "py.warnings" and template == "%s":
        # warnings before 3.11 log "%s" with the whole message as the one argument
        template, params = (
            record.args[0] if isinstance(record.args, tuple) and record.args else "",
            (),
        )
    logentry: dict[str, object] = {
        "message": safe_str(template),
        "formatted": _formatted(record) if message is None else message,
    }
    if params:
        logentry["params"] = _snapshot(params)
    event["logentry"] = logentry
    extra = extra_from_record(record)
    if extra:
        event["extra"] = extra
    return event, hint


def _capture_record(record: logging.LogRecord, message: str) -> None:
    client = get_client()
    if not client.is_active():
        return
    event, hint = event_from_record(record, client.config, message)
    api.capture_event(event, hint=hint)


def _add_breadcrumb(record: logging.LogRecord, message: str) -> None:
    crumb = cast(dict[str, Any], breadcrumb_from_record(record, message))
    api.add_breadcrumb(crumb, hint={"log_record": record})


def _handle(record: logging.LogRecord, wants_event: bool, wants_crumb: bool) -> None:
    if _is_ignored(record.name):
        return
    message = _formatted(record)
    if wants_event:  # the event first: an error record is not a crumb of its own event
        _capture_record(record, message)
    if wants_crumb:
        _add_breadcrumb(record, message)


def _guarded(action: Callable[[], None]) -> None:
    if _handling.get():
        return
    token = _handling.set(True)
    try:
        with api._internal_errors_logged(capturing=True):
            action()
    finally:
        _handling.reset(token)


class LoggingIntegration(Integration):
    """Breadcrumbs from ``level``, events from ``event_level``; ``None`` turns either off.

    ``sentry_logs_level`` is accepted for compatibility: tripwire has no structured logs.
    """

    identifier: ClassVar[str] = "logging"

    def __init__(
        self,
        level: int | str | None = DEFAULT_LEVEL,
        event_level: int | str | None = DEFAULT_EVENT_LEVEL,
        sentry_logs_level: int | str | None = DEFAULT_LEVEL,
        capture_sentry_logs: object = None,
    ) -> None:
        global _lowest_level
        self.level = _as_level("level", level)
        self.event_level = _as_level("event_level", event_level)
        for threshold in (self.level, self.event_level):
            if threshold is not None:
                _lowest_level = min(_lowest_level, threshold)

    def handle_record(self, record: logging.LogRecord) -> None:
        """Turn ``record`` into an event and/or a breadcrumb, by level. Never raises."""
        wants_event = self.event_level is not None and record.levelno >= self.event_level
        wants_crumb = self.level is not None and record.levelno >= self.level
        if not (wants_event or wants_crumb):
            return

        _guarded(lambda: _handle(record, wants_event, wants_crumb))

    @staticmethod
    def setup_once() -> None:
        original = logging.Logger.callHandlers

        def callHandlers(self: logging.Logger, record: logging.LogRecord) -> None:
            try:
                original(self, record)
            finally:
                if record.levelno >= _lowest_level:
                    integration = get_client().get_integration(LoggingIntegration)
                    if isinstance(integration, LoggingIntegration):
                        integration.handle_record(record)

        logging.Logger.callHandlers = callHandlers  # type: ignore[method-assign]


class EventHandler(logging.Handler):
    """A handler that sends each record it gets as an event, for explicit use.

    Not needed with the logging integration enabled (it is by default); adding both sends
    error records twice.
    """

    def emit(self, record: logging.LogRecord) -> None:
        _guarded(lambda: _handle(record, wants_event=True, wants_crumb=False))


class BreadcrumbHandler(logging.Handler):
    """A handler that records each record it gets as a breadcrumb, for explicit use."""

    def emit(self, record: logging.LogRecord) -> None:
        _guarded(lambda: _handle(record, wants_event=False, wants_crumb=True))


SentryHandler = EventHandler  # sentry_sdk's older name
