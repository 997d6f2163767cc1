"""Never send the same exception object twice (scopes-and-options.md §5.3).

A global event processor, run on the caller's thread. sentry_sdk remembers only the last
exception of each context, so an exception logged in a worker thread and then re-raised to
``sys.excepthook`` in the main thread went out twice; here every exception let through is
remembered, by identity and weakly, process-wide.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from contextvars import ContextVar
from typing import ClassVar

from tripwire.active import add_global_event_processor, get_client
from tripwire.integrations import Integration
from tripwire.types import Event, Hint

__all__ = ["DedupeIntegration", "forget_exception", "was_seen"]

# id -> weak reference; an entry goes away with its exception (the callback), so an id that
# is reused later never matches.
_seen: dict[int, weakref.ref[BaseException]] = {}
_lock = threading.RLock()  # re-entrant: a weakref callback may run during GC under it


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_after_fork_in_child)
_unweakrefable: deque[BaseException] = deque(maxlen=64)
# What this context let through last, for reset_last_seen(): (weak, None) or (None, strong).
_last_seen: ContextVar[tuple[weakref.ref[BaseException] | None, BaseException | None]] = ContextVar(
    "tripwire_dedupe_last_seen", default=(None, None)
)


def was_seen(error: BaseException) -> bool:
    """Whether ``error`` was already let through by the dedupe processor."""
    ref = _seen.get(id(error))
    if ref is not None and ref() is error:
        return True
    return any(kept is error for kept in _unweakrefable)


def _remember(error: BaseException) -> bool:
    """Mark ``error`` as seen; False when it already was."""
    key = id(error)

    def forget(dead: weakref.ref[BaseException]) -> None:
        with _lock:
            if _seen.get(key) is dead:
                del _seen[key]

    with _lock:
        if was_seen(error):
            return False
        try:
            ref = weakref.ref(error, forget)
        except TypeError:  # a class with __slots__ and no __weakref__: keep the newest few
            _unweakrefable.append(error)
            _last_seen.set((None, error))
            return True
        _seen[key] = ref
    _last_seen.set((ref, None))
    return True


def forget_exception(error: BaseException) -> None:
    """Let ``error`` be sent again (for when ``before_send`` dropped its event)."""
    with _lock:
        ref = _seen.get(id(error))
        if ref is not None and ref() is error:
            del _seen[id(error)]
        kept = [item for item in _unweakrefable if item is not error]
        if len(kept) != len(_unweakrefable):
            _unweakrefable.clear()
            _unweakrefable.extend(kept)


def _dedupe(event: Event, hint: Hint) -> Event | None:
    if get_client().get_integration(DedupeIntegration) is None:
        return event
    exc_info = hint.get("exc_info") if hint else None
    if not exc_info or len(exc_info) != 3 or not isinstance(exc_info[1], BaseException):
        return event
    return event if _remember(exc_info[1]) else None


class DedupeIntegration(Integration):
    """Drops an error event whose exception object was already sent (client report:
    ``event_processor``)."""

    identifier: ClassVar[str] = "dedupe"

    @staticmethod
    def setup_once() -> None:
        add_global_event_processor(_dedupe)

    @staticmethod
    def reset_last_seen() -> None:
        """Forget the exception this context let through last (sentry_sdk's name)."""
        ref, strong = _last_seen.get()
        error = ref() if ref is not None else strong
        if error is not None:
            forget_exception(error)
        _last_seen.set((None, None))
