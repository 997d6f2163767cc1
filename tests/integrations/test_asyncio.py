"""The asyncio integration (opt-in): a scope per task, errors the loop reports are sent."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

import tripwire
from tripwire.integrations.asyncio import AsyncioIntegration, enable_asyncio_integration
from tripwire.testing import capture_events


@pytest.fixture
def task_events() -> Any:
    with capture_events(integrations=[AsyncioIntegration()]) as captured:
        yield captured


def test_tasks_get_a_fork_of_their_creators_scope_and_never_leak(
    task_events: list[dict[str, Any]],
) -> None:
    async def handle(n: int) -> None:
        tripwire.set_tag("task", n)
        tripwire.set_user({"id": str(n)})
        await asyncio.sleep(0)  # the tasks take turns: all set their data before any captures
        tripwire.capture_message(f"from {n}")

    async def main() -> None:
        tripwire.set_tag("request", "R-1")
        await asyncio.gather(*(asyncio.create_task(handle(n)) for n in range(5)))
        tripwire.capture_message("parent")

    asyncio.run(main())
    *children, parent = task_events
    for event in children:
        n = int(event["message"].split()[-1])
        assert event["tags"] == {"request": "R-1", "task": str(n)}
        assert event["user"] == {"id": str(n)}
    assert parent["tags"] == {"request": "R-1"}
    assert "user" not in parent


def test_an_error_never_retrieved_is_sent_with_its_tasks_scope(
    task_events: list[dict[str, Any]],
) -> None:
    async def fail() -> None:
        tripwire.set_tag("job", "sync")
        raise ConnectionError("upstream gone")

    async def main() -> None:
        task = asyncio.create_task(fail())
        await asyncio.sleep(0.01)
        assert task.done()
        del task
        gc.collect()  # the task's finalizer reports the exception nobody retrieved

    asyncio.run(main())
    [event] = task_events  # the asyncio logger's record of it is the same exception: deduped
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("ConnectionError", "upstream gone")
    assert exception["mechanism"] == {"type": "asyncio", "handled": False}
    assert event["tags"] == {"job": "sync"}


def test_an_error_in_a_loop_callback_is_sent(task_events: list[dict[str, Any]]) -> None:
    def callback() -> None:
        raise LookupError("no such key")

    async def main() -> None:
        asyncio.get_running_loop().call_soon(callback)
        await asyncio.sleep(0.01)

    asyncio.run(main())
    [event] = task_events
    assert event["exception"]["values"][0]["mechanism"]["type"] == "asyncio"


def test_an_awaited_task_error_is_left_to_the_awaiting_code(
    task_events: list[dict[str, Any]],
) -> None:
    async def fail() -> None:
        raise ValueError("handled by the caller")

    async def main() -> None:
        with pytest.raises(ValueError, match="handled by the caller"):
            await asyncio.create_task(fail())

    asyncio.run(main())
    assert task_events == []


def test_asyncio_is_opt_in(events: list[dict[str, Any]]) -> None:
    async def child() -> None:
        tripwire.set_tag("child", "yes")

    async def main() -> None:
        tripwire.set_tag("request", "R-1")
        await asyncio.create_task(child())
        tripwire.capture_message("parent")

    asyncio.run(main())
    [event] = events
    assert "asyncio" not in event["sdk"]["integrations"]
    # without it, tasks share their creator's scope objects, as in sentry_sdk
    assert event["tags"] == {"request": "R-1", "child": "yes"}


def test_enable_asyncio_integration_adds_it_to_a_running_client(
    events: list[dict[str, Any]],
) -> None:
    async def child() -> None:
        tripwire.set_tag("child", "yes")

    async def main() -> None:
        tripwire.set_tag("request", "R-1")
        enable_asyncio_integration()
        await asyncio.create_task(child())
        tripwire.capture_message("parent")

    asyncio.run(main())
    [event] = events
    assert "asyncio" in event["sdk"]["integrations"]
    assert event["tags"] == {"request": "R-1"}
