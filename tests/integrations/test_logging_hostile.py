"""Hostile log records never raise into the app and still give valid events."""

from __future__ import annotations

import logging
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.relay import assert_valid_event
from tripwire.integrations.logging import breadcrumb_from_record, event_from_record
from tripwire.options import Options
from tripwire.testing import capture_events


class Hostile:
    """Raises from every way of turning it into text."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


texts = st.text(st.characters(exclude_categories=()))  # lone surrogates included
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.just(10**400),
    st.floats(),
    texts,
    st.binary(max_size=20),
    st.builds(Hostile),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), inner, max_size=4),
    ),
    max_leaves=12,
)
messages = st.one_of(texts, st.sampled_from(["%s", "%s %s", "%(a)s", "%d"]), values)
args = st.one_of(
    st.tuples(),
    st.lists(values, max_size=3).map(tuple),
    st.tuples(st.dictionaries(st.text(max_size=3), values, max_size=3)),
)
extras = st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda k: k not in vars(logging.makeLogRecord({}))),
    values,
    max_size=4,
)


def _make(msg: object, arguments: Any, extra: dict[str, object], levelno: int) -> Any:
    record = logging.LogRecord("shop", levelno, "/app/x.py", 1, msg, arguments, None)
    record.__dict__.update(extra)
    return record


@settings(max_examples=150, deadline=None)
@given(messages, args, extras, st.integers(min_value=0, max_value=100))
def test_hostile_records_give_valid_events_and_crumbs(
    msg: object, arguments: Any, extra: dict[str, object], levelno: int
) -> None:
    record = _make(msg, arguments, extra, levelno)
    event, _ = event_from_record(record, Options())
    event.setdefault("breadcrumbs", {"values": [breadcrumb_from_record(record)]})  # type: ignore[typeddict-item]
    assert_valid_event(dict(event))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages, args, extras)
def test_hostile_records_through_a_logger_never_raise(
    msg: object, arguments: Any, extra: dict[str, object]
) -> None:
    logger = logging.getLogger("shop.hostile")
    logger.propagate = False  # logging's own handlers would complain about bad %-args
    try:
        with capture_events() as events:  # Relay judges each event (tests/conftest.py)
            logger.handle(_make(msg, arguments, extra, logging.ERROR))
    finally:
        logger.propagate = True
    assert len(events) == 1
