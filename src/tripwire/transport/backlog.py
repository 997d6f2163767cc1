"""The backlog: encoded envelopes waiting to be sent, and what each outcome does to them.

Memory holds up to ``max_queue_bytes``; past that, or while the server is unreachable,
envelopes go to the disk spool (offline, in files of ``SPILL_BATCH_BYTES`` written on the
spool writer's thread; what the spool has no room for stays in half of ``max_queue_bytes``),
and come back from it when the server answers (replay.py). Backoff, rate-limit filtering
and client-report scheduling live here too. Not thread-safe: the worker calls it under its
lock.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable

from tripwire import drops
from tripwire.transport.outbound import (
    Outbound,
    Outcome,
    RateLimited,
    Rejected,
    Retry,
    Sent,
    count_lost,
    without_categories,
)
from tripwire.transport.ratelimits import RateLimits
from tripwire.transport.replay import Replay
from tripwire.transport.reports import ReportSchedule
from tripwire.transport.spool import Spool
from tripwire.transport.spoolwriter import SpoolWriter

__all__ = ["BACKOFF_INITIAL_S", "BACKOFF_MAX_S", "MAX_SERVER_ATTEMPTS", "Backlog"]

logger = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 60.0
MAX_SERVER_ATTEMPTS = 5  # a 5xx answer this many times means the server refuses this one
# Offline, envelopes go to disk in files of about this size: each file costs an fsync, and a
# worker waiting on one leaves the caller's thread free to fill the inbox faster than it drains.
SPILL_BATCH_BYTES = 2 * 1024 * 1024
# Handed to the spool writer's thread at most: past this, the worker writes the next batch
# itself (slower, but memory stays bounded when the disk is slower than the encoding).
MAX_WRITING_BYTES = 2 * SPILL_BATCH_BYTES


def _events_in(outbound: Outbound) -> int:
    return sum(info.type == "event" for info in outbound.items)


class Backlog:
    """Envelopes in memory, in flight and on disk, with the server's state as we know it."""

    def __init__(
        self,
        spool: Spool | None,
        counter: drops.DropCounter,
        limits: RateLimits,
        reports: ReportSchedule,
        max_queue_bytes: int,
        on_written: Callable[[], object] = lambda: None,
    ) -> None:
        self.spool = spool
        self._counter = counter
        self._limits = limits
        self._reports = reports
        self._max_queue_bytes = max_queue_bytes
        self._queue: deque[Outbound] = deque()
        self._queue_bytes = 0
        self.in_flight: list[Outbound] = []  # sent, answer awaited; in the order sent
        self._replay: Replay | None = None if spool is None else Replay(spool)
        self._writer = None if spool is None else SpoolWriter(spool, on_written)
        self.offline = False  # the server is unreachable: new envelopes go to disk
        self._is_spilled = True  # offline, everything in memory has been offered to the spool
        self._retry_at = 0.0
        self._delay = 0.0
        self._spool_pending = spool is not None  # files may wait from an earlier process
        self.sent_events = 0
        self.spooled_events = 0
        self.rate_limited_events = 0

    def __len__(self) -> int:
        return len(self._queue) + (len(self._replay) if self._replay is not None else 0)

    @property
    def has_spooled(self) -> bool:
        return self.spool is not None and self._spool_pending

    def is_idle(self) -> bool:
        """Nothing to do until something new arrives (or, offline, until the next probe)."""
        if self.in_flight or self._is_writing:
            return False
        if self.offline:
            return self._is_spilled
        return not (self._queue or self._is_replaying or self.has_spooled)

    @property
    def _is_writing(self) -> bool:
        return self._writer is not None and self._writer.is_busy

    @property
    def _is_replaying(self) -> bool:
        return self._replay is not None and len(self._replay) > 0

    @property
    def queue_bytes(self) -> int:
        """Encoded bytes held in memory: queued, or handed to the spool writer."""
        return self._queue_bytes + (self._writer.pending_bytes if self._writer else 0)

    def add(self, fresh: list[Outbound]) -> None:
        """Queue encoded envelopes; offline, they go to disk once a file's worth waits."""
        for outbound in fresh:
            self._queue.append(outbound)
            self._queue_bytes += len(outbound.body)
        if self.offline and self.spool is not None:
            self._is_spilled = False
            if self._queue_bytes >= min(SPILL_BATCH_BYTES, self._max_queue_bytes):
                self.spill_queue()
        elif self._queue_bytes > self._max_queue_bytes:
            self._spill_queue(everything=False)

    def spill_queue(self) -> None:
        """Offline: offer everything in memory to the spool (the worker's inbox is empty)."""
        if self.offline and self.spool is not None and not self._is_spilled:
            self._spill_queue(everything=True)
            self._is_spilled = True

    def queue_report(self, now: float, force: bool) -> bool:
        """Queue a client report when one is due (or forced); True when one was queued."""
        report = self._reports.take(now, force)
        if report is None:
            return False
        self.add([report])
        return True

    def probe(self, now: float) -> None:
        """Try the server at once, even while backing off (a flush asks for this)."""
        self._retry_at = min(self._retry_at, now)

    def is_waiting_past(self, moment: float) -> bool:
        """True when nothing is in flight and the next attempt comes after ``moment``."""
        return not (self.in_flight or self._is_writing) and self._retry_at >= moment

    def is_backing_off(self, now: float) -> bool:
        return self._retry_at > now

    def sleep_for(self, now: float) -> float:
        wait = self._reports.seconds_until_due(now) + 0.01
        if self._retry_at > now and (self._queue or self._is_replaying or self.has_spooled):
            wait = min(wait, self._retry_at - now)
        return wait

    def take_all(self) -> list[Outbound]:
        """Empty the backlog for a close: what is in memory, and in flight unless replayed.

        A replayed batch goes back to the spool with its unsent rest, the one in flight
        included (so it is sent again later: at least once).
        """
        in_flight, self.in_flight = self.in_flight, []
        leftovers = [outbound for outbound in in_flight if outbound.spooled_at is None]
        if self._writer is not None:
            for batch in self._writer.stop():  # after the batch being written is done
                leftovers.extend(batch)
            for done in self._writer.collect():
                self._count_spooled(done.envelopes, done.events)
                leftovers.extend(done.unwritten)
        leftovers.extend(self._queue)
        self._queue.clear()
        self._queue_bytes = 0
        if self._replay is not None:
            self._replay.release()
        return leftovers

    def spill(self, outbounds: list[Outbound]) -> list[Outbound]:
        """Write ``outbounds`` to the spool; returns those that did not fit."""
        if self.spool is None or not outbounds:
            return outbounds
        written = self.spool.write([outbound.body for outbound in outbounds])
        self._count_spooled(written, sum(_events_in(outbound) for outbound in outbounds[:written]))
        return outbounds[written:]

    def _count_spooled(self, envelopes: int, events: int) -> None:
        self.spooled_events += events
        if envelopes:
            self._spool_pending = True

    def collect_written(self) -> None:
        """Take in what the spool writer finished: counted as spooled, or, where the spool
        had no room, kept in memory within the bound or counted as lost.
        """
        if self._writer is not None:
            for done in self._writer.collect():
                self._count_spooled(done.envelopes, done.events)
                self._keep_or_count(done.unwritten)

    @property
    def _memory_bound(self) -> int:
        # Offline, memory keeps only what the spool has no room for, in half the budget:
        # the other half stays for the worker's inbox, which fills while nothing is sent.
        return self._max_queue_bytes // 2 if self.offline else self._max_queue_bytes

    def _spill_queue(self, everything: bool) -> None:
        """Move the newest envelopes (all of them when offline) to disk, within the bounds."""
        if everything and self.spool is not None and not self.spool.has_room:
            everything = False  # a full spool: only what is over the memory bound moves (out)
        bound = self._memory_bound
        moving: list[Outbound] = []
        while self._queue and (everything or self._queue_bytes > bound):
            outbound = self._queue.pop()
            self._queue_bytes -= len(outbound.body)
            moving.append(outbound)
        moving.reverse()
        writer = self._writer
        is_handed_over = (
            everything
            and moving
            and writer is not None
            and writer.pending_bytes < MAX_WRITING_BYTES
            and writer.submit(moving)
        )
        if is_handed_over:
            return  # written on the writer's thread; collect_written() settles it
        self._keep_or_count(self.spill(moving))

    def _keep_or_count(self, outbounds: list[Outbound]) -> None:
        bound = self._memory_bound
        for outbound in outbounds:
            if self._queue_bytes + len(outbound.body) <= bound:
                self._queue.append(outbound)
                self._queue_bytes += len(outbound.body)
            else:
                reason = drops.QUEUE_OVERFLOW if self.spool is None else drops.CACHE_OVERFLOW
                count_lost(self._counter, reason, outbound.items)

    def next(self, now: float) -> Outbound | None:
        """The next envelope to send, marked in flight; None while backing off or empty.

        Items of rate-limited categories are dropped here and counted.
        """
        if self._retry_at > now:
            return None
        while True:
            outbound = self._take()
            if outbound is None:
                return None
            limited = frozenset(c for c in outbound.categories if self._limits.is_limited(c, now))
            if limited:
                lost = tuple(info for info in outbound.items if info.category in limited)
                count_lost(self._counter, drops.RATELIMIT_BACKOFF, lost)
                if len(lost) == len(outbound.items):
                    self._finish(outbound)
                    continue
                outbound = without_categories(outbound, limited)
            self.in_flight.append(outbound)
            return outbound

    def peek(self) -> Outbound | None:
        """The envelope ``next()`` would most likely return, left where it is."""
        if self._queue:
            return self._queue[0]
        return self._replay.peek() if self._replay is not None else None

    def _take(self) -> Outbound | None:
        if self._queue:
            outbound = self._queue.popleft()
            self._queue_bytes -= len(outbound.body)
            return outbound
        while self._replay is not None:
            replayed = self._replay.take()
            if replayed is not None:
                return replayed
            if self._replay.is_active or not self._load_claim():
                return None  # the rest of the claimed file is in flight, or nothing waits
        return None

    def _load_claim(self) -> bool:
        if self._replay is None or not self._spool_pending:
            return False
        if not self._replay.load():
            self._spool_pending = False
            return False
        return True

    def _finish(self, outbound: Outbound) -> None:
        if outbound.spooled_at is not None and self._replay is not None:
            self._replay.settle(outbound)

    def _put_back(self, outbound: Outbound) -> None:
        if outbound.spooled_at is not None:
            if self._replay is not None:
                self._replay.put_back(outbound)  # or left in the file, if it was given back
            return
        self._queue.appendleft(outbound)
        self._queue_bytes += len(outbound.body)
        if self.offline:
            self._is_spilled = False  # came back from a request sent before going offline

    def _back_off(self, now: float) -> None:
        self._delay = min(BACKOFF_MAX_S, max(BACKOFF_INITIAL_S, self._delay * 2))
        self._retry_at = now + self._delay * random.uniform(0.5, 1.0)

    def settle(self, outbound: Outbound, outcome: Outcome, now: float) -> None:
        """Act on the outcome of sending ``outbound`` (the one in flight)."""
        self.in_flight = [sent for sent in self.in_flight if sent is not outbound]
        if isinstance(outcome, Sent):
            self.sent_events += _events_in(outbound)
            if self.offline or self._delay:
                logger.debug("server answers again; replaying the spool")
                self._spool_pending = self.spool is not None
            self.offline = False
            self._is_spilled = True
            self._delay = 0.0
            self._finish(outbound)
        elif isinstance(outcome, RateLimited):
            self.rate_limited_events += _events_in(outbound)  # counted by the server (§7)
            logger.debug("server rate limited an envelope: %s", sorted(outbound.categories))
            self._finish(outbound)
        elif isinstance(outcome, Rejected):
            logger.warning("server rejected an envelope with status %d", outcome.status)
            count_lost(self._counter, outcome.reason, outbound.items)
            if outbound.is_report_only:
                self._reports.restore(outbound)
            self._finish(outbound)
        elif isinstance(outcome, Retry):
            self._retry(outbound, outcome, now)

    def _retry(self, outbound: Outbound, outcome: Retry, now: float) -> None:
        outbound.attempts += 1
        logger.debug("send failed (%s), attempt %d", outcome.reason, outbound.attempts)
        if outcome.is_network:
            self._put_back(outbound)
            if outbound.attempts == 1 and not self.offline:
                return  # once at once: a stale pooled connection looks just like this
            self._go_offline(now)
        elif outbound.attempts >= MAX_SERVER_ATTEMPTS:
            count_lost(self._counter, drops.SEND_ERROR, outbound.items)
            self._finish(outbound)
        else:
            self._put_back(outbound)
            self._back_off(now)

    def _go_offline(self, now: float) -> None:
        self.offline = True
        self._back_off(now)
        if self._replay is not None and self._replay.is_active:
            self._replay.release_when_idle()
            self._spool_pending = True
        if self.spool is not None:
            self._is_spilled = False
            self.spill_queue()
