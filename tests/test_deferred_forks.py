"""Deferred forks (tripwire.forks): what a request, thread or task sees of its parent's scopes
is what an immediate fork would have shown, although the fork is made only on first use.

Every kind of scope data is written to the parent after the deferral is made and before it is
used; the deferral must not see it. The web middlewares, the threading and asyncio
integrations are checked end to end through the events they send.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import tripwire
import tripwire.forks
import tripwire.scope
from tests.test_scope_fork import KINDS, _note_attachments
from tripwire.forks import DeferredForks, ScopePair
from tripwire.integrations.asgi import SentryAsgiMiddleware
from tripwire.integrations.wsgi import SentryWsgiMiddleware
from tripwire.scope import Scope
from tripwire.testing import capture_events


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    with capture_events(before_send=_note_attachments) as recorded:
        yield recorded


def _read_on(events: list[dict[str, Any]], pair: ScopePair, kind: str) -> list[str]:
    """What an error captured with ``pair`` as the context's scopes carries."""
    token = tripwire.active.enter(pair)
    try:
        try:
            raise ValueError("probe")
        except ValueError as error:
            tripwire.capture_exception(error)
    finally:
        tripwire.active.leave(token)
    return KINDS[kind][1](events[-1])


def _pair_written(kind: str, value: str) -> ScopePair:
    isolation, current = Scope(), Scope()
    KINDS[kind][0](isolation, value)
    KINDS[kind][0](current, value.upper())
    return ScopePair(isolation, current)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_parent_writes_after_a_deferral_are_not_seen_by_it(
    kind: str, events: list[dict[str, Any]]
) -> None:
    parent = _pair_written(kind, "a")
    deferred = DeferredForks(parent)
    KINDS[kind][0](parent.isolation, "b")  # type: ignore[arg-type]
    KINDS[kind][0](parent.current, "B")  # type: ignore[arg-type]
    assert deferred.isolation is None
    assert deferred.current is None
    seen = _read_on(events, deferred, kind)
    assert seen == _read_on(events, _pair_written(kind, "a"), kind)
    assert _read_on(events, parent, kind) == _read_on(events, _both(kind, "a", "b"), kind)


def _both(kind: str, first: str, second: str) -> ScopePair:
    pair = _pair_written(kind, first)
    KINDS[kind][0](pair.isolation, second)  # type: ignore[arg-type]
    KINDS[kind][0](pair.current, second.upper())  # type: ignore[arg-type]
    return pair


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_parent_writes_before_a_deferral_are_seen(kind: str, events: list[dict[str, Any]]) -> None:
    parent = _both(kind, "a", "b")
    assert _read_on(events, DeferredForks(parent), kind) == _read_on(events, parent, kind)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_deferral_writes_are_not_seen_by_the_parent(
    kind: str, events: list[dict[str, Any]]
) -> None:
    parent = _pair_written(kind, "a")
    deferred = DeferredForks(parent)
    KINDS[kind][0](deferred.make_isolation(), "b")
    KINDS[kind][0](deferred.make_current(), "B")
    assert _read_on(events, parent, kind) == _read_on(events, _pair_written(kind, "a"), kind)
    assert _read_on(events, deferred, kind) == _read_on(events, _both(kind, "a", "b"), kind)


def test_deferrals_made_between_two_writes_see_the_first_only(
    events: list[dict[str, Any]],
) -> None:
    parent = ScopePair(Scope(), Scope())
    assert parent.isolation is not None
    early = DeferredForks(parent)
    parent.isolation.set_tag("one", 1)
    middle, also_middle = DeferredForks(parent), DeferredForks(parent)
    parent.isolation.set_tag("two", 2)
    late = DeferredForks(parent)
    assert _read_on(events, early, "tag") == []
    assert _read_on(events, middle, "tag") == ["one"]
    assert _read_on(events, also_middle, "tag") == ["one"]
    assert _read_on(events, late, "tag") == ["one", "two"]


def test_a_deferral_of_an_unused_deferral_stands_for_the_same_scopes(
    events: list[dict[str, Any]],
) -> None:
    root = ScopePair(Scope(), Scope())
    assert root.isolation is not None
    root.isolation.set_tag("root", 1)
    request = DeferredForks(root, fresh=True)
    thread = DeferredForks(request)  # a thread the request started before using its scopes
    request.make_isolation().set_tag("request", 1)  # after the thread started: not seen there
    root.isolation.set_tag("late", 1)
    assert _read_on(events, thread, "tag") == ["root"]
    assert _read_on(events, request, "tag") == ["request", "root"]


def test_a_fresh_deferral_drops_breadcrumbs_and_a_child_of_it_too(
    events: list[dict[str, Any]],
) -> None:
    root = ScopePair(Scope(), Scope())
    assert root.isolation is not None
    root.isolation.add_breadcrumb(message="server start")
    request = DeferredForks(root, fresh=True)
    thread = DeferredForks(request)
    assert _read_on(events, thread, "breadcrumb") == []
    assert _read_on(events, request, "breadcrumb") == []
    assert _read_on(events, root, "breadcrumb") == ["server start"]


def test_threads_using_one_deferral_at_once_share_its_forks() -> None:
    deferred = DeferredForks(ScopePair(Scope(), Scope()))
    made: list[Scope] = []
    start = threading.Barrier(8)

    def use() -> None:
        start.wait()
        made.append(deferred.make_isolation())
        made.append(deferred.make_current())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(scope) for scope in made[0::2]}) == 1
    assert len({id(scope) for scope in made[1::2]}) == 1


def test_the_client_of_an_unused_deferral_is_its_parents_as_it_was() -> None:
    with capture_events():
        first, second = tripwire.get_client(), object()
        parent = ScopePair(Scope(), Scope())
        assert parent.current is not None
        parent.current.set_client(first)  # type: ignore[arg-type]
        deferred = DeferredForks(parent)
        parent.current.set_client(second)  # type: ignore[arg-type]
        token = tripwire.active.enter(deferred)
        try:
            assert tripwire.get_client() is first
            assert deferred.current is None  # asking for the client forks nothing
        finally:
            tripwire.active.leave(token)


def test_a_request_that_never_uses_its_scopes_forks_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forks: list[Scope] = []
    fork = Scope.fork

    def counted(self: Scope) -> Scope:
        forks.append(self)
        return fork(self)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    with capture_events():
        tripwire.get_isolation_scope()  # the server's scopes exist before requests come
        monkeypatch.setattr(Scope, "fork", counted)
        middleware = SentryWsgiMiddleware(app)
        for _ in range(3):
            assert list(middleware({"REQUEST_METHOD": "GET"}, lambda *a: None)) == [b"ok"]
    assert forks == []


def test_a_wsgi_request_does_not_see_server_tags_set_after_it_started(
    events: list[dict[str, Any]],
) -> None:
    started, tagged = threading.Event(), threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        started.set()
        tagged.wait(5)
        tripwire.capture_message("in request")
        start_response("200 OK", [])
        return [b"ok"]

    tripwire.set_tag("before", "yes")
    middleware = SentryWsgiMiddleware(app)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/slow", "SERVER_NAME": "h"}
    worker = threading.Thread(target=lambda: list(middleware(environ, lambda *a: None)))
    worker.start()
    started.wait(5)
    tripwire.set_tag("after", "yes")  # the server's isolation scope, mid-request
    tagged.set()
    worker.join(5)
    (event,) = events
    assert event["tags"] == {"before": "yes"}
    assert event["request"]["url"].endswith("/slow")


def test_an_asgi_request_and_a_thread_it_started_before_using_its_scopes(
    events: list[dict[str, Any]],
) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        go = threading.Event()

        def in_thread() -> None:
            go.wait(5)
            tripwire.capture_message("from thread")

        thread = threading.Thread(target=in_thread)
        thread.start()  # the request's scopes are not forked yet: the thread takes the recipe
        tripwire.set_tag("request", "yes")  # after the thread started: not the thread's
        go.set()
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        tripwire.capture_message("from request")

    async def serve() -> None:
        tripwire.set_tag("server", "yes")
        middleware = SentryAsgiMiddleware(app)
        scope = {"type": "http", "method": "GET", "path": "/p", "headers": []}
        await asyncio.create_task(middleware(scope, None, None))

    asyncio.run(serve())
    by_message = {event["message"]: event for event in events}
    assert by_message["from request"]["tags"] == {"server": "yes", "request": "yes"}
    assert by_message["from thread"]["tags"] == {"server": "yes"}
    assert by_message["from thread"]["request"]["url"] == "http://localhost/p"
    assert by_message["from request"]["request"]["url"] == "http://localhost/p"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
@pytest.mark.parametrize("lock_name", ["scope._own_lock", "forks._make_lock"])
def test_a_child_process_forked_while_a_scope_lock_is_held_can_still_use_deferrals(
    lock_name: str,
) -> None:
    module_name, name = lock_name.split(".")
    module = {"scope": tripwire.scope, "forks": tripwire.forks}[module_name]
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with getattr(module, name):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        pid = os.fork()
        if pid == 0:  # the child: the holder thread does not exist here
            code = 1
            try:
                signal.alarm(5)  # a deadlock ends the child instead of the test run
                parent = ScopePair(Scope(), Scope())
                parent.isolation.set_tag("a", 1)  # type: ignore[union-attr]
                deferred = DeferredForks(parent)
                parent.isolation.set_tag("b", 2)  # type: ignore[union-attr]
                code = 0 if deferred.make_isolation()._tags == {"a": 1} else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()
    assert os.waitstatus_to_exitcode(status) == 0


def test_deferrals_made_while_another_thread_writes_the_parent_see_a_prefix_of_its_writes() -> None:
    # The parent's thread writes tags t0000, t0001, ... in order; other threads make deferrals
    # meanwhile and use them later. Each must hold every tag written before it was made, and
    # none begun after it was made (one write in flight at that moment may go either way).
    parent = ScopePair(Scope(), Scope())
    isolation = parent.isolation
    assert isolation is not None
    writes = 3000
    begun = [0]  # index of the write in progress or next
    done = [0]  # writes finished
    failures: list[str] = []

    def write() -> None:
        for index in range(writes):
            begun[0] = index
            isolation.set_tag(f"t{index:04}", index)
            done[0] = index + 1

    def defer_and_check() -> None:
        made: list[tuple[int, int, DeferredForks]] = []
        while done[0] < writes:
            low = done[0]
            deferred = DeferredForks(parent)
            high = begun[0]
            made.append((low, high, deferred))
        for low, high, deferred in made[::7]:
            seen = sorted(deferred.make_isolation()._tags)
            if seen != [f"t{index:04}" for index in range(len(seen))]:
                failures.append(f"not a prefix: {seen[-3:]}")
            elif not low <= len(seen) <= high + 1:
                failures.append(f"{len(seen)} tags, made between {low} and {high}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threads = [threading.Thread(target=defer_and_check) for _ in range(3)]
        for thread in threads:
            thread.start()
        write()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
