"""At interpreter exit, send what is still queued: ``client.close`` within ``shutdown_timeout``.

A transport's worker is a daemon thread, so without this whatever is queued when the program
ends is lost. tripwire's HTTP transport also closes itself at exit (registered later, so it
runs first); this covers custom transports. Runs on the main thread during shutdown.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Callable
from typing import ClassVar

from tripwire import api
from tripwire.active import get_client
from tripwire.integrations import Integration

__all__ = ["AtexitIntegration", "default_callback"]

logger = logging.getLogger(__name__)


def default_callback(pending: int, timeout: float) -> None:
    """Tell the user on stderr why the program has not ended yet."""
    key = "Break" if os.name == "nt" else "C"
    sys.stderr.write(
        f"tripwire is attempting to send {pending} pending events\n"
        f"Waiting up to {timeout} seconds\n"
        f"Press Ctrl-{key} to quit\n"
    )
    sys.stderr.flush()


class AtexitIntegration(Integration):
    """Closes the client at exit; ``callback(pending, timeout)`` runs if sending takes time."""

    identifier: ClassVar[str] = "atexit"

    def __init__(self, callback: Callable[[int, float], None] | None = None) -> None:
        self.callback = default_callback if callback is None else callback

    @staticmethod
    def setup_once() -> None:
        atexit.register(_shutdown)


def _shutdown() -> None:
    with api._internal_errors_logged():
        client = get_client()
        integration = client.get_integration(AtexitIntegration)
        if not isinstance(integration, AtexitIntegration):
            return
        logger.debug("shutting down: sending what is queued, then closing the client")
        # flush() takes the callback (close() does not pass one on); the one wait is
        # shutdown_timeout, and close(0) then stops the transport at once.
        client.flush(callback=integration.callback)
        client.close(timeout=0)
