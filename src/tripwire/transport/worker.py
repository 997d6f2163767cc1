"""The delivery worker: one background thread that encodes, sends, retries and spools.

The caller's side is ``submit()``: a deque append and an event notify, O(1), never blocking.
Everything else runs on the worker thread. Every envelope is at any moment in exactly one
place (the inbox, the memory queue, in flight, a loaded spool batch, the spool on disk) or
has been delivered or counted as dropped. The state lock is never held across the network.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Protocol

from tripwire import drops
from tripwire.envelope import Envelope
from tripwire.transport.outbound import (
    Outbound,
    Outcome,
    RateLimited,
    Rejected,
    Retry,
    Sent,
    count_lost,
    scan_items,
    without_categories,
)
from tripwire.transport.ratelimits import RateLimits
from tripwire.transport.reports import ReportSchedule
from tripwire.transport.spool import Claim, Spool

__all__ = ["Sender", "Worker", "count_envelope"]

logger = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 60.0
MAX_SERVER_ATTEMPTS = 5  # a 5xx answer this many times means the server refuses this one
INTAKE_CHUNK = 256  # envelopes encoded per pass while holding the state lock
CALLBACK_AFTER_S = 0.1


class Sender(Protocol):
    """What the worker needs from the network side (http.py)."""

    has_destination: bool

    def send(self, outbound: Outbound) -> Outcome: ...

    def mirror(self, outbound: Outbound) -> None: ...

    def prepare(self) -> None: ...

    def reset(self) -> None: ...


class _Stop(Exception):
    pass


def count_envelope(counter: drops.DropCounter, reason: str, envelope: Envelope) -> None:
    """Count every item of an envelope that is dropped before it was encoded."""
    for item in envelope.items:
        quantity = max(1, len(item.payload)) if item.type == "attachment" else 1
        counter.count(reason, item.data_category, quantity)


_LIVE: weakref.WeakSet[Worker] = weakref.WeakSet()
# Held while a worker imports its network modules. A fork waits for it: a child forked
# mid-import would find that module's import lock held by a thread it does not have.
_IMPORTING = threading.Lock()


def _before_fork() -> None:
    _IMPORTING.acquire()


def _after_fork_in_parent() -> None:
    _IMPORTING.release()


def _after_fork_in_child() -> None:
    _IMPORTING.release()
    for worker in list(_LIVE):
        worker._reset_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def _close_at_exit(ref: weakref.ref[Worker]) -> None:
    worker = ref()
    if worker is not None and worker._pid == os.getpid():
        worker.close(worker.shutdown_timeout)


class Worker:
    """Background delivery with a byte-bounded memory queue, backoff and a disk spool."""

    def __init__(
        self,
        sender: Sender,
        spool: Spool | None,
        counter: drops.DropCounter,
        *,
        limits: RateLimits,
        send_client_reports: bool = True,
        max_queue_bytes: int = 16 * 1024 * 1024,
        inbox_limit: int = 16_384,
        shutdown_timeout: float = 2.0,
        debug: bool = False,
    ) -> None:
        self._sender = sender
        self._spool = spool
        self._counter = counter
        self._limits = limits
        self._reports = ReportSchedule(counter, send_client_reports)
        self._max_queue_bytes = max_queue_bytes
        self._inbox_limit = inbox_limit
        self.shutdown_timeout = shutdown_timeout
        self._debug = debug
        self._init_state()
        _LIVE.add(self)

    def _init_state(self) -> None:
        self._pid = os.getpid()
        self._inbox: deque[Envelope] = deque()
        self._wake = threading.Event()
        self._cond = threading.Condition(threading.Lock())
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._queue: deque[Outbound] = deque()
        self._queue_bytes = 0
        self._in_flight: Outbound | None = None
        self._claim: Claim | None = None
        self._replay: deque[Outbound | None] = deque()
        self._closed = False
        self._offline = False  # the server is unreachable: new envelopes go to disk
        self._retry_at = 0.0
        self._delay = 0.0
        self._spool_pending = self._spool is not None
        self._flush_requested = 0
        self._flush_probed = 0
        self._flush_handled = 0
        self._flush_done = 0
        self.sent_events = 0
        self.spooled_events = 0
        self.rate_limited_events = 0

    def _reset_in_child(self) -> None:
        # The parent delivers what it queued; the child starts empty, with fresh locks.
        self._init_state()
        self._counter._lock = threading.Lock()  # another thread may have held it at fork
        self._counter.take()  # the parent reports its own drops
        self._sender.reset()

    # -- caller side ------------------------------------------------------------------------

    def submit(self, envelope: Envelope) -> None:
        """Hand ``envelope`` to the worker: O(1), never blocks. Runs on the caller's thread."""
        if self._pid != os.getpid():
            self._reset_in_child()
        if self._closed or len(self._inbox) >= self._inbox_limit:
            count_envelope(self._counter, drops.QUEUE_OVERFLOW, envelope)
            return
        self._inbox.append(envelope)
        if self._thread is None:
            self.start()
        if not self._wake.is_set():
            self._wake.set()

    def start(self) -> None:
        """Start the thread (lazily, at the first envelope or when the spool holds some)."""
        with self._start_lock:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(target=self._run, name="tripwire.worker", daemon=True)
            self._thread = thread
            thread.start()
            atexit.register(_close_at_exit, weakref.ref(self))
            if "multiprocessing" in sys.modules:
                # A multiprocessing child leaves through os._exit; its finalizers still run.
                from multiprocessing.util import Finalize

                Finalize(None, _close_at_exit, args=(weakref.ref(self),), exitpriority=100)

    def flush(self, timeout: float, callback: Callable[[int, float], None] | None = None) -> bool:
        """Wait up to ``timeout`` s for what is queued and in flight. True when all was sent."""
        if self._pid != os.getpid():
            self._reset_in_child()
        if self._thread is None:
            if not self._inbox and not (self._spool_pending and self._spool is not None):
                return True
            self.start()
        deadline = time.monotonic() + max(0.0, timeout)
        started = time.monotonic()
        with self._cond:
            self._flush_requested += 1
            generation = self._flush_requested
        self._wake.set()
        reported = callback is None
        while True:
            with self._cond:
                if self._flush_done >= generation and self._is_idle():
                    return not self._offline
                now = time.monotonic()
                if self._closed or now >= deadline:
                    return False
                if reported or now - started < CALLBACK_AFTER_S:
                    self._cond.wait(min(deadline - now, CALLBACK_AFTER_S))
                    continue
                pending = len(self._inbox) + len(self._queue) + len(self._replay)
            reported = True
            assert callback is not None
            try:
                callback(pending, timeout)  # outside the lock: it may capture or log
            except Exception:
                logger.exception("flush callback raised")

    def _is_idle(self) -> bool:
        if self._inbox or self._in_flight is not None:
            return False
        return self._offline or not (self._queue or self._replay or self._pending_on_disk())

    def _pending_on_disk(self) -> bool:
        return self._spool is not None and self._spool_pending

    def close(self, timeout: float) -> bool:
        """Flush for up to ``timeout`` s, then spool what is left and stop. Idempotent."""
        if self._closed or self._pid != os.getpid():
            return True
        drained = self.flush(timeout * 0.9)
        with self._cond:
            if self._closed:
                return drained
            self._closed = True
            envelopes = list(self._inbox)
            self._inbox.clear()
            in_flight = self._in_flight
            # A replayed envelope in flight goes back with its claim, below.
            leftovers = [in_flight] if in_flight and in_flight.spooled_at is None else []
            leftovers.extend(self._queue)
            self._queue.clear()
            self._queue_bytes = 0
            self._in_flight = None
            claim, self._claim = self._claim, None
            self._replay.clear()
            self._cond.notify_all()
        self._wake.set()
        if claim is not None and self._spool is not None:
            self._spool.release(claim)  # its unsent rest, the one in flight included
        leftovers.extend(self._encode_all(envelopes))
        report = self._reports.take(time.monotonic(), force=True)
        if report is not None:
            leftovers.append(report)
        if leftovers:
            for outbound in self._spill(leftovers):
                count_lost(self._counter, drops.NETWORK_ERROR, outbound.items)
        if self._debug:
            logger.info(
                "transport closed: %d events sent, %d spooled, %d dropped",
                self.sent_events,
                self.spooled_events,
                self._counter.total,
            )
        return drained and not leftovers

    # -- worker side ------------------------------------------------------------------------

    def _run(self) -> None:
        with _IMPORTING:
            try:
                self._sender.prepare()
            except Exception:
                logger.exception("tripwire transport could not load its network modules")
        while True:
            try:
                wait = self._pass()
            except _Stop:
                return
            except Exception:
                # The worker is the outermost frame of its thread: log, count, carry on.
                logger.exception("tripwire worker failed; the envelope in flight is dropped")
                with self._cond:
                    lost, self._in_flight = self._in_flight, None
                if lost is not None:
                    count_lost(self._counter, drops.INTERNAL_SDK_ERROR, lost.items)
                wait = 1.0
            if wait is not None:
                self._wake.wait(wait)

    def _pass(self) -> float | None:
        """One step: take in new envelopes, send one. Returns seconds to sleep, or None."""
        self._wake.clear()
        with self._cond:
            if self._closed:
                raise _Stop
            fresh = self._intake()
        for copy in fresh:
            self._sender.mirror(copy)
        with self._cond:
            if self._closed:
                raise _Stop
            now = time.monotonic()
            outbound = self._next(now)
            if outbound is None:
                if self._inbox:
                    return None
                self._flush_done = self._flush_handled
                self._cond.notify_all()
                return self._sleep_for(now)
        outcome = self._sender.send(outbound)
        with self._cond:
            if self._closed:
                raise _Stop
            self._in_flight = None
            self._settle(outbound, outcome, time.monotonic())
            self._cond.notify_all()
        return None

    def _encode_all(self, envelopes: list[Envelope]) -> list[Outbound]:
        encoded: list[Outbound] = []
        for envelope in envelopes:
            try:
                encoded.append(Outbound.encode(envelope))
            except Exception:
                logger.exception("envelope could not be encoded; dropped")
                count_envelope(self._counter, drops.INTERNAL_SDK_ERROR, envelope)
        return encoded

    def _intake(self) -> list[Outbound]:
        taken: list[Envelope] = []
        while self._inbox and len(taken) < INTAKE_CHUNK:
            taken.append(self._inbox.popleft())
        fresh = self._encode_all(taken)
        if not self._sender.has_destination:
            self.sent_events += len(fresh)
            return fresh
        for outbound in fresh:
            self._queue.append(outbound)
            self._queue_bytes += len(outbound.body)
        if self._offline and self._spool is not None:
            self._spill_queue(everything=True)
        elif self._queue_bytes > self._max_queue_bytes:
            self._spill_queue(everything=False)
        return fresh

    def _spill_queue(self, everything: bool) -> None:
        """Move the newest envelopes (all of them when offline) to disk, within the bounds."""
        moving: list[Outbound] = []
        while self._queue and (everything or self._queue_bytes > self._max_queue_bytes):
            outbound = self._queue.pop()
            self._queue_bytes -= len(outbound.body)
            moving.append(outbound)
        moving.reverse()
        for outbound in self._spill(moving):
            if self._queue_bytes + len(outbound.body) <= self._max_queue_bytes:
                self._queue.append(outbound)
                self._queue_bytes += len(outbound.body)
            else:
                reason = drops.QUEUE_OVERFLOW if self._spool is None else drops.CACHE_OVERFLOW
                count_lost(self._counter, reason, outbound.items)

    def _spill(self, outbounds: list[Outbound]) -> list[Outbound]:
        """Write ``outbounds`` to the spool; returns those that did not fit."""
        if self._spool is None or not outbounds:
            return outbounds
        written = self._spool.write([outbound.body for outbound in outbounds])
        for outbound in outbounds[:written]:
            self.spooled_events += sum(info.type == "event" for info in outbound.items)
        if written:
            self._spool_pending = True
        return outbounds[written:]

    def _next(self, now: float) -> Outbound | None:
        """The next envelope to send (marked in flight), or None when there is none yet."""
        if self._flush_requested > self._flush_probed:
            self._flush_probed = self._flush_requested
            self._retry_at = min(self._retry_at, now)  # a flush probes a server in backoff
        self._queue_report(now, force=False)
        while True:
            outbound = self._sendable(now)
            if outbound is not None or self._flush_handled >= self._flush_probed:
                return outbound
            # Drained for this flush: its report goes last, with every drop counted so far.
            self._flush_handled = self._flush_probed
            if not self._queue_report(now, force=True) or self._retry_at > now:
                return None

    def _sendable(self, now: float) -> Outbound | None:
        if self._retry_at > now or not self._sender.has_destination:
            return None
        while True:
            outbound = self._take(now)
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
            self._in_flight = outbound
            return outbound

    def _take(self, now: float) -> Outbound | None:
        if self._queue:
            outbound = self._queue.popleft()
            self._queue_bytes -= len(outbound.body)
            return outbound
        while True:
            if not self._replay and not self._load_claim():
                return None
            record = self._replay.popleft()
            if record is not None:
                return record
            assert self._claim is not None
            self._advance(self._claim)  # an unreadable record: skipped, already logged

    def _load_claim(self) -> bool:
        if self._spool is None or not self._spool_pending:
            return False
        claim = self._spool.claim()
        if claim is None:
            self._spool_pending = False
            return False
        self._claim = claim
        for record in claim.records[claim.done :]:
            try:
                self._replay.append(Outbound(record, scan_items(record), spooled_at=claim))
            except (ValueError, UnicodeDecodeError) as exc:
                logger.debug("spooled envelope in %s skipped: %s", claim.path, exc)
                self._replay.append(None)
        return True

    def _queue_report(self, now: float, force: bool) -> bool:
        report = self._reports.take(now, force)
        if report is None or not self._sender.has_destination:
            return False
        self._queue.append(report)
        self._queue_bytes += len(report.body)
        if self._offline and self._spool is not None:
            self._spill_queue(everything=True)
        return True

    def _sleep_for(self, now: float) -> float:
        wait = self._reports.seconds_until_due(now) + 0.01
        if self._retry_at > now and (self._queue or self._replay or self._pending_on_disk()):
            wait = min(wait, self._retry_at - now)
        return wait

    def _finish(self, outbound: Outbound) -> None:
        claim = outbound.spooled_at
        if isinstance(claim, Claim) and claim is self._claim:
            self._advance(claim)

    def _advance(self, claim: Claim) -> None:
        assert self._spool is not None
        self._spool.advance(claim)
        if claim.done >= len(claim.records):
            self._claim = None
            self._replay.clear()

    def _put_back(self, outbound: Outbound) -> None:
        if outbound.spooled_at is not None:
            self._replay.appendleft(outbound)
        else:
            self._queue.appendleft(outbound)
            self._queue_bytes += len(outbound.body)

    def _back_off(self, now: float) -> None:
        self._delay = min(BACKOFF_MAX_S, max(BACKOFF_INITIAL_S, self._delay * 2))
        self._retry_at = now + self._delay * random.uniform(0.5, 1.0)

    def _settle(self, outbound: Outbound, outcome: Outcome, now: float) -> None:
        events = sum(info.type == "event" for info in outbound.items)
        if isinstance(outcome, Sent):
            self.sent_events += events
            if self._offline or self._delay:
                logger.debug("server answers again; replaying the spool")
                self._spool_pending = self._spool is not None
            self._offline = False
            self._delay = 0.0
            self._finish(outbound)
        elif isinstance(outcome, RateLimited):
            self.rate_limited_events += events  # the server counted it (protocol.md §7)
            logger.debug("server rate limited an envelope: %s", outbound.categories)
            self._finish(outbound)
        elif isinstance(outcome, Rejected):
            logger.warning("server rejected an envelope with status %d", outcome.status)
            count_lost(self._counter, outcome.reason, outbound.items)
            if outbound.is_report_only:
                self._reports.restore(outbound)
            self._finish(outbound)
        elif isinstance(outcome, Retry):
            outbound.attempts += 1
            logger.debug("send failed (%s), attempt %d", outcome.reason, outbound.attempts)
            if outcome.is_network:
                self._put_back(outbound)
                if outbound.attempts == 1 and not self._offline:
                    return  # once at once: a stale pooled connection looks just like this
                self._go_offline(now)
            elif outbound.attempts >= MAX_SERVER_ATTEMPTS:
                count_lost(self._counter, drops.SEND_ERROR, outbound.items)
                self._finish(outbound)
            else:
                self._put_back(outbound)
                self._back_off(now)

    def _go_offline(self, now: float) -> None:
        self._offline = True
        self._back_off(now)
        claim, self._claim = self._claim, None
        if claim is not None and self._spool is not None:
            self._replay.clear()
            self._spool.release(claim)
            self._spool_pending = True
        if self._spool is not None:
            self._spill_queue(everything=True)
