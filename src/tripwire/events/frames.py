# Minimal stand-in until the events module lands; the real one replaces this file whole.
from __future__ import annotations

from types import FrameType
from typing import Any

__all__ = ["frames_from_stack", "mark_in_app"]


def frames_from_stack(frame: FrameType | None, options: Any) -> list[dict[str, Any]]:
    out = []
    while frame is not None:
        out.append(
            {
                "function": frame.f_code.co_name,
                "lineno": frame.f_lineno,
                "abs_path": frame.f_code.co_filename,
                "module": frame.f_globals.get("__name__"),
            }
        )
        frame = frame.f_back
    return out[::-1]


def mark_in_app(event: Any, options: Any) -> None:
    pass
