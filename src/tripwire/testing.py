"""Helpers for testing code that uses tripwire: observe what would be sent.

``capture_events()`` swaps in a recording transport; tripwire's own tests use it too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tripwire.envelope import Envelope
from tripwire.transport.base import Transport

__all__ = ["RecordingTransport", "capture_envelopes", "capture_events"]


class RecordingTransport(Transport):
    """Keeps every envelope in memory, encoding each one as the HTTP worker would."""

    def __init__(self, on_envelope: Callable[[Envelope], None] | None = None) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()
        self._on_envelope = on_envelope

    def capture_envelope(self, envelope: Envelope) -> None:
        envelope.serialize()  # encode now, as the worker would, so encoding bugs surface
        with self._lock:
            self.envelopes.append(envelope)
        if self._on_envelope is not None:
            self._on_envelope(envelope)

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            found = [envelope.get_event() for envelope in self.envelopes]
        return [event for event in found if event is not None]


@contextmanager
def capture_envelopes(**options: Any) -> Iterator[list[Envelope]]:
    """``init()`` with a recording transport; yields the live list of envelopes."""
    import tripwire

    transport = RecordingTransport()
    with tripwire.init(transport=transport, **options):
        yield transport.envelopes


@contextmanager
def capture_events(**options: Any) -> Iterator[list[dict[str, Any]]]:
    """``init()`` with a recording transport; yields the live list of events sent."""
    import tripwire

    events: list[dict[str, Any]] = []

    def keep(envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            events.append(event)

    with tripwire.init(transport=RecordingTransport(keep), **options):
        yield events
