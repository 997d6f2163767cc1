"""The threading integration: scopes travel into threads and executors, errors are sent."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import tripwire
from tripwire.integrations.threading import ThreadingIntegration
from tripwire.testing import capture_events


def _run(target: Any) -> None:
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()


def test_thread_starts_with_a_fork_of_the_callers_scopes(events: list[dict[str, Any]]) -> None:
    tripwire.set_tag("request", "R-1")
    with tripwire.new_scope() as scope:
        scope.set_tag("step", "checkout")
        _run(lambda: tripwire.capture_message("in thread"))
    [event] = events
    assert event["tags"] == {"request": "R-1", "step": "checkout"}


def test_tags_set_in_a_thread_do_not_reach_the_parent(events: list[dict[str, Any]]) -> None:
    _run(lambda: tripwire.set_tag("leak", "yes"))
    tripwire.capture_message("parent")
    [event] = events
    assert "leak" not in event.get("tags", {})


def test_executor_work_runs_in_the_submitters_scopes(events: list[dict[str, Any]]) -> None:
    def job(n: int) -> str | None:
        tripwire.set_tag("n", n)
        return tripwire.capture_message(f"job {n}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = []
        for n in range(6):
            with tripwire.isolation_scope():
                tripwire.set_user({"id": f"user-{n}"})
                futures.append(pool.submit(job, n))
        assert all(future.result() for future in futures)
    assert sorted((e["user"]["id"], e["tags"]["n"]) for e in events) == [
        (f"user-{n}", str(n)) for n in range(6)
    ]


def test_concurrent_threads_never_see_each_others_data(events: list[dict[str, Any]]) -> None:
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        tripwire.set_tag("worker", n)
        tripwire.set_user({"id": str(n)})
        barrier.wait(10)  # every thread has set its data before any captures
        tripwire.capture_message(f"from {n}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(events) == 8
    for event in events:
        n = int(event["message"].split()[-1])
        assert (event["tags"]["worker"], event["user"]["id"]) == (str(n), str(n))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_uncaught_error_in_a_thread_is_sent_with_its_scope(
    events: list[dict[str, Any]],
) -> None:
    tripwire.set_tag("request", "R-1")

    def fail() -> None:
        tripwire.set_tag("job", "export")
        raise RuntimeError("export failed")

    _run(fail)
    [event] = events
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("RuntimeError", "export failed")
    assert exception["mechanism"] == {"type": "threading", "handled": False}
    assert event["tags"] == {"request": "R-1", "job": "export"}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_thread_started_before_init_is_caught_by_threading_excepthook() -> None:
    go = threading.Event()

    def fail_later() -> None:
        go.wait(10)
        raise ValueError("late failure")

    thread = threading.Thread(target=fail_later)
    thread.start()  # before init: its run() is not wrapped
    with capture_events() as events:
        go.set()
        thread.join()
    [event] = events
    [exception] = event["exception"]["values"]
    assert exception["mechanism"] == {"type": "threading", "handled": False}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_system_exit_in_a_thread_is_not_an_error(events: list[dict[str, Any]]) -> None:
    def leave() -> None:
        raise SystemExit(3)

    _run(leave)
    assert events == []


def test_executor_errors_stay_with_the_future(events: list[dict[str, Any]]) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(int, "not a number")
        with pytest.raises(ValueError, match="invalid literal"):
            future.result()
    assert events == []


def test_propagate_scope_false_starts_threads_with_empty_scopes() -> None:
    with capture_events(integrations=[ThreadingIntegration(propagate_scope=False)]) as events:
        tripwire.set_tag("request", "R-1")
        _run(lambda: tripwire.capture_message("in thread"))
    [event] = events
    assert "request" not in event.get("tags", {})


def test_disabled_threading_neither_propagates_nor_reports() -> None:
    with capture_events(disabled_integrations=[ThreadingIntegration]) as events:
        tripwire.set_tag("request", "R-1")
        _run(lambda: tripwire.capture_message("in thread"))
    [event] = events
    assert "request" not in event.get("tags", {})
    assert "threading" not in event["sdk"]["integrations"]


def test_last_event_id_of_a_thread_stays_in_the_thread(events: list[dict[str, Any]]) -> None:
    seen: list[str | None] = []

    def work() -> None:
        tripwire.capture_message("in thread")
        seen.append(tripwire.last_event_id())

    _run(work)
    assert seen == [events[0]["event_id"]]
    assert tripwire.last_event_id() is None


class _Job(threading.Thread):
    """A thread subclass with its own run(), as many applications write them."""

    def __init__(self, fail: bool) -> None:
        super().__init__()
        self.fail = fail

    def run(self) -> None:
        tripwire.set_tag("job", "subclass")
        if self.fail:
            raise RuntimeError("subclass failed")
        tripwire.capture_message("from subclass")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("fail", [False, True])
def test_a_thread_subclass_runs_in_forks_and_its_error_is_sent_once(
    events: list[dict[str, Any]], fail: bool
) -> None:
    tripwire.set_tag("request", "R-1")
    job = _Job(fail)
    job.start()
    job.join()
    [event] = events
    assert event["tags"] == {"request": "R-1", "job": "subclass"}
    assert ("exception" in event) is fail
    assert "job" not in tripwire.get_isolation_scope()._tags


def test_a_run_set_on_the_thread_object_runs_in_forks(events: list[dict[str, Any]]) -> None:
    tripwire.set_tag("request", "R-1")
    thread = threading.Thread()
    thread.run = lambda: tripwire.capture_message("own run")  # type: ignore[method-assign]
    thread.start()
    thread.join()
    [event] = events
    assert event["tags"] == {"request": "R-1"}


def test_target_arguments_reach_the_target_and_the_target_is_dropped_after(
    events: list[dict[str, Any]],
) -> None:
    got: list[object] = []
    thread = threading.Thread(target=lambda *a, **k: got.append((a, k)), args=(1,), kwargs={"k": 2})
    thread.start()
    thread.join()
    assert got == [((1,), {"k": 2})]
    assert getattr(thread, "_target", None) is None  # threading deletes it: no cycle kept
    empty = threading.Thread()  # no target: nothing to run, nothing to wrap
    empty.start()
    empty.join()
    assert events == []
