"""Module locks that a child process made by ``os.fork()`` gets anew.

Only the forking thread exists in the child: a lock another thread held at the fork would stay
held there forever, and the child's first scope write or deferred fork would hang. The locks
made here guard a few lines that run no user code, so a fresh one in the child is safe.
"""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["lock_renewed_in_child"]


def lock_renewed_in_child(namespace: dict[str, Any], name: str) -> threading.Lock:
    """A new lock for ``namespace[name]`` (a module's globals); a forked child gets another
    one there, so code that reads the global at each use is never blocked by the parent."""
    if hasattr(os, "register_at_fork"):  # POSIX only
        os.register_at_fork(after_in_child=lambda: namespace.__setitem__(name, threading.Lock()))
    return threading.Lock()
