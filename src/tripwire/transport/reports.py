"""Client reports (protocol.md §8): every drop, by reason and category, told to the server.

A report travels alone in an envelope ``{}``, at most once a minute and at each flush, so
it is never rate limited with events and never costs one envelope per drop. Counts whose
report could not be delivered are restored and ride the next one. Worker side.
"""

from __future__ import annotations

import json
import time

from tripwire.drops import DropCounter
from tripwire.envelope import Envelope, Item
from tripwire.transport.outbound import Outbound

__all__ = ["REPORT_INTERVAL_S", "ReportSchedule"]

REPORT_INTERVAL_S = 60.0


class ReportSchedule:
    """Decides when the pending drop counts become a client-report envelope."""

    def __init__(self, counter: DropCounter, enabled: bool) -> None:
        self._counter = counter
        self._enabled = enabled
        self._last = time.monotonic()

    def seconds_until_due(self, now: float) -> float:
        return max(0.0, self._last + REPORT_INTERVAL_S - now)

    def take(self, now: float, force: bool = False) -> Outbound | None:
        """A report envelope when one is due (or forced) and something was dropped."""
        if not self._enabled or (not force and now - self._last < REPORT_INTERVAL_S):
            return None
        self._last = now
        discarded = self._counter.take()
        if not discarded:
            return None
        payload = {"timestamp": time.time(), "discarded_events": discarded}
        return Outbound.encode(Envelope({}, [Item("client_report", json=payload)]))

    def restore(self, outbound: Outbound) -> None:
        """Put back the counts of a report that will never be delivered."""
        for info in outbound.items:
            if info.type != "client_report":
                continue
            header_end = outbound.body.index(b"\n", info.start)
            payload = outbound.body[header_end + 1 : info.end].rstrip(b"\n")
            try:
                discarded = json.loads(payload).get("discarded_events") or []
            except (ValueError, AttributeError):
                continue
            self._counter.restore([entry for entry in discarded if isinstance(entry, dict)])
