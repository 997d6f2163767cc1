"""The disk spool: atomic batches, exclusive claims, progress, bounds, and bad contents."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

import tripwire
from tests.relay import assert_valid_event
from tests.transport.conftest import MakeTransport, event_envelope
from tripwire import drops
from tripwire.dsn import Dsn
from tripwire.options import Options
from tripwire.testing import Collector, Response
from tripwire.transport.http import HttpTransport
from tripwire.transport.spool import (
    MAGIC,
    MAGIC_COMPRESSED,
    Spool,
    decode_records,
    encode_file,
    encode_records,
    read_file,
)


def test_records_written_in_a_batch_come_back_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", 1_000_000)

    assert spool.write([b"one", b"two", b"three"]) == 3
    claim = spool.claim()

    assert claim is not None
    assert claim.records == [b"one", b"two", b"three"]
    assert spool.claim() is None  # claimed: nobody else gets it


def test_progress_survives_release_and_the_file_goes_when_done(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", 1_000_000)
    spool.write([b"a", b"b", b"c"])
    claim = spool.claim()
    assert claim is not None
    spool.advance(claim)
    spool.release(claim)

    again = spool.claim()
    assert again is not None
    assert again.records[again.done :] == [b"b", b"c"]
    spool.advance(again)
    spool.advance(again)
    assert list((tmp_path / "s").iterdir()) == []


def test_a_claim_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", 1_000_000)
    spool.write([b"a", b"b"])
    [written] = list((tmp_path / "s").iterdir())
    base = written.name.split(".")[0]
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    written.rename(written.with_name(f"{base}.1.{dead_pid}.claim"))

    claim = spool.claim()
    assert claim is not None
    assert claim.records[claim.done :] == [b"b"]


def test_the_spool_never_grows_past_its_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", 1000)
    incompressible = [os.urandom(300) for _ in range(4)]

    assert 2 <= spool.write(incompressible) < 4
    assert spool.write([os.urandom(300)]) == 0
    assert spool.size() <= 1000


def test_a_batch_of_similar_events_is_stored_compressed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", 1_000_000)
    bodies = [
        b'{"event_id":"%032x"}\n{"type":"event","length":60}\n{"message":"disk %d","level":'
        b'"warning","modules":{"urllib3":"2.8.0"}}' % (n, n)
        for n in range(2000)
    ]

    assert spool.write(bodies) == 2000
    [written] = list((tmp_path / "s").iterdir())
    assert written.read_bytes().startswith(MAGIC_COMPRESSED)
    assert spool.size() < sum(map(len, bodies)) // 10
    claim = spool.claim()
    assert claim is not None
    assert claim.records == bodies


def test_files_of_the_uncompressed_format_are_still_replayed(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "00000000000000000001-1-aa.0.spool").write_bytes(encode_records([b"a", b"b"]))

    claim = Spool(folder, 1_000_000).claim()

    assert claim is not None
    assert claim.records == [b"a", b"b"]


def test_truncated_and_corrupted_records_keep_what_came_before() -> None:
    data = encode_records([b"first", b"second"])

    assert decode_records(data[:-3]) == ([b"first"], decode_records(data[:-3])[1])
    assert decode_records(data[:-3])[1] is not None
    flipped = data[:-1] + b"X"
    records, problem = decode_records(flipped)
    assert records == [b"first"]
    assert problem is not None
    assert "checksum" in problem
    assert decode_records(b"garbage") == ([], "not a tripwire spool file")


def test_a_torn_or_corrupt_compressed_file_keeps_the_records_before_the_damage() -> None:
    bodies = [os.urandom(40_000) for _ in range(4)]  # incompressible: the stream is long
    data = encode_file(bodies)
    cut = len(data) * 2 // 3  # within the third record

    assert read_file(data) == (bodies, None)
    assert read_file(data[:cut]) == (bodies[:2], "compressed records are truncated")
    records, problem = read_file(data[:cut] + bytes(len(data) - cut))
    assert records == bodies[: len(records)]
    assert len(records) <= 2
    assert problem is not None


def _bad_spool_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "00000000000000000001-1-aa.0.spool").write_bytes(os.urandom(500))
    truncated = encode_records([b'{"event_id":"00"}\n{"type":"event","length":1000}\nshort'])
    (folder / "00000000000000000002-1-bb.0.spool").write_bytes(truncated[:-10])
    (folder / "00000000000000000003-1-cc.0.spool").write_bytes(MAGIC + b"12 zz\n")
    (folder / "00000000000000000004-1-dd.0.spool").mkdir()  # unreadable as a file
    (folder / "notes.txt").write_text("someone else's file")
    (folder / "x.y.z.claim").write_text("a name that is not ours")
    records = encode_records([b"not an envelope at all"])
    (folder / "00000000000000000005-1-ee.0.spool").write_bytes(records)


def test_bad_spool_contents_never_stop_delivery(
    collector: Collector,
    make_transport: MakeTransport,
    spool_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = make_transport()
    assert transport.spool is not None
    _bad_spool_files(transport.spool.directory)
    caplog.set_level(logging.DEBUG, logger="tripwire")

    transport.capture_envelope(event_envelope("delivered anyway"))
    transport.flush(5)

    assert [e["message"]["formatted"] for e in collector.events] == ["delivered anyway"]
    assert "not a tripwire spool file" in caplog.text
    assert (transport.spool.directory / "notes.txt").exists()


def test_an_unusable_spool_folder_only_costs_the_spooled_events(
    collector: Collector, make_transport: MakeTransport, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool folder should be")
    collector.down()
    transport = make_transport(spool_dir=str(blocker / "spool"))
    for number in range(3):
        transport.capture_envelope(event_envelope(f"offline {number}"))

    assert not transport.flush(2)
    assert transport.close(0.5) is False
    assert transport.drops.totals() == {(drops.NETWORK_ERROR, "error"): 3}


def test_down_during_10000_captures_then_up_delivers_all_once(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.down()
    transport = make_transport(shutdown_timeout=5)  # room to spool all at exit (DRAIN_SHARE)
    for number in range(10_000):
        transport.capture_envelope(event_envelope(f"outage {number}"))
    assert not transport.flush(5)  # unreachable: all of it waits on disk
    assert transport.worker.spooled_events == 10_000

    collector.up()
    assert transport.flush(100)

    messages = [event["message"]["formatted"] for event in collector.events]
    assert len(messages) == 10_000
    assert set(messages) == {f"outage {number}" for number in range(10_000)}
    assert transport.drops.total == 0
    assert transport.spool is not None
    assert transport.spool.size() == 0


def test_memory_is_bounded_by_bytes_and_the_overflow_waits_on_disk(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.respond(Response(delay_s=0.5))
    transport = make_transport(max_queue_bytes=4000)
    for number in range(100):
        transport.capture_envelope(event_envelope(f"bounded {number}"))

    assert transport.flush(60)
    assert transport.worker.spooled_events > 0
    messages = sorted(event["message"]["formatted"] for event in collector.events)
    assert messages == sorted(f"bounded {number}" for number in range(100))


def test_a_full_spool_counts_cache_overflow(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.down()
    transport = make_transport(max_spool_bytes=3000, max_queue_bytes=1000)
    for number in range(30):
        noise = os.urandom(150).hex()  # compresses to about half: only a few fit
        transport.capture_envelope(event_envelope(f"no room {number}", extra={"noise": noise}))
    transport.close(1)

    assert transport.spool is not None
    assert transport.spool.size() <= 3000
    lost = transport.drops.totals()[(drops.CACHE_OVERFLOW, "error")]
    assert 0 < lost < 30
    assert lost + transport.worker.spooled_events == 30


def test_the_default_spool_is_a_per_user_cache_folder_keyed_by_dsn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = HttpTransport(Options(dsn=Dsn.parse("https://a@example.com/1")))
    second = HttpTransport(Options(dsn=Dsn.parse("https://b@example.com/1")))
    without = HttpTransport(Options(dsn=Dsn.parse("https://a@example.com/1"), spool_dir=False))

    assert first.spool is not None
    assert second.spool is not None
    assert first.spool.directory.parent == tmp_path / "cache" / "tripwire" / "spool"
    assert first.spool.directory != second.spool.directory
    assert without.spool is None


def test_the_unencoded_inbox_holds_max_queue_bytes_and_counts_what_is_refused(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.respond(Response(hang=True))
    seen: list[str] = []
    transport = make_transport(
        max_queue_bytes=200_000,
        transport_queue_size=0,
        on_drop=lambda reason, category, quantity: seen.append(reason),
    )
    padding = "x" * 10_000
    transport.capture_envelope(event_envelope("first", extra={"padding": padding}))
    while not transport.worker.backlog.in_flight:  # the worker waits on the server now
        time.sleep(0.01)
    for number in range(200):
        transport.capture_envelope(event_envelope(f"waiting {number}", extra={"padding": padding}))

    refused = seen.count(drops.QUEUE_OVERFLOW)
    accepted = 200 - refused  # about 19 of these 10 kB events, plus the few the worker took
    assert accepted <= 2 * 200_000 // 10_000
    collector.release()
    collector.respond()
    assert transport.flush(30)
    assert len(collector.events) == 1 + 200 - refused
    assert transport.drops.totals() == {(drops.QUEUE_OVERFLOW, "error"): refused}


def test_a_close_without_time_left_counts_what_it_could_not_encode(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.respond(Response(hang=True))
    transport = make_transport()
    transport.capture_envelope(event_envelope("in flight"))
    while not transport.worker.backlog.in_flight:  # the worker waits on the server now
        time.sleep(0.01)
    for number in range(50):
        transport.capture_envelope(event_envelope(f"waiting {number}"))
    transport.close(0)  # a bounded exit: no time to encode the inbox for the spool

    unencoded = transport.drops.totals().get((drops.NETWORK_ERROR, "error"), 0)
    assert unencoded >= 50 - 2  # the worker may have encoded two while it waited
    assert unencoded + transport.worker.spooled_events == 51
    collector.release()


def test_events_replayed_from_the_spool_arrive_exactly_as_they_were_encoded(
    collector: Collector, spool_dir: Path
) -> None:
    collector.down()
    tripwire.init(dsn=collector.dsn, spool_dir=str(spool_dir))
    tripwire.capture_message("spooled message", level="warning")
    try:
        raise KeyError("spooled error")
    except KeyError:
        tripwire.capture_exception()
    assert not tripwire.flush(timeout=5)  # unreachable: both wait on disk
    [folder] = spool_dir.iterdir()
    spooled = [record for path in folder.iterdir() for record in read_file(path.read_bytes())[0]]
    assert len(spooled) == 2

    collector.up()
    assert tripwire.flush(timeout=30)

    arrived = [request.body for request in collector.requests if request.event is not None]
    assert sorted(body.split(b"\n", 1)[1] for body in arrived) == sorted(
        record.split(b"\n", 1)[1]
        for record in spooled  # the same bytes but for sent_at
    )
    for event in collector.events:
        assert_valid_event(event)
    assert {"spooled message", "spooled error"} == {
        event.get("message") or event["exception"]["values"][0]["value"].strip("'")
        for event in collector.events
    }


@pytest.mark.parametrize("shutdown_timeout", [0.005, 30.0])
def test_offline_the_inbox_holds_what_a_close_can_spool_within_shutdown_timeout(
    collector: Collector, make_transport: MakeTransport, shutdown_timeout: float
) -> None:
    collector.down()
    transport = make_transport(shutdown_timeout=shutdown_timeout, transport_queue_size=0)
    transport.capture_envelope(event_envelope("goes offline"))
    while not transport.worker.spooled_events:  # offline, and its pace measured
        time.sleep(0.01)
    for number in range(3000):
        transport.capture_envelope(event_envelope(f"offline {number}"))
    transport.close(60)

    refused = transport.drops.totals().get((drops.QUEUE_OVERFLOW, "error"), 0)
    assert refused + transport.worker.spooled_events == 3001
    if shutdown_timeout < 1:
        assert refused > 0  # a close could not have spooled them all in time
    else:
        assert refused == 0
