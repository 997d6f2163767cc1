"""Exceptions Python could not raise (in ``__del__``, a weakref callback, a finalizer):
``sys.unraisablehook`` sends them, then calls the previous hook. Opt-in, as in sentry_sdk.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar

from tripwire.active import get_client
from tripwire.integrations import Integration
from tripwire.integrations._unhandled import capture_unhandled

__all__ = ["UnraisablehookIntegration"]

Unraisablehook = Callable[[Any], object]


class UnraisablehookIntegration(Integration):
    """Sends what reaches ``sys.unraisablehook`` with mechanism ``unraisablehook``."""

    identifier: ClassVar[str] = "unraisablehook"

    @staticmethod
    def setup_once() -> None:
        sys.unraisablehook = _wrap(sys.unraisablehook)


def _wrap(previous: Unraisablehook) -> Unraisablehook:
    def unraisablehook(unraisable: Any) -> object:
        error = getattr(unraisable, "exc_value", None)
        if (
            isinstance(error, Exception)
            and get_client().get_integration(UnraisablehookIntegration) is not None
        ):
            tb = getattr(unraisable, "exc_traceback", None)
            capture_unhandled(
                error, "unraisablehook", tb if isinstance(tb, TracebackType) else None
            )
        return previous(unraisable)

    return unraisablehook
