"""Forks copy at fork time: a write on either side afterwards is never seen by the other.

Forks share their containers until one side writes (copy on write), and new scopes share
one set of empty containers; these tests check every kind of scope data through the events
that scopes produce, across nested forks, threads and asyncio tasks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import tripwire
from tripwire import scope
from tripwire.integrations.asyncio import AsyncioIntegration
from tripwire.scope import Scope
from tripwire.testing import capture_events
from tripwire.types import Event, Hint

Write = Callable[[Scope, str], None]
Read = Callable[[dict[str, Any]], list[str]]


def _processor(name: str) -> Callable[[Event, Hint], Event]:
    def add_mark(event: Event, hint: Hint) -> Event:
        event.setdefault("extra", {}).setdefault("processors", []).append(name)  # type: ignore[attr-defined]
        return event

    return add_mark


def _error_processor(name: str) -> Callable[[Event, Any], Event]:
    def add_mark(event: Event, exc_info: Any) -> Event:
        event.setdefault("extra", {}).setdefault("error_processors", []).append(name)  # type: ignore[attr-defined]
        return event

    return add_mark


# Each kind of scope data: how to write a value, and how to read the values back from an event.
KINDS: dict[str, tuple[Write, Read]] = {
    "tag": (
        lambda scope, value: scope.set_tag(value, "v"),
        lambda event: sorted(event.get("tags", {})),
    ),
    "tags": (
        lambda scope, value: scope.set_tags({value: "v"}),
        lambda event: sorted(event.get("tags", {})),
    ),
    "extra": (
        lambda scope, value: scope.set_extra(value, "v"),
        lambda event: sorted(k for k in event.get("extra", {}) if len(k) == 1),
    ),
    "context": (
        lambda scope, value: scope.set_context(value, {"k": 1}),
        lambda event: sorted(k for k in event.get("contexts", {}) if len(k) == 1),
    ),
    "user": (
        lambda scope, value: scope.set_user({"id": value}),
        lambda event: [event["user"]["id"]] if "user" in event else [],
    ),
    "level": (
        lambda scope, value: scope.set_level("warning" if value == "a" else "fatal"),
        lambda event: [{"warning": "a", "fatal": "b"}.get(event["level"], "")],
    ),
    "fingerprint": (
        lambda scope, value: setattr(scope, "fingerprint", [value]),
        lambda event: event.get("fingerprint", []),
    ),
    "transaction": (
        lambda scope, value: setattr(scope, "transaction", value),
        lambda event: [event["transaction"]] if "transaction" in event else [],
    ),
    "breadcrumb": (
        lambda scope, value: scope.add_breadcrumb(message=value),
        lambda event: [c["message"] for c in event.get("breadcrumbs", {}).get("values", [])],
    ),
    "event processor": (
        lambda scope, value: scope.add_event_processor(_processor(value)),
        lambda event: event.get("extra", {}).get("processors", []),
    ),
    "error processor": (
        lambda scope, value: scope.add_error_processor(_error_processor(value)),
        lambda event: event.get("extra", {}).get("error_processors", []),
    ),
    "attachment": (
        lambda scope, value: scope.add_attachment(bytes=b"x", filename=value),
        lambda event: event.get("extra", {}).get("attachments", []),
    ),
}
# The values written are one letter: extra and contexts also hold what integrations add.
# Kinds that hold one value (a later write replaces the earlier one) rather than a collection.
SINGLE = {"user", "level", "fingerprint", "transaction"}


def _note_attachments(event: Event, hint: Hint) -> Event:
    names = [a["filename"] for a in hint.get("attachments", [])]  # type: ignore[attr-defined]
    if names:
        event.setdefault("extra", {})["attachments"] = names  # type: ignore[index]
    return event


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    with capture_events(before_send=_note_attachments) as recorded:
        yield recorded


def _read(events: list[dict[str, Any]], scope: Scope, kind: str) -> list[str]:
    """What an error event captured on ``scope`` alone (as a detached scope) carries."""
    try:
        raise ValueError("probe")
    except ValueError as error:
        scope.capture_exception(error)
    return KINDS[kind][1](events[-1])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_parent_writes_after_a_fork_are_not_seen_by_the_fork(
    kind: str, events: list[dict[str, Any]]
) -> None:
    write = KINDS[kind][0]
    parent = Scope()
    write(parent, "a")
    child = parent.fork()
    write(parent, "b")
    assert _read(events, child, kind) == ["a"]
    assert _read(events, parent, kind) == (["b"] if kind in SINGLE else ["a", "b"])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fork_writes_are_not_seen_by_the_parent(kind: str, events: list[dict[str, Any]]) -> None:
    write = KINDS[kind][0]
    parent = Scope()
    write(parent, "a")
    child = parent.fork()
    write(child, "b")
    assert _read(events, parent, kind) == ["a"]
    assert _read(events, child, kind) == (["b"] if kind in SINGLE else ["a", "b"])


@pytest.mark.parametrize("kind", sorted(set(KINDS) - SINGLE))
def test_both_sides_writing_after_a_fork_keep_only_their_own_writes(
    kind: str, events: list[dict[str, Any]]
) -> None:
    write = KINDS[kind][0]
    parent = Scope()
    write(parent, "a")
    child = parent.fork()
    write(child, "c")
    write(parent, "b")
    write(child, "d")
    assert _read(events, parent, kind) == ["a", "b"]
    assert _read(events, child, kind) == ["a", "c", "d"]


@pytest.mark.parametrize("kind", sorted(set(KINDS) - SINGLE))
def test_nested_forks_each_keep_what_they_had_when_forked(
    kind: str, events: list[dict[str, Any]]
) -> None:
    write = KINDS[kind][0]
    grandparent = Scope()
    write(grandparent, "a")
    parent = grandparent.fork()
    write(parent, "b")
    child = parent.fork()
    sibling = parent.fork()
    write(grandparent, "c")
    write(parent, "d")
    write(child, "e")
    assert _read(events, grandparent, kind) == ["a", "c"]
    assert _read(events, parent, kind) == ["a", "b", "d"]
    assert _read(events, child, kind) == ["a", "b", "e"]
    assert _read(events, sibling, kind) == ["a", "b"]


@pytest.mark.parametrize("kind", sorted(set(KINDS) - SINGLE))
def test_new_scopes_never_share_what_they_write(kind: str, events: list[dict[str, Any]]) -> None:
    write = KINDS[kind][0]
    first, second = Scope(), Scope()
    write(first, "a")
    write(second, "b")
    assert _read(events, first, kind) == ["a"]
    assert _read(events, second, kind) == ["b"]
    assert _read(events, Scope(), kind) == []
    shared_empties = (scope._EMPTY_TAGS, scope._EMPTY_CONTEXTS, scope._EMPTY_PROCESSORS)
    assert shared_empties == ({}, {}, [])
    assert (len(scope._EMPTY_RING.items), scope._EMPTY_RING.evicted) == (0, 0)
    assert scope._EMPTY_ERROR_PROCESSORS == scope._EMPTY_ATTACHMENTS == []


@pytest.mark.parametrize("kind", sorted(set(KINDS) - SINGLE))
def test_clear_on_either_side_of_a_fork_leaves_the_other_alone(
    kind: str, events: list[dict[str, Any]]
) -> None:
    write = KINDS[kind][0]
    parent = Scope()
    write(parent, "a")
    child = parent.fork()
    parent.clear()
    assert _read(events, child, kind) == ["a"]
    write(parent, "b")
    child.clear()
    write(child, "c")
    assert _read(events, parent, kind) == ["b"]
    assert _read(events, child, kind) == ["c"]


def test_clear_breadcrumbs_after_a_fork_leaves_the_other_side_its_crumbs(
    events: list[dict[str, Any]],
) -> None:
    parent = Scope()
    parent.add_breadcrumb(message="a")
    child = parent.fork()
    child.clear_breadcrumbs()
    assert _read(events, parent, "breadcrumb") == ["a"]
    grandchild = parent.fork()
    parent.clear_breadcrumbs()
    parent.add_breadcrumb(message="b")
    child.add_breadcrumb(message="c")
    assert _read(events, grandchild, "breadcrumb") == ["a"]
    assert _read(events, parent, "breadcrumb") == ["b"]
    assert _read(events, child, "breadcrumb") == ["c"]


def test_a_full_breadcrumb_ring_keeps_its_count_per_side_of_a_fork(
    events: list[dict[str, Any]],
) -> None:
    parent = Scope()
    for number in range(105):
        parent.add_breadcrumb(message=str(number))
    child = parent.fork()
    child.add_breadcrumb(message="child")
    parent_event = (_read(events, parent, "breadcrumb"), events[-1]["_meta"])
    child_crumbs = _read(events, child, "breadcrumb")
    assert parent_event[0][-1] == "104"
    assert parent_event[1]["breadcrumbs"][""]["len"] == 105
    assert child_crumbs[-2:] == ["104", "child"]
    assert events[-1]["_meta"]["breadcrumbs"][""]["len"] == 106


def test_isolation_scope_block_is_a_fork_of_both_scopes(events: list[dict[str, Any]]) -> None:
    tripwire.set_tag("outer", 1)
    tripwire.get_current_scope().set_tag("outer-current", 1)
    with tripwire.isolation_scope() as inner:
        tripwire.set_tag("inner", 1)
        tripwire.get_current_scope().set_tag("inner-current", 1)
        tripwire.capture_message("inside")
    tripwire.capture_message("outside")
    assert sorted(events[0]["tags"]) == ["inner", "inner-current", "outer", "outer-current"]
    assert sorted(events[1]["tags"]) == ["outer", "outer-current"]
    assert inner is not tripwire.get_isolation_scope()


def test_threads_writing_their_forks_while_the_parent_writes_see_only_their_own(
    events: list[dict[str, Any]],
) -> None:
    tripwire.set_tag("before", 1)
    go = threading.Barrier(5)
    seen: dict[int, list[str]] = {}

    def work(number: int) -> None:
        go.wait()
        for step in range(200):
            tripwire.set_tag(f"t{number}-{step}", step)
            tripwire.add_breadcrumb(message=f"t{number}")
        seen[number] = sorted(tripwire.get_isolation_scope()._tags)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    go.wait()
    for step in range(200):
        tripwire.set_tag(f"main-{step}", step)
    for thread in threads:
        thread.join()
    tripwire.capture_message("main")
    main_tags = set(events[-1]["tags"])
    assert main_tags == {"before"} | {f"main-{step}" for step in range(200)}
    assert "breadcrumbs" not in events[-1]
    for number, tags in seen.items():
        assert set(tags) == {"before"} | {f"t{number}-{step}" for step in range(200)}


def test_threads_making_the_first_writes_to_one_fork_at_once_lose_none(
    events: list[dict[str, Any]],
) -> None:
    for _attempt in range(20):
        parent = Scope()
        parent.set_tag("base", 1)
        shared = parent.fork()
        go = threading.Barrier(4)

        def work(number: int, scope: Scope = shared, barrier: threading.Barrier = go) -> None:
            barrier.wait()
            scope.set_tag(f"t{number}", number)
            scope.set_extra(f"t{number}", number)
            scope.add_breadcrumb(message=f"t{number}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert set(shared._tags) == {"base", "t0", "t1", "t2", "t3"}
        assert set(shared._extras) == {"t0", "t1", "t2", "t3"}
        assert len(shared._breadcrumbs) == 4
        assert set(parent._tags) == {"base"}
        assert not parent._extras
        assert not parent._breadcrumbs


def test_asyncio_tasks_write_their_own_forks() -> None:
    async def task(number: int) -> list[str]:
        for step in range(20):
            tripwire.set_tag(f"task{number}-{step}", step)
            await asyncio.sleep(0)
        return sorted(tripwire.get_isolation_scope()._tags)

    async def main() -> list[list[str]]:
        tripwire.set_tag("creator", 1)
        running = [asyncio.get_running_loop().create_task(task(n)) for n in range(3)]
        tripwire.set_tag("creator-late", 1)
        return list(await asyncio.gather(*running))

    with capture_events(integrations=[AsyncioIntegration()]):
        results = asyncio.run(main())
    for number, tags in enumerate(results):
        assert set(tags) == {"creator"} | {f"task{number}-{step}" for step in range(20)}


def test_capture_kwargs_apply_to_that_event_only(events: list[dict[str, Any]]) -> None:
    tripwire.set_tag("scope", "s")
    tags = {"region": "eu", 7: "number key"}
    tripwire.capture_message(
        "m", level="warning", tags=tags, extra={"a": 1}, extras={"b": 2}, contexts={"c": {"k": 1}}
    )
    tripwire.capture_message("n")
    assert events[0]["tags"] == {"scope": "s", "region": "eu", "7": "number key"}
    assert {k: v for k, v in events[0]["extra"].items() if len(k) == 1} == {"a": 1, "b": 2}
    assert events[0]["contexts"]["c"] == {"k": 1}
    assert events[0]["level"] == "warning"
    assert events[1]["tags"] == {"scope": "s"}
    assert not {k for k in events[1].get("extra", {}) if len(k) == 1}
    assert tags == {"region": "eu", 7: "number key"}
    assert sorted(tripwire.get_isolation_scope()._tags) == ["scope"]


def test_capture_kwargs_of_the_wrong_type_are_ignored_not_fatal(
    events: list[dict[str, Any]],
) -> None:
    tripwire.capture_message("m", tags=["not", "a", "dict"], extras="nope")  # type: ignore[arg-type]
    assert events[0]["message"] == "m"
    assert "tags" not in events[0] or events[0]["tags"] == {}


def test_a_request_fork_has_its_processor_and_none_of_the_parents_breadcrumbs(
    events: list[dict[str, Any]],
) -> None:
    parent = Scope()
    parent.add_breadcrumb(message="server start")
    parent.add_event_processor(_processor("parent"))
    request = parent._fork_from(parent._epoch_now(), (_processor("request"),), True)
    request.add_breadcrumb(message="in request")
    parent.add_event_processor(_processor("late"))
    assert _read(events, request, "event processor") == ["parent", "request"]
    assert _read(events, request, "breadcrumb") == ["in request"]
    assert _read(events, parent, "event processor") == ["parent", "late"]
    assert _read(events, parent, "breadcrumb") == ["server start"]
