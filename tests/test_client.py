"""Where the capture steps run: the snapshot on the caller's thread, the rest on the worker."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import tripwire
from tripwire.client import PIPELINE, WORKER_STEPS_FROM
from tripwire.envelope import Item
from tripwire.pipeline import serialize
from tripwire.scrubber import EventScrubber
from tripwire.testing import Collector, capture_events


class RecordingScrubber(EventScrubber):
    """The default scrubber, noting the thread each event was scrubbed on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[threading.Thread] = []

    def scrub_event(self, event: Any) -> None:
        self.threads.append(threading.current_thread())
        super().scrub_event(event)


def test_the_worker_steps_are_the_ones_after_serialize() -> None:
    assert PIPELINE[WORKER_STEPS_FROM - 1] is serialize
    assert [step.__name__ for step in PIPELINE[WORKER_STEPS_FROM:]] == [
        "finish_reprs",
        "scrub",
        "add_process_data",
        "run_before_send",
    ]


def test_without_before_send_scrubbing_runs_on_the_worker(collector: Collector) -> None:
    scrubber = RecordingScrubber()
    tripwire.init(dsn=collector.dsn, event_scrubber=scrubber)
    tripwire.capture_message("card", extras={"password": "hunter2"})
    assert tripwire.flush(5)
    assert scrubber.threads
    assert threading.current_thread() not in scrubber.threads
    (event,) = collector.events
    assert event["extra"]["password"] == "[Filtered]"
    assert event["sdk"]["name"] == "tripwire.python"
    assert "runtime" in event["contexts"]


def test_with_before_send_every_step_runs_first_on_the_callers_thread(
    collector: Collector,
) -> None:
    scrubber = RecordingScrubber()
    seen: list[dict[str, Any]] = []

    def before_send(event: Any, hint: Any) -> Any:
        seen.append(event)
        return event

    tripwire.init(dsn=collector.dsn, event_scrubber=scrubber, before_send=before_send)
    tripwire.capture_message("card", extras={"password": "hunter2"})
    assert scrubber.threads == [threading.current_thread()]
    (event,) = seen
    assert event["extra"]["password"] == "[Filtered]"
    assert event["sdk"]["name"] == "tripwire.python"
    assert tripwire.flush(5)
    assert collector.events[0]["extra"]["password"] == "[Filtered]"


def test_a_value_changed_after_capture_returns_is_sent_as_it_was(collector: Collector) -> None:
    basket = ["apple"]
    tripwire.init(dsn=collector.dsn)
    tripwire.capture_message("basket", extras={"basket": basket})
    basket.append("pear")
    assert tripwire.flush(5)
    assert collector.events[0]["extra"]["basket"] == ["apple"]


def test_a_dropping_before_send_makes_the_capture_return_none() -> None:
    with capture_events(before_send=lambda event, hint: None) as events:
        assert tripwire.capture_message("dropped") is None
    assert events == []


def test_an_item_runs_its_remaining_steps_once_across_threads() -> None:
    calls: list[int] = []
    started = threading.Barrier(8)

    def finish(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return {**event, "finished": True}

    item = Item("event", json={"message": "m"}, finish=finish)
    results: list[Any] = []

    def read() -> None:
        started.wait()
        results.append(item.json)

    readers = [threading.Thread(target=read) for _ in range(8)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert calls == [1]
    assert all(result == {"message": "m", "finished": True} for result in results)
    assert b'"finished":true' in item.payload


def test_an_item_whose_steps_failed_never_shows_the_unfinished_event() -> None:
    def finish(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("scrubber broke")

    item = Item("event", json={"password": "hunter2"}, finish=finish)
    with pytest.raises(RuntimeError):
        item.serialize()
    assert item.json is None
    assert item.get_event() is None
