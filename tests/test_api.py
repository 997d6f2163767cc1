"""The top-level API: return values, scope precedence and the drop paths."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import tripwire
from tests.relay import assert_valid_event
from tripwire.testing import capture_envelopes, capture_events


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    with capture_events() as captured:
        yield captured
    for event in captured:
        assert_valid_event(event)


def test_capture_before_init_returns_none_and_sends_nothing() -> None:
    assert tripwire.capture_message("nobody listens") is None
    assert tripwire.capture_exception(ValueError("x")) is None
    assert not tripwire.is_initialized()


def test_init_without_dsn_is_not_initialized_and_returns_none() -> None:
    tripwire.init()
    assert not tripwire.is_initialized()
    assert tripwire.capture_message("x") is None


def test_capture_message_returns_the_id_of_the_event_sent(events: list[dict[str, Any]]) -> None:
    event_id = tripwire.capture_message("disk almost full")
    [event] = events
    assert event_id == event["event_id"]
    assert (event["message"], event["level"]) == ("disk almost full", "info")
    assert event_id == tripwire.last_event_id()


def test_capture_exception_without_active_exception_sends_nothing(
    events: list[dict[str, Any]],
) -> None:
    assert tripwire.capture_exception() is None
    assert events == []


def test_capture_exception_of_a_string_returns_none_without_raising(
    events: list[dict[str, Any]],
) -> None:
    assert tripwire.capture_exception("text") is None  # type: ignore[arg-type]
    assert events == []


def test_capture_exception_uses_the_exception_being_handled(events: list[dict[str, Any]]) -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        tripwire.capture_exception()
    [event] = events
    assert event["level"] == "error"
    assert event["exception"]["values"][-1]["type"] == "KeyError"


def test_capture_exception_accepts_an_exc_info_tuple(events: list[dict[str, Any]]) -> None:
    import sys

    try:
        raise OSError("boom")
    except OSError:
        tripwire.capture_exception(sys.exc_info())
    assert events[0]["exception"]["values"][-1]["type"] == "OSError"


def test_scope_layers_merge_global_then_isolation_then_current(
    events: list[dict[str, Any]],
) -> None:
    tripwire.get_global_scope().set_tag("layer", "global")
    tripwire.get_global_scope().set_tag("only_global", "g")
    tripwire.set_tag("layer", "isolation")
    with tripwire.new_scope() as scope:
        scope.set_tag("layer", "current")
        tripwire.capture_message("x")
    tripwire.capture_message("y")
    assert events[0]["tags"] == {"layer": "current", "only_global": "g"}
    assert events[1]["tags"] == {"layer": "isolation", "only_global": "g"}


def test_capture_kwargs_win_over_scope_data(events: list[dict[str, Any]]) -> None:
    tripwire.set_tag("team", "scope")
    tripwire.set_level("debug")
    tripwire.capture_message("x", tags={"team": "kwarg"}, level="warning")
    assert events[0]["tags"]["team"] == "kwarg"
    assert events[0]["level"] == "warning"


def test_explicit_level_argument_wins_over_scope_level(events: list[dict[str, Any]]) -> None:
    tripwire.set_level("debug")
    tripwire.capture_message("x", level="error")
    tripwire.capture_message("y")
    assert [e["level"] for e in events] == ["error", "debug"]


def test_scope_level_applies_to_captured_exceptions(events: list[dict[str, Any]]) -> None:
    tripwire.set_level("warning")
    tripwire.capture_exception(ValueError("x"))
    assert events[0]["level"] == "warning"


def test_event_values_win_over_scope_values(events: list[dict[str, Any]]) -> None:
    tripwire.set_tag("a", "scope")
    tripwire.set_user({"id": "scope-user"})
    tripwire.capture_event({"message": "m", "tags": {"a": "event"}, "user": {"id": "event-user"}})
    assert events[0]["tags"]["a"] == "event"
    assert events[0]["user"] == {"id": "event-user"}


def test_extra_is_accepted_as_an_alias_of_extras(events: list[dict[str, Any]]) -> None:
    tripwire.capture_message("x", extra={"cart": 3})
    tripwire.capture_message("y", extras={"cart": 4})
    assert [e["extra"]["cart"] for e in events] == [3, 4]


def test_unknown_capture_keyword_is_ignored_not_fatal(events: list[dict[str, Any]]) -> None:
    assert tripwire.capture_message("x", colour="red") is not None
    assert len(events) == 1


def test_scope_argument_adds_its_data_and_runs_its_processors(
    events: list[dict[str, Any]],
) -> None:
    extra_scope = tripwire.Scope()
    extra_scope.set_tag("from", "argument")

    def mark(event: Any, hint: Any) -> Any:
        event["extra"] = {"processed": True}
        return event

    extra_scope.add_event_processor(mark)
    tripwire.capture_message("x", scope=extra_scope)
    assert events[0]["tags"]["from"] == "argument"
    assert events[0]["extra"]["processed"] is True  # ArgvIntegration adds "sys.argv" too


def test_scope_callable_configures_the_capture(events: list[dict[str, Any]]) -> None:
    tripwire.capture_message("x", scope=lambda s: s.set_tag("via", "callable"))
    assert events[0]["tags"]["via"] == "callable"


def test_new_scope_changes_do_not_reach_the_parent(events: list[dict[str, Any]]) -> None:
    with tripwire.new_scope() as scope:
        scope.set_tag("inner", "yes")
        scope.set_context("ctx", {"k": 1})
    tripwire.capture_message("after")
    assert "inner" not in events[0].get("tags", {})
    assert "ctx" not in events[0]["contexts"]


def test_context_dict_given_is_copied_so_later_mutation_does_not_leak(
    events: list[dict[str, Any]],
) -> None:
    data = {"plan": "free"}
    tripwire.set_context("billing", data)
    data["plan"] = "changed-after"
    tripwire.capture_message("x")
    assert {k: v for k, v in events[0]["contexts"]["billing"].items() if k != "type"} == {
        "plan": "free"
    }


def test_isolation_scope_separates_top_level_set_calls(events: list[dict[str, Any]]) -> None:
    with tripwire.isolation_scope():
        tripwire.set_tag("request", "one")
        tripwire.capture_message("inside")
    tripwire.capture_message("outside")
    assert events[0]["tags"]["request"] == "one"
    assert "request" not in events[1].get("tags", {})


def test_breadcrumbs_merge_across_scopes_in_recorded_order(events: list[dict[str, Any]]) -> None:
    tripwire.add_breadcrumb(message="first")
    with tripwire.new_scope() as scope:
        scope.add_breadcrumb(message="second")
        tripwire.add_breadcrumb(message="third")
        tripwire.capture_message("x")
    messages = [crumb["message"] for crumb in events[0]["breadcrumbs"]["values"]]
    assert messages == ["first", "second", "third"]


def test_merged_breadcrumbs_are_capped_at_max_breadcrumbs() -> None:
    with capture_events(max_breadcrumbs=2) as events:
        tripwire.get_global_scope().add_breadcrumb(message="g")
        for index in range(3):
            tripwire.add_breadcrumb(message=f"i{index}")
        with tripwire.new_scope() as scope:
            scope.add_breadcrumb(message="c")
            tripwire.capture_message("x")
    crumbs = events[0]["breadcrumbs"]["values"]
    assert [crumb["message"] for crumb in crumbs] == ["i2", "c"]
    assert events[0]["_meta"]["breadcrumbs"] == {"": {"len": 5}}
    assert_valid_event(events[0])


def test_before_breadcrumb_can_change_or_drop_crumbs() -> None:
    def keep_some(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        if crumb.get("category") == "noise":
            return None
        crumb["message"] = crumb["message"].upper()
        return crumb

    with capture_events(before_breadcrumb=keep_some) as events:
        tripwire.add_breadcrumb(message="kept", category="app")
        tripwire.add_breadcrumb(message="dropped", category="noise")
        tripwire.capture_message("x")
    assert [crumb["message"] for crumb in events[0]["breadcrumbs"]["values"]] == ["KEPT"]


def test_before_send_returning_none_drops_and_counts() -> None:
    with capture_events(before_send=lambda event, hint: None) as events:
        assert tripwire.capture_message("x") is None
        assert tripwire.get_client().drops.totals() == {("before_send", "error"): 1}
    assert events == []


def test_before_send_that_raises_drops_the_event_as_callback_error() -> None:
    def explode(event: Any, hint: Any) -> Any:
        raise RuntimeError("bug in the app's callback")

    with capture_events(before_send=explode) as events:
        assert tripwire.capture_message("x") is None
        assert tripwire.get_client().drops.totals() == {("callback_error", "error"): 1}
    assert events == []


def test_before_send_sees_the_hint_with_exc_info(events: list[dict[str, Any]]) -> None:
    seen: list[object] = []

    def look(event: Any, hint: Any) -> Any:
        seen.append(hint["exc_info"][1])
        return event

    error = ValueError("x")
    with capture_events(before_send=look):
        tripwire.capture_exception(error)
    assert [error] == seen


def test_sample_rate_zero_drops_every_event_and_counts_it() -> None:
    with capture_events(sample_rate=0.0) as events:
        for _ in range(5):
            assert tripwire.capture_message("x") is None
        assert tripwire.get_client().drops.totals() == {("sample_rate", "error"): 5}
    assert events == []


def test_error_sampler_overrides_sample_rate() -> None:
    def sampler(event: Any, hint: Any) -> float:
        exc_info = hint.get("exc_info")
        return 0.0 if exc_info and isinstance(exc_info[1], KeyError) else 1.0

    with capture_events(sample_rate=0.0, error_sampler=sampler) as events:
        tripwire.capture_exception(KeyError("dropped"))
        tripwire.capture_exception(ValueError("kept"))
    assert [e["exception"]["values"][-1]["type"] for e in events] == ["ValueError"]


@pytest.mark.parametrize("ignored", [KeyError, LookupError, "KeyError", "builtins.KeyError"])
def test_ignore_errors_matches_classes_subclasses_and_names(ignored: object) -> None:
    with capture_events(ignore_errors=[ignored]) as events:
        assert tripwire.capture_exception(KeyError("x")) is None
        tripwire.capture_exception(ValueError("y"))
        assert tripwire.get_client().drops.totals() == {("event_processor", "error"): 1}
    assert len(events) == 1


def test_event_processor_returning_none_drops_the_event() -> None:
    with capture_events() as events:
        tripwire.get_isolation_scope().add_event_processor(lambda event, hint: None)
        assert tripwire.capture_message("x") is None
    assert events == []


def test_error_processor_runs_only_for_its_class(events: list[dict[str, Any]]) -> None:
    def tag(event: Any, exc_info: Any) -> Any:
        event.setdefault("tags", {})["lookup"] = "yes"
        return event

    tripwire.get_isolation_scope().add_error_processor(tag, LookupError)
    tripwire.capture_exception(KeyError("k"))
    tripwire.capture_exception(ValueError("v"))
    assert events[0]["tags"]["lookup"] == "yes"
    assert "lookup" not in events[1].get("tags", {})


def test_raising_event_processor_is_logged_and_the_event_kept(
    events: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: Any, hint: Any) -> Any:
        raise RuntimeError("processor bug")

    tripwire.get_isolation_scope().add_event_processor(broken)
    assert tripwire.capture_message("x") is not None
    assert "processor bug" in caplog.text


def test_defaults_fill_release_environment_server_name_and_sdk() -> None:
    with capture_events(release="shop@2.3.0", environment="staging", dist="7") as events:
        tripwire.capture_message("x")
    event = events[0]
    assert (event["release"], event["environment"], event["dist"]) == ("shop@2.3.0", "staging", "7")
    assert event["sdk"]["name"] == "tripwire.python"
    assert event["platform"] == "python"
    assert event["server_name"]
    assert {"runtime", "trace"} <= set(event["contexts"])
    assert_valid_event(event)


def test_last_event_id_is_per_isolation_scope(events: list[dict[str, Any]]) -> None:
    parent_id = tripwire.capture_message("parent")
    with tripwire.isolation_scope():
        child_id = tripwire.capture_message("child")
        assert child_id == tripwire.last_event_id()
    assert parent_id == tripwire.last_event_id()


def test_dropped_event_does_not_change_last_event_id() -> None:
    with capture_events(before_send=lambda e, h: e if e.get("message") == "kept" else None):
        kept = tripwire.capture_message("kept")
        tripwire.capture_message("dropped")
        assert kept == tripwire.last_event_id()


def test_threads_start_with_fresh_isolation_scopes(events: list[dict[str, Any]]) -> None:
    tripwire.set_tag("main", "yes")

    def work() -> None:
        tripwire.set_tag("thread", "yes")
        tripwire.capture_message("from thread")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    tripwire.capture_message("from main")
    main_event = next(e for e in events if e["message"] == "from main")
    assert "thread" not in main_event["tags"]


def test_init_guard_closes_the_client_on_exit() -> None:
    with capture_events():
        assert tripwire.is_initialized()
    assert not tripwire.is_initialized()


def test_attachments_travel_with_the_event() -> None:
    with capture_envelopes() as envelopes:
        tripwire.add_attachment(bytes=b"line1\nline2\n", filename="log.txt")
        tripwire.capture_message("with file")
    [envelope] = envelopes
    assert [item.type for item in envelope.items] == ["event", "attachment"]
    assert envelope.items[1].payload == b"line1\nline2\n"
    assert envelope.items[1].headers["content_type"] == "text/plain"


def test_flush_without_a_client_returns_true() -> None:
    assert tripwire.flush(timeout=0.1) is True


def test_secrets_are_filtered_by_key_and_by_shape(events: list[dict[str, Any]]) -> None:
    tripwire.set_extra("config", {"db_password": "hunter2", "region": "eu"})
    tripwire.capture_message(
        "x", extra={"auth_header": "Bearer abc.def.ghi", "note": "card 4111 1111 1111 1111"}
    )
    extra = events[0]["extra"]
    assert extra["config"]["db_password"] == "[Filtered]"
    assert extra["config"]["region"] == "eu"
    assert extra["auth_header"] == "[Filtered]"
    assert "4111 1111 1111 1111" not in extra["note"]


def test_a_custom_event_scrubber_replaces_the_default() -> None:
    from tripwire.scrubber import EventScrubber

    scrubber = EventScrubber(denylist=["colour"], key_terms=[])
    with capture_events(event_scrubber=scrubber) as events:
        tripwire.capture_message("x", extra={"colour": "red", "db_password": "kept"})
    assert events[0]["extra"]["colour"] == "[Filtered]"
    assert events[0]["extra"]["db_password"] == "kept"


def test_event_over_the_byte_budget_is_trimmed_to_fit() -> None:
    with capture_envelopes(max_event_bytes=20_000) as envelopes:
        for index in range(100):
            tripwire.add_breadcrumb(message=f"{index}:" + "x" * 2_000)
        tripwire.capture_message("big")
    payload = envelopes[0].items[0].payload
    assert len(payload) <= 20_000
    event = json.loads(payload)
    assert event["message"] == "big"
    assert_valid_event(event)


def test_exception_dropped_by_before_send_can_be_sent_when_captured_again() -> None:
    decisions = iter([None, "keep"])

    def first_drop(event: Any, hint: Any) -> Any:
        return event if next(decisions) else None

    error = ValueError("captured twice")
    with capture_events(before_send=first_drop) as events:
        assert tripwire.capture_exception(error) is None
        assert tripwire.capture_exception(error) is not None
    assert len(events) == 1


@pytest.mark.filterwarnings("ignore:This process:DeprecationWarning")  # fork with threads (3.12+)
def test_a_forked_child_draws_different_event_ids_than_its_parent() -> None:
    import os

    from tripwire.client import Client

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its next id and leave at once
        os.write(write_end, Client.new_event_id().encode())
        os._exit(0)
    os.close(write_end)
    parent_id = Client.new_event_id()
    os.waitpid(pid, 0)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    assert len(child_id) == 32
    assert child_id != parent_id
