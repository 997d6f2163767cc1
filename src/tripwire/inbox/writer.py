"""The single writer: one thread owns the write transactions and commits in batches.

Requests hand over prepared events and wait on a future; whatever queued up while the last
transaction ran is written in the next one, so a burst costs one commit, not one per event.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from tripwire.inbox.ingest import ClientReportCount
from tripwire.inbox.records import PreparedEvent, StoredEvent
from tripwire.inbox.storage import Storage

__all__ = ["MAX_BATCH", "PRUNE_INTERVAL_S", "Writer"]

MAX_BATCH = 512
PRUNE_INTERVAL_S = 600.0
logger = logging.getLogger(__name__)


@dataclass
class _Job:
    project_id: int
    events: list[PreparedEvent]
    reports: list[ClientReportCount]
    future: Future[list[StoredEvent]] = field(default_factory=Future)


class Writer:
    """Owns writes to ``storage`` from its own thread; ``submit`` is safe from any thread."""

    def __init__(self, storage: Storage, *, prune_interval_s: float = PRUNE_INTERVAL_S) -> None:
        self.storage = storage
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._prune_interval_s = prune_interval_s
        self._thread = threading.Thread(target=self._run, name="tripwire-inbox-writer", daemon=True)
        self._started = False
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Start the thread (idempotent; ``submit`` starts it too)."""
        with self._start_lock:
            if not self._started:
                self._started = True
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout)

    def submit(
        self,
        project_id: int,
        events: list[PreparedEvent],
        reports: list[ClientReportCount] | None = None,
    ) -> Future[list[StoredEvent]]:
        """Queue a request's events; the future resolves once they are committed."""
        job = _Job(project_id, events, list(reports or ()))
        self.start()
        self._queue.put(job)
        return job.future

    def _run(self) -> None:
        next_prune = time.monotonic()
        stopping = False
        while not stopping:
            if time.monotonic() >= next_prune:
                self._prune()
                next_prune = time.monotonic() + self._prune_interval_s
            try:
                first = self._queue.get(timeout=max(0.0, next_prune - time.monotonic()))
            except queue.Empty:
                continue
            batch: list[_Job] = []
            job: _Job | None = first
            while True:
                if job is None:
                    stopping = True
                else:
                    batch.append(job)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)

    def _prune(self) -> None:
        try:
            self.storage.prune()
        except Exception:
            logger.exception("pruning old events failed")

    def _write(self, batch: list[_Job]) -> None:
        try:
            results = self._commit(batch)
        except Exception:
            # One bad job must not fail its neighbours: retry each alone.
            for job in batch:
                try:
                    [result] = self._commit([job])
                except Exception as exc:
                    job.future.set_exception(exc)
                else:
                    job.future.set_result(result)
            return
        for job, result in zip(batch, results, strict=False):
            job.future.set_result(result)

    def _commit(self, batch: list[_Job]) -> list[list[StoredEvent]]:
        with self.storage.transaction() as conn:
            results = []
            for job in batch:
                now = time.time()
                results.append(
                    [self.storage.insert(conn, job.project_id, e, now) for e in job.events]
                )
                if job.reports:
                    self.storage.insert_client_reports(conn, job.project_id, job.reports)
            return results
