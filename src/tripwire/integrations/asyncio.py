"""asyncio: an isolation scope per task, and errors the loop reports sent as unhandled.

Opt-in, as in sentry_sdk: ``init(integrations=[AsyncioIntegration()])``. ``setup_once``
wraps ``BaseEventLoop.create_task``, so it works for loops created before or after ``init()``
(loops that do not derive from it, such as uvloop's, are not covered). A task created without
an explicit ``context=`` runs in a copy of the creator's context holding forks of its
isolation and current scopes: ``set_tag`` inside a task no longer changes its creator's scope
(scopes-and-options.md §2.2). ``call_exception_handler`` sends what the loop reports
("Task exception was never retrieved", a failing callback) with the failing task's scopes,
then lets the loop's handler run.
"""

from __future__ import annotations

import contextvars
import functools
import sys
import weakref
from asyncio import base_events
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from tripwire import api
from tripwire.active import get_client
from tripwire.integrations import Integration
from tripwire.integrations._scopes import Forks, enter, fork_scopes, leave
from tripwire.integrations._unhandled import capture_unhandled

__all__ = ["AsyncioIntegration", "enable_asyncio_integration"]

_TASK_CONTEXT = sys.version_info >= (3, 11)  # create_task(context=...) exists from 3.11
# The scopes each task was created with, for errors the loop reports after the task ended.
_task_forks: weakref.WeakKeyDictionary[object, Forks] = weakref.WeakKeyDictionary()


class AsyncioIntegration(Integration):
    """Isolates each task's scopes and sends errors the loop reports.

    ``task_spans`` is accepted for compatibility: tripwire records no spans.
    """

    identifier: ClassVar[str] = "asyncio"

    def __init__(self, task_spans: bool = True) -> None:
        self.task_spans = task_spans

    @staticmethod
    def setup_once() -> None:
        loop_class = base_events.BaseEventLoop
        loop_class.create_task = _wrap_create_task(loop_class.create_task)  # type: ignore[method-assign]
        loop_class.call_exception_handler = _wrap_exception_handler(  # type: ignore[method-assign,assignment]
            loop_class.call_exception_handler
        )


def enable_asyncio_integration(*args: Any, **kwargs: Any) -> None:
    """Add ``AsyncioIntegration(*args, **kwargs)`` to the running client (sentry_sdk's helper
    for a client made before the loop; here the integration covers such loops already)."""
    client = get_client()
    if not client.is_active() or "asyncio" in client.integrations:
        return
    integration = AsyncioIntegration(*args, **kwargs)
    from tripwire.integrations import setup_integrations

    client.integrations.update(setup_integrations([integration], with_defaults=False))
    listed = getattr(client, "sdk_info", {}).get("integrations")
    if isinstance(listed, list) and "asyncio" in client.integrations:
        listed[:] = sorted({*listed, "asyncio"})


def _active() -> bool:
    return get_client().get_integration(AsyncioIntegration) is not None


async def _inside_coroutine(coro: Coroutine[Any, Any, Any], forks: Forks) -> Any:
    tokens = enter(forks)
    try:
        return await coro
    finally:
        leave(tokens)


def _wrap_create_task(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create_task(self: base_events.BaseEventLoop, coro: Any, **kwargs: Any) -> Any:
        if kwargs.get("context") is not None or not _active():
            return original(self, coro, **kwargs)
        forks = fork_scopes()
        if _TASK_CONTEXT:
            # The context dies with the task: its scopes are set with nothing to restore.
            context = contextvars.copy_context()
            context.run(enter, forks)
            kwargs["context"] = context
        elif isinstance(coro, Coroutine):
            coro = _inside_coroutine(coro, forks)
        task = original(self, coro, **kwargs)
        _task_forks[task] = forks
        return task

    return create_task


def _wrap_exception_handler(
    original: Callable[[base_events.BaseEventLoop, dict[str, Any]], None],
) -> Callable[[base_events.BaseEventLoop, dict[str, Any]], None]:
    @functools.wraps(original)
    def call_exception_handler(self: base_events.BaseEventLoop, context: dict[str, Any]) -> None:
        with api._internal_errors_logged():
            error = context.get("exception")
            if isinstance(error, Exception) and _active():
                owner = context.get("task") or context.get("future")
                try:
                    forks = _task_forks.get(owner) if owner is not None else None
                except TypeError:  # an unhashable future-like object
                    forks = None
                tokens = enter(forks) if forks is not None else None
                try:
                    capture_unhandled(error, "asyncio")
                finally:
                    if tokens is not None:
                        leave(tokens)
        original(self, context)

    return call_exception_handler
