from __future__ import annotations

import pytest

from tests.inbox.conftest import make_event
from tripwire.inbox.grouping import GROUPING_VERSION, culprit_of, group, normalise, title_of


def test_line_numbers_do_not_split_an_issue() -> None:
    assert group(make_event(lineno=10)).hash == group(make_event(lineno=250)).hash


def test_stack_grouping_ignores_the_value() -> None:
    assert group(make_event(value="user 1")).hash == group(make_event(value="other text")).hash


def test_different_in_app_functions_or_types_make_different_issues() -> None:
    base = group(make_event()).hash
    assert base != group(make_event(functions=("handle", "render"))).hash
    assert base != group(make_event(exc_type="KeyError")).hash


def test_library_frames_do_not_count() -> None:
    event = make_event()
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    frames[0]["function"] = "another_dispatch"
    assert group(make_event()).hash == group(event).hash


def test_without_in_app_frames_the_normalised_value_groups() -> None:
    def event(value: str) -> dict[str, object]:
        made = make_event(value=value)
        for frame in made["exception"]["values"][0]["stacktrace"]["frames"]:
            frame["in_app"] = False
        return made

    same = group(event("user 42 at 10.0.0.1 not found")).hash
    assert same == group(event("user 7 at 192.168.1.20 not found")).hash
    assert same != group(event("order 7 at 192.168.1.20 not found")).hash


def test_messages_group_by_their_logging_template_or_normalised_text() -> None:
    def logged(sku: str) -> dict[str, object]:
        return {"logentry": {"message": "stock for %s low", "formatted": f"stock for {sku} low"}}

    assert group(logged("A")).hash == group(logged("B")).hash
    assert group({"message": "took 31 ms"}).hash == group({"message": "took 2004 ms"}).hash
    assert group({"message": "took 31 ms"}).hash != group({"message": "slept 31 ms"}).hash


def test_fingerprint_replaces_the_default_and_default_marker_extends_it() -> None:
    plain = make_event(fingerprint=["payments"])
    other = make_event(exc_type="KeyError", fingerprint=["payments"])
    assert group(plain).hash == group(other).hash
    extended = make_event(fingerprint=["{{ default }}", "eu"])
    assert group(extended).hash != group(make_event()).hash
    assert group(extended).components[: len(group(make_event()).components)] == (
        group(make_event()).components
    )
    assert group(plain).version == GROUPING_VERSION


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id 550e8400-e29b-41d4-a716-446655440000 gone", "id <uuid> gone"),
        ("at 0x7f00deadbeef", "at <hex>"),
        ("sha deadbeef1234 mismatch", "sha <hex> mismatch"),
        ("from 10.1.2.3:8080", "from <ip>"),
        ("mail bob.smith@example.com failed", "mail <email> failed"),
        ("KeyError: 'user_42'", "KeyError: <str>"),
        ('no "x y" here', "no <str> here"),
        ("retry 3 of 5 after 0.25s", "retry <num> of <num> after <num>s"),
    ],
)
def test_normalise_replaces_variable_parts(text: str, expected: str) -> None:
    assert expected == normalise(text)


def test_title_and_culprit_come_from_the_captured_exception() -> None:
    event = make_event(exc_type="ValueError", value="bad\nsecond line")
    assert title_of(event) == "ValueError: bad"
    assert culprit_of(event) == "app.views in compute"
    assert title_of({}) == "<no message>"
