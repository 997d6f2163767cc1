"""The spool writer: a thread that writes the worker's offline batches to the disk spool.

Compressing, writing, syncing and renaming a file each let go of the GIL, and a thread that
lets go of it waits up to the 5 ms switch interval to get it back from a caller's thread
capturing in a loop: about 25 ms per file of 750 message events, when the worker did it, a
third of its time. Now only this thread waits, and the worker goes on encoding. A batch is
handed over whole and comes back with how many of its envelopes were written
(``collect()``); what did not fit is the worker's to keep or count. After a fork the child's
worker builds its own writer (this thread is not copied).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from tripwire.transport.outbound import Outbound
from tripwire.transport.spool import Spool

__all__ = ["SpoolWriter", "Written"]

logger = logging.getLogger(__name__)


class Written(NamedTuple):
    """A batch the thread is done with: the envelopes written (as counts; their bytes are
    let go at once) and those the spool had no room for."""

    envelopes: int
    events: int
    unwritten: list[Outbound]


class SpoolWriter:
    """Batches waiting for the spool, the one being written, and those written."""

    def __init__(self, spool: Spool, on_written: Callable[[], object]) -> None:
        self._spool = spool
        self._on_written = on_written
        self._cond = threading.Condition(threading.Lock())
        self._waiting: deque[list[Outbound]] = deque()
        self._is_writing = False
        self._written: list[Written] = []
        self._thread: threading.Thread | None = None
        self._is_stopped = False
        self.pending_bytes = 0  # of the batches waiting or being written

    @property
    def is_busy(self) -> bool:
        """A batch waits, is being written, or its outcome is not collected yet."""
        return bool(self._waiting or self._is_writing or self._written)

    def submit(self, batch: list[Outbound]) -> bool:
        """Queue ``batch`` for the thread; False once stopped (the caller writes it then)."""
        with self._cond:
            if self._is_stopped:
                return False
            self._waiting.append(batch)
            self.pending_bytes += sum(len(outbound.body) for outbound in batch)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tripwire.spool", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return True

    def collect(self) -> list[Written]:
        """The batches written since the last call."""
        with self._cond:
            written, self._written = self._written, []
        return written

    def stop(self) -> list[list[Outbound]]:
        """Take no more batches; returns those not started, after the one being written
        is done (a write is bounded like the worker's own were: one file).
        """
        with self._cond:
            self._is_stopped = True
            unstarted = list(self._waiting)
            self._waiting.clear()
            for batch in unstarted:
                self.pending_bytes -= sum(len(outbound.body) for outbound in batch)
            self._cond.notify_all()
            while self._is_writing:
                self._cond.wait()
        return unstarted

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._waiting or self._is_stopped):
                    self._cond.wait()
                if not self._waiting:
                    return
                batch = self._waiting.popleft()
                self._is_writing = True
            written = 0
            try:
                written = self._spool.write([outbound.body for outbound in batch])
            except Exception:  # the thread's outermost frame: the batch goes back unwritten
                logger.exception("tripwire spool writer failed")
            events = sum(info.type == "event" for o in batch[:written] for info in o.items)
            with self._cond:
                self._is_writing = False
                self.pending_bytes -= sum(len(outbound.body) for outbound in batch)
                self._written.append(Written(written, events, batch[written:]))
                self._cond.notify_all()
            del batch  # the written envelopes' bytes go now, not when the worker collects
            self._on_written()
