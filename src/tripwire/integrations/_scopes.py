"""Running work in forks of the caller's scopes, for threads, executors and tasks.

The one place integrations set the scope ContextVars directly rather than through
``use_isolation_scope()``/``use_scope()``: those fork the current scope once more and cost
two generator context managers per work item, and a task's context needs values set with
nothing to restore.
"""

from __future__ import annotations

from contextvars import Token
from typing import NamedTuple

from tripwire import scope
from tripwire.scope import Scope, get_current_scope, get_isolation_scope

__all__ = ["Forks", "Tokens", "enter", "enter_isolation", "fork_scopes", "leave"]


class Forks(NamedTuple):
    isolation: Scope
    current: Scope


Tokens = tuple[Token[Scope | None], Token[Scope | None]]


def fork_scopes() -> Forks:
    """Forks of the caller's isolation and current scopes (runs on the caller's thread)."""
    return Forks(get_isolation_scope().fork(), get_current_scope().fork())


def enter(forks: Forks) -> Tokens:
    """Make ``forks`` this context's scopes; ``leave(tokens)`` restores the previous ones."""
    return scope._isolation_scope.set(forks.isolation), scope._current_scope.set(forks.current)


def leave(tokens: Tokens) -> None:
    scope._current_scope.reset(tokens[1])
    scope._isolation_scope.reset(tokens[0])


def enter_isolation(isolation: Scope) -> Tokens:
    """Make ``isolation`` (a fork the caller prepared) and a fork of the current scope this
    context's scopes; ``leave(tokens)`` restores the previous ones. Per request: no tuple of
    forks, no context manager."""
    current = get_current_scope().fork()
    return scope._isolation_scope.set(isolation), scope._current_scope.set(current)
