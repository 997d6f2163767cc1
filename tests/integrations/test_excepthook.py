"""The excepthook integration: uncaught exceptions are sent, then the previous hook runs."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.integrations.conftest import run_script
from tripwire.integrations.excepthook import ExcepthookIntegration
from tripwire.testing import Collector, capture_events


def _uncaught(error: BaseException) -> None:
    try:
        raise error
    except BaseException as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)


def test_uncaught_exception_in_a_real_process_reaches_the_server(collector: Collector) -> None:
    result = run_script(
        """
        tripwire.init(os.environ["TRIPWIRE_TEST_DSN"])
        tripwire.set_tag("stage", "boot")
        raise ZeroDivisionError("config ratio is zero")
        """,
        collector,
    )
    assert result.returncode == 1
    assert "ZeroDivisionError: config ratio is zero" in result.stderr  # the previous hook ran
    [event] = collector.events
    [exception] = event["exception"]["values"]
    assert exception["type"] == "ZeroDivisionError"
    assert exception["mechanism"] == {"type": "excepthook", "handled": False}
    assert event["tags"] == {"stage": "boot"}
    assert "excepthook" in event["sdk"]["integrations"]


def test_an_error_logged_then_reraised_is_sent_once(collector: Collector) -> None:
    result = run_script(
        """
        import logging
        tripwire.init(os.environ["TRIPWIRE_TEST_DSN"])
        try:
            raise KeyError("user")
        except KeyError:
            logging.getLogger("app").exception("lookup failed")
            raise
        """,
        collector,
    )
    assert result.returncode == 1
    [event] = collector.events
    assert event["exception"]["values"][0]["mechanism"]["type"] == "logging"


def test_ctrl_c_is_not_sent(collector: Collector) -> None:
    result = run_script(
        """
        tripwire.init(os.environ["TRIPWIRE_TEST_DSN"])
        tripwire.capture_message("before the interrupt")
        raise KeyboardInterrupt
        """,
        collector,
    )
    assert result.returncode != 0
    assert [e.get("message") for e in collector.events] == ["before the interrupt"]


def test_logging_error_in_a_worker_thread_reaches_the_server_with_its_scope(
    collector: Collector,
) -> None:
    result = run_script(
        """
        import logging, threading
        from concurrent.futures import ThreadPoolExecutor
        tripwire.init(os.environ["TRIPWIRE_TEST_DSN"])
        tripwire.set_tag("request", "R-7")
        log = logging.getLogger("worker")

        def resize(n):
            tripwire.set_tag("image", n)
            log.warning("resizing %d", n)
            try:
                raise MemoryError("too big")
            except MemoryError:
                log.exception("resize %d failed", n)

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(resize, [1, 2]))
        """,
        collector,
    )
    assert result.returncode == 0, result.stderr
    events = sorted(collector.events, key=lambda e: e["tags"]["image"])
    assert [e["tags"] for e in events] == [
        {"request": "R-7", "image": "1"},  # tags travel as strings
        {"request": "R-7", "image": "2"},
    ]
    for n, event in enumerate(events, 1):
        assert event["logentry"]["formatted"] == f"resize {n} failed"
        assert [c["message"] for c in event["breadcrumbs"]["values"]] == [f"resizing {n}"]


def test_excepthook_sends_through_the_previous_hook(events: list[dict[str, Any]]) -> None:
    _uncaught(LookupError("gone"))
    [event] = events
    assert event["exception"]["values"][0]["mechanism"] == {
        "type": "excepthook",
        "handled": False,
    }


@pytest.mark.parametrize("code", [0, None])
def test_clean_system_exit_is_not_sent(events: list[dict[str, Any]], code: int | None) -> None:
    sys.excepthook(SystemExit, SystemExit(code), None)
    assert events == []


def test_failing_system_exit_is_sent(events: list[dict[str, Any]]) -> None:
    _uncaught(SystemExit("fatal: no config"))
    assert len(events) == 1


def test_interactive_shell_is_skipped_unless_always_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    with capture_events() as events:
        _uncaught(NameError("typo"))
    assert events == []
    with capture_events(integrations=[ExcepthookIntegration(always_run=True)]) as events:
        _uncaught(NameError("typo"))
    assert len(events) == 1


def test_always_run_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="always_run"):
        ExcepthookIntegration(always_run="yes")  # type: ignore[arg-type]


def test_disabled_excepthook_sends_nothing() -> None:
    with capture_events(disabled_integrations=[ExcepthookIntegration]) as events:
        _uncaught(LookupError("gone"))
    assert events == []


def test_the_traceback_given_to_the_hook_is_used(events: list[dict[str, Any]]) -> None:
    try:
        raise LookupError("detached")
    except LookupError as exc:
        error, tb = exc, exc.__traceback__
    error.__traceback__ = None
    sys.excepthook(LookupError, error, tb)
    [event] = events
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert frames[-1]["function"] == "test_the_traceback_given_to_the_hook_is_used"
    assert error.__traceback__ is None  # the app's exception is left as it was
