"""Spool replay: several records at once, progress on disk, none sent twice."""

from __future__ import annotations

from pathlib import Path

from tests.transport.conftest import MakeTransport, event_envelope
from tests.transport.test_http import _Rendezvous
from tripwire.dsn import Dsn
from tripwire.transport.http import PARALLEL_REQUESTS
from tripwire.transport.outbound import Outbound
from tripwire.transport.replay import WINDOW, Replay
from tripwire.transport.spool import Spool


def _bodies(count: int) -> list[bytes]:
    return [Outbound.encode(event_envelope(f"spooled {n}")).body for n in range(count)]


def test_records_settled_out_of_order_advance_progress_once_the_gap_closes(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "s", 10_000_000)
    spool.write(_bodies(6))
    replay = Replay(spool)
    assert replay.load()
    taken = [replay.take() for _ in range(WINDOW)]
    assert replay.take() is None  # no further than the window past the recorded progress

    first, second, third = taken
    assert None not in taken
    assert first is not None
    assert second is not None
    assert third is not None
    replay.settle(third)
    replay.settle(second)
    assert [path.name.split(".")[1] for path in spool.directory.iterdir()] == ["0"]
    replay.settle(first)
    assert [path.name.split(".")[1] for path in spool.directory.iterdir()] == ["3"]
    assert replay.take() is not None


def test_a_file_given_back_after_out_of_order_deliveries_keeps_only_the_rest(
    tmp_path: Path,
) -> None:
    bodies = _bodies(5)
    spool = Spool(tmp_path / "s", 10_000_000)
    spool.write(bodies)
    replay = Replay(spool)
    assert replay.load()
    first, second, third = (replay.take() for _ in range(3))
    assert first is not None
    assert second is not None
    assert third is not None
    replay.settle(second)  # delivered while the first is still in flight
    replay.release_when_idle()  # the server went away
    replay.put_back(first)  # its request failed
    replay.put_back(third)

    claim = Spool(tmp_path / "s", 10_000_000).claim()
    assert claim is not None
    assert claim.records[claim.done :] == [bodies[0], bodies[2], bodies[3], bodies[4]]


def test_a_spool_is_replayed_several_envelopes_at_a_time_each_once(
    make_transport: MakeTransport, spool_dir: Path
) -> None:
    server = _Rendezvous()
    dsn = f"http://k@127.0.0.1:{server.server_address[1]}/1"
    count = 2 * PARALLEL_REQUESTS
    Spool.for_dsn(spool_dir, str(Dsn.parse(dsn)), 10_000_000).write(_bodies(count))
    try:
        transport = make_transport(dsn=dsn)
        assert transport.flush(60)
    finally:
        server.shutdown()
        server.server_close()
    assert server.met == count
    assert server.taken == count
    assert transport.spool is not None
    assert not transport.spool.has_pending()
