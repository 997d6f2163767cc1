"""The Transport seam: the client decides *what* to send, a transport decides *how*."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tripwire.envelope import Envelope

__all__ = ["CallableTransport", "Transport"]


class Transport:
    """Base class for transports, as ``sentry_sdk.transport.Transport``.

    ``capture_envelope`` is called on the caller's thread and must never block or raise;
    encoding the envelope (``envelope.serialize()``) belongs to a worker.
    """

    def __init__(self, options: Any = None) -> None:
        self.options = options

    def capture_envelope(self, envelope: Envelope) -> None:
        raise NotImplementedError

    def flush(self, timeout: float, callback: Callable[[int, float], None] | None = None) -> bool:
        """Wait up to ``timeout`` seconds for what is queued; True when all of it went out."""
        return True

    def kill(self) -> None:
        """Stop at once, without waiting for queued envelopes."""

    def close(self, timeout: float) -> bool:
        """Flush for up to ``timeout`` seconds, then stop. True when nothing was left."""
        drained = self.flush(timeout)
        self.kill()
        return drained


class CallableTransport(Transport):
    """The deprecated ``transport=callable`` form: ``f(event)`` per event envelope."""

    def __init__(self, func: Callable[[dict[str, Any]], object]) -> None:
        super().__init__()
        self._func = func

    def capture_envelope(self, envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            self._func(event)
