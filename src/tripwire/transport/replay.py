"""Replay: the records of the spool file this process holds, sent several at a time.

Progress on disk is a count in the file's name (the records before it are done), so records
that finish out of order are remembered until the gap before them closes. A file given back
while later records were already delivered is rewritten without them, so none is sent twice
(a crash can only make some go twice, never lose one). Worker side, under the worker's lock.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import NamedTuple

from tripwire.transport.outbound import Outbound, scan_items
from tripwire.transport.spool import Claim, Spool

__all__ = ["WINDOW", "Record", "Replay"]

logger = logging.getLogger(__name__)

# Records handed out past the recorded progress, at most: a process killed mid-replay sends
# these again (at least once), so this bounds the duplicates as it bounds the parallelism.
WINDOW = 3


class Record(NamedTuple):
    """Where a replayed envelope came from (``Outbound.spooled_at``)."""

    claim: Claim
    position: int


class Replay:
    """The claimed file's records: waiting, in flight, or settled (sent or dropped)."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._claim: Claim | None = None
        self._waiting: deque[Outbound] = deque()
        self._out: set[int] = set()  # indexes in flight
        self._settled: set[int] = set()  # indexes past claim.done that are handled
        self._is_releasing = False  # give the file back once nothing is in flight

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def is_active(self) -> bool:
        return self._claim is not None

    def load(self) -> bool:
        """Claim the oldest spool file waiting; False when there is none."""
        claim = self._spool.claim()
        if claim is None:
            return False
        self._claim, self._is_releasing = claim, False
        for index in range(claim.done, len(claim.records)):
            record = claim.records[index]
            try:
                items = scan_items(record)
            except (ValueError, UnicodeDecodeError) as exc:
                logger.debug("spooled envelope in %s skipped: %s", claim.path, exc)
                self._settled.add(index)
                continue
            self._waiting.append(Outbound(record, items, spooled_at=Record(claim, index)))
        self._advance()
        return True

    def peek(self) -> Outbound | None:
        return self._waiting[0] if self._waiting else None

    def take(self) -> Outbound | None:
        if not self._waiting or self._claim is None:
            return None
        if self._index(self._waiting[0]) >= self._claim.done + WINDOW:
            return None
        outbound = self._waiting.popleft()
        self._out.add(self._index(outbound))
        return outbound

    def _index(self, outbound: Outbound) -> int:
        record = outbound.spooled_at
        assert isinstance(record, Record)
        return record.position

    def _owns(self, outbound: Outbound) -> bool:
        record = outbound.spooled_at
        return isinstance(record, Record) and record.claim is self._claim

    def settle(self, outbound: Outbound) -> None:
        """``outbound`` was delivered or dropped for good: it is never sent again."""
        if not self._owns(outbound):
            return
        index = self._index(outbound)
        self._out.discard(index)
        self._settled.add(index)
        self._advance()
        if self._is_releasing and not self._out:
            self.release()

    def put_back(self, outbound: Outbound) -> None:
        """``outbound`` goes again later (first in line, or in the file if it is released)."""
        if not self._owns(outbound):
            return
        self._out.discard(self._index(outbound))
        if self._is_releasing:
            if not self._out:
                self.release()
        else:
            self._waiting.appendleft(outbound)

    def release_when_idle(self) -> None:
        """Give the file back once the requests in flight are answered (going offline)."""
        self._waiting.clear()
        if self._out:
            self._is_releasing = True
        else:
            self.release()

    def release(self) -> None:
        """Give the file back now, with every record not known to be handled."""
        claim, self._claim = self._claim, None
        self._waiting.clear()
        self._out.clear()
        settled, self._settled = self._settled, set()
        self._is_releasing = False
        if claim is None:
            return
        if any(index >= claim.done for index in settled):
            rest = claim.records[claim.done :]
            kept = [r for i, r in enumerate(rest, claim.done) if i not in settled]
            self._spool.replace(claim, kept)
        else:
            self._spool.release(claim)

    def _advance(self) -> None:
        claim = self._claim
        if claim is None:
            return
        done = claim.done
        while done in self._settled:
            self._settled.discard(done)
            done += 1
        if done > claim.done:
            self._spool.advance(claim, done)
        if claim.done >= len(claim.records):
            self._claim = None
            self._waiting.clear()
            self._settled.clear()
