"""Never send the same exception object twice (scopes-and-options.md §5.3).

A global event processor, run on the caller's thread. sentry_sdk remembers only the last
exception of each context, so an exception logged in a worker thread and then re-raised to
``sys.excepthook`` in the main thread went out twice; here every exception let through is
remembered process-wide, by a mark in the exception's own ``__dict__``. Builtin exception
types take no weak references, so an identity table would either pin every traceback (and its
frames' locals) or forget; the mark lives and dies with its exception and costs a dict write.
The mark holds this process's token and the object's id, so a copy (``copy.copy`` shares the
``__dict__`` contents) or an unpickled twin from another process is not taken for the original.
"""

from __future__ import annotations

import weakref
from collections import deque
from contextvars import ContextVar
from typing import ClassVar

from tripwire.active import add_global_event_processor, get_client
from tripwire.afterfork import lock_renewed_in_child
from tripwire.integrations import Integration
from tripwire.types import Event, Hint

__all__ = ["DedupeIntegration", "forget_exception", "was_seen"]

_MARK = "_tripwire_sent"
_TOKEN = object()  # unpickling makes a new object: a mark from elsewhere never matches
# Only for replacing a stale mark, never on the common path.
_lock = lock_renewed_in_child(globals(), "_lock")

# Exceptions whose __dict__ cannot be written (a class overriding it): the newest few, held.
_unmarkable: deque[BaseException] = deque(maxlen=64)
# What this context let through last, for reset_last_seen(): (weak, None) or (None, strong).
_last_seen: ContextVar[tuple[weakref.ref[BaseException] | None, BaseException | None]] = ContextVar(
    "tripwire_dedupe_last_seen", default=(None, None)
)


def _is_mark_of(mark: object, error: BaseException) -> bool:
    return type(mark) is tuple and len(mark) == 2 and mark[0] is _TOKEN and mark[1] == id(error)


def was_seen(error: BaseException) -> bool:
    """Whether ``error`` was already let through by the dedupe processor."""
    try:
        return _is_mark_of(error.__dict__.get(_MARK), error)
    except Exception:  # a __dict__ that is not a dict
        return any(kept is error for kept in _unmarkable)


def _remember(error: BaseException) -> bool:
    """Mark ``error`` as seen; False when it already was."""
    mark = (_TOKEN, id(error))
    try:
        marks = error.__dict__
        held = marks.setdefault(_MARK, mark)  # atomic: of two threads, one sets it
        if held is not mark:
            if _is_mark_of(held, error):
                return False
            with _lock:  # a copied or unpickled mark: replace it, once
                if _is_mark_of(marks.get(_MARK), error):
                    return False
                marks[_MARK] = mark
    except Exception:  # a __dict__ that is not a dict
        with _lock:
            if any(kept is error for kept in _unmarkable):
                return False
            _unmarkable.append(error)
    if type(error).__weakrefoffset__:
        _last_seen.set((weakref.ref(error), None))
    else:  # builtin exception types take no weak references
        _last_seen.set((None, error))
    return True


def forget_exception(error: BaseException) -> None:
    """Let ``error`` be sent again (for when ``before_send`` dropped its event)."""
    try:
        marks = error.__dict__
        if _is_mark_of(marks.get(_MARK), error):
            marks.pop(_MARK, None)
    except Exception:  # a __dict__ that is not a dict
        with _lock:
            kept = [item for item in _unmarkable if item is not error]
            if len(kept) != len(_unmarkable):
                _unmarkable.clear()
                _unmarkable.extend(kept)


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
