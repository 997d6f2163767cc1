"""Sending an exception nobody handled: what excepthook, threading, asyncio and the
unraisable hook share."""

from __future__ import annotations

from types import TracebackType

from tripwire import api
from tripwire.active import get_client
from tripwire.events.exceptions import event_from_exception

__all__ = ["capture_unhandled", "is_reportable"]


def is_reportable(error: BaseException) -> bool:
    """False for a Ctrl-C and for a clean ``sys.exit()``: those end a program on purpose."""
    if isinstance(error, KeyboardInterrupt):
        return False
    return not (isinstance(error, SystemExit) and error.code in (0, None))


def capture_unhandled(
    error: BaseException, mechanism_type: str, tb: TracebackType | None = None
) -> None:
    """Send ``error`` as unhandled (``handled: false``) with the active scopes. Never raises.

    ``tb`` is the traceback a hook was given, when it differs from ``error.__traceback__``.
    """
    with api._internal_errors_logged(capturing=True):
        client = get_client()
        if not client.is_active():
            return
        exc_info = (type(error), error, tb if tb is not None else error.__traceback__)
        event, hint = event_from_exception(
            exc_info, client.config, mechanism={"type": mechanism_type, "handled": False}
        )
        client.capture_event(event, hint)
