"""Celery tasks with tripwire.init(): eagerly applied and run by a real in-process worker."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.exceptions import Ignore

import tripwire
from tests.integrations.web.servers import wait_for
from tripwire.integrations.celery import CeleryIntegration
from tripwire.testing import capture_events


class PaymentDeclined(Exception):
    pass


def _make_app() -> Celery:
    app = Celery("shop", broker="memory://", backend="cache+memory://")
    app.conf.broker_transport_options = {"polling_interval": 0.05}

    @app.task(name="shop.charge")
    def charge(card: str, amount: int) -> int:
        tripwire.set_tag("card", card)
        if amount < 0:
            raise ValueError("negative amount")
        return amount

    @app.task(name="shop.skip")
    def skip() -> None:
        raise Ignore()

    @app.task(name="shop.declined", throws=(PaymentDeclined,))
    def declined() -> None:
        raise PaymentDeclined()

    return app


_APP = _make_app()


def _app(eager: bool = True) -> Celery:
    _APP.conf.task_always_eager = eager
    return _APP


def _exception(event: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = event["exception"]["values"][-1]
    return value


def test_failing_task_is_reported_with_its_name_and_without_its_arguments() -> None:
    app = _app()
    with capture_events() as events:
        result = app.tasks["shop.charge"].delay("4111-1111", -5)

    assert isinstance(result.result, ValueError)
    [event] = events
    assert _exception(event)["mechanism"] == {"type": "celery", "handled": False}
    assert event["transaction"] == "shop.charge"
    assert event["transaction_info"] == {"source": "task"}
    assert event["extra"]["celery-job"] == {
        "task_name": "shop.charge",
        "args": "[Filtered]",
        "kwargs": "[Filtered]",
    }
    assert "4111" not in json.dumps(event["extra"])
    assert event["tags"]["celery_task_id"] == result.id
    assert "celery" in event["sdk"]["integrations"]


def test_arguments_are_sent_with_send_default_pii() -> None:
    app = _app()
    with capture_events(send_default_pii=True) as events:
        app.tasks["shop.charge"].delay("4111-1111", amount=-5)

    assert events[0]["extra"]["celery-job"]["args"] == ["4111-1111"]
    assert events[0]["extra"]["celery-job"]["kwargs"] == {"amount": -5}


def test_each_task_runs_in_its_own_isolation_scope() -> None:
    app = _app()
    with capture_events() as events:
        app.tasks["shop.charge"].delay("first", 1)
        app.tasks["shop.charge"].delay("second", -1)
        tripwire.capture_message("caller")

    task_event, caller_event = events
    assert task_event["tags"]["card"] == "second"
    assert "card" not in caller_event.get("tags", {})


def test_control_flow_and_expected_exceptions_are_not_reported() -> None:
    app = _app()
    with capture_events() as events:
        app.tasks["shop.skip"].delay()
        app.tasks["shop.declined"].delay()

    assert events == []


@pytest.fixture
def _root_logger_kept() -> Iterator[None]:
    """The worker configures logging for the process; put the root logger back."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.mark.usefixtures("_root_logger_kept")
def test_real_worker_reports_failures_and_keeps_tasks_apart() -> None:
    app = _app(eager=False)
    app.conf.worker_hijack_root_logger = False
    with (
        capture_events(integrations=[CeleryIntegration()]) as events,
        start_worker(app, pool="solo", perform_ping_check=False, loglevel="CRITICAL"),
    ):
        ok = app.tasks["shop.charge"].delay("fine", 3)
        bad = app.tasks["shop.charge"].delay("broken", -3)
        assert ok.get(timeout=10) == 3
        with pytest.raises(ValueError, match="negative"):
            bad.get(timeout=10)
        wait_for(lambda: events)

    [event] = events
    assert event["tags"] == {"card": "broken", "celery_task_id": bad.id}
