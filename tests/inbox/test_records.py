"""Whatever shape an event has, storing and showing it never fails (hostile payloads)."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings

from tests.inbox.conftest import UNTIMED, event_shapes
from tripwire.inbox import console
from tripwire.inbox.records import EventRecord, parse_timestamp, prepare
from tripwire.inbox.ui import present


@settings(UNTIMED, max_examples=100)
@given(event_shapes())
@example({"exception": None, "threads": {"values": None}})
def test_any_event_shape_can_be_prepared_and_rendered(body: dict[str, Any]) -> None:
    event = {**body, "event_id": "9ec79c33ec9942ab8353589fcb2e04dc"}
    prepared = prepare(event, 1_800_000_000.0)
    assert prepared.title
    assert "\n" not in prepared.title
    assert prepared.level in ("fatal", "error", "warning", "info", "debug")
    record = EventRecord(1, prepared.event_id, 1, 1, 0.0, prepared.timestamp, "error", "t", event)
    console.event_lines(record)
    present.exception_views(event)
    present.thread_groups(event)
    present.breadcrumbs_of(event)
    present.request_of(event)
    present.pairs(event.get("tags"))


def test_timestamps_in_every_wire_form() -> None:
    assert parse_timestamp("2024-05-01T12:00:00.250731Z", 0) == 1714564800.250731
    assert parse_timestamp("2024-05-01T14:00:00+02:00", 0) == 1714564800.0
    assert parse_timestamp("2024-05-01T12:00:00.123456789Z", 0) == 1714564800.123456789
    assert parse_timestamp(1714564800.5, 0) == 1714564800.5
    assert parse_timestamp("yesterday", 7.0) == 7.0
    assert parse_timestamp(float("nan"), 7.0) == 7.0
    assert parse_timestamp(True, 7.0) == 7.0
    assert parse_timestamp(-1e10, 7.0) == 7.0
    assert parse_timestamp("0001-01-01T00:00:00Z", 7.0) == 7.0
