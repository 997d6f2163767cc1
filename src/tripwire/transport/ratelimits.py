"""Rate limits the server asked for (protocol.md §7), honoured per data category until expiry.

Improves on the official SDK: float ``retry_after`` values are accepted (rounded up), a
shorter new limit never shortens a longer one, unknown categories are ignored, a bad
``Retry-After`` falls back to 60 seconds, and ``client_report`` items are never limited.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

__all__ = ["ALL_CATEGORIES", "KNOWN_CATEGORIES", "RateLimits", "parse_retry_after"]

ALL_CATEGORIES = ""  # the key of a limit that covers every category
DEFAULT_RETRY_AFTER_S = 60.0
KNOWN_CATEGORIES = frozenset(
    {
        "default", "error", "transaction", "monitor", "span", "log_item", "log_byte",
        "security", "attachment", "session", "profile", "profile_chunk", "replay",
        "feedback", "trace_metric", "trace_metric_byte", "internal", "metric_bucket",
    }
)  # fmt: skip
UNLIMITED = frozenset({"internal"})  # client reports carry the counts of what was dropped


def parse_retry_after(value: str | None, now: float | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` value: seconds or an HTTP date; default 60."""
    if not value:
        return DEFAULT_RETRY_AFTER_S
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER_S
        current = time.time() if now is None else now
        return max(0.0, moment.timestamp() - current)
    if math.isnan(seconds) or seconds < 0:
        return DEFAULT_RETRY_AFTER_S
    return float(math.ceil(seconds))


def _parse_header(value: str) -> list[tuple[float, list[str]]]:
    limits: list[tuple[float, list[str]]] = []
    for quota in value.split(","):
        fields = quota.strip().split(":")
        if len(fields) < 2:
            continue
        try:
            seconds = float(fields[0])
        except ValueError:
            continue
        if math.isnan(seconds) or seconds < 0:
            continue
        named = [c.strip() for c in fields[1].split(";") if c.strip()]
        if not named:
            limits.append((float(math.ceil(seconds)), [ALL_CATEGORIES]))
            continue
        known = [c for c in named if c in KNOWN_CATEGORIES]
        if known:  # a quota whose categories are all unknown is ignored as a whole
            limits.append((float(math.ceil(seconds)), known))
    return limits


class RateLimits:
    """Deadlines (monotonic seconds) per category plus one for every category.

    Used by the worker thread only.
    """

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def update(self, status: int, headers: Mapping[str, str], now: float | None = None) -> bool:
        """Record the limits a response carries; True when it set any."""
        current = time.monotonic() if now is None else now
        header = headers.get("X-Sentry-Rate-Limits") or headers.get("x-sentry-rate-limits")
        if header:
            found = _parse_header(header)
            for seconds, categories in found:
                for category in categories:
                    self._extend(category, current + seconds)
            return bool(found)
        if status == 429:
            retry = headers.get("Retry-After") or headers.get("retry-after")
            self._extend(ALL_CATEGORIES, current + parse_retry_after(retry))
            return True
        return False

    def _extend(self, category: str, deadline: float) -> None:
        # When a category is limited twice, the later deadline wins (protocol.md §7).
        if deadline > self._until.get(category, 0.0):
            self._until[category] = deadline

    def is_limited(self, category: str, now: float | None = None) -> bool:
        """True while ``category`` (or every category) is limited."""
        if category in UNLIMITED:
            return False
        current = time.monotonic() if now is None else now
        return (
            self._until.get(category, 0.0) > current
            or self._until.get(ALL_CATEGORIES, 0.0) > current
        )

    def next_expiry(self, now: float | None = None) -> float | None:
        """Seconds until the soonest active limit ends, or None when nothing is limited."""
        current = time.monotonic() if now is None else now
        active = [deadline - current for deadline in self._until.values() if deadline > current]
        return min(active) if active else None

    def __bool__(self) -> bool:
        now = time.monotonic()
        return any(deadline > now for deadline in self._until.values())
