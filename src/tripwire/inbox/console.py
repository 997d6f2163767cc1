"""The terminal's view of the inbox: issue tables, events as Python tracebacks, tail lines.

Functions return lines with ANSI styles; ``click.echo`` drops the styles when the output is
not a terminal.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click

from tripwire.inbox.grouping import exceptions_of, frames_of, message_of
from tripwire.inbox.records import EventRecord, Issue

__all__ = [
    "ago",
    "event_json",
    "event_line",
    "event_lines",
    "issue_json",
    "issue_table",
]

_LEVEL_COLOURS = {"fatal": "magenta", "error": "red", "warning": "yellow", "info": "blue"}
_CHAIN_TEXT = {
    "__cause__": "The above exception was the direct cause of the following exception:",
    "__context__": "During handling of the above exception, another exception occurred:",
}
MAX_BREADCRUMBS = 10


def ago(moment: float, now: float | None = None) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``."""
    seconds = max(0, int((time.time() if now is None else now) - moment))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _level(level: str) -> str:
    return click.style(level, fg=_LEVEL_COLOURS.get(level, "white"))


def issue_table(issues: list[Issue], now: float | None = None) -> list[str]:
    """One row per issue with its culprit below, newest first as given."""
    if not issues:
        return ["No issues."]
    lines = [
        click.style(
            f"{'ID':>5}  {'STATUS':<10}  {'LEVEL':<7}  {'EVENTS':>6}  {'LAST SEEN':<9}  TITLE",
            bold=True,
        )
    ]
    for issue in issues:
        status = (
            "regressed" if issue.is_regression and issue.status == "unresolved" else issue.status
        )
        lines.append(
            f"{issue.id:>5}  {status:<10}  {_level(issue.level)}{' ' * (7 - len(issue.level))}  "
            f"{issue.times_seen:>6}  {ago(issue.last_seen, now):<9}  {click.style(issue.title, bold=True)}"
        )
        if issue.culprit:
            lines.append(f"{'':>47}{click.style(issue.culprit, dim=True)}")
    return lines


def issue_json(issue: Issue) -> dict[str, Any]:
    data = asdict(issue)
    data["grouping_components"] = list(issue.grouping_components)
    return data


def event_json(event: EventRecord) -> dict[str, Any]:
    return asdict(event)


def _frame_lines(frame: dict[str, Any]) -> list[str]:
    in_app = frame.get("in_app") is True
    path = frame.get("abs_path") or frame.get("filename") or "?"
    where = f'  File "{path}", line {frame.get("lineno", "?")}, in {frame.get("function") or "?"}'
    lines = [where if in_app else click.style(where, dim=True)]
    context = frame.get("context_line")
    if isinstance(context, str) and context.strip():
        lines.append(f"    {context.strip()}")
    local_vars = frame.get("vars")
    if in_app and isinstance(local_vars, dict):
        for name, value in local_vars.items():
            shown = value if isinstance(value, str) else repr(value)
            lines.append(click.style(f"      {name} = {shown}", fg="cyan"))
    return lines


def _exception_lines(exception: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    frames = frames_of(exception.get("stacktrace"))
    if frames:
        lines.append("Traceback (most recent call last):")
        for frame in frames:
            lines.extend(_frame_lines(frame))
    kind = str(exception.get("type") or "Error")
    module = exception.get("module")
    if isinstance(module, str) and module not in ("builtins", "__main__", ""):
        kind = f"{module}.{kind}"
    value = str(exception.get("value") or "")
    lines.append(click.style(f"{kind}: {value}" if value else kind, fg="red", bold=True))
    return lines


def _breadcrumb_lines(event: dict[str, Any]) -> list[str]:
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    if not isinstance(values, list) or not values:
        return []
    lines = ["", click.style("Breadcrumbs (oldest first):", bold=True)]
    for crumb in values[-MAX_BREADCRUMBS:]:
        if isinstance(crumb, dict):
            category = str(crumb.get("category") or crumb.get("type") or "")
            message = crumb.get("message") or ""
            data = crumb.get("data")
            if not message and isinstance(data, dict):
                message = " ".join(f"{k}={v}" for k, v in list(data.items())[:4])
            level = str(crumb.get("level") or "info")
            lines.append(f"  {level:<7} {category:<20} {message}")
    return lines


def _tag_lines(event: dict[str, Any]) -> list[str]:
    tags = event.get("tags")
    pairs = list(tags.items()) if isinstance(tags, dict) else tags if isinstance(tags, list) else []
    shown = [f"{p[0]}={p[1]}" for p in pairs if isinstance(p, (list, tuple)) and len(p) == 2]
    return ["", click.style("Tags: ", bold=True) + ", ".join(shown)] if shown else []


def event_lines(event: EventRecord, issue: Issue | None = None) -> list[str]:
    """The event as Python would print its traceback, with locals, breadcrumbs and tags."""
    body = event.body
    lines: list[str] = []
    if issue is not None:
        lines.append(click.style(f"Issue #{issue.id}  {issue.title}", bold=True))
        lines.append(
            f"  {issue.status} · {_level(issue.level)} · {issue.times_seen} events · "
            f"first seen {ago(issue.first_seen)} · last seen {ago(issue.last_seen)}"
        )
        if issue.culprit:
            lines.append(f"  in {issue.culprit}")
        lines.append("")
    when = datetime.fromtimestamp(event.timestamp).isoformat(sep=" ", timespec="seconds")
    lines.append(click.style(f"Event {event.event_id}  {when}  {event.level}", dim=True))
    exceptions = exceptions_of(body)
    for index, exception in enumerate(exceptions):
        if index:
            mechanism = exceptions[index - 1].get("mechanism")
            source = mechanism.get("source") if isinstance(mechanism, dict) else None
            text = _CHAIN_TEXT.get(str(source), "The above exception led to the following:")
            lines.extend(["", text, ""])
        lines.extend(_exception_lines(exception))
    if not exceptions:
        message = message_of(body)
        if message:
            lines.append(click.style(message, bold=True))
        threads = body.get("threads")
        values = threads.get("values") if isinstance(threads, dict) else threads
        for thread in values if isinstance(values, list) else []:
            frames = frames_of(thread.get("stacktrace")) if isinstance(thread, dict) else []
            if frames:
                lines.append("Stack (most recent call last):")
                for frame in frames:
                    lines.extend(_frame_lines(frame))
    lines.extend(_breadcrumb_lines(body))
    lines.extend(_tag_lines(body))
    return lines


def event_line(event: EventRecord) -> str:
    """One line for ``tail``: time, level, issue, title."""
    when = datetime.fromtimestamp(event.received_at).strftime("%H:%M:%S")
    return (
        f"{click.style(when, dim=True)} {_level(event.level)}"
        f"{' ' * (8 - len(event.level))}#{event.issue_id:<5} {event.title}"
    )
