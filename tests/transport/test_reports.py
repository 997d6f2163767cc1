"""Client reports: drops reach the server on their own, at most once per interval."""

from __future__ import annotations

import time

import pytest

from tests.transport.conftest import MakeTransport, event_envelope
from tripwire import drops
from tripwire.testing import Collector, Response
from tripwire.transport import reports


def test_drops_are_reported_once_an_interval_has_passed_without_any_flush(
    collector: Collector, make_transport: MakeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports, "REPORT_INTERVAL_S", 0.5)
    collector.respond(Response(413))
    transport = make_transport()
    transport.capture_envelope(event_envelope("too large"))

    waited = 0.0
    while not collector.discarded() and waited < 60:  # no flush: only the schedule sends it
        time.sleep(0.05)
        waited += 0.05
    assert collector.discarded() == {(drops.SEND_ERROR, "error"): 1}
    report_envelopes = [r for r in collector.requests if r.client_reports]
    assert len(report_envelopes) == 1
    assert all(r.event is None for r in report_envelopes)  # alone, never with an event
