"""Scopes: forks are independent, the context managers restore what they replaced."""

from __future__ import annotations

import asyncio

import pytest

import tripwire
from tripwire.scope import Scope
from tripwire.testing import capture_events


def test_fork_does_not_see_parent_writes_made_after_it() -> None:
    parent = Scope()
    parent.set_tag("before", 1)
    child = parent.fork()
    parent.set_tag("after", 2)
    parent.add_event_processor(lambda event, hint: event)
    assert child._tags == {"before": 1}
    assert child._event_processors == []


def test_parent_does_not_see_fork_writes() -> None:
    parent = Scope()
    child = parent.fork()
    child.set_tag("child", 1)
    child.set_extra("x", 1)
    child.set_context("c", {"k": 1})
    assert (parent._tags, parent._extras, parent._contexts) == ({}, {}, {})


def test_breadcrumbs_recorded_in_a_fork_stay_there() -> None:
    with capture_events() as events:
        tripwire.add_breadcrumb(message="shared")
        with tripwire.new_scope() as scope:
            scope.add_breadcrumb(message="only in fork")
        tripwire.capture_message("x")
    assert [c["message"] for c in events[0]["breadcrumbs"]["values"]] == ["shared"]


def test_new_scope_restores_the_previous_current_scope() -> None:
    before = tripwire.get_current_scope()
    with tripwire.new_scope() as scope:
        assert scope is tripwire.get_current_scope()
    assert before is tripwire.get_current_scope()


def test_use_scope_makes_a_given_scope_current_without_forking() -> None:
    mine = Scope()
    with tripwire.use_scope(mine) as used:
        assert used is mine
        assert mine is tripwire.get_current_scope()


def test_use_isolation_scope_routes_top_level_set_calls_to_it() -> None:
    mine = Scope()
    with tripwire.use_isolation_scope(mine):
        tripwire.set_tag("routed", "yes")
    assert mine._tags == {"routed": "yes"}
    assert "routed" not in tripwire.get_isolation_scope()._tags


def test_capture_on_a_scope_object_adds_that_scope() -> None:
    detached = Scope()
    detached.set_tag("detached", "yes")
    with capture_events() as events:
        event_id = detached.capture_message("from a detached scope")
    assert event_id == events[0]["event_id"]
    assert events[0]["tags"]["detached"] == "yes"


def test_clear_removes_data_but_keeps_the_client() -> None:
    with capture_events():
        scope = tripwire.get_global_scope()
        client = scope.client
        scope.set_tag("a", 1)
        scope.clear()
        assert scope._tags == {}
        assert client is scope.client


def test_remove_tag_extra_context() -> None:
    scope = Scope()
    scope.set_tag("t", 1)
    scope.set_extra("e", 1)
    scope.set_context("c", {"k": 1})
    scope.remove_tag("t")
    scope.remove_extra("e")
    scope.remove_context("c")
    assert (scope._tags, scope._extras, scope._contexts) == ({}, {}, {})


def test_fingerprint_property_feeds_the_event() -> None:
    with capture_events() as events:
        tripwire.get_isolation_scope().fingerprint = ["{{ default }}", "payments"]
        tripwire.capture_message("x")
    assert events[0]["fingerprint"] == ["{{ default }}", "payments"]


def test_asyncio_tasks_in_isolation_scopes_do_not_leak_tags() -> None:
    async def handle(name: str) -> str | None:
        with tripwire.isolation_scope():
            tripwire.set_tag("request", name)
            await asyncio.sleep(0)
            return tripwire.capture_message(f"from {name}")

    async def main() -> list[str | None]:
        return await asyncio.gather(*(handle(f"r{i}") for i in range(20)))

    with capture_events() as events:
        asyncio.run(main())
    assert len(events) == 20
    for event in events:
        assert event["message"] == f"from {event['tags']['request']}"


def test_exiting_a_scope_in_another_context_is_survived() -> None:
    import contextvars

    block = tripwire.new_scope()
    block.__enter__()
    contextvars.copy_context().run(block.__exit__, None, None, None)


def test_set_user_none_clears_the_user() -> None:
    with capture_events() as events:
        tripwire.set_user({"id": "u1"})
        tripwire.set_user(None)
        tripwire.capture_message("x")
    assert "user" not in events[0]


def test_the_active_scope_functions_are_reachable_where_sentry_sdk_scope_has_them() -> None:
    from tripwire import scope as scope_module
    from tripwire.scope import new_scope, should_send_default_pii

    assert new_scope is tripwire.new_scope
    assert should_send_default_pii() is False
    assert scope_module.get_client is tripwire.get_client
    with pytest.raises(AttributeError):
        scope_module.no_such_function  # noqa: B018
