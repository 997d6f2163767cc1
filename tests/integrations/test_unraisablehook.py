"""The unraisable hook integration (opt-in): errors in finalizers are sent."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from tripwire.integrations.unraisablehook import UnraisablehookIntegration
from tripwire.testing import capture_events


class _FailsOnCollection:
    def __del__(self) -> None:
        raise RuntimeError("cleanup failed")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_error_in_a_finalizer_is_sent() -> None:
    with capture_events(integrations=[UnraisablehookIntegration()]) as events:
        _FailsOnCollection()
        gc.collect()
    [event] = events
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("RuntimeError", "cleanup failed")
    assert exception["mechanism"] == {"type": "unraisablehook", "handled": False}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_unraisablehook_is_opt_in(events: list[dict[str, Any]]) -> None:
    _FailsOnCollection()
    gc.collect()
    assert events == []
