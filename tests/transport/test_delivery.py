"""Through ``tripwire.init``: what the application sees of delivery, drops and Spotlight."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

import tripwire
from tests.relay import assert_valid_event
from tests.transport.conftest import MakeTransport, event_envelope
from tripwire import drops
from tripwire.dsn import Dsn
from tripwire.options import Options
from tripwire.testing import Collector, Response
from tripwire.transport import make_transport
from tripwire.transport.http import DEFAULT_SPOTLIGHT_URL, HttpTransport, spotlight_url


def test_each_capture_sends_one_gzipped_envelope(collector: Collector, spool_dir: Path) -> None:
    tripwire.init(dsn=collector.dsn, spool_dir=str(spool_dir))
    tripwire.capture_message("disk almost full")
    tripwire.flush(timeout=5)

    [request] = collector.requests
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.event is not None
    assert request.event["message"] == "disk almost full"


def test_an_exception_event_arrives_with_its_stacktrace(
    collector: Collector, spool_dir: Path
) -> None:
    tripwire.init(dsn=collector.dsn, spool_dir=str(spool_dir))
    empty: dict[str, int] = {}
    try:
        empty["missing"]
    except KeyError:
        tripwire.capture_exception()
    assert tripwire.flush(5)

    [event] = collector.events
    [value] = event["exception"]["values"]
    assert value["type"] == "KeyError"
    assert value["stacktrace"]["frames"]


def test_on_drop_sees_every_drop_and_client_reports_carry_them(
    collector: Collector, spool_dir: Path
) -> None:
    seen: list[tuple[str, str, int]] = []
    collector.respond(Response(413), Response(413))
    tripwire.init(
        dsn=collector.dsn,
        spool_dir=str(spool_dir),
        on_drop=lambda reason, category, quantity: seen.append((reason, category, quantity)),
    )
    tripwire.capture_message("first")
    tripwire.capture_message("second")
    tripwire.flush(5)

    assert seen == [(drops.SEND_ERROR, "error", 1)] * 2
    assert collector.discarded() == {(drops.SEND_ERROR, "error"): 2}


def test_debug_mode_ends_with_a_one_line_summary(
    collector: Collector, spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tripwire")
    with tripwire.init(dsn=collector.dsn, spool_dir=str(spool_dir), debug=True):
        tripwire.capture_message("counted")

    summary = [r.getMessage() for r in caplog.records if "transport closed" in r.getMessage()]
    assert summary == ["transport closed: 1 events sent, 0 spooled, 0 dropped"]


def test_captures_inside_an_event_loop_never_wait_for_a_hanging_server(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.default = Response(hang=True)
    transport = make_transport()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def main() -> None:
        task = asyncio.create_task(ticker())
        for number in range(200):
            transport.capture_envelope(event_envelope(f"async {number}"))
            await asyncio.sleep(0)
        task.cancel()

    asyncio.run(asyncio.wait_for(main(), timeout=30))
    assert ticks >= 200
    collector.release()


def test_spotlight_gets_a_copy_of_every_envelope(
    collector: Collector, make_transport: MakeTransport
) -> None:
    with Collector() as sidecar:
        transport = make_transport(spotlight=f"http://127.0.0.1:{sidecar.port}/stream")
        transport.capture_envelope(event_envelope("seen twice"))
        assert transport.flush(5)
        assert sidecar.wait_for_events(1, timeout=5)

        [copy] = sidecar.requests
        assert copy.path == "/stream"
        assert "Content-Encoding" not in copy.headers
        assert copy.event is not None
        assert copy.event["message"] == {"formatted": "seen twice"}
        assert_valid_event(copy.event)
    assert [e["message"]["formatted"] for e in collector.events] == ["seen twice"]


def test_spotlight_alone_needs_no_dsn_and_a_dead_sidecar_costs_nothing(tmp_path: Path) -> None:
    with Collector() as sidecar:
        url = f"http://127.0.0.1:{sidecar.port}/stream"
        transport = make_transport(Options(spotlight=url), drops.DropCounter())
        assert isinstance(transport, HttpTransport)
        transport.capture_envelope(event_envelope("to the sidecar"))
        assert sidecar.wait_for_events(1, timeout=5)
    # The sidecar is gone now: envelopes are skipped, nothing waits or raises.
    transport.capture_envelope(event_envelope("nobody listens"))
    assert transport.close(2)
    assert make_transport(Options(), drops.DropCounter()) is None


def test_capture_after_close_is_counted_not_raised(
    collector: Collector, make_transport: MakeTransport
) -> None:
    transport = make_transport()
    transport.close(1)
    transport.capture_envelope(event_envelope("too late"))

    assert transport.drops.totals() == {(drops.QUEUE_OVERFLOW, "error"): 1}


def test_a_new_process_with_the_same_dsn_replays_at_init(
    collector: Collector, spool_dir: Path
) -> None:
    collector.down()
    options = Options(dsn=Dsn.parse(collector.dsn), spool_dir=str(spool_dir))
    first = HttpTransport(options, drops.DropCounter())
    for number in range(20):
        first.capture_envelope(event_envelope(f"left behind {number}"))
    assert first.close(1) is False

    collector.up()
    second = HttpTransport(options, drops.DropCounter())
    assert collector.wait_for_events(20, timeout=20)
    second.close(1)
    assert sorted(e["message"]["formatted"] for e in collector.events) == sorted(
        f"left behind {number}" for number in range(20)
    )


def test_spotlight_option_values_and_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert spotlight_url(Options(spotlight=True)) == DEFAULT_SPOTLIGHT_URL
    assert spotlight_url(Options(spotlight="false")) is None
    assert spotlight_url(Options(spotlight="http://sidecar:1/stream")) == "http://sidecar:1/stream"
    assert spotlight_url(Options()) is None
    monkeypatch.setenv("SENTRY_SPOTLIGHT", "1")
    assert spotlight_url(Options.from_init(None, {})) == DEFAULT_SPOTLIGHT_URL


def test_init_with_only_spotlight_sends_events_to_the_sidecar() -> None:
    with Collector() as sidecar:
        with tripwire.init(spotlight=f"http://127.0.0.1:{sidecar.port}/stream"):
            tripwire.capture_message("local only")
            assert tripwire.flush(5)
        assert sidecar.wait_for_events(1, timeout=5)
        assert [event["message"] for event in sidecar.events] == ["local only"]
        for event in sidecar.events:
            assert_valid_event(event)
