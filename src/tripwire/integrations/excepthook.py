"""Uncaught exceptions: ``sys.excepthook`` sends them, then calls the previous hook.

Runs on the main thread as the interpreter is about to exit. ``KeyboardInterrupt`` and
``SystemExit`` with code 0 or None are not errors (the user pressed Ctrl-C, the program asked
to exit), so they are not sent; sentry_sdk sends the former (event.md §3.3).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar

from tripwire.active import get_client
from tripwire.integrations import Integration
from tripwire.integrations._unhandled import capture_unhandled, is_reportable

__all__ = ["ExcepthookIntegration"]

Excepthook = Callable[[type[BaseException], BaseException, TracebackType | None], Any]


class ExcepthookIntegration(Integration):
    """Sends uncaught exceptions; skipped in interactive shells unless ``always_run``."""

    identifier: ClassVar[str] = "excepthook"

    def __init__(self, always_run: bool = False) -> None:
        if not isinstance(always_run, bool):
            raise ValueError(f"always_run must be True or False, got {always_run!r}")
        self.always_run = always_run

    @staticmethod
    def setup_once() -> None:
        sys.excepthook = _wrap(sys.excepthook)


def _wrap(previous: Excepthook) -> Excepthook:
    def excepthook(
        kind: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> Any:
        integration = get_client().get_integration(ExcepthookIntegration)
        if (
            isinstance(integration, ExcepthookIntegration)
            and isinstance(error, BaseException)
            and is_reportable(error)
            and (integration.always_run or not hasattr(sys, "ps1"))  # a REPL: every typo
        ):
            capture_unhandled(error, "excepthook", tb)
        return previous(kind, error, tb)

    return excepthook
