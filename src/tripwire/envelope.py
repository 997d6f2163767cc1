"""Envelopes (protocol.md §5): built on the caller's thread, encoded on the worker.

An item may hold its payload as a JSON-able object (``json``) or as bytes; JSON encoding
happens in ``serialize()``, which only the transport's worker calls. An event item may also
carry the capture steps left to run (``finish``): they run once, on whichever thread first
reads ``json`` or the payload, which for tripwire's own transport is the worker.
"""

from __future__ import annotations

import json
import mimetypes
import os
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "Envelope",
    "Item",
    "category_of",
    "encode_json",
    "format_timestamp",
    "parse_envelope",
]

# protocol.md §5.3: the data category each item type counts under for rate limits and reports.
_CATEGORIES = {
    "event": "error",
    "transaction": "transaction",
    "attachment": "attachment",
    "client_report": "internal",
    "session": "session",
    "sessions": "session",
    "check_in": "monitor",
    "log": "log_item",
    "profile": "profile",
    "profile_chunk": "profile_chunk",
    "replay_event": "replay",
    "replay_recording": "replay",
    "feedback": "feedback",
    "span": "span",
    "statsd": "metric_bucket",
}


def category_of(item_type: str) -> str:
    return _CATEGORIES.get(item_type, "default")


def format_timestamp(value: float | datetime) -> str:
    """RFC 3339 UTC with six fraction digits and ``Z`` (event.md §1)."""
    if isinstance(value, datetime):
        moment = value.astimezone(timezone.utc) if value.tzinfo else value
    else:
        moment = datetime.fromtimestamp(value, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Held while an item's remaining steps run, so no reader sees it half-finished and the
# steps never run twice. A fork waits meanwhile: they may hold locks (an import's, a lazy
# cache's) that a child could never get back, since the thread holding them is not copied.
# One lock for every item, not one each: an event waiting for the worker costs less memory.
_FINISHING = threading.Lock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_FINISHING.acquire,
        after_in_parent=_FINISHING.release,
        after_in_child=_FINISHING.release,
    )


# One encoder for every payload: json.dumps() with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_quote = json.encoder.encode_basestring_ascii  # what _ENCODER does to each string
_FLAT_HEADERS = 8


def encode_json(value: object) -> bytes:
    """Compact JSON bytes (envelope and item headers, JSON payloads); NaN is an error.

    Header lines (a few string and integer fields) are written directly: the encoder's setup
    costs about 2 us per call, and every envelope has two such lines or more.
    """
    if type(value) is dict and len(value) <= _FLAT_HEADERS:
        fields: list[str] = []
        for key, field in value.items():
            if type(key) is not str:
                break
            if type(field) is str:
                fields.append(f"{_quote(key)}:{_quote(field)}")
            elif type(field) is int:  # exactly int: a bool is written true/false below
                fields.append(f"{_quote(key)}:{field}")
            else:
                break
        else:
            return ("{" + ",".join(fields) + "}").encode("utf-8")
    return _ENCODER.encode(value).encode("utf-8")


class Item:
    """One envelope item: headers plus a payload given as bytes or as a JSON-able object."""

    __slots__ = ("_bytes", "_encode", "_finish", "_json", "headers")

    def __init__(
        self,
        type: str,
        *,
        payload: bytes | None = None,
        json: object = None,
        headers: dict[str, Any] | None = None,
        encode: Callable[[object], bytes] | None = None,
        finish: Callable[[Any], object] | None = None,
    ) -> None:
        self.headers: dict[str, Any] = dict(headers or {})
        self.headers["type"] = type
        self._bytes = payload
        self._json = json
        self._encode = encode
        self._finish = finish

    @classmethod
    def attachment(
        cls,
        data: bytes,
        filename: str,
        content_type: str | None = None,
        attachment_type: str | None = None,
    ) -> Item:
        guessed = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        headers: dict[str, Any] = {"filename": filename, "content_type": guessed}
        if attachment_type:
            headers["attachment_type"] = attachment_type
        return cls("attachment", payload=data, headers=headers)

    @property
    def json(self) -> Any:
        """The JSON-able payload, with the remaining capture steps run on it first."""
        if self._finish is not None:  # cleared only once the steps are done (or failed)
            with _FINISHING:
                finish = self._finish
                if finish is not None:
                    unfinished, self._json = self._json, None  # never readable unscrubbed
                    try:
                        self._json = finish(unfinished)
                    finally:
                        self._finish = None
        return self._json

    @json.setter
    def json(self, value: Any) -> None:
        self._json = value
        self._finish = None

    @property
    def type(self) -> str:
        return str(self.headers["type"])

    @property
    def data_category(self) -> str:
        return category_of(self.type)

    @property
    def payload(self) -> bytes:
        """The payload bytes; encodes a JSON payload the first time (worker side)."""
        if self._bytes is None:
            encode = self._encode or encode_json
            self._bytes = encode(self.json)
        return self._bytes

    def get_event(self) -> dict[str, Any] | None:
        if self.type == "event" and isinstance(self.json, dict):
            return self.json
        return None

    def serialize(self) -> bytes:
        body = self.payload
        headers = dict(self.headers)
        if self._json is not None:  # the payload is read: any remaining steps have run
            headers.setdefault("content_type", "application/json")
        headers["length"] = len(body)
        return encode_json(headers) + b"\n" + body + b"\n"


class Envelope:
    """Envelope headers and items, as ``sentry_sdk.envelope.Envelope`` exposes them."""

    __slots__ = ("headers", "items")

    def __init__(self, headers: dict[str, Any] | None = None, items: list[Item] | None = None):
        self.headers: dict[str, Any] = dict(headers or {})
        self.items: list[Item] = list(items or [])

    def add_item(self, item: Item) -> None:
        self.items.append(item)

    def get_event(self) -> dict[str, Any] | None:
        for item in self.items:
            event = item.get_event()
            if event is not None:
                return event
        return None

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def serialize(self, sent_at: float | None = None) -> bytes:
        """The wire bytes; sets ``sent_at`` when given (at send time, protocol.md §5.1)."""
        headers = dict(self.headers)
        if sent_at is not None:
            headers["sent_at"] = format_timestamp(sent_at)
        return encode_json(headers) + b"\n" + b"".join(item.serialize() for item in self.items)

    def __repr__(self) -> str:
        return f"<Envelope {[item.type for item in self.items]} {self.headers}>"


def parse_envelope(body: bytes) -> Envelope:
    """Parse wire bytes back into an envelope (used by tests and the spool)."""
    lines = body.split(b"\n", 1)
    envelope = Envelope(json.loads(lines[0] or b"{}"))
    rest = lines[1] if len(lines) > 1 else b""
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        if not header_line.strip():
            continue
        headers = json.loads(header_line)
        length = headers.pop("length", None)
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length + 1 :]
        item_type = headers.pop("type")
        if headers.get("content_type") == "application/json":
            envelope.add_item(Item(item_type, json=json.loads(payload), headers=headers))
        else:
            envelope.add_item(Item(item_type, payload=payload, headers=headers))
    return envelope
