"""Checked by mypy --strict (never run): what users call has the types they expect."""

from __future__ import annotations

from typing_extensions import assert_type

import tripwire
from tripwire.scope import Scope
from tripwire.types import Event


def check() -> None:
    guard = tripwire.init("https://key@example.com/1", sample_rate=0.5)
    with guard:
        pass
    assert_type(tripwire.capture_message("m", level="warning", tags={"a": "b"}), str | None)
    assert_type(tripwire.capture_exception(ValueError("x")), str | None)
    event: Event = {"message": "m", "level": "info"}
    assert_type(tripwire.capture_event(event), str | None)
    assert_type(tripwire.flush(timeout=1.0), bool)
    assert_type(tripwire.last_event_id(), str | None)
    assert_type(tripwire.is_initialized(), bool)
    with tripwire.new_scope() as scope:
        assert_type(scope, Scope)
        scope.set_tag("k", "v")
    with tripwire.isolation_scope() as isolated:
        assert_type(isolated, Scope)
    tripwire.add_breadcrumb(message="m", category="c", data={"k": 1})
