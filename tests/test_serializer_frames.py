"""Frames built by events/frames.py reach the serializer as a FrameList; when no processor
outside tripwire saw the event, they are taken as built. These tests pin that the shortcut
gives what the general path gives, and that anything else still takes the general path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.relay import assert_valid_event
from tripwire.converter import MAX_DATABAG_BREADTH
from tripwire.events.exceptions import event_from_exception
from tripwire.events.frames import MAX_LOCALS, FrameList
from tripwire.events.pending import finish_reprs
from tripwire.options import Options
from tripwire.scope import Scope
from tripwire.serializer import frames_untouched, serialize_event
from tripwire.testing import capture_events
from tripwire.types import Event


class Point:
    def __repr__(self) -> str:
        return "Point(1, 2)"


class Name(str):
    """A str subclass, as a module's __name__ may be."""


def _raise_with_locals() -> None:
    text = "naïve 🐍 " * 100
    numbers = list(range(300))
    nested = {"a": [1, (2, {3: "x"})], "password": "hunter2"}
    point = Point()
    missing = None
    raise ValueError(f"{len(text)} {len(numbers)} {nested} {point} {missing}")


def _exception_event(options: Options) -> Event:
    try:
        _raise_with_locals()
    except ValueError as exc:
        event, _ = event_from_exception(exc, options)
        return event
    raise AssertionError("unreachable")


def _frames(event: dict[str, Any]) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = event["exception"]["values"][0]["stacktrace"]["frames"]
    return frames


def test_own_frames_serialize_as_the_general_path_serializes_them() -> None:
    options = Options()
    event = _exception_event(options)
    assert type(event["exception"]["values"][0]["stacktrace"]["frames"]) is FrameList

    general = serialize_event(copy.deepcopy(event), options)
    shortcut = serialize_event(event, options, layers=())
    finish_reprs(shortcut)  # type: ignore[arg-type]  # the worker's step

    assert shortcut == general
    assert type(_frames(shortcut)) is list  # type: ignore[arg-type]
    json.dumps(shortcut, allow_nan=False)
    assert_valid_event(shortcut)  # type: ignore[arg-type]


def _recurse(depth: int) -> None:
    if depth == 0:
        raise KeyError("bottom")
    _recurse(depth - 1)


def _chained() -> None:
    try:
        _raise_with_locals()
    except ValueError:
        try:
            raise OSError(2, "gone")  # the ValueError is its context
        except OSError as missing:
            raise RuntimeError("wrapped") from missing


@pytest.mark.parametrize("fail", [_chained, lambda: _recurse(30)])
def test_own_exception_values_serialize_as_the_general_path_serializes_them(
    fail: Callable[[], None],
) -> None:
    options = Options(max_stack_frames=6)
    try:
        fail()
    except Exception as exc:
        event, _ = event_from_exception(exc, options)
    general = serialize_event(copy.deepcopy(event), options)
    shortcut = serialize_event(event, options, layers=())
    finish_reprs(shortcut)  # type: ignore[arg-type]

    assert shortcut == general
    assert_valid_event(shortcut)  # type: ignore[arg-type]


def test_frames_are_checked_when_max_value_length_is_set() -> None:
    options = Options(max_value_length=40)
    event = _exception_event(options)

    out = serialize_event(event, options, layers=())

    assert out == serialize_event(_exception_event(options), options)
    assert "_meta" in out
    assert all(len(text) <= 40 for text in _frames(out)[-1]["vars"].values())  # type: ignore[arg-type]


def test_a_frame_an_event_processor_changed_is_converted() -> None:
    def change(event: Event, hint: Any) -> Event:
        frames = event["exception"]["values"][0]["stacktrace"]["frames"]
        frames[-1]["vars"]["point"] = Point()
        return event

    with capture_events() as events:
        scope = Scope()
        scope.add_event_processor(change)
        try:
            _raise_with_locals()
        except ValueError as exc:
            import tripwire

            tripwire.capture_exception(exc, scope=scope)
    frame = _frames(events[0])[-1]
    assert frame["vars"]["point"] == "Point(1, 2)"


def test_a_frame_an_error_processor_changed_is_converted() -> None:
    def change(event: Event, exc_info: Any) -> Event:
        frames = event["exception"]["values"][0]["stacktrace"]["frames"]
        frames[-1]["vars"]["point"] = Point()
        return event

    with capture_events() as events:
        import tripwire

        with tripwire.new_scope() as scope:
            scope.add_error_processor(change)
            try:
                _raise_with_locals()
            except ValueError as exc:
                tripwire.capture_exception(exc)
    assert _frames(events[0])[-1]["vars"]["point"] == "Point(1, 2)"


def test_only_tripwire_processors_leave_frames_untouched() -> None:
    from tripwire.integrations.dedupe import DedupeIntegration

    own = Scope()
    own.add_event_processor(DedupeIntegration.setup_once)  # type: ignore[arg-type]
    foreign = Scope()
    foreign.add_event_processor(lambda event, hint: event)
    erring = Scope()
    erring.add_error_processor(lambda event, exc_info: event)

    assert frames_untouched(())
    assert frames_untouched((own,))
    assert not frames_untouched((own, foreign))
    assert not frames_untouched((erring,))


def test_a_frame_never_has_more_vars_than_a_databag_keeps() -> None:
    assert MAX_LOCALS <= MAX_DATABAG_BREADTH
