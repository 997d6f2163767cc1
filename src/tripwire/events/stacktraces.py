"""Where an event keeps frames: every stack trace's ``frames`` list, found once for all."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["frame_lists", "may_hold_frames"]


def frame_lists(event: Mapping[str, Any]) -> Iterator[list[Any]]:
    """The ``frames`` lists of ``exception.values[*].stacktrace``,
    ``threads.values[*].stacktrace`` and a top-level ``stacktrace``, skipping anything
    malformed (an event may come from a processor or ``before_send``)."""
    for key in ("exception", "threads"):
        container = event.get(key)
        values = container.get("values") if isinstance(container, dict) else None
        for value in values if isinstance(values, list) else ():
            stacktrace = value.get("stacktrace") if isinstance(value, dict) else None
            frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
            if isinstance(frames, list):
                yield frames
    stacktrace = event.get("stacktrace")
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
    if isinstance(frames, list):
        yield frames


def may_hold_frames(event: Mapping[str, Any]) -> bool:
    """False for an event without stack traces (a message): nothing in it to walk."""
    return "exception" in event or "threads" in event or "stacktrace" in event
