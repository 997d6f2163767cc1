"""Delivery workers across process events: a fork (the child starts empty) and exit (close).

Imported by worker.py; registers its fork hooks once, at import.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from typing import Protocol

__all__ = ["IMPORTING", "Closable", "watch", "watch_multiprocessing_exit"]


class Closable(Protocol):
    """What a worker offers to the process hooks."""

    shutdown_timeout: float

    def close(self, timeout: float) -> bool: ...

    def reset_in_child(self) -> None: ...


_LIVE: weakref.WeakSet[Closable] = weakref.WeakSet()
# Held while a worker imports its network modules. A fork waits for it: a child forked
# mid-import would find that module's import lock held by a thread it does not have.
IMPORTING = threading.Lock()


def _before_fork() -> None:
    IMPORTING.acquire()


def _after_fork_in_parent() -> None:
    IMPORTING.release()


def _after_fork_in_child() -> None:
    IMPORTING.release()
    for worker in list(_LIVE):
        worker.reset_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def _close_at_exit(ref: weakref.ref[Closable]) -> None:
    worker = ref()
    if worker is not None:
        worker.close(worker.shutdown_timeout)  # a no-op in a forked child (pid check)


def watch(worker: Closable) -> None:
    """Reset ``worker`` in forked children and close it at exit."""
    _LIVE.add(worker)
    # Registered now, before the client sets up its atexit integration: handlers run in
    # reverse, so the integration's flush (with its callback) comes first, this after.
    atexit.register(_close_at_exit, weakref.ref(worker))


def watch_multiprocessing_exit(worker: Closable) -> None:
    """A multiprocessing child leaves through os._exit; its finalizers still run."""
    if "multiprocessing" in sys.modules:
        from multiprocessing.util import Finalize

        Finalize(None, _close_at_exit, args=(weakref.ref(worker),), exitpriority=100)
