"""The default integration set: listed in every event, each one can be turned off."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from typing import Any

import pytest

import tripwire
from tests.integrations.conftest import SRC
from tripwire.integrations import DEFAULT_INTEGRATIONS, Integration
from tripwire.integrations.argv import ArgvIntegration
from tripwire.integrations.modules import ModulesIntegration, installed_distributions
from tripwire.testing import capture_events

DEFAULT_IDENTIFIERS = [
    "argv",
    "atexit",
    "dedupe",
    "excepthook",
    "logging",
    "modules",
    "stdlib",
    "threading",
]


def _classes() -> list[type[Integration]]:
    return [getattr(importlib.import_module(m), n) for m, n in DEFAULT_INTEGRATIONS]


def test_every_default_integration_is_listed_in_the_event() -> None:
    with capture_events(auto_enabling_integrations=False) as events:  # no web frameworks
        tripwire.capture_message("probe")
    assert events[0]["sdk"]["integrations"] == DEFAULT_IDENTIFIERS


def test_each_module_holds_the_class_sentry_sdk_names() -> None:
    assert sorted(cls.identifier for cls in _classes()) == DEFAULT_IDENTIFIERS


@pytest.mark.parametrize("identifier", DEFAULT_IDENTIFIERS)
def test_each_default_integration_can_be_disabled(identifier: str) -> None:
    [cls] = [cls for cls in _classes() if cls.identifier == identifier]
    with capture_events(disabled_integrations=[cls], auto_enabling_integrations=False) as events:
        tripwire.capture_message("probe")
    assert events[0]["sdk"]["integrations"] == [i for i in DEFAULT_IDENTIFIERS if i != identifier]


def test_default_integrations_false_turns_them_all_off() -> None:
    with capture_events(default_integrations=False) as events:
        tripwire.capture_message("probe")
    [event] = events
    assert event["sdk"]["integrations"] == []
    assert "modules" not in event
    assert "sys.argv" not in event.get("extra", {})


def test_argv_is_added_to_extra(events: list[dict[str, Any]]) -> None:
    tripwire.capture_message("probe")
    assert events[0]["extra"]["sys.argv"] == sys.argv


def test_argv_keeps_an_events_own_value(events: list[dict[str, Any]]) -> None:
    tripwire.capture_event({"message": "probe", "extra": {"sys.argv": ["given"]}})
    assert events[0]["extra"]["sys.argv"] == ["given"]


def test_modules_lists_installed_distributions(events: list[dict[str, Any]]) -> None:
    tripwire.capture_message("probe")
    modules = events[0]["modules"]
    assert modules["pytest"] == pytest.__version__
    assert modules == installed_distributions()


def test_argv_and_modules_can_be_disabled_separately() -> None:
    with capture_events(disabled_integrations=[ArgvIntegration(), ModulesIntegration]) as events:
        tripwire.capture_message("probe")
    [event] = events
    assert "modules" not in event
    assert "sys.argv" not in event.get("extra", {})


def test_integration_modules_are_never_shadowed_by_the_standard_library() -> None:
    code = (
        "from tripwire.integrations import logging, threading, asyncio, atexit; "
        "print(logging.LoggingIntegration.identifier, threading.ThreadingIntegration.identifier,"
        " asyncio.AsyncioIntegration.identifier, atexit.AtexitIntegration.identifier)"
    )
    env = dict(os.environ, PYTHONPATH=SRC)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.stdout.split() == ["logging", "threading", "asyncio", "atexit"], result.stderr
