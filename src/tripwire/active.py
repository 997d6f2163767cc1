"""Which scopes are active: the global scope, the ContextVar holding a context's isolation
and current scope, the ``with`` blocks that switch them, and the list of scopes one capture
merges.

Runs on the caller's thread; ``tripwire.scope`` holds what a scope contains and
``tripwire.forks`` the pair of scopes a context holds (forked lazily for requests, threads and
tasks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from tripwire.forks import ScopePair
from tripwire.scope import _EXTRAS, _TAGS, Scope, ScopeType, as_text
from tripwire.types import EventProcessor

if TYPE_CHECKING:
    from tripwire.client import Client, NonRecordingClient

__all__ = [
    "add_global_event_processor",
    "capture_layers",
    "enter",
    "get_client",
    "get_current_scope",
    "get_global_scope",
    "get_isolation_scope",
    "global_event_processors",
    "isolation_scope",
    "leave",
    "new_scope",
    "restore",
    "scope_pair",
    "should_send_default_pii",
    "use_isolation_scope",
    "use_scope",
]

logger = logging.getLogger(__name__)

_global_event_processors: list[EventProcessor] = []

_global_scope: Scope | None = None
# The client used before init(); client.py puts its NonRecordingClient here when imported.
_fallback_client: list[NonRecordingClient] = []
# One variable for both scopes: a request or a `with` block sets and resets it once.
_scopes: ContextVar[ScopePair | None] = ContextVar("tripwire_scopes", default=None)


def get_global_scope() -> Scope:
    """The process-wide scope: it holds the client that ``init()`` made."""
    global _global_scope
    if _global_scope is None:
        _global_scope = Scope(ScopeType.GLOBAL)
    return _global_scope


def scope_pair() -> ScopePair:
    """This context's isolation and current scope (made on first use in a context)."""
    pair = _scopes.get()
    if pair is None:
        pair = ScopePair(Scope(ScopeType.ISOLATION), Scope(ScopeType.CURRENT))
        _scopes.set(pair)
    return pair


def get_isolation_scope() -> Scope:
    """The scope of this request, task or thread: top-level ``set_*`` write here."""
    pair = _scopes.get()
    if pair is None:
        pair = scope_pair()
    scope = pair.isolation
    return scope if scope is not None else pair.make_isolation()


def get_current_scope() -> Scope:
    """The innermost scope: the one ``new_scope()`` opened."""
    pair = _scopes.get()
    if pair is None:
        pair = scope_pair()
    scope = pair.current
    return scope if scope is not None else pair.make_current()


def get_client() -> Client | NonRecordingClient:
    """The active client: current scope's, isolation's, global's, else a no-op one."""
    pair = _scopes.get()
    if pair is not None:
        current, isolation = pair.current, pair.isolation
        if current is not None and isolation is not None:  # both forked (or never deferred)
            if current.client is not None:
                return current.client
            if isolation.client is not None:
                return isolation.client
        else:
            client = pair.client()  # a deferral: its sources' clients, forking nothing
            if client is not None:
                return client
    if _global_scope is not None and _global_scope.client is not None:
        return _global_scope.client
    return _fallback_client[0]


# enter(pair): make ``pair`` this context's scopes, as they are (no fork); ``leave(token)``
# undoes it. For integrations that run work in scopes made elsewhere (a request's, a thread's or
# a task's deferred forks): the ContextVar's own method, so a request pays no Python call for
# it, where ``use_isolation_scope()`` would also fork.
enter = _scopes.set
# restore(token): ``leave`` without a Python call, for a request handler's own frame; it raises
# ValueError where ``leave`` logs (the token is of another context).
restore = _scopes.reset


def leave(token: Token[ScopePair | None]) -> None:
    """Restore what ``enter()`` replaced."""
    try:
        _scopes.reset(token)
    except ValueError:
        # Exited in another context (a generator finished elsewhere): keep going.
        logger.debug("scope exited in another context than it was entered in")


class _ScopeBlock(ScopePair):
    """The context manager behind ``new_scope`` and friends, and the pair of scopes it makes
    active (one object per block; cheaper than a generator)."""

    __slots__ = ("_token", "_yields")

    def __init__(self, isolation: Scope, current: Scope, yields: Scope) -> None:
        self.isolation = isolation
        self.current = current
        self._yields = yields
        self._token: Token[ScopePair | None] | None = None

    def __enter__(self) -> Scope:
        self._token = _scopes.set(self)
        return self._yields

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            leave(self._token)


def new_scope() -> _ScopeBlock:
    """Fork the current scope for the ``with`` block; yields the fork."""
    pair = scope_pair()
    forked = (pair.current or pair.make_current()).fork()
    return _ScopeBlock(pair.isolation or pair.make_isolation(), forked, forked)


def use_scope(scope: Scope) -> _ScopeBlock:
    """Make ``scope`` current for the ``with`` block (no fork)."""
    pair = scope_pair()
    return _ScopeBlock(pair.isolation or pair.make_isolation(), scope, scope)


def isolation_scope() -> _ScopeBlock:
    """Fork both the isolation and the current scope; yields the new isolation scope."""
    pair = scope_pair()
    forked = (pair.isolation or pair.make_isolation()).fork()
    return _ScopeBlock(forked, (pair.current or pair.make_current()).fork(), forked)


def use_isolation_scope(scope: Scope) -> _ScopeBlock:
    """Make ``scope`` the isolation scope (and fork the current one) for the block."""
    pair = scope_pair()
    return _ScopeBlock(scope, (pair.current or pair.make_current()).fork(), scope)


def capture_layers(
    on: Scope | None, scope: Scope | Callable[[Scope], object] | None, kwargs: dict[str, Any]
) -> tuple[Scope, ...]:
    """The scopes one capture merges, lowest precedence first: global, isolation, current,
    the scope it was called on, ``scope=`` (a Scope or a callable that fills one), kwargs."""
    pair = scope_pair()
    layers = [
        get_global_scope(),
        pair.isolation or pair.make_isolation(),
        pair.current or pair.make_current(),
    ]
    if on is not None and on not in layers:
        layers.append(on)
    if isinstance(scope, Scope):
        if scope not in layers:
            layers.append(scope)
    elif callable(scope):
        extra = Scope()
        scope(extra)
        layers.append(extra)
    if kwargs:
        layers.append(_scope_from_kwargs(kwargs))
    return tuple(layers)


def _scope_from_kwargs(kwargs: dict[str, Any]) -> Scope:
    # scopes-and-options.md §3: accept `extra=` as an alias of `extras=`; an unknown keyword
    # is logged and ignored rather than losing the event. The layer is seen by no other
    # thread: its dicts are built in one step and owned, with no copy-on-write bookkeeping.
    layer = Scope()
    for key, value in kwargs.items():
        if key == "tags":
            if type(value) is dict or isinstance(value, Mapping):
                layer._tags = _merged(layer._tags, value)
                layer._shared &= ~_TAGS
            else:
                layer.set_tags(value)  # logs what it got
        elif key in ("extra", "extras") and (type(value) is dict or isinstance(value, Mapping)):
            layer._extras = _merged(layer._extras, value)
            layer._shared &= ~_EXTRAS
        elif key == "contexts" and (type(value) is dict or isinstance(value, Mapping)):
            for name, item in value.items():
                layer.set_context(name, item)
        elif key == "user":
            layer.set_user(value)
        elif key == "level":
            layer._level = value
        elif key == "fingerprint" and isinstance(value, (list, tuple)):
            layer.fingerprint = list(value)
        elif key != "attributes":
            logger.warning("ignoring unknown capture keyword %r", key)
    return layer


def _merged(current: dict[str, object], given: Mapping[Any, object]) -> dict[str, object]:
    """A new dict: ``current`` updated with ``given``, keys as text (usually they are)."""
    merged = dict(given)
    for key in merged:
        if type(key) is not str:
            merged = {as_text(key): item for key, item in given.items()}
            break
    return {**current, **merged} if current else merged


def add_global_event_processor(processor: EventProcessor) -> EventProcessor:
    """Run ``processor(event, hint)`` on every event, after the scopes' own processors."""
    _global_event_processors.append(processor)
    return processor


def global_event_processors() -> tuple[EventProcessor, ...]:
    return tuple(_global_event_processors)


def should_send_default_pii() -> bool:
    """Whether integrations may collect personal data (the ``send_default_pii`` option)."""
    client = get_client()
    return client.is_active() and bool(client.config.send_default_pii)
