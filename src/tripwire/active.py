"""Which scopes are active: the global scope, the isolation and current ContextVars, the
``with`` blocks that switch them, and the list of scopes one capture merges.

Runs on the caller's thread; ``tripwire.scope`` holds what a scope contains.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from tripwire.scope import _EXTRAS, _TAGS, Scope, ScopeType, as_text
from tripwire.types import EventProcessor

if TYPE_CHECKING:
    from tripwire.client import Client, NonRecordingClient

__all__ = [
    "Tokens",
    "activate",
    "add_global_event_processor",
    "capture_layers",
    "deactivate",
    "get_client",
    "get_current_scope",
    "get_global_scope",
    "get_isolation_scope",
    "global_event_processors",
    "isolation_scope",
    "new_scope",
    "should_send_default_pii",
    "use_isolation_scope",
    "use_scope",
]

logger = logging.getLogger(__name__)

_global_event_processors: list[EventProcessor] = []

_global_scope: Scope | None = None
# The client used before init(); client.py puts its NonRecordingClient here when imported.
_fallback_client: list[NonRecordingClient] = []
_isolation_scope: ContextVar[Scope | None] = ContextVar("tripwire_isolation_scope", default=None)
_current_scope: ContextVar[Scope | None] = ContextVar("tripwire_current_scope", default=None)


def get_global_scope() -> Scope:
    """The process-wide scope: it holds the client that ``init()`` made."""
    global _global_scope
    if _global_scope is None:
        _global_scope = Scope(ScopeType.GLOBAL)
    return _global_scope


def get_isolation_scope() -> Scope:
    """The scope of this request, task or thread: top-level ``set_*`` write here."""
    scope = _isolation_scope.get()
    if scope is None:
        scope = Scope(ScopeType.ISOLATION)
        _isolation_scope.set(scope)
    return scope


def get_current_scope() -> Scope:
    """The innermost scope: the one ``new_scope()`` opened."""
    scope = _current_scope.get()
    if scope is None:
        scope = Scope(ScopeType.CURRENT)
        _current_scope.set(scope)
    return scope


def get_client() -> Client | NonRecordingClient:
    """The active client: current scope's, isolation's, global's, else a no-op one."""
    scope = _current_scope.get()
    if scope is not None and scope.client is not None:
        return scope.client
    scope = _isolation_scope.get()
    if scope is not None and scope.client is not None:
        return scope.client
    if _global_scope is not None and _global_scope.client is not None:
        return _global_scope.client
    return _fallback_client[0]


Tokens = tuple[Token[Scope | None], Token[Scope | None]]


def activate(isolation: Scope, current: Scope) -> Tokens:
    """Make these this context's scopes, with no fork; ``deactivate(tokens)`` undoes it.

    For integrations that run work in forks they made on another thread (threads, executors,
    tasks): cheaper than ``use_isolation_scope()``, which forks the current scope once more.
    """
    return _isolation_scope.set(isolation), _current_scope.set(current)


def deactivate(tokens: Tokens) -> None:
    try:
        _current_scope.reset(tokens[1])
        _isolation_scope.reset(tokens[0])
    except ValueError:  # exited in another context: reset what can be, one at a time
        _reset(_current_scope, tokens[1])
        _reset(_isolation_scope, tokens[0])


class _ScopeBlock:
    """The context manager behind ``new_scope`` and friends (cheaper than a generator)."""

    __slots__ = ("_current", "_current_token", "_isolation", "_isolation_token", "_yields")

    def __init__(self, current: Scope | None, isolation: Scope | None, yields: Scope) -> None:
        self._current = current
        self._isolation = isolation
        self._yields = yields
        self._current_token: Token[Scope | None] | None = None
        self._isolation_token: Token[Scope | None] | None = None

    def __enter__(self) -> Scope:
        if self._current is not None:
            self._current_token = _current_scope.set(self._current)
        if self._isolation is not None:
            self._isolation_token = _isolation_scope.set(self._isolation)
        return self._yields

    def __exit__(self, *exc: object) -> None:
        if self._isolation_token is not None:
            _reset(_isolation_scope, self._isolation_token)
        if self._current_token is not None:
            _reset(_current_scope, self._current_token)


def new_scope() -> _ScopeBlock:
    """Fork the current scope for the ``with`` block; yields the fork."""
    forked = get_current_scope().fork()
    return _ScopeBlock(forked, None, forked)


def use_scope(scope: Scope) -> _ScopeBlock:
    """Make ``scope`` current for the ``with`` block (no fork)."""
    return _ScopeBlock(scope, None, scope)


def isolation_scope() -> _ScopeBlock:
    """Fork both the isolation and the current scope; yields the new isolation scope."""
    forked = get_isolation_scope().fork()
    return _ScopeBlock(get_current_scope().fork(), forked, forked)


def use_isolation_scope(scope: Scope) -> _ScopeBlock:
    """Make ``scope`` the isolation scope (and fork the current one) for the block."""
    return _ScopeBlock(get_current_scope().fork(), scope, scope)


def _reset(var: ContextVar[Scope | None], token: Token[Scope | None]) -> None:
    try:
        var.reset(token)
    except ValueError:
        # Exited in another context (a generator finished elsewhere): keep going.
        logger.debug("scope exited in another context than it was entered in")


def capture_layers(
    on: Scope | None, scope: Scope | Callable[[Scope], object] | None, kwargs: dict[str, Any]
) -> tuple[Scope, ...]:
    """The scopes one capture merges, lowest precedence first: global, isolation, current,
    the scope it was called on, ``scope=`` (a Scope or a callable that fills one), kwargs."""
    layers = [get_global_scope(), get_isolation_scope(), get_current_scope()]
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
