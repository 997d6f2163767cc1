"""``event.modules``: the installed distributions, their JSON encoded once and spliced in."""

from __future__ import annotations

import json
from typing import Any, cast

import tripwire
from tests.relay import assert_valid_event
from tripwire.budget import encode_event
from tripwire.integrations.modules import (
    add_modules,
    encode_event_with_modules,
    installed_distributions,
)
from tripwire.testing import Collector
from tripwire.types import Event


def _event(**extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "4f1e5cdb9d0a4c51b8f4a4f0f7f3a1aa",
        "timestamp": 1795765701.25,
        "platform": "python",
        "level": "info",
        "message": "disk almost full: naïve café",
        **extra,
    }
    add_modules(cast(Event, event))
    return event


def test_spliced_modules_decode_to_what_encoding_the_whole_event_gives() -> None:
    event = _event(extra={"nested": [1, 2.5, None, "x"]})

    spliced = encode_event_with_modules(event, 1_000_000)

    assert json.loads(spliced) == json.loads(encode_event(event, 1_000_000))
    assert json.loads(spliced)["modules"] == installed_distributions()
    assert "modules" in event  # the event itself is left as it was


def test_modules_changed_after_they_were_added_are_encoded_as_they_are() -> None:
    event = _event()
    event["modules"]["made-up-distribution"] = "1.0"
    event["modules"].pop("pytest")

    modules = json.loads(encode_event_with_modules(event, 1_000_000))["modules"]

    assert modules["made-up-distribution"] == "1.0"
    assert "pytest" not in modules


def test_an_event_with_its_own_modules_keeps_them() -> None:
    event = _event(modules={"only-this": "2.0"})

    assert json.loads(encode_event_with_modules(event, 1_000_000))["modules"] == {
        "only-this": "2.0"
    }


def test_an_event_over_the_byte_budget_is_trimmed_as_the_whole_event_would_be() -> None:
    event = _event(extra={"blob": "x" * 3000})
    budget = len(encode_event({k: v for k, v in event.items() if k != "modules"}, 10**9)) + 10

    spliced = encode_event_with_modules(event, budget)

    assert len(spliced) <= budget
    assert spliced == encode_event(event, budget)


def test_events_on_the_wire_carry_the_installed_distributions(collector: Collector) -> None:
    tripwire.init(dsn=collector.dsn)
    tripwire.capture_message("with modules")
    tripwire.flush(timeout=5)

    [event] = collector.events
    assert event["modules"] == installed_distributions()
    assert_valid_event(event)
