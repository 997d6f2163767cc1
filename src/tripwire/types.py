"""Public types: the wire payloads as ``TypedDict`` and the callback shapes.

Importable at run time (``from tripwire.types import Event``), matching ``sentry_sdk.types``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, TypedDict

__all__ = [
    "Breadcrumb",
    "BreadcrumbHint",
    "Event",
    "EventProcessor",
    "ExcInfo",
    "Hint",
    "LogLevelStr",
]

LogLevelStr = Literal["fatal", "critical", "error", "warning", "info", "debug"]

ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


class Breadcrumb(TypedDict, total=False):
    """One breadcrumb as sent in ``breadcrumbs.values`` (event.md §4)."""

    timestamp: object  # datetime, float or RFC 3339 string; normalised when the event is built
    type: str
    category: str
    message: str
    level: str
    data: dict[str, object]


class Event(TypedDict, total=False):
    """An error or message event (event.md §1). Every key is optional on the way in."""

    event_id: str
    timestamp: object
    platform: str
    level: str
    logger: str
    server_name: str
    release: str
    environment: str
    dist: str
    transaction: str
    transaction_info: dict[str, object]
    message: str
    logentry: dict[str, object]
    exception: dict[str, Any]
    threads: dict[str, Any]
    stacktrace: dict[str, Any]
    tags: dict[str, object]
    extra: dict[str, object]
    user: dict[str, object]
    request: dict[str, Any]
    contexts: dict[str, dict[str, object]]
    breadcrumbs: dict[str, list[Breadcrumb]]
    fingerprint: list[str]
    modules: dict[str, str]
    sdk: dict[str, object]
    _meta: dict[str, object]


Hint = dict[str, Any]
BreadcrumbHint = dict[str, Any]
EventProcessor = Callable[[Event, Hint], Event | None]
