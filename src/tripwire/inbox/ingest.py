"""Turning request bodies into events (protocol.md §3-§5, §9): decoding, limits and errors.

Everything here is pure: bytes in, ``Ingest`` out, or an ``IngestError`` that knows its
HTTP status and says in one line what was wrong. Nothing is stored until a whole body
parsed, so a bad item never leaves half an envelope behind.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tripwire.dsn import BadDsn, Dsn
from tripwire.inbox import codec

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_CLIENT_REPORT_BYTES",
    "MAX_ENVELOPE_BYTES",
    "MAX_EVENT_BYTES",
    "Attachment",
    "Auth",
    "ClientReportCount",
    "Forbidden",
    "Ingest",
    "IngestError",
    "Overloaded",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "Unauthorized",
    "UnsupportedEncoding",
    "decode_body",
    "parse_auth",
    "parse_envelope",
    "parse_store",
]

# protocol.md §5.4: Relay's limits, so a developer sees locally what production would refuse.
MAX_BODY_BYTES = 20 * 1024 * 1024  # on the wire, before decompression
MAX_ENVELOPE_BYTES = 40 * 1024 * 1024  # after decompression
MAX_EVENT_BYTES = 1024 * 1024
MAX_CLIENT_REPORT_BYTES = 4 * 1024
MAX_ITEMS = 1000
MAX_NAME_CHARS = 200  # attachment file names and types
_EVENT_TYPES = frozenset({"event"})


class IngestError(Exception):
    """Input the inbox refuses; ``status`` is the HTTP answer, the message the reason."""

    status: ClassVar[int] = 400
    headers: ClassVar[dict[str, str]] = {}


class PayloadTooLarge(IngestError):
    status = 413


class Unauthorized(IngestError):
    status = 401


class Forbidden(IngestError):
    status = 403


class UnsupportedEncoding(IngestError):
    status = 415


class ServiceUnavailable(IngestError):
    status = 503


class Overloaded(IngestError):
    """Too many events wait to be written: the sender should back off (protocol.md §7)."""

    status = 429
    headers: ClassVar[dict[str, str]] = {
        "Retry-After": "1",
        "X-Sentry-Rate-Limits": "1::organization:inbox_overloaded",
    }


@dataclass(frozen=True)
class Auth:
    """The credentials a request carried; ``public_key`` is None when there were none."""

    public_key: str | None
    source: str = ""


@dataclass(frozen=True)
class ClientReportCount:
    reason: str
    category: str
    quantity: int


@dataclass(frozen=True)
class Attachment:
    """A file sent along with the envelope's event (protocol.md §5.2)."""

    filename: str
    content_type: str
    attachment_type: str
    data: bytes


@dataclass
class Ingest:
    """What one request body holds: events ready to store, plus what else was in it."""

    events: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # each event's payload as sent
    attachments: list[Attachment] = field(default_factory=list)  # the event's
    client_reports: list[ClientReportCount] = field(default_factory=list)
    skipped_items: int = 0
    dsn_key: str | None = None
    is_envelope: bool = False

    @property
    def event_id(self) -> str | None:
        return str(self.events[0]["event_id"]) if self.events else None


def decode_body(body: bytes, content_encoding: str | None) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate, identity), bounded by MAX_ENVELOPE_BYTES."""
    encodings = [e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]
    for encoding in reversed(encodings):
        if encoding in ("identity", ""):
            continue
        if encoding in ("gzip", "x-gzip"):
            body = _inflate(body, zlib.MAX_WBITS | 16, "gzip")
        elif encoding == "deflate":
            # protocol.md §4: zlib-wrapped first, raw deflate as the fallback.
            try:
                body = _inflate(body, zlib.MAX_WBITS, "deflate")
            except IngestError:
                body = _inflate(body, -zlib.MAX_WBITS, "deflate")
        else:
            raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r}")
    if len(body) > MAX_ENVELOPE_BYTES:
        raise PayloadTooLarge(f"body is {len(body)} bytes, the limit is {MAX_ENVELOPE_BYTES}")
    return body


def _inflate(data: bytes, wbits: int, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        # One byte past the limit tells "too large" from "exactly the limit".
        out = inflater.decompress(data, MAX_ENVELOPE_BYTES + 1)
        if len(out) > MAX_ENVELOPE_BYTES or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"{name} body inflates past {MAX_ENVELOPE_BYTES} bytes")
        out += inflater.flush()
    except zlib.error as exc:
        raise IngestError(f"bad {name} body: {exc}") from None
    if not inflater.eof:
        raise IngestError(f"bad {name} body: truncated stream")
    return out


def parse_auth(header: str | None, query_key: str | None) -> Auth:
    """Read the public key from ``X-Sentry-Auth`` and/or ``?sentry_key=`` (protocol.md §3)."""
    keys: list[tuple[str, str]] = []
    if header:
        text = header.strip()
        if text[:7].lower() == "sentry ":
            text = text[7:]
        for pair in text.split(","):
            name, sep, value = pair.strip().partition("=")
            if sep and name.strip() == "sentry_key" and value.strip():
                keys.append((value.strip(), "header"))
    if query_key:
        keys.append((query_key, "query"))
    if len({key for key, _ in keys}) > 1:
        raise Forbidden("the X-Sentry-Auth header and the query string name different keys")
    if not keys:
        return Auth(None)
    return Auth(*keys[0])


def _load_json(data: bytes, what: str) -> Any:
    try:
        return codec.loads(data)
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IngestError(f"{what} is not valid JSON: {reason}") from None


def _headers(line: bytes, what: str) -> dict[str, Any]:
    value = _load_json(line, what) if line.strip() else {}
    if not isinstance(value, dict):
        raise IngestError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _event_id(*candidates: object) -> str:
    """The first candidate that is a UUID, as 32 lower-case hex; a new one if none is."""
    for candidate in candidates:
        if candidate is None:
            continue
        try:
            return uuid.UUID(str(candidate)).hex
        except ValueError:
            raise IngestError(f"event_id {str(candidate)[:64]!r} is not a UUID") from None
    return uuid.uuid4().hex


def _event(payload: bytes, header_id: object, what: str) -> dict[str, Any]:
    if len(payload) > MAX_EVENT_BYTES:
        raise PayloadTooLarge(f"{what} is {len(payload)} bytes, the limit is {MAX_EVENT_BYTES}")
    event = _load_json(payload, what)
    if not isinstance(event, dict):
        raise IngestError(f"{what} must be a JSON object, got {type(event).__name__}")
    # protocol.md §9: the envelope header's id wins over the payload's.
    event["event_id"] = _event_id(header_id, event.get("event_id"))
    return event


def _client_report(payload: bytes, what: str) -> list[ClientReportCount]:
    if len(payload) > MAX_CLIENT_REPORT_BYTES:
        raise PayloadTooLarge(f"{what} is {len(payload)} bytes, the limit is 4096")
    report = _load_json(payload, what)
    counts: list[ClientReportCount] = []
    entries = report.get("discarded_events") if isinstance(report, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        quantity = entry.get("quantity")
        if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0:
            counts.append(
                ClientReportCount(
                    str(entry.get("reason", ""))[:64],
                    str(entry.get("category", ""))[:64],
                    quantity,
                )
            )
    return counts


def parse_envelope(body: bytes) -> Ingest:
    """Parse an envelope (protocol.md §5). Raises ``IngestError`` on any malformed part."""
    head, newline, _rest = body.partition(b"\n")
    headers = _headers(head, "envelope header")
    result = Ingest(is_envelope=True)
    dsn = headers.get("dsn")
    if dsn is not None:
        try:
            result.dsn_key = Dsn.parse(dsn).public_key
        except BadDsn as exc:
            raise IngestError(f"envelope header dsn: {exc}") from None
    position = len(head) + len(newline)
    index = 0
    while position < len(body):
        end = body.find(b"\n", position)
        line = body[position:] if end < 0 else body[position:end]
        position = len(body) if end < 0 else end + 1
        if not line.strip():
            continue  # blank lines between items and the optional trailing newline
        if index >= MAX_ITEMS:
            raise PayloadTooLarge(f"more than {MAX_ITEMS} items in one envelope")
        what = f"item {index}"
        item = _headers(line, f"{what} header")
        length = item.get("length")
        if length is None:
            end = body.find(b"\n", position)
            payload = body[position:] if end < 0 else body[position:end]
            position = len(body) if end < 0 else end + 1
        else:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise IngestError(f"{what}: length must be a non-negative integer")
            remaining = len(body) - position
            if length > remaining:
                raise IngestError(
                    f"{what}: length {length} exceeds the {remaining} bytes left (truncated?)"
                )
            payload = body[position : position + length]
            position += length
            if position < len(body):
                if body[position : position + 1] != b"\n":
                    raise IngestError(f"{what}: payload is not followed by a newline")
                position += 1
        item_type = item.get("type")
        if not isinstance(item_type, str):
            raise IngestError(f"{what}: header has no type")
        if item_type in _EVENT_TYPES:
            if result.events:
                raise IngestError(f"{what}: more than one event in an envelope")
            result.events.append(_event(payload, headers.get("event_id"), f"{what} (event)"))
            result.raw.append(payload)
        elif item_type == "client_report":
            result.client_reports.extend(_client_report(payload, f"{what} (client_report)"))
        elif item_type == "attachment":
            result.attachments.append(_attachment(item, payload))
        else:
            result.skipped_items += 1  # protocol.md §5: unknown types are skipped
        index += 1
    if result.attachments and not result.events:
        # Attachments travel with their event; alone they have nothing to belong to here.
        result.skipped_items += len(result.attachments)
        result.attachments.clear()
    return result


def _text(value: object, default: str, limit: int = MAX_NAME_CHARS) -> str:
    return value[:limit] if isinstance(value, str) and value.strip() else default


def _attachment(item: dict[str, Any], payload: bytes) -> Attachment:
    return Attachment(
        filename=_text(item.get("filename"), "attachment"),
        content_type=_text(item.get("content_type"), "application/octet-stream"),
        attachment_type=_text(item.get("attachment_type"), "event.attachment"),
        data=payload,
    )


def parse_store(body: bytes) -> Ingest:
    """Parse a legacy ``/store/`` body: one event as a JSON object."""
    return Ingest(events=[_event(body, None, "event")], raw=[body])
