"""The delivery worker: one background thread that encodes, sends, retries and spools.

The caller's side is ``submit()``: a deque append and an event notify, O(1), never blocking.
The inbox holds up to ``max_queue_bytes`` of unencoded events (estimated at their JSON size);
past that, envelopes are counted as ``queue_overflow``. Everything else runs on the worker
thread. Every envelope is at any moment in exactly one place (the inbox, the backlog in
memory, in flight (up to ``Sender.parallel`` requests), a batch with the spool writer, a
claimed spool file, the spool on disk) or has been delivered or counted as dropped. The
lock is never held across the network.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable

from tripwire import drops
from tripwire.envelope import Envelope
from tripwire.transport import lifecycle
from tripwire.transport.backlog import Backlog
from tripwire.transport.outbound import Outbound, Request, Sender, count_lost
from tripwire.transport.ratelimits import RateLimits
from tripwire.transport.reports import ReportSchedule
from tripwire.transport.spool import Spool

__all__ = ["Worker", "count_envelope"]

logger = logging.getLogger(__name__)

INTAKE_CHUNK = 256  # envelopes encoded at a time while holding the state lock
# During a burst the worker takes in up to this many chunks per request it sends: each
# request gives the GIL away twice, and the caller's thread takes milliseconds to return it,
# so an inbox drained one chunk per request falls behind the caller.
INTAKE_CHUNKS_PER_SEND = 8
INTAKE_WHILE_IN_FLIGHT = 2  # encoded while the server answers: more than one, to keep ahead
# An event waiting unencoded in the inbox holds about this many bytes of Python objects per
# byte of its JSON: tracemalloc measured 0.74 for message events (the JSON carries the
# modules list, added on the worker) and 1.34 to 1.53 for exceptions 3 to 25 frames deep.
MEMORY_PER_JSON_BYTE = 1.0
FIRST_JSON_BYTES_GUESS = 2048  # per envelope, until the worker has encoded some
# Offline, the inbox holds at most what the worker encodes in this share of shutdown_timeout
# (at the CPU time per envelope it measured), so a close spools it in time on a loaded
# machine too: at a load of 5 on 2 cores, 0.25 took the whole 2 s (a thread got about a
# quarter of a CPU). Wall-clock time would count the caller's turns with the GIL as well.
DRAIN_SHARE = 0.1
CALLBACK_AFTER_S = 0.1


class _Stop(Exception):
    pass


def count_envelope(counter: drops.DropCounter, reason: str, envelope: Envelope) -> None:
    """Count every item of an envelope that is dropped before it was encoded."""
    for item in envelope.items:
        quantity = max(1, len(item.payload)) if item.type == "attachment" else 1
        counter.count(reason, item.data_category, quantity)


class Worker:
    """Background delivery: an inbox on the caller's side, a ``Backlog`` on the worker's."""

    def __init__(
        self,
        sender: Sender,
        spool: Spool | None,
        counter: drops.DropCounter,
        *,
        limits: RateLimits,
        send_client_reports: bool = True,
        max_queue_bytes: int = 16 * 1024 * 1024,
        min_inbox: int = 100,
        shutdown_timeout: float = 2.0,
        debug: bool = False,
    ) -> None:
        self._sender = sender
        self._spool = spool
        self._counter = counter
        self._limits = limits
        self._reports = ReportSchedule(counter, send_client_reports)
        self._max_queue_bytes = max_queue_bytes
        self._min_inbox = min_inbox
        self.shutdown_timeout = shutdown_timeout
        self._debug = debug
        self._init_state()
        lifecycle.watch(self)

    def _init_state(self) -> None:
        self._pid = os.getpid()
        self._inbox: deque[Envelope] = deque()
        self._wake = threading.Event()
        self._cond = threading.Condition(threading.Lock())
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.backlog = Backlog(
            self._spool,
            self._counter,
            self._limits,
            self._reports,
            self._max_queue_bytes,
            on_written=self._wake.set,
        )
        self._json_bytes_per_envelope = 0.0  # a moving mean; 0 until the first intake
        self._encode_s_per_envelope = 0.0  # likewise, CPU seconds of this thread
        self._inbox_limit = self._inbox_limit_for(self._json_bytes_per_envelope)
        self._mirroring = False
        self._is_starved = True  # nothing encoded to send: take in before sending
        self._pending: deque[tuple[Outbound, Request]] = deque()  # worker thread only
        self._closed = False
        self._flush_requested = 0
        self._flush_probed = 0
        self._flush_handled = 0
        self._flush_done = 0
        self._mirrored_events = 0

    def _inbox_limit_for(self, json_bytes: float) -> int:
        """How many envelopes fit in ``max_queue_bytes``, each estimated at its JSON size.

        Offline, what the backlog leaves of it (a file's worth while the spool takes what
        is encoded, half when it is full), and no more than the worker encodes within
        ``DRAIN_SHARE`` of ``shutdown_timeout``. The worker encodes for the spool more
        slowly than the caller's thread captures (message events: about 55 us against 37 us
        of CPU, and they share the GIL), so in a loop of captures this room saves events.
        """
        estimate = max(1.0, (json_bytes or FIRST_JSON_BYTES_GUESS) * MEMORY_PER_JSON_BYTE)
        if not self.backlog.offline:
            return max(self._min_inbox, int(self._max_queue_bytes / estimate))
        budget = max(self._max_queue_bytes // 4, self._max_queue_bytes - self.backlog.queue_bytes)
        limit = int(budget / estimate)
        if self._encode_s_per_envelope:
            drained = DRAIN_SHARE * self.shutdown_timeout / self._encode_s_per_envelope
            limit = min(limit, int(drained))
        return max(self._min_inbox, limit)

    def reset_in_child(self) -> None:
        """After a fork: the parent delivers what it queued; the child starts empty."""
        self._init_state()
        self._counter._lock = threading.Lock()  # another thread may have held it at fork
        self._counter.take()  # the parent reports its own drops
        self._sender.reset()

    @property
    def sent_events(self) -> int:
        return self.backlog.sent_events + self._mirrored_events

    @property
    def spooled_events(self) -> int:
        return self.backlog.spooled_events

    # -- caller side ------------------------------------------------------------------------

    def submit(self, envelope: Envelope) -> None:
        """Hand ``envelope`` to the worker: O(1), never blocks. Runs on the caller's thread."""
        if self._pid != os.getpid():
            self.reset_in_child()
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
            lifecycle.watch_multiprocessing_exit(self)

    def flush(self, timeout: float, callback: Callable[[int, float], None] | None = None) -> bool:
        """Wait up to ``timeout`` s for what is queued and in flight. True when all was sent."""
        if self._pid != os.getpid():
            self.reset_in_child()
        if self._thread is None:
            if not self._inbox and not self.backlog.has_spooled:
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
                if self._flush_done >= generation:
                    if self._is_idle():
                        return not self.backlog.offline
                    if self._is_stalled_past(deadline):
                        return False  # backing off beyond the deadline: nothing to wait for
                now = time.monotonic()
                if self._closed or now >= deadline:
                    return False
                if reported or now - started < CALLBACK_AFTER_S:
                    self._cond.wait(min(deadline - now, CALLBACK_AFTER_S))
                    continue
                pending = len(self._inbox) + len(self.backlog)
            reported = True
            assert callback is not None
            try:
                callback(pending, timeout)  # outside the lock: it may capture or log
            except Exception:
                logger.exception("flush callback raised")

    def _is_idle(self) -> bool:
        return not (self._inbox or self._mirroring) and self.backlog.is_idle()

    def _is_stalled_past(self, deadline: float) -> bool:
        return not (self._inbox or self._mirroring) and self.backlog.is_waiting_past(deadline)

    def close(self, timeout: float) -> bool:
        """Flush for up to ``timeout`` s, then spool what is left and stop. Idempotent."""
        if self._closed or self._pid != os.getpid():
            return True
        deadline = time.monotonic() + max(0.0, timeout)
        drained = self.flush(timeout * 0.9)
        with self._cond:
            if self._closed:
                return drained
            self._closed = True
            envelopes = list(self._inbox)
            self._inbox.clear()
            leftovers = self.backlog.take_all()
            self._cond.notify_all()
        self._wake.set()
        if self._sender.has_destination:
            # Encoded for the spool while time remains (a bounded exit); the rest is counted.
            while envelopes and self._spool is not None and time.monotonic() < deadline:
                chunk, envelopes = envelopes[:INTAKE_CHUNK], envelopes[INTAKE_CHUNK:]
                leftovers.extend(self._encode_all(chunk))
            for envelope in envelopes:
                count_envelope(self._counter, drops.NETWORK_ERROR, envelope)
        report = self._reports.take(time.monotonic(), force=True)
        if report is not None and self._sender.has_destination:
            leftovers.append(report)
        if leftovers:
            full = self._spool is not None and self._spool.is_full
            for outbound in self.backlog.spill(leftovers):
                reason = drops.CACHE_OVERFLOW if full else drops.NETWORK_ERROR
                count_lost(self._counter, reason, outbound.items)
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
        with lifecycle.IMPORTING:
            try:
                self._sender.prepare()
            except Exception:
                logger.exception("tripwire transport could not load its network modules")
        while True:
            try:
                wait = self._pass()
            except _Stop:
                self._sender.close()
                return
            except Exception:
                # The worker is the outermost frame of its thread: log, count, carry on.
                logger.exception("tripwire worker failed; the envelopes in flight are dropped")
                for _, request in self._pending:
                    request.abandon()
                self._pending.clear()
                with self._cond:
                    lost, self.backlog.in_flight = self.backlog.in_flight, []
                for outbound in lost:
                    count_lost(self._counter, drops.INTERNAL_SDK_ERROR, outbound.items)
                wait = 1.0
            if wait is not None:
                self._wake.wait(wait)

    def _pass(self) -> float | None:
        """One step: take in new envelopes, start requests, finish the oldest one.

        Returns seconds to sleep, or None to go on at once.
        """
        self._wake.clear()
        if self._is_starved or len(self._inbox) * 2 >= self._inbox_limit:
            self._take_in(INTAKE_CHUNKS_PER_SEND, INTAKE_CHUNK)
        starting: list[Outbound] = []
        with self._cond:
            if self._closed:
                raise _Stop
            self.backlog.collect_written()
            now = time.monotonic()
            while len(self._pending) + len(starting) < self._sender.parallel:
                outbound = self._next(now)
                if outbound is None:
                    break
                starting.append(outbound)
            self._is_starved = not starting
            if not (starting or self._pending):
                if self._inbox:
                    return None
                self.backlog.spill_queue()  # offline and nothing new: the rest goes to disk
                self._flush_done = self._flush_handled
                self._cond.notify_all()
                return self.backlog.sleep_for(now)
        for outbound in starting:  # the lock is never held across the network
            self._pending.append((outbound, self._sender.start(outbound)))
        outbound, request = self._pending.popleft()
        outcome = request.finish(self._while_in_flight)
        with self._cond:
            if self._closed:
                raise _Stop
            self.backlog.settle(outbound, outcome, time.monotonic())
            self._inbox_limit = self._inbox_limit_for(self._json_bytes_per_envelope)
        # No notify here: a waiting flush() wakes when the worker runs out of work (above);
        # waking it at every answer handed it the GIL thousands of times in a burst.
        return None

    def _take_in(self, chunks: int, chunk: int) -> None:
        for _ in range(chunks):
            with self._cond:
                if self._closed:
                    raise _Stop
                fresh = self._intake(chunk)
                self._mirroring = bool(fresh)
            if fresh:
                for copy in fresh:
                    self._sender.mirror(copy)
                with self._cond:
                    self._mirroring = False
            if not self._inbox:
                return

    def _while_in_flight(self) -> None:
        # The server works on the request: encode a little and prepare the next body, so
        # neither side waits for the other.
        if self._inbox:
            self._take_in(1, INTAKE_WHILE_IN_FLIGHT)
        with self._cond:
            upcoming = self.backlog.peek()
        if upcoming is not None:
            self._sender.prepare_body(upcoming)

    def _encode_all(self, envelopes: list[Envelope]) -> list[Outbound]:
        encoded: list[Outbound] = []
        for envelope in envelopes:
            try:
                encoded.append(Outbound.encode(envelope))
            except Exception:
                logger.exception("envelope could not be encoded; dropped")
                count_envelope(self._counter, drops.INTERNAL_SDK_ERROR, envelope)
        return encoded

    def _intake(self, chunk: int) -> list[Outbound]:
        taken: list[Envelope] = []
        while self._inbox and len(taken) < chunk:
            taken.append(self._inbox.popleft())
        started = time.thread_time()
        fresh = self._encode_all(taken)
        if fresh:
            mean = sum(len(outbound.body) for outbound in fresh) / len(fresh)
            previous = self._json_bytes_per_envelope or mean
            self._json_bytes_per_envelope = previous + (mean - previous) * 0.25
            seconds = (time.thread_time() - started) / len(fresh)
            previous = self._encode_s_per_envelope or seconds
            self._encode_s_per_envelope = previous + (seconds - previous) * 0.25
        if self._sender.has_destination:
            self.backlog.add(fresh)
        else:
            self._mirrored_events += sum(e.get_event() is not None for e in taken)
        self._inbox_limit = self._inbox_limit_for(self._json_bytes_per_envelope)
        return fresh

    def _next(self, now: float) -> Outbound | None:
        if not self._sender.has_destination:
            self._flush_handled = self._flush_probed = self._flush_requested
            return None
        if self._flush_requested > self._flush_probed:
            self._flush_probed = self._flush_requested
            self.backlog.probe(now)  # a flush tries a server in backoff at once
        self.backlog.queue_report(now, force=False)
        while True:
            outbound = self.backlog.next(now)
            if outbound is not None or self._flush_handled >= self._flush_probed:
                return outbound
            if self.backlog.in_flight or self._inbox:
                return None  # not drained yet: answers and encoding may still add drops
            # Drained for this flush: its report goes last, with every drop counted so far.
            self._flush_handled = self._flush_probed
            if not self.backlog.queue_report(now, force=True):
                return None
            if self.backlog.is_backing_off(now):
                return None
