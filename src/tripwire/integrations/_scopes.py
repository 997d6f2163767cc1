"""Running work in the caller's scopes, for threads, executors and tasks.

The work gets deferred forks of the caller's isolation and current scope (``tripwire.forks``):
made on the caller's thread, they stand for the scopes as they are at that moment, and are
forked only if the work uses its scopes. Entering them is one ContextVar set, where
``use_isolation_scope()``/``use_scope()`` would fork once more per work item.
"""

from __future__ import annotations

from tripwire import active
from tripwire.active import scope_pair
from tripwire.forks import DeferredForks

__all__ = ["Forks", "enter", "fork_scopes", "leave", "restore"]

Forks = DeferredForks

# enter(forks): make ``forks`` this context's scopes. leave(tokens) restores the previous
# ones from anywhere; restore(tokens), without a Python call, from the frame that entered.
enter = active.enter
leave = active.leave
restore = active.restore


def fork_scopes() -> Forks:
    """Deferred forks of the caller's isolation and current scopes (on the caller's thread)."""
    return DeferredForks(scope_pair())
