"""The dedupe integration: one exception object is sent once."""

from __future__ import annotations

import copy
import gc
import pickle
import threading
import weakref
from typing import Any

import tripwire
from tripwire.integrations.dedupe import DedupeIntegration, forget_exception
from tripwire.testing import capture_events


def test_the_same_exception_is_sent_once(events: list[dict[str, Any]]) -> None:
    error = ValueError("twice")
    assert tripwire.capture_exception(error) is not None
    assert tripwire.capture_exception(error) is None
    assert len(events) == 1
    assert tripwire.get_client().drops.totals() == {("event_processor", "error"): 1}


def test_different_exceptions_are_all_sent(events: list[dict[str, Any]]) -> None:
    for n in range(3):
        tripwire.capture_exception(ValueError(n))
    assert len(events) == 3


def test_a_wrapper_of_a_sent_exception_is_sent_too(events: list[dict[str, Any]]) -> None:
    inner = KeyError("k")
    tripwire.capture_exception(inner)
    try:
        raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        tripwire.capture_exception(outer)
    assert len(events) == 2


def test_an_exception_sent_in_one_thread_is_not_sent_again_from_another(
    events: list[dict[str, Any]],
) -> None:
    error = OSError("disk")
    tripwire.capture_exception(error)
    thread = threading.Thread(target=tripwire.capture_exception, args=(error,))
    thread.start()
    thread.join()
    assert len(events) == 1


def test_exceptions_without_weak_references_are_deduplicated(
    events: list[dict[str, Any]],
) -> None:
    class Slotted(Exception):
        __slots__ = ()

    error = Slotted("slots")
    tripwire.capture_exception(error)
    tripwire.capture_exception(error)
    assert len(events) == 1


def test_reset_last_seen_lets_the_exception_be_sent_again(
    events: list[dict[str, Any]],
) -> None:
    error = ValueError("again")
    tripwire.capture_exception(error)
    DedupeIntegration.reset_last_seen()
    tripwire.capture_exception(error)
    assert len(events) == 2


def test_disabled_dedupe_sends_duplicates() -> None:
    with capture_events(disabled_integrations=[DedupeIntegration]) as events:
        error = ValueError("twice")
        tripwire.capture_exception(error)
        tripwire.capture_exception(error)
    assert len(events) == 2


def test_a_copy_or_an_unpickled_twin_of_a_sent_exception_is_sent(
    events: list[dict[str, Any]],
) -> None:
    error = ValueError("original")
    tripwire.capture_exception(error)
    twins = [copy.copy(error), pickle.loads(pickle.dumps(error))]
    for twin in twins:
        assert tripwire.capture_exception(twin) is not None
        assert tripwire.capture_exception(twin) is None
    assert len(events) == 3


def test_an_exception_whose_dict_cannot_be_written_is_deduplicated(
    events: list[dict[str, Any]],
) -> None:
    class Locked(Exception):
        @property
        def __dict__(self) -> dict[str, Any]:  # type: ignore[override]
            raise AttributeError("no")

    error = Locked("locked")
    tripwire.capture_exception(error)
    tripwire.capture_exception(error)
    assert len(events) == 1
    forget_exception(error)
    tripwire.capture_exception(error)
    assert len(events) == 2


class _Payload:
    """A local each failing frame holds, to see which frames the SDK keeps alive."""


def _fail_holding(payload: _Payload) -> None:
    raise KeyError(id(payload))  # a builtin type: no weak references to it


def test_sent_builtin_exceptions_do_not_keep_their_frames_alive(
    events: list[dict[str, Any]],
) -> None:
    alive: list[weakref.ref[_Payload]] = []
    for _ in range(20):
        payload = _Payload()
        alive.append(weakref.ref(payload))
        try:
            _fail_holding(payload)
        except KeyError as error:
            tripwire.capture_exception(error)
        del payload
    gc.collect()
    # Only the last one, which this context remembers for reset_last_seen().
    assert [ref() is not None for ref in alive].count(True) <= 1
    assert len(events) == 20
