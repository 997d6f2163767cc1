"""``event.extra["sys.argv"]``: the command line the program was started with."""

from __future__ import annotations

import sys
from typing import ClassVar

from tripwire.active import add_global_event_processor, get_client
from tripwire.integrations import Integration
from tripwire.types import Event, Hint

__all__ = ["ArgvIntegration"]


class ArgvIntegration(Integration):
    """Adds ``sys.argv`` to each event's ``extra`` (unless the event has its own)."""

    identifier: ClassVar[str] = "argv"

    @staticmethod
    def setup_once() -> None:
        add_global_event_processor(_add_argv)


def _add_argv(event: Event, hint: Hint) -> Event:
    if get_client().get_integration(ArgvIntegration) is not None:
        extra = event.get("extra")
        if extra is None:
            event["extra"] = extra = {}
        if isinstance(extra, dict):
            extra.setdefault("sys.argv", [str(arg) for arg in sys.argv])
    return event
