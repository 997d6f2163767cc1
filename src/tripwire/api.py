"""The top-level API: thin functions, each guarded once at its outermost frame.

Nothing here raises into the application except ``init()`` with bad options; an internal
error is logged on the ``tripwire`` logger (once a minute per place) and swallowed.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from tripwire import drops
from tripwire.active import (
    capture_layers,
    get_client,
    get_current_scope,
    get_global_scope,
    get_isolation_scope,
)
from tripwire.client import Client
from tripwire.events.exceptions import event_from_exception
from tripwire.options import Options
from tripwire.scope import Scope, as_text
from tripwire.types import Event, ExcInfo, Hint

__all__ = [
    "add_attachment",
    "add_breadcrumb",
    "capture_event",
    "capture_exception",
    "capture_message",
    "flush",
    "get_client",
    "init",
    "is_initialized",
    "last_event_id",
    "set_context",
    "set_extra",
    "set_level",
    "set_tag",
    "set_tags",
    "set_transaction_name",
    "set_user",
]

logger = logging.getLogger("tripwire")
logger.addHandler(logging.NullHandler())

_LOG_INTERVAL_S = 60.0
_last_logged: dict[tuple[str, int], float] = {}
# Errors the guards swallowed: tripwire's own tests fail when this is not empty.
swallowed: list[BaseException] = []


def _swallow(exc: Exception, capturing: bool = False) -> None:
    """Log (once a minute per place) and count an internal error instead of raising it."""
    swallowed.append(exc)
    del swallowed[:-20]
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno) if tb else ("?", 0)
    now = time.monotonic()
    if now - _last_logged.get(where, -_LOG_INTERVAL_S) >= _LOG_INTERVAL_S:
        _last_logged[where] = now
        logger.error("internal error in tripwire (reported once a minute)", exc_info=exc)
    if capturing:
        get_client().drops.count(drops.INTERNAL_SDK_ERROR, "error")


@contextmanager
def _internal_errors_logged(capturing: bool = False) -> Iterator[None]:
    """The guard as a ``with`` block, for the paths where a few hundred ns do not matter."""
    try:
        yield
    except Exception as exc:
        _swallow(exc, capturing)


class _InitGuard:
    """What ``init()`` returns: a context manager that closes the client on exit."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __enter__(self) -> _InitGuard:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with _internal_errors_logged():
            self._client.close()
            if get_global_scope().client is self._client:
                get_global_scope().set_client(None)


class _DebugHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler that ``debug=True`` attaches to the ``tripwire`` logger."""


def _set_debug_logging(enabled: bool) -> None:
    existing = [h for h in logger.handlers if isinstance(h, _DebugHandler)]
    if enabled and not existing:
        debug_handler = _DebugHandler(sys.stderr)
        debug_handler.setFormatter(logging.Formatter(" [tripwire] %(levelname)s: %(message)s"))
        logger.addHandler(debug_handler)
        logger.setLevel(logging.DEBUG)
    elif not enabled:
        for handler in existing:
            logger.removeHandler(handler)


def init(dsn: str | None = None, **options: Any) -> _InitGuard:
    """Start capturing: build a client from ``dsn``, the options and the environment.

    Raises ``TypeError``/``ValueError`` for an unknown option or a bad value (the one place
    tripwire raises). Returns a guard; ``with init(...):`` flushes and closes on exit.
    """
    config = Options.from_init(dsn, options)
    _set_debug_logging(config.debug)
    client = Client(config)
    global_scope = get_global_scope()
    previous = global_scope.client
    global_scope.set_client(client)
    if previous is not None and previous is not client:
        with _internal_errors_logged():
            # The old client stops; what it still holds is spooled, not lost.
            threading.Thread(target=previous.close, args=(0,), daemon=True).start()
    return _InitGuard(client)


def _capture_event(
    event: Event,
    hint: Hint | None,
    scope: Scope | Callable[[Scope], object] | None,
    kwargs: dict[str, Any],
    on: Scope | None = None,
) -> str | None:
    client = get_client()
    if not client.is_active():
        return None
    if not isinstance(event, dict):
        logger.warning("capture_event takes a dict, got %s", type(event).__name__)
        return None
    return client.capture(dict(event), hint, capture_layers(on, scope, kwargs))  # type: ignore[arg-type]


def _capture_message(
    message: str,
    level: str | None,
    scope: Scope | Callable[[Scope], object] | None,
    kwargs: dict[str, Any],
    on: Scope | None = None,
) -> str | None:
    client = get_client()
    if not client.is_active():
        return None
    event: Event = {"message": as_text(message)}
    if level is not None:
        event["level"] = level
    return client.capture(event, None, capture_layers(on, scope, kwargs))


def _capture_exception(
    error: BaseException | ExcInfo | None,
    scope: Scope | Callable[[Scope], object] | None,
    kwargs: dict[str, Any],
    on: Scope | None = None,
) -> str | None:
    client = get_client()
    if not client.is_active():
        return None
    if error is None:
        error = sys.exc_info()
    if isinstance(error, tuple):
        error = error[1] if len(error) == 3 else None
    if not isinstance(error, BaseException):
        if error is not None:
            logger.warning("capture_exception takes an exception, got %s", type(error).__name__)
        return None
    event, hint = event_from_exception(
        error, client.config, mechanism={"type": "generic", "handled": True}
    )
    event.pop("level", None)  # unless a scope or keyword says otherwise, fill_defaults: error
    return client.capture(event, hint, capture_layers(on, scope, kwargs))


def capture_event(
    event: Event,
    hint: Hint | None = None,
    scope: Scope | Callable[[Scope], object] | None = None,
    **scope_kwargs: Any,
) -> str | None:
    """Send a prepared event. Returns its id, or None when not sent. Never raises."""
    try:
        return _capture_event(event, hint, scope, scope_kwargs)
    except Exception as exc:
        _swallow(exc, capturing=True)
        return None


def capture_message(
    message: str,
    level: str | None = None,
    scope: Scope | Callable[[Scope], object] | None = None,
    **scope_kwargs: Any,
) -> str | None:
    """Send ``message`` (level ``info`` unless given). Returns the event id or None."""
    try:
        return _capture_message(message, level, scope, scope_kwargs)
    except Exception as exc:
        _swallow(exc, capturing=True)
        return None


def capture_exception(
    error: BaseException | ExcInfo | None = None,
    scope: Scope | Callable[[Scope], object] | None = None,
    **scope_kwargs: Any,
) -> str | None:
    """Send ``error`` (default: the exception being handled) with its chain and stack.

    Returns the event id, or None when there is no exception, tripwire is not initialised,
    or the event was dropped. Never raises.
    """
    try:
        return _capture_exception(error, scope, scope_kwargs)
    except Exception as exc:
        _swallow(exc, capturing=True)
        return None


def add_breadcrumb(
    crumb: dict[str, Any] | None = None, hint: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Record a breadcrumb on the isolation scope. Never raises."""
    try:
        get_client()._record_breadcrumb(get_isolation_scope(), crumb, hint, kwargs)
    except Exception as exc:
        _swallow(exc)


def add_attachment(
    bytes: bytes | None = None,
    filename: str | None = None,
    path: str | None = None,
    content_type: str | None = None,
    add_to_transactions: bool = False,
) -> None:
    """Attach a file to the events of the isolation scope. Never raises."""
    with _internal_errors_logged():
        get_isolation_scope().add_attachment(bytes, filename, path, content_type)


def set_tag(key: str, value: object) -> None:
    with _internal_errors_logged():
        get_isolation_scope().set_tag(key, value)


def set_tags(tags: dict[str, object]) -> None:
    with _internal_errors_logged():
        get_isolation_scope().set_tags(tags)


def set_extra(key: str, value: object) -> None:
    with _internal_errors_logged():
        get_isolation_scope().set_extra(key, value)


def set_context(key: str, value: dict[str, object]) -> None:
    with _internal_errors_logged():
        get_isolation_scope().set_context(key, value)


def set_user(value: dict[str, object] | None) -> None:
    with _internal_errors_logged():
        get_isolation_scope().set_user(value)


def set_level(value: str) -> None:
    with _internal_errors_logged():
        get_isolation_scope().set_level(value)


def set_transaction_name(name: str, source: str | None = None) -> None:
    with _internal_errors_logged():
        get_current_scope().set_transaction_name(name, source)


def last_event_id() -> str | None:
    """The id of the last event sent from this isolation scope, if any."""
    return get_isolation_scope()._last_event_id


def is_initialized() -> bool:
    """True when ``init()`` made a client that can send events somewhere."""
    return get_client().is_active()


def flush(
    timeout: float | None = None, callback: Callable[[int, float], None] | None = None
) -> bool:
    """Wait up to ``timeout`` seconds for queued events; True when all went out. Never raises."""
    with _internal_errors_logged():
        return get_client().flush(timeout, callback)
    return False
