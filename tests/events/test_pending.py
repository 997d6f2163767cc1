"""Reprs of locals left for the worker (events/pending.py): same text, never seen outside."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import tripwire
from tripwire.events.pending import finish_reprs, may_hold_frames, reprs_may_wait
from tripwire.options import Options
from tripwire.safe_repr import DEFAULT_MAX_LENGTH, PendingRepr, safe_reprs
from tripwire.scope import Scope
from tripwire.testing import capture_events
from tripwire.types import Event, Hint


def finished(reprs: dict[str, Any]) -> dict[str, Any]:
    event = {"exception": {"values": [{"stacktrace": {"frames": [{"vars": reprs}]}}]}}
    finish_reprs(event)
    return reprs


scalars = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.complex_numbers(allow_nan=False),
)
short_text = st.text(max_size=30)
flat = st.one_of(
    st.lists(scalars, max_size=40),
    st.lists(short_text, max_size=40),
    st.lists(st.one_of(scalars, short_text), max_size=10),
    st.lists(scalars, max_size=10).map(tuple),
    st.lists(short_text, min_size=2, max_size=2).map(tuple),  # a (name, value) pair
    st.dictionaries(short_text, scalars, max_size=30),
    st.dictionaries(short_text, short_text, max_size=30),
    st.dictionaries(st.sampled_from(["password", "token", "user", "apiKey"]), short_text),
    st.text(min_size=60, max_size=700),
    st.lists(st.lists(st.integers(), max_size=3), max_size=3),
    st.recursive(
        st.one_of(scalars, short_text),
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.lists(children, max_size=3).map(tuple),
            st.dictionaries(st.one_of(short_text, st.integers()), children, max_size=4),
        ),
        max_leaves=30,
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.text(max_size=8), flat), max_size=6),
    max_length=st.sampled_from([64, 200, DEFAULT_MAX_LENGTH]),
)
def test_a_repr_made_later_is_the_one_made_at_once(
    pairs: list[tuple[str, object]], max_length: int
) -> None:
    later = safe_reprs(pairs, max_length, later=True)
    assert finished(later) == safe_reprs(pairs, max_length)
    assert all(type(text) is str for text in later.values())


def test_the_snapshot_is_taken_at_capture_time() -> None:
    numbers = list(range(50))
    counts: dict[str, object] = {f"field_{i}": i for i in range(20)}
    before = safe_reprs([("numbers", numbers), ("counts", counts)])
    later = safe_reprs([("numbers", numbers), ("counts", counts)], later=True)
    assert type(later["numbers"]) is PendingRepr
    assert type(later["counts"]) is PendingRepr
    numbers.append(-1)
    counts["field_0"] = "changed"
    assert finished(later) == before


def test_a_nested_snapshot_is_a_deep_copy() -> None:
    tree = {"level1": {"level2": [1, 2, {"level3": "x"}]}}
    before = safe_reprs([("tree", tree)])
    later = safe_reprs([("tree", tree)], later=True)
    assert type(later["tree"]) is PendingRepr
    tree["level1"]["level2"][2]["level3"] = "changed"  # type: ignore[index]
    tree["level1"]["level2"].append(3)
    assert finished(later) == before


def test_only_small_containers_of_immutable_values_wait() -> None:
    class Item:
        def __repr__(self) -> str:
            return "<item>"

    class Name(str):
        pass

    waiting = safe_reprs(
        [
            ("ints", [1, 2, 3]),
            ("text", "x" * 100),
            ("huge_text", "y" * 100_000),
            ("long", list(range(1000))),
            ("nested", {"a": {"b": {"c": [1, (2, "x")]}}}),
            ("too_deep", [[[[[[1]]]]]]),
            ("nested_object", {"a": [Item()]}),
            ("nested_long", {"a": ["z" * 3000]}),
            ("objects", [Item()]),
            ("subclass_keys", {Name("a"): 1}),
            ("long_strings", ["z" * 5000]),
            ("short", "abc"),
            ("number", 7),
        ],
        later=True,
    )
    kinds = {name: type(value) is PendingRepr for name, value in waiting.items()}
    assert kinds == {
        "ints": True,
        "text": True,
        "huge_text": True,
        "long": False,
        "nested": True,
        "too_deep": False,
        "nested_object": False,
        "nested_long": False,
        "objects": False,
        "subclass_keys": False,
        "long_strings": False,
        "short": False,
        "number": False,
    }
    assert len(waiting["huge_text"].value) == DEFAULT_MAX_LENGTH  # only what is shown is kept


def test_reprs_wait_only_when_no_callback_reads_the_event_first() -> None:
    options = Options()
    watched = Scope()
    watched.add_event_processor(lambda event, hint: event)
    erring = Scope()
    erring.add_error_processor(lambda event, exc_info: event)

    assert reprs_may_wait(options, (Scope(),))
    assert not reprs_may_wait(options, (watched,))
    assert not reprs_may_wait(options, (erring,))
    assert not reprs_may_wait(Options(error_sampler=lambda event, hint: 1.0), ())
    assert not reprs_may_wait(Options(max_value_length=100), ())
    assert not reprs_may_wait(Options(custom_repr=lambda value: None), ())
    # before_send runs on the caller's thread after every step: nothing would reach the worker
    assert not reprs_may_wait(Options(before_send=lambda event, hint: event), ())
    assert not may_hold_frames({"message": "payment retried"})
    assert may_hold_frames({"exception": {"values": []}})


def _fail_with_locals() -> None:
    numbers = list(range(30))
    text = "payload " * 20
    raise ValueError(f"{len(numbers)} {len(text)}")


def _vars_of(event: Any) -> dict[str, Any]:
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    variables: dict[str, Any] = frames[-1]["vars"]
    return variables


def _capture_failure(**kwargs: Any) -> None:
    try:
        _fail_with_locals()
    except ValueError as exc:
        tripwire.capture_exception(exc, **kwargs)


def test_callbacks_and_the_sent_event_see_only_text() -> None:
    seen: list[dict[str, Any]] = []

    def look(event: Event, hint: Hint) -> Event:
        seen.append(dict(_vars_of(event)))
        return event

    def sampler(event: Event, hint: Hint) -> float:
        seen.append(dict(_vars_of(event)))
        return 1.0

    scope = Scope()
    scope.add_event_processor(look)
    with capture_events() as plain:
        _capture_failure()
    with capture_events() as processed:
        _capture_failure(scope=scope)
    with capture_events(error_sampler=sampler) as sampled:
        _capture_failure()
    with capture_events(before_send=look) as checked:
        _capture_failure()

    assert len(seen) == 3
    for variables in [*seen, *(_vars_of(e[0]) for e in (plain, processed, sampled, checked))]:
        assert all(type(text) is str for text in variables.values())
        assert variables["numbers"].startswith("[0, 1, 2")


def test_an_attached_stack_is_sent_with_text_too() -> None:
    def report() -> None:
        numbers = list(range(30))
        tripwire.capture_message(f"{len(numbers)} numbers")

    with capture_events(attach_stacktrace=True) as events:
        report()
    frames = events[0]["threads"]["values"][0]["stacktrace"]["frames"]
    assert frames[-1]["vars"]["numbers"].startswith("[0, 1, 2")
    assert all(type(text) is str for frame in frames for text in frame.get("vars", {}).values())


def test_a_filter_on_a_pending_repr_edits_its_text_once_made() -> None:
    value = "x" * 70 + " token=abc123"
    [pending] = [v for v in safe_reprs([("text", value)], DEFAULT_MAX_LENGTH, later=True).values()]
    assert type(pending) is PendingRepr
    hide = pending.then(lambda text: text.replace("abc123", "[Filtered]"))
    upper = hide.then(str.upper)  # filters apply in the order they were added
    broken = pending.then(lambda text: text[10**9])  # raises IndexError

    reprs = finished({"plain": pending, "hidden": hide, "both": upper, "broken": broken})

    assert reprs["plain"] == repr(value)
    assert reprs["hidden"] == repr(value).replace("abc123", "[Filtered]")
    assert reprs["both"] == repr(value).replace("abc123", "[Filtered]").upper()
    assert reprs["broken"] == "<repr filtered out>"  # never the unfiltered text
