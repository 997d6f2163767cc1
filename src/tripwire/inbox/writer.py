"""The single writer: requests queue their events, and one transaction commits a batch.

Requests wait for the commit of their events before they are answered, so a 200 means the
events are in the database (WAL with synchronous=NORMAL: they survive the inbox being
killed; an OS crash or power cut may lose the commits since the last checkpoint, about a
second of them, never half of one). Events not yet committed were never answered 200.

The events that arrive within one iteration of the event loop form a batch, committed at
the end of that iteration on the loop's thread: the busier the inbox, the larger its
batches and the fewer pages each event costs. The loop never waits for another writer: when
one holds the database (pruning, a page's action, another process) or the batch fails,
the batch goes to the writer thread, which waits its turn and retries each request alone
so that one bad request does not fail its neighbours. (Committing every batch on a thread
measured worse: on 2 CPUs, the two wake-ups per batch and the two threads taking turns for
the GIL cost more than the overlap of SQLite's own work with parsing won.)

The queue is bounded: past ``max_queued_events`` waiting events ``write`` refuses with
``Overloaded`` (a 429 with Retry-After), so a flood costs the sender a retry later instead
of costing the inbox unbounded memory.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread

from tripwire.inbox.ingest import ClientReportCount, Overloaded
from tripwire.inbox.records import PreparedEvent, StoredEvent
from tripwire.inbox.storage import Storage

__all__ = ["MAX_BATCH", "MAX_QUEUED_EVENTS", "PRUNE_INTERVAL_S", "Writer"]

MAX_BATCH = 512
MAX_QUEUED_EVENTS = 5000  # about 15 MB of prepared 20-frame events
PRUNE_INTERVAL_S = 600.0
_WARN_INTERVAL_S = 60.0
logger = logging.getLogger(__name__)

_Outcome = list[StoredEvent] | Exception


@dataclass
class _Job:
    project_id: int
    events: list[PreparedEvent]
    reports: list[ClientReportCount]
    future: asyncio.Future[list[StoredEvent]]
    on_written: Callable[[asyncio.Future[list[StoredEvent]]], None] | None = None


class Writer:
    """Batches the writes of concurrent requests into shared transactions."""

    def __init__(self, storage: Storage, max_queued_events: int = MAX_QUEUED_EVENTS) -> None:
        self.storage = storage
        self.max_queued_events = max_queued_events
        self._pending: list[_Job] = []
        self._queued_events = 0  # waiting or being committed
        self._scheduled = False
        self._committing = False
        self.refused_events = 0
        self._last_warning = -_WARN_INTERVAL_S
        # The thread for batches the loop could not commit at once; a SimpleQueue, since a
        # ThreadPoolExecutor's locks made the loop wait out GIL switch intervals.
        self._batches: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def queued_events(self) -> int:
        return self._queued_events

    def check_capacity(self, events: int = 1) -> None:
        """Raise ``Overloaded`` if ``events`` more would not fit in the queue."""
        if self._queued_events and self._queued_events + events > self.max_queued_events:
            self.refused_events += events
            if time.monotonic() - self._last_warning > _WARN_INTERVAL_S:
                self._last_warning = time.monotonic()
                logger.warning(
                    "the inbox is overloaded: %d events refused with 429 so far",
                    self.refused_events,
                )
            raise Overloaded(
                f"the inbox has {self._queued_events} events waiting to be written; retry later"
            )

    async def write(
        self,
        project_id: int,
        events: list[PreparedEvent],
        reports: list[ClientReportCount] | None = None,
    ) -> list[StoredEvent]:
        """Store a request's events; returns once they are committed (or raises)."""
        return await self.submit(project_id, events, reports)

    def submit(
        self,
        project_id: int,
        events: list[PreparedEvent],
        reports: list[ClientReportCount] | None = None,
        on_written: Callable[[asyncio.Future[list[StoredEvent]]], None] | None = None,
    ) -> asyncio.Future[list[StoredEvent]]:
        """Queue a request's events; the future is done once they are committed. Raises
        ``Overloaded`` when they do not fit in the queue.

        ``on_written(future)`` is called as soon as the future is done, in the same turn
        of the loop (a done callback of the future would wait for the loop's next turn).
        """
        self.check_capacity(len(events))
        loop = asyncio.get_running_loop()
        job = _Job(project_id, events, list(reports or ()), loop.create_future(), on_written)
        self._pending.append(job)
        self._queued_events += len(events)
        if not self._scheduled and not self._committing:
            self._scheduled = True
            loop.call_soon(self._flush)
        return job.future

    def _flush(self) -> None:
        self._scheduled = False
        if self._committing or not self._pending:
            return
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        self._committing = True
        outcomes = self._commit_at_once(batch)
        if outcomes is not None:
            self._written(batch, outcomes)
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run,
                args=(asyncio.get_running_loop(),),
                name="tripwire-inbox-writer",
                daemon=True,
            )
            self._thread.start()
        self._batches.put(batch)

    def _commit_at_once(self, batch: list[_Job]) -> list[_Outcome] | None:
        """Commit on the loop's thread; None if the database was busy or the batch failed
        (then nothing of it was written)."""
        try:
            return list(self._commit(batch, wait=False))
        except Exception:
            return None

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        """The writer thread: commit each batch, hand the outcomes back to the loop."""
        while (batch := self._batches.get()) is not None:
            try:
                outcomes = self._write(batch)
            except BaseException as exc:  # never leave a request waiting for an answer
                outcomes = [RuntimeError(f"the writer failed: {exc!r}")] * len(batch)
            try:
                loop.call_soon_threadsafe(self._written, batch, outcomes)
            except RuntimeError:  # the loop is closed: no request waits any more
                return

    def _written(self, batch: list[_Job], outcomes: list[_Outcome]) -> None:
        self._committing = False
        self._queued_events -= sum(len(job.events) for job in batch)
        for job, outcome in zip(batch, outcomes, strict=True):
            _settle(job, outcome)
        for job in batch:
            if job.on_written is not None:
                try:
                    job.on_written(job.future)
                except Exception:  # the other requests still get their answers
                    logger.exception("answering a request failed")
        self._flush()

    def _write(self, batch: list[_Job]) -> list[_Outcome]:
        """Runs on the writer thread."""
        try:
            return list(self._commit(batch))
        except Exception:
            # One bad job must not fail its neighbours: retry each alone.
            outcomes: list[_Outcome] = []
            for job in batch:
                try:
                    outcomes.extend(self._commit([job]))
                except Exception as exc:
                    outcomes.append(exc)
            return outcomes

    def _commit(self, batch: list[_Job], *, wait: bool = True) -> list[list[StoredEvent]]:
        with self.storage.transaction(wait=wait) as conn:
            now = time.time()
            results = []
            for job in batch:
                results.append(
                    [self.storage.insert(conn, job.project_id, e, now) for e in job.events]
                )
                if job.reports:
                    self.storage.insert_client_reports(conn, job.project_id, job.reports)
            return results

    def close(self) -> None:
        """Wait for the batch being committed, then stop the writer thread."""
        if self._thread is not None:
            self._batches.put(None)
            self._thread.join()
            self._thread = None

    async def prune_periodically(self, interval_s: float = PRUNE_INTERVAL_S) -> None:
        """Apply the retention settings now and every ``interval_s``, off the loop's thread."""
        while True:
            try:
                await anyio.to_thread.run_sync(self.storage.prune)
            except Exception:
                logger.exception("pruning old events failed")
            await asyncio.sleep(interval_s)


def _settle(job: _Job, outcome: _Outcome) -> None:
    if job.future.done():  # the request went away (client disconnected)
        return
    if isinstance(outcome, BaseException):
        job.future.set_exception(outcome)
    else:
        job.future.set_result(outcome)
