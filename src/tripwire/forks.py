"""A context's two scopes, and forks of them deferred until something uses them.

``tripwire.active`` keeps one ``ScopePair`` per context in a single ContextVar: one set and
one reset per ``with`` block or request instead of two. Web requests, threads and tasks get a
``DeferredForks``: it stands for forks of its parent's scopes taken when it was made, but
forks them only when the scopes are first asked for (a tag set, a breadcrumb, a capture). A
request that never touches its scopes costs one object and one ContextVar set.

What a deferral sees is what an immediate fork would have: it holds each parent scope's
``Epoch``, and a parent written in the meantime first keeps a copy-on-write snapshot of itself
for it (``Scope._freeze``). A deferral of a deferral that was never used takes over its
parent's recipe: the same sources and epochs, plus the parent's processors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tripwire.afterfork import lock_renewed_in_child
from tripwire.scope import Epoch, Scope
from tripwire.types import EventProcessor

if TYPE_CHECKING:
    from tripwire.client import Client

__all__ = ["DeferredForks", "ScopePair"]

# Two threads sharing one deferral (a request and a thread it started) that use it at once
# must end up with the same forks.
_make_lock = lock_renewed_in_child(globals(), "_make_lock")


class ScopePair:
    """The isolation and current scope in effect in a context."""

    __slots__ = ("current", "isolation")

    def __init__(self, isolation: Scope | None, current: Scope | None) -> None:
        # None only in a DeferredForks whose fork is not made yet.
        self.isolation = isolation
        self.current = current

    def make_isolation(self) -> Scope:
        """The isolation scope, forking it first if it was deferred."""
        assert self.isolation is not None
        return self.isolation

    def make_current(self) -> Scope:
        """The current scope, forking it first if it was deferred."""
        assert self.current is not None
        return self.current

    def client(self) -> Client | None:
        """The client bound to the current scope, else to the isolation scope, else None."""
        current, isolation = self.current, self.isolation
        if current is not None and current.client is not None:
            return current.client
        return isolation.client if isolation is not None else None


class DeferredForks(ScopePair):
    """Forks of ``parent``'s scopes as they are now, made when first used.

    ``fresh`` leaves the isolation fork without the parent's breadcrumbs (a web request's);
    subclasses add event processors to it with ``own_processors``.
    """

    __slots__ = (
        "_current_epoch",
        "_current_source",
        "_fresh",
        "_isolation_epoch",
        "_isolation_source",
        "_processors",
    )

    _isolation_source: Scope
    _isolation_epoch: Epoch
    _current_source: Scope
    _current_epoch: Epoch
    _processors: tuple[EventProcessor, ...]  # of unused deferrals this one took over
    _fresh: bool

    def __init__(self, parent: ScopePair, fresh: bool = False) -> None:
        self._defer(parent, fresh)

    def _defer(self, parent: ScopePair, fresh: bool) -> None:
        """Set this deferral up from ``parent`` (subclasses call it instead of ``__init__``:
        one call less per request)."""
        self.isolation = None
        self.current = None
        isolation = parent.isolation
        if isolation is None:  # the parent is an unused deferral: what it stands for
            assert isinstance(parent, DeferredForks)
            self._isolation_source = parent._isolation_source
            self._isolation_epoch = parent._isolation_epoch
            self._processors = parent._processors + parent.own_processors()
            self._fresh = fresh or parent._fresh
        else:
            self._isolation_source = isolation
            self._isolation_epoch = isolation._epoch or isolation._epoch_now()
            self._processors = ()
            self._fresh = fresh
        current = parent.current
        if current is None:
            assert isinstance(parent, DeferredForks)
            self._current_source = parent._current_source
            self._current_epoch = parent._current_epoch
        else:
            self._current_source = current
            self._current_epoch = current._epoch or current._epoch_now()

    def own_processors(self) -> tuple[EventProcessor, ...]:
        """Event processors this deferral adds to its isolation fork (none here)."""
        return ()

    def make_isolation(self) -> Scope:
        with _make_lock:
            if self.isolation is None:
                self.isolation = self._isolation_source._fork_from(
                    self._isolation_epoch, self._processors + self.own_processors(), self._fresh
                )
            return self.isolation

    def make_current(self) -> Scope:
        with _make_lock:
            if self.current is None:
                self.current = self._current_source._fork_from(self._current_epoch, (), False)
            return self.current

    def client(self) -> Client | None:
        current = self.current
        if current is None:
            current = self._current_epoch.frozen or self._current_source
        if current.client is not None:
            return current.client
        isolation = self.isolation
        if isolation is None:
            isolation = self._isolation_epoch.frozen or self._isolation_source
        return isolation.client
