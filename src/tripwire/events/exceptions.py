# Minimal stand-in until the events module lands; the real one replaces this file whole.
from __future__ import annotations

from typing import Any

__all__ = ["event_from_exception"]


def event_from_exception(error: Any, options: Any, mechanism: Any = None) -> tuple[Any, Any]:
    vals = []
    e = error
    while e is not None:
        vals.append({"type": type(e).__name__, "value": str(e), "mechanism": mechanism})
        e = e.__cause__ or e.__context__
    return {"level": "error", "exception": {"values": vals[::-1]}}, {
        "exc_info": (type(error), error, error.__traceback__)
    }
