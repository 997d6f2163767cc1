"""Scopes: the data merged into every event. Which scopes are active is ``tripwire.active``.

Runs on the caller's thread. Precedence is global < isolation < current < ``scope=`` <
capture kwargs < the event's own values (scopes-and-options.md §3, with its Notes fixed:
explicit values win, breadcrumbs merge in order and are re-capped, and the processors of a
scope passed as ``scope=`` run). Nested values are copied on the way in, so a fork and its
parent never share a dict that either of them mutates.

Forks copy on write: a fork shares its parent's containers, both are marked, and whichever
side writes first copies the container it writes (a request that never writes to its scopes
pays one allocation per fork). New scopes share one set of empty containers the same way.
A scope is written by the thread or task it belongs to; when two threads make the first
write to one scope at once, both writes land in the same copy. Requests, threads and tasks
defer even the fork (``tripwire.forks``): every write first checks for an ``Epoch`` handed out
since the last write, and if there is one keeps the scope's state for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tripwire.afterfork import lock_renewed_in_child
from tripwire.breadcrumbs import BreadcrumbRing
from tripwire.types import Event, EventProcessor, ExcInfo, Hint

if TYPE_CHECKING:
    from tripwire.client import Client, NonRecordingClient

__all__ = ["Epoch", "Scope", "ScopeType", "as_text"]

logger = logging.getLogger(__name__)

ErrorProcessor = Callable[[Event, ExcInfo], Event | None]

DEFAULT_MAX_BREADCRUMBS = 100
# Containers a fork shares with its parent until one of them writes (Scope._shared).
_TAGS, _EXTRAS, _CONTEXTS, _CRUMBS, _PROCESSORS, _ERROR_PROCESSORS, _ATTACHMENTS = (
    1, 2, 4, 8, 16, 32, 64
)  # fmt: skip
_ALL = 127
# The containers of a new or cleared scope, never written: every scope holding one has its bit
# set in `_shared`, so its first write copies it (`_own`).
_EMPTY_TAGS: dict[str, object] = {}
_EMPTY_CONTEXTS: dict[str, dict[str, object]] = {}
_EMPTY_RING = BreadcrumbRing(DEFAULT_MAX_BREADCRUMBS)
_EMPTY_PROCESSORS: list[EventProcessor] = []
_EMPTY_ERROR_PROCESSORS: list[tuple[ErrorProcessor, type[BaseException] | None]] = []
_EMPTY_ATTACHMENTS: list[dict[str, Any]] = []
# Held while a scope copies a shared container, so that two threads making the first write to
# one scope at once both write into the same copy (none of their writes is lost).
_own_lock = lock_renewed_in_child(globals(), "_own_lock")


def as_text(value: object) -> str:
    """``str(value)`` for keys and messages, surviving a ``__str__`` that raises."""
    if isinstance(value, str):
        return value
    try:
        text = str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
    return text if isinstance(text, str) else f"<unprintable {type(value).__name__}>"


class Epoch:
    """A moment in a scope's history that deferred forks of it wait on.

    A deferral (``tripwire.forks``) does not fork a scope: it takes the scope's current epoch.
    The scope's next write first sets ``frozen`` to a fork of the scope as it was (copy on
    write: nothing is copied). When the deferral is first used it forks ``frozen`` if the scope
    was written since, else the scope itself: it sees what an immediate fork would have.
    """

    __slots__ = ("frozen",)

    def __init__(self) -> None:
        self.frozen: Scope | None = None


class ScopeType:
    GLOBAL = "global"
    ISOLATION = "isolation"
    CURRENT = "current"
    MERGED = "merged"


class Scope:
    """Tags, extras, contexts, user, level, fingerprint, breadcrumbs and processors."""

    __slots__ = (
        "_attachments",
        "_breadcrumbs",
        "_contexts",
        "_epoch",
        "_error_processors",
        "_event_processors",
        "_extras",
        "_fingerprint",
        "_last_event_id",
        "_level",
        "_shared",
        "_tags",
        "_trace",
        "_transaction",
        "_transaction_info",
        "_type",
        "_user",
        "client",
    )

    _tags: dict[str, object]
    _extras: dict[str, object]
    _contexts: dict[str, dict[str, object]]
    _user: dict[str, object] | None
    _level: str | None
    _fingerprint: list[str] | None
    _transaction: str | None
    _transaction_info: dict[str, object]
    _breadcrumbs: BreadcrumbRing
    _event_processors: list[EventProcessor]
    _error_processors: list[tuple[ErrorProcessor, type[BaseException] | None]]
    _attachments: list[dict[str, Any]]
    _shared: int  # bit set of the containers still shared with a fork (copy on write)
    _epoch: Epoch | None  # handed to deferred forks since the last write (see Epoch)

    def __init__(self, ty: str | None = None, client: Client | None = None) -> None:
        self._type = ty
        self.client: Client | None = client
        self._last_event_id: str | None = None
        self._trace: dict[str, str] | None = None
        self._epoch = None
        self.clear()

    # -- the three scopes -------------------------------------------------------------------

    @staticmethod
    def get_current_scope() -> Scope:
        return active.get_current_scope()

    @staticmethod
    def get_isolation_scope() -> Scope:
        return active.get_isolation_scope()

    @staticmethod
    def get_global_scope() -> Scope:
        return active.get_global_scope()

    @staticmethod
    def last_event_id() -> str | None:
        """The id of the last event sent from this isolation scope (request, task, thread)."""
        return active.get_isolation_scope()._last_event_id

    def get_client(self) -> Client | NonRecordingClient:
        return active.get_client()

    def set_client(self, client: Client | None) -> None:
        if self._epoch is not None:
            self._freeze()
        self.client = client

    def fork(self) -> Scope:
        """A copy whose changes never reach this scope (nor this scope's to it).

        O(1): both scopes share their containers until either one writes (copy on write),
        so opening a scope per request costs no copying. The containers are read before the
        sharing is marked: a thread that makes the first write to this scope at the same time
        keeps its copy to itself (``_own``). One interleaving is left open: if that thread
        publishes its copy before the fork reads it but clears its mark after the fork set
        it, the copy stays shared unmarked. It takes one Scope object written and forked by
        two threads at once; integrations give every thread and task its own fork, and a
        lock here would cost every fork 100-200 ns.
        """
        forked = Scope.__new__(Scope)
        forked._type = self._type
        forked.client = self.client
        forked._tags = self._tags
        forked._extras = self._extras
        forked._contexts = self._contexts
        forked._user = self._user
        forked._level = self._level
        forked._fingerprint = self._fingerprint
        forked._transaction = self._transaction
        forked._transaction_info = self._transaction_info
        forked._breadcrumbs = self._breadcrumbs
        forked._event_processors = self._event_processors
        forked._error_processors = self._error_processors
        forked._attachments = self._attachments
        forked._last_event_id = self._last_event_id
        forked._trace = self._trace
        forked._epoch = None
        forked._shared = self._shared = _ALL
        if not forked._tags:
            # Tags are what a new scope is most often opened to set: an empty dict of its own
            # costs the fork one allocation and saves the first set_tag the copy under the lock.
            forked._tags = {}
            forked._shared = _ALL & ~_TAGS
        return forked

    def _epoch_now(self) -> Epoch:
        """Mark this moment for a deferred fork: ``_fork_from(epoch)`` made later returns a
        fork of this scope as it is now, whatever is written to it meanwhile."""
        epoch = self._epoch
        if epoch is None:
            with _own_lock:  # two deferrals at once must share one epoch, or a write misses one
                epoch = self._epoch
                if epoch is None:
                    epoch = self._epoch = Epoch()
        return epoch

    def _freeze(self) -> None:
        """Before the first write since an epoch was handed out: keep this scope as it is for
        the deferred forks holding that epoch (a fork: nothing is copied)."""
        with _own_lock:
            epoch = self._epoch
            if epoch is not None:
                epoch.frozen = self.fork()
                self._epoch = None

    def _fork_from(
        self, epoch: Epoch, processors: tuple[EventProcessor, ...], fresh_breadcrumbs: bool
    ) -> Scope:
        """The fork that a deferral made at ``epoch`` stands for, plus ``processors``, and
        without breadcrumbs if ``fresh_breadcrumbs`` (what a web request starts with)."""
        with _own_lock:  # against _freeze: the write that follows it must not reach the fork
            source = epoch.frozen or self
            forked = source.fork()
        if processors:
            # The fork's list as of the fork: the source may be written once the lock is free.
            forked._event_processors = [*forked._event_processors, *processors]
            forked._shared &= ~_PROCESSORS  # no other thread has seen the fork yet
        if fresh_breadcrumbs:
            forked._breadcrumbs = _EMPTY_RING  # the sharing bit stays set: the next crumb copies
        return forked

    def _own(self, part: int) -> None:
        """Copy a container shared with a fork before the first write to it.

        The copy is published before the bit is cleared, under a lock: a thread that finds
        the bit clear finds the copy too, and two first writers share one copy.
        """
        with _own_lock:
            if not self._shared & part:
                return  # another thread copied it meanwhile
            if part == _TAGS:
                self._tags = dict(self._tags)
            elif part == _EXTRAS:
                self._extras = dict(self._extras)
            elif part == _CONTEXTS:
                self._contexts = dict(self._contexts)
            elif part == _CRUMBS:
                self._breadcrumbs = self._breadcrumbs.copy()
            elif part == _PROCESSORS:
                self._event_processors = list(self._event_processors)
            elif part == _ERROR_PROCESSORS:
                self._error_processors = list(self._error_processors)
            else:
                self._attachments = list(self._attachments)
            self._shared &= ~part

    def _append_breadcrumb(self, crumb: dict[str, Any], limit: int) -> None:
        if self._epoch is not None:
            self._freeze()
        if self._shared & _CRUMBS:
            self._own(_CRUMBS)
        ring = self._breadcrumbs
        if ring.items.maxlen != limit:
            ring.resize(limit)
        ring.append(crumb)

    def _set_last_event_id(self, event_id: str) -> None:
        if self._epoch is not None:
            self._freeze()
        self._last_event_id = event_id

    __copy__ = fork

    # -- data ------------------------------------------------------------------------------

    def clear(self) -> None:
        """Remove all data (the client and the last event id stay)."""
        if self._epoch is not None:
            self._freeze()
        # The empty containers are shared by every new or cleared scope (a scope is made per
        # thread, task and capture with kwargs): marked shared, the first write copies one.
        self._tags = _EMPTY_TAGS
        self._extras = _EMPTY_TAGS
        self._contexts = _EMPTY_CONTEXTS
        self._user = None
        self._level = None
        self._fingerprint = None
        self._transaction = None
        self._transaction_info = _EMPTY_TAGS
        self._breadcrumbs = _EMPTY_RING
        self._event_processors = _EMPTY_PROCESSORS
        self._error_processors = _EMPTY_ERROR_PROCESSORS
        self._attachments = _EMPTY_ATTACHMENTS
        # Never a bit cleared here: that could undo a fork's mark made by another thread.
        self._shared = _ALL

    def set_tag(self, key: str, value: object) -> None:
        if self._epoch is not None:
            self._freeze()
        if self._shared & _TAGS:
            self._own(_TAGS)
        self._tags[as_text(key)] = value

    def set_tags(self, tags: dict[str, object]) -> None:
        if not (type(tags) is dict or isinstance(tags, Mapping)):
            logger.warning("set_tags takes a dict, got %s", type(tags).__name__)
            return
        if self._epoch is not None:
            self._freeze()
        if self._shared & _TAGS:
            self._own(_TAGS)
        for key, value in tags.items():
            self._tags[as_text(key)] = value

    def remove_tag(self, key: str) -> None:
        if self._epoch is not None:
            self._freeze()
        if self._shared & _TAGS:
            self._own(_TAGS)
        self._tags.pop(key, None)

    def set_extra(self, key: str, value: object) -> None:
        if self._epoch is not None:
            self._freeze()
        if self._shared & _EXTRAS:
            self._own(_EXTRAS)
        self._extras[as_text(key)] = value

    def remove_extra(self, key: str) -> None:
        if self._epoch is not None:
            self._freeze()
        if self._shared & _EXTRAS:
            self._own(_EXTRAS)
        self._extras.pop(key, None)

    def set_context(self, key: str, value: dict[str, object]) -> None:
        if not (type(value) is dict or isinstance(value, Mapping)):
            logger.warning("set_context takes a dict, got %s", type(value).__name__)
            return
        if self._epoch is not None:
            self._freeze()
        if self._shared & _CONTEXTS:
            self._own(_CONTEXTS)
        self._contexts[as_text(key)] = dict(value)

    def remove_context(self, key: str) -> None:
        if self._epoch is not None:
            self._freeze()
        if self._shared & _CONTEXTS:
            self._own(_CONTEXTS)
        self._contexts.pop(key, None)

    def set_user(self, value: dict[str, object] | None) -> None:
        if value is not None and not (type(value) is dict or isinstance(value, Mapping)):
            logger.warning("set_user takes a dict or None, got %s", type(value).__name__)
            return
        if self._epoch is not None:
            self._freeze()
        self._user = None if value is None else dict(value)

    def set_level(self, value: str | None) -> None:
        if self._epoch is not None:
            self._freeze()
        self._level = value

    @property
    def level(self) -> str | None:
        return self._level

    @level.setter
    def level(self, value: str | None) -> None:
        if self._epoch is not None:
            self._freeze()
        self._level = value

    @property
    def user(self) -> dict[str, object] | None:
        return self._user

    @user.setter
    def user(self, value: dict[str, object] | None) -> None:
        self.set_user(value)

    @property
    def fingerprint(self) -> list[str] | None:
        return self._fingerprint

    @fingerprint.setter
    def fingerprint(self, value: list[str] | None) -> None:
        if self._epoch is not None:
            self._freeze()
        self._fingerprint = None if value is None else [as_text(part) for part in value]

    @property
    def transaction(self) -> str | None:
        return self._transaction

    @transaction.setter
    def transaction(self, value: str | None) -> None:
        if self._epoch is not None:
            self._freeze()
        self._transaction = value

    def set_transaction_name(self, name: str, source: str | None = None) -> None:
        if self._epoch is not None:
            self._freeze()
        self._transaction = name
        if source:
            self._transaction_info = {"source": source}

    @property
    def trace_context(self) -> dict[str, str]:
        """The ``contexts.trace`` ids of this scope, made when first asked for."""
        if self._trace is None:
            if self._epoch is not None:
                self._freeze()
            self._trace = {"trace_id": os.urandom(16).hex(), "span_id": os.urandom(8).hex()}
        return self._trace

    def add_attachment(
        self,
        bytes: bytes | Callable[[], bytes] | None = None,
        filename: str | None = None,
        path: str | None = None,
        content_type: str | None = None,
        add_to_transactions: bool = False,
    ) -> None:
        """Send a file with every event of this scope; ``path`` is read at capture time."""
        if bytes is None and path is None:
            raise TypeError("add_attachment needs bytes= or path=")
        name = filename or (os.path.basename(path) if path else None)
        if not name:
            raise TypeError("add_attachment needs filename= with bytes=")
        if self._epoch is not None:
            self._freeze()
        if self._shared & _ATTACHMENTS:
            self._own(_ATTACHMENTS)
        self._attachments.append(
            {"bytes": bytes, "path": path, "filename": name, "content_type": content_type}
        )

    def clear_breadcrumbs(self) -> None:
        if self._epoch is not None:
            self._freeze()
        # The sharing bit is left set (see clear()): the next crumb copies the empty ring.
        self._breadcrumbs = _EMPTY_RING
        self._shared |= _CRUMBS

    def add_event_processor(self, func: EventProcessor) -> None:
        """Run ``func(event, hint)`` on each event of this scope; None drops the event."""
        if self._epoch is not None:
            self._freeze()
        if self._shared & _PROCESSORS:
            self._own(_PROCESSORS)
        self._event_processors.append(func)

    def add_error_processor(
        self, func: ErrorProcessor, cls: type[BaseException] | None = None
    ) -> None:
        """Run ``func(event, exc_info)`` on error events (of ``cls`` only, when given)."""
        if self._epoch is not None:
            self._freeze()
        if self._shared & _ERROR_PROCESSORS:
            self._own(_ERROR_PROCESSORS)
        self._error_processors.append((func, cls))

    def add_breadcrumb(
        self, crumb: dict[str, Any] | None = None, hint: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Record a breadcrumb on this scope. Never raises."""
        from tripwire.api import _internal_errors_logged

        with _internal_errors_logged():
            active.get_client()._record_breadcrumb(self, crumb, hint, kwargs)

    # -- capture ---------------------------------------------------------------------------

    def capture_event(
        self,
        event: Event,
        hint: Hint | None = None,
        scope: Scope | None = None,
        **scope_kwargs: Any,
    ) -> str | None:
        from tripwire import api

        with api._internal_errors_logged():
            return api._capture_event(event, hint, scope, scope_kwargs, self)
        return None

    def capture_message(
        self,
        message: str,
        level: str | None = None,
        scope: Scope | None = None,
        **scope_kwargs: Any,
    ) -> str | None:
        from tripwire import api

        with api._internal_errors_logged():
            return api._capture_message(message, level, scope, scope_kwargs, self)
        return None

    def capture_exception(
        self,
        error: BaseException | ExcInfo | None = None,
        scope: Scope | None = None,
        **scope_kwargs: Any,
    ) -> str | None:
        from tripwire import api

        with api._internal_errors_logged():
            return api._capture_exception(error, scope, scope_kwargs, self)
        return None

    def __repr__(self) -> str:
        return f"<Scope {self._type or 'unnamed'} at {id(self):#x}>"


# Imported last: tripwire.active imports Scope from here, and the methods above only need it
# once they run.
from tripwire import active  # noqa: E402

# sentry_sdk.scope also offers these; here they live in tripwire.active.
_ACTIVE_NAMES = frozenset(
    {
        "add_global_event_processor",
        "get_client",
        "get_current_scope",
        "get_global_scope",
        "get_isolation_scope",
        "isolation_scope",
        "new_scope",
        "should_send_default_pii",
        "use_isolation_scope",
        "use_scope",
    }
)


def __getattr__(name: str) -> Any:
    if name in _ACTIVE_NAMES:
        return getattr(active, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
