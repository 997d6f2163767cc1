"""The inbox's records: what storage returns, and an event prepared for storing.

``prepare()`` does the per-event work that needs no database (grouping, title, tags,
compression), so it can run before the write transaction and keep that short.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tripwire.inbox import codec
from tripwire.inbox.grouping import Grouping, culprit_of, group, title_of
from tripwire.inbox.ingest import Attachment, decode_body, parse_envelope

__all__ = [
    "GZIP_MAGIC",
    "LEVELS",
    "MAX_TAGS",
    "STATUSES",
    "EventRecord",
    "Issue",
    "PreparedEvent",
    "Project",
    "StoredAttachment",
    "StoredEvent",
    "decompress",
    "parse_timestamp",
    "prepare",
]

GZIP_MAGIC = b"\x1f\x8b"
LEVELS = ("fatal", "error", "warning", "info", "debug")
STATUSES = ("unresolved", "resolved", "ignored")
MAX_TAGS = 50
MAX_TAG_CHARS = 200
_MAX_TIMESTAMP = 1e11  # year 5138; past it (or before 1970) the value is not a time
_LEVEL_ALIASES = {"critical": "fatal", "warn": "warning", "log": "info"}
# Tags every event gets from its own fields, so `environment:staging` searches work.
_FIELD_TAGS = ("level", "environment", "release", "server_name", "logger", "transaction")
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE
)


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    public_key: str
    created_at: float

    def dsn(self, base_url: str) -> str:
        """The DSN an SDK uses to send here; ``base_url`` like ``http://127.0.0.1:8969``."""
        scheme, _, host = base_url.rstrip("/").partition("://")
        return f"{scheme}://{self.public_key}@{host}/{self.id}"


@dataclass(frozen=True)
class Issue:
    id: int
    project_id: int
    title: str
    culprit: str
    level: str
    status: str
    is_regression: bool
    times_seen: int
    first_seen: float
    last_seen: float
    grouping_version: int
    grouping_hash: str
    grouping_components: tuple[str, ...]


@dataclass(frozen=True)
class EventRecord:
    id: int
    event_id: str
    issue_id: int
    project_id: int
    received_at: float
    timestamp: float
    level: str
    title: str
    body: dict[str, Any]


@dataclass(frozen=True)
class StoredEvent:
    """The outcome of storing one event; ``id`` is None when it was a duplicate."""

    event_id: str
    issue_id: int
    id: int | None
    is_new_issue: bool = False
    is_regression: bool = False


@dataclass(frozen=True)
class PreparedEvent:
    event_id: str
    grouping: Grouping
    title: str
    culprit: str
    level: str
    timestamp: float
    tags: tuple[tuple[str, str], ...]
    body: bytes  # zlib-compressed JSON, or the gzipped envelope (see ``decompress``)
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class StoredAttachment:
    """An attachment as listed with its event (its bytes are read separately)."""

    id: int
    event_row: int
    filename: str
    content_type: str
    attachment_type: str
    size: int


def parse_timestamp(value: object, default: float) -> float:
    """Unix seconds from a Unix number or an RFC 3339 string; ``default`` if neither."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if 0 <= value < _MAX_TIMESTAMP else default
    if not isinstance(value, str):
        return default
    match = _RFC3339.match(value.strip())
    if not match:
        return default
    base, fraction, zone = match.groups()
    zone = "+00:00" if not zone or zone.upper() == "Z" else zone
    if len(zone) == 5:  # +0100 → +01:00, which Python 3.10 requires
        zone = f"{zone[:3]}:{zone[3:]}"
    try:
        moment = datetime.fromisoformat(f"{base.replace(' ', 'T')}{zone}")
    except ValueError:
        return default
    result = moment.timestamp() + float(f"0{fraction}" if fraction else 0)
    return result if 0 <= result < _MAX_TIMESTAMP else default


def _level(value: object) -> str:
    level = str(value).lower() if isinstance(value, str) else "error"
    level = _LEVEL_ALIASES.get(level, level)
    return level if level in LEVELS else "error"


def _tags(event: dict[str, Any], level: str) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {"level": level}
    for key in _FIELD_TAGS[1:]:
        value = event.get(key)
        if isinstance(value, str) and value:
            found[key] = value
    raw = event.get("tags")
    pairs: list[object] = list(raw.items()) if isinstance(raw, dict) else []
    if isinstance(raw, list):
        pairs = list(raw)
    for pair in pairs:
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] is not None:
            key, value = str(pair[0]), pair[1]
            if value is not None and key:
                found[key] = value if isinstance(value, str) else json.dumps(value)
        if len(found) >= MAX_TAGS:
            break
    return tuple((k[:MAX_TAG_CHARS], v[:MAX_TAG_CHARS]) for k, v in found.items())


def prepare(
    event: dict[str, Any],
    received_at: float | None = None,
    *,
    raw: bytes | None = None,
    gzipped_envelope: bytes | None = None,
    attachments: Iterable[Attachment] = (),
) -> PreparedEvent:
    """Group, title and compress ``event`` (which has an ``event_id``) for storing.

    ``raw``, the payload ``event`` was parsed from, is stored as sent (saving an encode);
    ``gzipped_envelope``, a gzip body holding an envelope with only this event, is stored
    as it came (saving the compression, the largest part of preparing). The ``event_id``
    column wins over the one inside either when the event is read back.
    """
    now = time.time() if received_at is None else received_at
    level = _level(event.get("level"))
    return PreparedEvent(
        event_id=str(event["event_id"]),
        grouping=group(event),
        title=title_of(event),
        culprit=culprit_of(event),
        level=level,
        timestamp=parse_timestamp(event.get("timestamp"), now),
        tags=_tags(event, level),
        body=gzipped_envelope
        if gzipped_envelope is not None
        else zlib.compress(raw if raw is not None else codec.dumps(event), 1),
        attachments=tuple(attachments),
    )


def decompress(body: bytes, event_id: str) -> dict[str, Any]:
    """A stored body back as the event, with its stored ``event_id``.

    A body is a zlib stream of the event's JSON, or (starting with gzip's magic bytes,
    which a zlib stream never does) the gzipped envelope the event arrived in.
    """
    event: dict[str, Any]
    if body[:2] == GZIP_MAGIC:
        [event] = parse_envelope(decode_body(body, "gzip")).events
    else:
        event = codec.loads(zlib.decompress(body))
    event["event_id"] = event_id
    return event
