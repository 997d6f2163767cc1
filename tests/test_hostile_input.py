"""Hypothesis throws hostile values at every public function: nothing raises."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tripwire
from tests.relay import assert_valid_event
from tripwire import api
from tripwire.testing import capture_events


class HostileRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


class RecursiveRepr:
    def __repr__(self) -> str:
        return repr(self)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None)),
    st.binary(),
    st.just(math.nan),
    st.just("\ud800lone surrogate"),
    st.builds(HostileRepr),
    st.builds(RecursiveRepr),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), children, max_size=5),
    ),
    max_leaves=20,
)

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _check(events: list[dict[str, Any]]) -> None:
    for event in events:
        assert_valid_event(event)
    assert api.swallowed == []


@SETTINGS
@given(key=values, value=values, message=values, level=values)
def test_set_functions_and_captures_never_raise(
    key: Any, value: Any, message: Any, level: Any
) -> None:
    with capture_events() as events:
        tripwire.set_tag(key, value)
        tripwire.set_extra(key, value)
        tripwire.set_user(value)
        tripwire.set_context(key, value)
        tripwire.set_level(level)
        tripwire.add_breadcrumb(message=message, data={"v": value}, category=key)
        tripwire.capture_message(message, level=level, extra={"v": value}, tags={"t": value})
        tripwire.capture_event({"message": "m", "extra": {"v": value}})
    _check(events)
    api.swallowed.clear()


@SETTINGS
@given(value=values)
def test_capture_exception_with_hostile_exception_args_never_raises(value: Any) -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    with capture_events() as events:
        tripwire.capture_exception(ValueError(value))
        tripwire.capture_exception(Weird(value))
        tripwire.capture_exception(value)
    _check(events)
