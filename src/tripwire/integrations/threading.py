"""Threads: the starting thread's scopes go with the work, and uncaught errors are sent.

``setup_once`` wraps ``Thread.start`` and ``ThreadPoolExecutor.submit``, which run on the
caller's thread and add only a fork of its isolation and current scopes (a new thread starts
with empty ContextVars, scopes-and-options.md §2.2); the work then runs inside the forks, so
tags set there never reach the caller. An exception escaping ``Thread.run`` is sent from
inside the thread's scopes; ``threading.excepthook`` sends those of threads started before
``init()``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

from tripwire.active import get_client
from tripwire.integrations import Integration
from tripwire.integrations._scopes import Forks, enter, fork_scopes, restore
from tripwire.integrations._unhandled import capture_unhandled

__all__ = ["ThreadingIntegration"]

T = TypeVar("T")
_REPORTED = "_tripwire_reported"  # thread attribute: the exception its run() already sent


class ThreadingIntegration(Integration):
    """Carries scopes into threads (``propagate_scope``) and sends their uncaught errors.

    ``propagate_hub`` is sentry_sdk's deprecated name for ``propagate_scope``.
    """

    identifier: ClassVar[str] = "threading"

    def __init__(self, propagate_hub: bool | None = None, propagate_scope: bool = True) -> None:
        self.propagate_scope = propagate_scope if propagate_hub is None else bool(propagate_hub)

    @staticmethod
    def setup_once() -> None:
        threading.Thread.start = _wrap_start(threading.Thread.start)  # type: ignore[method-assign]
        ThreadPoolExecutor.submit = _wrap_submit(ThreadPoolExecutor.submit)  # type: ignore[method-assign]
        threading.excepthook = _wrap_excepthook(threading.excepthook)


def _active() -> ThreadingIntegration | None:
    integration = get_client().get_integration(ThreadingIntegration)
    return integration if isinstance(integration, ThreadingIntegration) else None


def _forks(integration: ThreadingIntegration | None) -> Forks | None:
    return fork_scopes() if integration is not None and integration.propagate_scope else None


def _wrap_start(original: Callable[..., None]) -> Callable[..., None]:
    base_run = threading.Thread.run

    @functools.wraps(original)
    def start(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        integration = _active()
        if integration is not None:
            forks = _forks(integration)
            if type(self).run is base_run and "run" not in vars(self):
                # Thread(target=...): wrap the target, which run() calls and then deletes.
                # Cheaper than giving the thread an instance attribute `run`, and a thread
                # with no target runs no code: it needs nothing.
                target = getattr(self, "_target", None)
                if target is not None:
                    self._target = functools.partial(_call_target, forks, target)  # type: ignore[attr-defined]
            else:
                run = self.run

                def run_inside_scopes() -> None:
                    _run_thread(self, run, forks)

                self.run = run_inside_scopes  # type: ignore[method-assign]
        original(self, *args, **kwargs)

    return start


def _call_target(
    forks: Forks | None, target: Callable[..., object], *args: Any, **kwargs: Any
) -> None:
    tokens = enter(forks) if forks is not None else None
    try:
        target(*args, **kwargs)
    except Exception as exc:  # SystemExit ends a thread quietly, as threading does
        capture_unhandled(exc, "threading")  # still inside the thread's scopes
        setattr(threading.current_thread(), _REPORTED, exc)
        raise
    finally:
        if tokens is not None:
            restore(tokens)


def _run_thread(thread: threading.Thread, run: Callable[[], None], forks: Forks | None) -> None:
    tokens = enter(forks) if forks is not None else None
    try:
        run()
    except Exception as exc:  # SystemExit ends a thread quietly, as threading does
        capture_unhandled(exc, "threading")  # still inside the thread's scopes
        setattr(thread, _REPORTED, exc)
        raise
    finally:
        if tokens is not None:
            restore(tokens)
        vars(thread).pop("run", None)  # breaks the thread -> wrapper -> bound run cycle


def _wrap_submit(original: Callable[..., Future[T]]) -> Callable[..., Future[T]]:
    @functools.wraps(original)
    def submit(
        self: ThreadPoolExecutor, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> Future[T]:
        forks = _forks(_active())
        if forks is not None:
            fn = functools.partial(_call_inside, forks, fn)
        return original(self, fn, *args, **kwargs)

    return submit


def _call_inside(forks: Forks, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # The future keeps an executor task's exception for whoever asks: not sent from here.
    tokens = enter(forks)
    try:
        return fn(*args, **kwargs)
    finally:
        restore(tokens)


def _wrap_excepthook(
    previous: Callable[[threading.ExceptHookArgs], object],
) -> Callable[[threading.ExceptHookArgs], object]:
    @functools.wraps(previous)
    def excepthook(args: threading.ExceptHookArgs) -> object:
        error = args.exc_value
        thread = args.thread
        already = getattr(thread, _REPORTED, None) if thread is not None else None
        if already is not None:
            vars(thread).pop(_REPORTED, None)
        if isinstance(error, Exception) and error is not already and _active() is not None:
            capture_unhandled(error, "threading")
        return previous(args)

    return excepthook
