"""Discard reasons (protocol.md §8) and the counter every drop goes through.

Nothing is lost silently: each drop is counted here by (reason, category), the counts ride
to the server as client reports, and an optional ``on_drop`` callback sees each one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = [
    "BACKPRESSURE",
    "BEFORE_SEND",
    "CACHE_OVERFLOW",
    "CALLBACK_ERROR",
    "EVENT_PROCESSOR",
    "INTERNAL_SDK_ERROR",
    "NETWORK_ERROR",
    "QUEUE_OVERFLOW",
    "RATELIMIT_BACKOFF",
    "SAMPLE_RATE",
    "SEND_ERROR",
    "DropCounter",
]

logger = logging.getLogger(__name__)

QUEUE_OVERFLOW = "queue_overflow"
CACHE_OVERFLOW = "cache_overflow"
RATELIMIT_BACKOFF = "ratelimit_backoff"
NETWORK_ERROR = "network_error"
SEND_ERROR = "send_error"
SAMPLE_RATE = "sample_rate"
BEFORE_SEND = "before_send"
CALLBACK_ERROR = "callback_error"
EVENT_PROCESSOR = "event_processor"
BACKPRESSURE = "backpressure"
INTERNAL_SDK_ERROR = "internal_sdk_error"

OnDrop = Callable[[str, str, int], object]


class DropCounter:
    """Thread-safe counts of dropped items, read and reset atomically for client reports."""

    def __init__(self, on_drop: OnDrop | None = None) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], int] = {}
        self._totals: dict[tuple[str, str], int] = {}
        self._on_drop = on_drop

    def count(self, reason: str, category: str = "error", quantity: int = 1) -> None:
        key = (reason, category)
        with self._lock:
            self._pending[key] = self._pending.get(key, 0) + quantity
            self._totals[key] = self._totals.get(key, 0) + quantity
        if self._on_drop is not None:
            try:
                self._on_drop(reason, category, quantity)
            except Exception:
                logger.exception("on_drop callback raised")

    def take(self) -> list[dict[str, object]]:
        """The counts since the last call, as client-report ``discarded_events``."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return [
            {"reason": reason, "category": category, "quantity": quantity}
            for (reason, category), quantity in sorted(pending.items())
        ]

    def restore(self, discarded: list[dict[str, object]]) -> None:
        """Put back counts whose report could not be sent, so they ride the next one."""
        with self._lock:
            for entry in discarded:
                key = (str(entry["reason"]), str(entry["category"]))
                quantity = entry["quantity"]
                if isinstance(quantity, int):
                    self._pending[key] = self._pending.get(key, 0) + quantity

    def totals(self) -> dict[tuple[str, str], int]:
        """Every drop since the client started, by (reason, category)."""
        with self._lock:
            return dict(self._totals)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._totals.values())
