"""Event bodies shaped for the templates: exception chains, frame groups, key/value tables.

Nothing here escapes or formats HTML: the templates autoescape every value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tripwire.inbox.grouping import exceptions_of, frames_of
from tripwire.inbox.records import parse_timestamp

__all__ = [
    "ExceptionView",
    "FrameGroup",
    "FrameView",
    "breadcrumbs_of",
    "exception_views",
    "filesize",
    "frame_groups",
    "pairs",
    "pretty",
    "request_of",
    "thread_groups",
]

_CHAIN_TEXT = {
    "__cause__": "The above exception was the direct cause of the following exception:",
    "__context__": "During handling of the above exception, another exception occurred:",
}


@dataclass
class FrameView:
    filename: str
    lineno: object
    function: str
    module: str
    in_app: bool
    source: list[tuple[int | None, str, bool]]  # (line number, text, is the failing line)
    locals: list[tuple[str, str]]


@dataclass
class FrameGroup:
    """Consecutive frames that are all in the app (shown) or all outside it (folded)."""

    in_app: bool
    frames: list[FrameView] = field(default_factory=list)


@dataclass
class ExceptionView:
    type: str
    value: str
    module: str
    handled: object
    mechanism: str
    groups: list[FrameGroup]
    chain_text: str  # shown above this exception, linking it to the previous one


def filesize(size: int) -> str:
    """``512 B``, ``3.4 KB``, ``12.0 MB``."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def pretty(value: object) -> str:
    """A value as text: strings as they are, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def pairs(value: object) -> list[tuple[str, str]]:
    """A mapping (or list of pairs, as headers and tags may be) as text rows."""
    if isinstance(value, dict):
        return [(str(k), pretty(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [
            (str(p[0]), pretty(p[1])) for p in value if isinstance(p, (list, tuple)) and len(p) == 2
        ]
    return []


def _source(frame: dict[str, Any]) -> list[tuple[int | None, str, bool]]:
    context = frame.get("context_line")
    if not isinstance(context, str):
        return []
    before = [x for x in frame.get("pre_context") or [] if isinstance(x, str)]
    after = [x for x in frame.get("post_context") or [] if isinstance(x, str)]
    lineno = frame.get("lineno")
    first = lineno - len(before) if isinstance(lineno, int) else None
    lines = [*before, context, *after]
    return [
        (None if first is None else first + i, text, i == len(before))
        for i, text in enumerate(lines)
    ]


def _frame(frame: dict[str, Any]) -> FrameView:
    return FrameView(
        filename=str(frame.get("filename") or frame.get("abs_path") or frame.get("module") or "?"),
        lineno=frame.get("lineno", "?"),
        function=str(frame.get("function") or "?"),
        module=str(frame.get("module") or ""),
        in_app=frame.get("in_app") is True,
        source=_source(frame),
        locals=pairs(frame.get("vars")),
    )


def frame_groups(stacktrace: object) -> list[FrameGroup]:
    """Frames oldest first (as sent), split into in-app and folded library runs."""
    groups: list[FrameGroup] = []
    for frame in map(_frame, frames_of(stacktrace)):
        if not groups or groups[-1].in_app != frame.in_app:
            groups.append(FrameGroup(frame.in_app))
        groups[-1].frames.append(frame)
    if groups and not any(g.in_app for g in groups):
        groups[-1].in_app = True  # nothing is in the app: show the innermost frames anyway
    return groups


def exception_views(event: dict[str, Any]) -> list[ExceptionView]:
    """The chain oldest first, the captured exception last, like Python prints it."""
    views: list[ExceptionView] = []
    previous_source: object = None
    for exception in exceptions_of(event):
        mechanism = exception.get("mechanism")
        mechanism = mechanism if isinstance(mechanism, dict) else {}
        module = exception.get("module")
        views.append(
            ExceptionView(
                type=str(exception.get("type") or "Error"),
                value=str(exception.get("value") or ""),
                module=module if isinstance(module, str) and module != "builtins" else "",
                handled=mechanism.get("handled"),
                mechanism=str(mechanism.get("type") or ""),
                groups=frame_groups(exception.get("stacktrace")),
                chain_text=""
                if not views
                else _CHAIN_TEXT.get(
                    str(previous_source), "The above exception led to the following exception:"
                ),
            )
        )
        previous_source = mechanism.get("source")
    return views


def thread_groups(event: dict[str, Any]) -> list[tuple[str, list[FrameGroup]]]:
    """Stacks attached to a message event (``threads``, or a top-level ``stacktrace``)."""
    found: list[tuple[str, list[FrameGroup]]] = []
    threads = event.get("threads")
    values = threads.get("values") if isinstance(threads, dict) else threads
    for thread in values if isinstance(values, list) else []:
        if isinstance(thread, dict) and thread.get("stacktrace"):
            name = thread.get("name") or thread.get("id") or "current thread"
            found.append((str(name), frame_groups(thread.get("stacktrace"))))
    if event.get("stacktrace"):
        found.append(("stack", frame_groups(event.get("stacktrace"))))
    return found


def _clock(value: object) -> str:
    moment = parse_timestamp(value, 0.0)
    if not moment:
        return ""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def breadcrumbs_of(event: dict[str, Any]) -> list[dict[str, str]]:
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    rows = []
    for crumb in values if isinstance(values, list) else []:
        if isinstance(crumb, dict):
            rows.append(
                {
                    "time": _clock(crumb.get("timestamp")),
                    "category": str(crumb.get("category") or crumb.get("type") or ""),
                    "level": str(crumb.get("level") or "info"),
                    "message": str(crumb.get("message") or ""),
                    "data": pretty(crumb["data"]) if crumb.get("data") else "",
                }
            )
    return rows


def request_of(event: dict[str, Any]) -> list[tuple[str, str]]:
    request = event.get("request")
    if not isinstance(request, dict):
        return []
    rows = [(k, pretty(v)) for k, v in request.items() if k not in ("headers", "env") and v]
    rows.extend((f"header {k}", v) for k, v in pairs(request.get("headers")))
    return rows
