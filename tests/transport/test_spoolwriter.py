"""The spool writer's thread: batches written off the worker, each envelope accounted once."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tripwire.transport.outbound import Outbound, scan_items
from tripwire.transport.spool import Spool
from tripwire.transport.spoolwriter import SpoolWriter


def _outbound(number: int, padding: int = 0) -> Outbound:
    payload = b'{"message":"written %d","noise":"%s"}' % (
        number,
        os.urandom(padding).hex().encode(),
    )
    body = b'{"event_id":"%032x"}\n{"type":"event","length":%d}\n%s\n' % (
        number,
        len(payload),
        payload,
    )
    return Outbound(body, scan_items(body))


def test_a_handed_over_batch_is_written_and_collected_with_its_count(tmp_path: Path) -> None:
    written = threading.Event()
    spool = Spool(tmp_path / "s", 1_000_000)
    writer = SpoolWriter(spool, written.set)
    batch = [_outbound(number) for number in range(20)]

    assert writer.submit(batch)
    assert written.wait(10)

    [done] = writer.collect()
    assert (done.envelopes, done.events, done.unwritten) == (20, 20, [])
    assert not writer.is_busy
    assert writer.pending_bytes == 0
    claim = spool.claim()
    assert claim is not None
    assert claim.records == [outbound.body for outbound in batch]


def test_what_the_spool_has_no_room_for_comes_back_unwritten(tmp_path: Path) -> None:
    written = threading.Event()
    writer = SpoolWriter(Spool(tmp_path / "s", 3000), written.set)
    batch = [_outbound(number, padding=400) for number in range(10)]  # incompressible

    writer.submit(batch)
    assert written.wait(10)

    [done] = writer.collect()
    assert 0 < done.envelopes < 10
    assert done.unwritten == batch[done.envelopes :]


def test_stop_accounts_for_every_batch_once_and_refuses_new_ones(tmp_path: Path) -> None:
    writer = SpoolWriter(Spool(tmp_path / "s", 100_000_000), lambda: None)
    batches = [[_outbound(10 * b + n, padding=2000) for n in range(10)] for b in range(5)]
    for batch in batches:
        writer.submit(batch)

    unstarted = writer.stop()  # returns once the batch being written is done
    collected = writer.collect()

    assert not writer.is_busy
    assert writer.pending_bytes == 0
    assert all(not done.unwritten for done in collected)
    assert sum(done.envelopes for done in collected) + sum(map(len, unstarted)) == 50
    assert all(batch in batches for batch in unstarted)
    assert not writer.submit([_outbound(99)])
