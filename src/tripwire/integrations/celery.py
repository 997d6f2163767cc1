"""Celery: each task run gets an isolation scope; a failing task is reported and re-raised.

Patched once per process, checked on every task: ``celery.app.trace.build_tracer`` wraps a
task's ``run`` the first time a tracer is built for it (worker and eager ``apply`` alike).
Celery's control-flow exceptions (``Retry``, ``Ignore``, ``Reject``) and the task's declared
``throws`` are not failures. The task's name, id, arguments (with ``send_default_pii`` only)
are added when an event is captured.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, ClassVar

import tripwire
from tripwire.integrations import DidNotEnable, Integration
from tripwire.integrations._request import FILTERED, capture_request_failure
from tripwire.types import Event, Hint

__all__ = ["CeleryIntegration"]


class CeleryIntegration(Integration):
    """Report failing Celery tasks (``mechanism.type`` ``celery``), one isolation scope each."""

    identifier: ClassVar[str] = "celery"

    def __init__(
        self,
        propagate_traces: bool = True,
        monitor_beat_tasks: bool = False,
        exclude_beat_tasks: list[str] | None = None,
    ) -> None:
        # Accepted for compatibility with sentry_sdk: tripwire has no tracing or crons.
        self.propagate_traces = propagate_traces
        self.monitor_beat_tasks = monitor_beat_tasks
        self.exclude_beat_tasks = exclude_beat_tasks

    @staticmethod
    def setup_once() -> None:
        """Patch ``build_tracer`` so that every task's ``run`` is wrapped once."""
        try:
            from celery import VERSION
            from celery.app import trace
        except ImportError as exc:
            raise DidNotEnable("celery is not installed") from exc
        if tuple(VERSION[:2]) < (4, 4):
            raise DidNotEnable("celery 4.4 or newer is required")
        original = trace.build_tracer
        if getattr(original, "__tripwire_wrapped__", False):
            return

        @functools.wraps(original)
        def build_tracer(name: str, task: Any, *args: Any, **kwargs: Any) -> Any:
            if not getattr(task, "__tripwire_wrapped__", False):
                task.run = _wrap_run(task, task.run)
                task.__tripwire_wrapped__ = True
            return original(name, task, *args, **kwargs)

        build_tracer.__tripwire_wrapped__ = True  # type: ignore[attr-defined]
        trace.build_tracer = build_tracer
        # Worker modules import the name; those loaded already keep the original otherwise.
        for module_name in ("celery.worker.consumer.consumer", "celery.concurrency.prefork"):
            module = sys.modules.get(module_name)
            if getattr(module, "build_tracer", None) is original:
                module.build_tracer = build_tracer  # type: ignore[union-attr]


def _is_expected(task: Any, error: BaseException) -> bool:
    from celery.exceptions import Ignore, Reject, Retry

    if isinstance(error, (Retry, Ignore, Reject)):
        return True
    throws = getattr(task, "throws", ())
    return bool(throws) and isinstance(error, tuple(throws))


class _TaskRun:
    """One run of a task; ``process`` adds the task to events captured during it."""

    __slots__ = ("args", "kwargs", "task", "task_id")

    def __init__(self, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.task_id = getattr(getattr(task, "request", None), "id", None)

    def process(self, event: Event, hint: Hint) -> Event:
        """Event processor: task name as transaction, its id as tag, its job as extra."""
        name = str(self.task.name)
        if not event.get("transaction"):
            event["transaction"] = name
            event["transaction_info"] = {"source": "task"}
        if self.task_id is not None:
            event.setdefault("tags", {}).setdefault("celery_task_id", str(self.task_id))
        pii = tripwire.get_client().config.send_default_pii
        job: dict[str, object] = {
            "task_name": name,
            "args": list(self.args) if pii else FILTERED,
            "kwargs": dict(self.kwargs) if pii else FILTERED,
        }
        event.setdefault("extra", {})["celery-job"] = job
        exc_info = hint.get("exc_info")
        if exc_info and exc_info[0] is not None:
            from celery.exceptions import SoftTimeLimitExceeded

            if issubclass(exc_info[0], SoftTimeLimitExceeded):
                # One issue per task that hits its soft limit, whatever line it was on.
                event["fingerprint"] = ["celery", "SoftTimeLimitExceeded", name]
        return event


def _wrap_run(task: Any, run: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(run)
    def traced_run(*args: Any, **kwargs: Any) -> Any:
        if tripwire.get_client().get_integration(CeleryIntegration) is None:
            return run(*args, **kwargs)
        with tripwire.isolation_scope() as scope:
            scope.clear_breadcrumbs()
            scope.add_event_processor(_TaskRun(task, args, kwargs).process)
            try:
                return run(*args, **kwargs)
            except BaseException as error:
                if not _is_expected(task, error):
                    capture_request_failure(error, "celery")
                raise

    return traced_run
