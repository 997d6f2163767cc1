"""Running work in forks of the caller's scopes, for threads, executors and tasks.

Integrations set the scopes with ``tripwire.active.activate`` rather than
``use_isolation_scope()``/``use_scope()``: those fork the current scope once more per work
item, and a task's context needs values set with nothing to restore.
"""

from __future__ import annotations

from typing import NamedTuple

from tripwire.active import Tokens, activate, deactivate, get_current_scope, get_isolation_scope
from tripwire.scope import Scope

__all__ = ["Forks", "enter", "fork_scopes", "leave"]


class Forks(NamedTuple):
    isolation: Scope
    current: Scope


def fork_scopes() -> Forks:
    """Forks of the caller's isolation and current scopes (runs on the caller's thread)."""
    return Forks(get_isolation_scope().fork(), get_current_scope().fork())


def enter(forks: Forks) -> Tokens:
    """Make ``forks`` this context's scopes; ``leave(tokens)`` restores the previous ones."""
    return activate(forks.isolation, forks.current)


def leave(tokens: Tokens) -> None:
    deactivate(tokens)
