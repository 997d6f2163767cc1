"""Which issue an event belongs to: its fingerprint, its stack, its value or its message.

The rules, first match wins (each issue records the ``GROUPING_VERSION`` that made it):

1. the event's ``fingerprint``; ``{{ default }}`` stands for what rules 2-4 would give;
2. exception types plus the module and function of the in-app frames (never line numbers,
   so an edit above the failing line keeps the issue);
3. exception types plus the values with the variable parts normalised away;
4. the normalised message (the logging template when there is one).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GROUPING_VERSION",
    "Grouping",
    "culprit_of",
    "exceptions_of",
    "frames_of",
    "group",
    "message_of",
    "normalise",
    "title_of",
]

GROUPING_VERSION = 1
MAX_TITLE_CHARS = 200

# Order matters: the more specific shapes go first so "0x1f" is hex, not a number.
_NORMALISERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"'[^'\n]*'|\"[^\"\n]*\""), "<str>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{0,4}\b"), "<ip>"),
    (
        re.compile(
            r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"
        ),
        "<hex>",
    ),
    (re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"), "<num>"),
)
_DEFAULT_MARKERS = frozenset({"{{ default }}", "{{default}}"})


@dataclass(frozen=True)
class Grouping:
    """The issue key of an event: ``hash`` under ``version``, from ``components``."""

    hash: str
    components: tuple[str, ...]
    version: int = GROUPING_VERSION


def normalise(text: str) -> str:
    """Replace the parts of ``text`` that vary between occurrences with placeholders."""
    for pattern, placeholder in _NORMALISERS:
        text = pattern.sub(placeholder, text)
    return text


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _values(container: object) -> list[dict[str, Any]]:
    """``{"values": [...]}`` or a bare list (both occur on the wire), dicts only."""
    values = container.get("values") if isinstance(container, dict) else container
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def exceptions_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The exception values of ``event``, oldest first, the captured one last."""
    return _values(event.get("exception"))


def frames_of(stacktrace: object) -> list[dict[str, Any]]:
    frames = _mapping(stacktrace).get("frames")
    return [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else []


def message_of(event: dict[str, Any]) -> str:
    """The event's message as a reader sees it (formatted), or ``""``."""
    logentry = _mapping(event.get("logentry"))
    for candidate in (logentry.get("formatted"), logentry.get("message")):
        if isinstance(candidate, str) and candidate:
            return candidate
    message = event.get("message")
    if isinstance(message, dict):  # the legacy store API allows the logentry shape here
        message = message.get("formatted") or message.get("message")
    return message if isinstance(message, str) else ""


def _message_template(event: dict[str, Any]) -> str:
    template = _mapping(event.get("logentry")).get("message")
    return template if isinstance(template, str) and template else message_of(event)


def _default_components(event: dict[str, Any]) -> tuple[str, ...]:
    exceptions = exceptions_of(event)
    if exceptions:
        # module.function of each in-app frame, inline: the hottest loop of ingest.
        in_app = [
            [
                f"frame:{f.get('module') or f.get('filename') or f.get('abs_path') or '?'}"
                f".{f.get('function') or '?'}"
                for f in frames_of(exc.get("stacktrace"))
                if f.get("in_app") is True
            ]
            for exc in exceptions
        ]
        if any(in_app):
            parts: list[str] = []
            for exc, frames in zip(exceptions, in_app, strict=False):
                parts.append(f"type:{exc.get('type') or 'Error'}")
                parts.extend(frames)
            return tuple(parts)
        return tuple(
            f"{exc.get('type') or 'Error'}:{normalise(str(exc.get('value') or ''))}"
            for exc in exceptions
        )
    return (f"message:{normalise(_message_template(event))}",)


def group(event: dict[str, Any]) -> Grouping:
    """The grouping of ``event`` under the current GROUPING_VERSION."""
    default = _default_components(event)
    fingerprint = event.get("fingerprint")
    if isinstance(fingerprint, list) and fingerprint:
        components: list[str] = []
        for part in fingerprint:
            text = str(part)
            if text.strip() in _DEFAULT_MARKERS:
                components.extend(default)
            else:
                components.append(f"fingerprint:{text}")
        parts = tuple(components)
    else:
        parts = default
    digest = hashlib.sha1(json.dumps(parts).encode("utf-8"), usedforsecurity=False)
    return Grouping(digest.hexdigest(), parts)


def _shorten(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= MAX_TITLE_CHARS else line[: MAX_TITLE_CHARS - 1] + "…"


def title_of(event: dict[str, Any]) -> str:
    """A one-line title: ``Type: value`` of the captured exception, else the message."""
    exceptions = exceptions_of(event)
    if exceptions:
        last = exceptions[-1]
        kind = str(last.get("type") or "Error")
        value = str(last.get("value") or "")
        return _shorten(f"{kind}: {value}" if value.strip() else kind)
    return _shorten(message_of(event)) or "<no message>"


def culprit_of(event: dict[str, Any]) -> str:
    """Where it happened: the innermost in-app frame (``module in function``), else the
    event's transaction, else the logger."""
    for exc in reversed(exceptions_of(event)):
        frames = frames_of(exc.get("stacktrace"))
        chosen = [f for f in frames if f.get("in_app") is True] or frames
        if chosen:
            frame = chosen[-1]
            where = frame.get("module") or frame.get("filename") or "?"
            return _shorten(f"{where} in {frame.get('function') or '?'}")
    for key in ("transaction", "culprit", "logger"):
        value = event.get(key)
        if isinstance(value, str) and value:
            return _shorten(value)
    return ""
