"""The single writer: requests queue their events, one transaction commits them all.

It runs on the event loop's own thread. A writer thread would hand the GIL back and forth
with the loop on every SQLite call and, under load, wait out the 5 ms switch interval each
time; here the requests that arrive in one loop iteration share the next commit, and a
commit (no fsync in WAL with synchronous=NORMAL) costs less than decoding one request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import anyio.to_thread

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
    future: asyncio.Future[list[StoredEvent]]


class Writer:
    """Batches the writes of concurrent requests into shared transactions."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._pending: list[_Job] = []
        self._scheduled = False

    async def write(
        self,
        project_id: int,
        events: list[PreparedEvent],
        reports: list[ClientReportCount] | None = None,
    ) -> list[StoredEvent]:
        """Store a request's events; returns once they are committed (or raises)."""
        loop = asyncio.get_running_loop()
        job = _Job(project_id, events, list(reports or ()), loop.create_future())
        self._pending.append(job)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await job.future

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            self._write(batch)

    def _write(self, batch: list[_Job]) -> None:
        try:
            results = self._commit(batch)
        except Exception:
            # One bad job must not fail its neighbours: retry each alone.
            for job in batch:
                try:
                    [result] = self._commit([job])
                except Exception as exc:
                    _settle(job, exc)
                else:
                    _settle(job, result)
            return
        for job, result in zip(batch, results, strict=True):
            _settle(job, result)

    def _commit(self, batch: list[_Job]) -> list[list[StoredEvent]]:
        with self.storage.transaction() as conn:
            now = time.time()
            results = []
            for job in batch:
                results.append(
                    [self.storage.insert(conn, job.project_id, e, now) for e in job.events]
                )
                if job.reports:
                    self.storage.insert_client_reports(conn, job.project_id, job.reports)
            return results

    async def prune_periodically(self, interval_s: float = PRUNE_INTERVAL_S) -> None:
        """Apply the retention settings now and every ``interval_s``, off the loop's thread."""
        while True:
            try:
                await anyio.to_thread.run_sync(self.storage.prune)
            except Exception:
                logger.exception("pruning old events failed")
            await asyncio.sleep(interval_s)


def _settle(job: _Job, outcome: list[StoredEvent] | BaseException) -> None:
    if job.future.done():  # the request went away (client disconnected)
        return
    if isinstance(outcome, BaseException):
        job.future.set_exception(outcome)
    else:
        job.future.set_result(outcome)
