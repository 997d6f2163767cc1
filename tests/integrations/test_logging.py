"""The logging integration: records become breadcrumbs and events, by level."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import tripwire
from tripwire.integrations.logging import (
    BreadcrumbHandler,
    EventHandler,
    LoggingIntegration,
    breadcrumb_from_record,
    event_from_record,
    extra_from_record,
    ignore_logger,
    sentry_level,
    unignore_logger,
)
from tripwire.options import Options
from tripwire.testing import capture_events


@pytest.fixture
def log() -> Iterator[logging.Logger]:
    """A logger that lets everything through to tripwire, whatever the root level."""
    logger = logging.getLogger("shop.orders")
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.setLevel(logging.NOTSET)


def _record(msg: object = "order %s failed", args: Any = ("A-1",), **extra: object) -> Any:
    record = logging.LogRecord("shop", logging.ERROR, "/app/shop.py", 12, msg, args, None)
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize(
    ("levelno", "expected"),
    [
        (logging.DEBUG, "debug"),
        (logging.INFO, "info"),
        (logging.WARNING, "warning"),
        (logging.ERROR, "error"),
        (logging.CRITICAL, "fatal"),
        (25, "info"),  # a custom NOTICE level rounds down to a level Relay knows
        (45, "error"),
        (5, "debug"),
        (logging.NOTSET, "debug"),
    ],
)
def test_logging_levels_map_to_event_levels(levelno: int, expected: str) -> None:
    assert sentry_level(levelno) == expected


def test_extra_holds_only_the_fields_passed_as_extra() -> None:
    record = _record(order_id=7, _private=1)
    assert extra_from_record(record) == {"order_id": 7}


def test_extra_is_a_json_safe_copy_taken_at_log_time() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    items = [1, 2]
    record = _record(items=items, nan=float("nan"), odd=Hostile(), nested={1: {"a": (1, 2)}})
    extra = extra_from_record(record)
    items.append(3)
    assert extra["items"] == [1, 2]
    assert extra["nan"] == "nan"
    assert "broken repr" in str(extra["odd"])
    assert extra["nested"] == {"1": {"a": [1, 2]}}


def test_percent_params_go_into_logentry() -> None:
    event, hint = event_from_record(_record(), Options())
    assert event["logentry"] == {
        "message": "order %s failed",
        "formatted": "order A-1 failed",
        "params": ["A-1"],
    }
    assert (event["level"], event["logger"]) == ("error", "shop")
    assert isinstance(hint["log_record"], logging.LogRecord)


def test_mapping_params_go_into_logentry_as_an_object() -> None:
    record = _record("order %(id)s", ({"id": 5},))
    event, _ = event_from_record(record, Options())
    assert event["logentry"]["params"] == {"id": 5}
    assert event["logentry"]["formatted"] == "order 5"


def test_params_that_do_not_fit_the_template_keep_the_template() -> None:
    event, _ = event_from_record(_record("no placeholders", ("surplus",)), Options())
    assert event["logentry"]["formatted"] == "no placeholders"


def test_breadcrumb_of_a_record() -> None:
    record = _record(order_id=7)
    crumb = breadcrumb_from_record(record)
    assert crumb == {
        "type": "log",
        "level": "error",
        "category": "shop",
        "message": "order A-1 failed",
        "timestamp": record.created,
        "data": {"order_id": 7},
    }


def test_error_record_becomes_an_event(events: list[dict[str, Any]], log: logging.Logger) -> None:
    log.error("payment %s declined", "P-9", extra={"amount": 12.5})
    [event] = events
    assert event["logentry"]["formatted"] == "payment P-9 declined"
    assert event["logentry"]["params"] == ["P-9"]
    assert (event["level"], event["logger"]) == ("error", "shop.orders")
    assert event["extra"]["amount"] == 12.5
    assert "exception" not in event


def test_logger_exception_sends_the_traceback_as_handled(
    events: list[dict[str, Any]], log: logging.Logger
) -> None:
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    [event] = events
    [exception] = event["exception"]["values"]
    assert exception["type"] == "KeyError"
    assert exception["mechanism"] == {"type": "logging", "handled": True}
    assert event["logentry"]["formatted"] == "lookup failed"


def test_info_records_become_breadcrumbs_of_the_next_event(
    events: list[dict[str, Any]], log: logging.Logger
) -> None:
    log.debug("not kept")
    log.info("cart has %d items", 3)
    log.warning("stock low")
    log.error("checkout failed")
    [event] = events
    crumbs = [(c["level"], c["message"]) for c in event["breadcrumbs"]["values"]]
    assert crumbs == [("info", "cart has 3 items"), ("warning", "stock low")]


def test_error_record_is_a_breadcrumb_of_later_events_only(
    events: list[dict[str, Any]], log: logging.Logger
) -> None:
    log.error("first")
    log.error("second")
    first, second = events
    assert "breadcrumbs" not in first
    assert [c["message"] for c in second["breadcrumbs"]["values"]] == ["first"]


def test_records_below_the_logger_level_never_reach_tripwire(events: list[dict[str, Any]]) -> None:
    quiet = logging.getLogger("shop.quiet")
    quiet.setLevel(logging.CRITICAL)
    try:
        quiet.error("filtered by the app")
    finally:
        quiet.setLevel(logging.NOTSET)
    assert events == []


def test_levels_are_configurable(log: logging.Logger) -> None:
    integration = LoggingIntegration(level=logging.WARNING, event_level=logging.CRITICAL)
    with capture_events(integrations=[integration]) as events:
        log.info("not a crumb")
        log.warning("a crumb")
        log.error("not an event")
        log.critical("an event")
    [event] = events
    assert event["level"] == "fatal"
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["a crumb", "not an event"]


def test_event_level_none_sends_no_events(log: logging.Logger) -> None:
    with capture_events(integrations=[LoggingIntegration(event_level=None)]) as events:
        log.error("only a crumb")
        tripwire.capture_message("probe")
    [event] = events
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["only a crumb"]


def test_ignore_logger_silences_a_logger_and_patterns(
    events: list[dict[str, Any]], log: logging.Logger
) -> None:
    ignore_logger("shop.ord*")
    try:
        log.error("ignored")
        logging.getLogger("shop.payments").error("kept")
    finally:
        unignore_logger("shop.ord*")
    log.error("kept again")
    assert [e["logentry"]["formatted"] for e in events] == ["kept", "kept again"]


def test_tripwire_own_logger_is_never_recorded(events: list[dict[str, Any]]) -> None:
    own = logging.getLogger("tripwire.transport")
    own.setLevel(logging.DEBUG)
    try:
        own.error("internal trouble")
    finally:
        own.setLevel(logging.NOTSET)
    assert events == []


def test_stack_info_sends_the_caller_stack(
    events: list[dict[str, Any]], log: logging.Logger
) -> None:
    log.error("where am I", stack_info=True)
    [event] = events
    [thread] = event["threads"]["values"]
    frames = thread["stacktrace"]["frames"]
    assert frames[-1]["function"] == "test_stack_info_sends_the_caller_stack"


def test_disabled_integration_records_nothing(log: logging.Logger) -> None:
    with capture_events(disabled_integrations=[LoggingIntegration]) as events:
        log.info("crumb")
        log.error("event")
        tripwire.capture_message("probe")
    [event] = events
    assert "breadcrumbs" not in event
    assert "logging" not in event["sdk"]["integrations"]


def test_default_integrations_false_records_nothing(log: logging.Logger) -> None:
    with capture_events(default_integrations=False) as events:
        log.error("event")
        tripwire.capture_message("probe")
    [event] = events
    assert event["sdk"]["integrations"] == []


def test_integration_is_listed_in_the_event(
    events: list[dict[str, Any]], log: logging.Logger
) -> None:
    log.error("x")
    assert "logging" in events[0]["sdk"]["integrations"]


def test_a_before_breadcrumb_that_logs_does_not_loop(log: logging.Logger) -> None:
    def chatty(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        log.warning("saw a crumb")
        return crumb

    with capture_events(before_breadcrumb=chatty) as events:
        log.info("first")
        tripwire.capture_message("probe")
    [event] = events
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["first"]


def test_explicit_handlers_work_without_the_integration(log: logging.Logger) -> None:
    crumbs, errors = BreadcrumbHandler(logging.INFO), EventHandler(logging.ERROR)
    log.addHandler(errors)  # handlers run in order: the event first, as the integration does
    log.addHandler(crumbs)
    try:
        with capture_events(default_integrations=False) as events:
            log.info("step one")
            log.error("it broke")
    finally:
        log.removeHandler(crumbs)
        log.removeHandler(errors)
    [event] = events
    assert event["logentry"]["formatted"] == "it broke"
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["step one"]


def test_logging_error_in_a_worker_thread_carries_the_thread_scope(
    events: list[dict[str, Any]], log: logging.Logger
) -> None:
    tripwire.set_tag("request", "R-1")
    tripwire.set_user({"id": "42"})

    def work() -> None:
        tripwire.set_tag("job", "resize")
        log.info("started")
        log.error("resize failed")

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    tripwire.capture_message("parent")
    in_thread, in_parent = events
    assert in_thread["tags"] == {"request": "R-1", "job": "resize"}
    assert in_thread["user"] == {"id": "42"}
    assert [c["message"] for c in in_thread["breadcrumbs"]["values"]] == ["started"]
    assert in_parent["tags"] == {"request": "R-1"}
    assert "breadcrumbs" not in in_parent


def test_undecodable_text_is_escaped_so_the_event_encodes_as_utf8() -> None:
    name = b"report-\xff.csv".decode("utf-8", "surrogateescape")
    record = _record("cannot open %s", (name,), path=name)
    event, _ = event_from_record(record, Options())
    text = json.dumps(event, ensure_ascii=False, default=str)
    text.encode("utf-8")  # a lone surrogate would raise here
    assert event["logentry"]["formatted"] == "cannot open report-\\udcff.csv"


def test_huge_numbers_are_described_not_sent_as_numbers() -> None:
    extra = extra_from_record(_record(big=10**400, small=2**63))
    assert isinstance(extra["big"], str)
    assert extra["small"] == 2**63


def test_a_hand_made_record_holding_an_exception_sends_it() -> None:
    try:
        raise TimeoutError("slow disk")
    except TimeoutError as exc:
        record = logging.makeLogRecord({"msg": "failed", "levelno": logging.ERROR, "exc_info": exc})
    event, hint = event_from_record(record, Options())
    assert event["exception"]["values"][0]["type"] == "TimeoutError"
    assert hint["exc_info"][1] is record.exc_info
