"""Encoded envelopes on their way out, the outcomes of sending one, and what sends them.

An ``Outbound`` holds the wire bytes of an envelope without ``sent_at`` (stamped at each
attempt, so a replayed envelope tells the server when it really left) plus a summary of its
items, so drops can be counted by category without decoding the payloads again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from tripwire import drops
from tripwire.envelope import Envelope, category_of, encode_json, format_timestamp

__all__ = [
    "ItemInfo",
    "Outbound",
    "Outcome",
    "RateLimited",
    "Rejected",
    "Request",
    "Retry",
    "Sender",
    "Sent",
    "count_lost",
    "scan_items",
    "stamp_sent_at",
    "without_categories",
]


class ItemInfo(NamedTuple):
    type: str
    category: str
    quantity: int  # 1, or bytes for attachments (protocol.md §8)
    start: int  # offset of the item's header line in the body
    end: int  # offset just past the item (its trailing newline included)


@dataclass
class Outbound:
    body: bytes
    items: tuple[ItemInfo, ...]
    attempts: int = 0
    spooled_at: object = field(default=None, repr=False)  # the spool record it came from
    # (monotonic time, request body) prepared ahead while the envelope before it was in flight
    wire: tuple[float, bytes] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def encode(cls, envelope: Envelope) -> Outbound:
        """Serialize ``envelope`` as ``envelope.serialize()`` does, noting where each item
        lies as it goes, so nothing is parsed back (worker side). Raises what the encoder
        raises.
        """
        parts = [encode_json(envelope.headers), b"\n"]
        position = len(parts[0]) + 1
        items: list[ItemInfo] = []
        for item in envelope.items:
            data = item.serialize()
            item_type = item.type
            quantity = max(1, len(item.payload)) if item_type == "attachment" else 1
            end = position + len(data)
            items.append(ItemInfo(item_type, category_of(item_type), quantity, position, end))
            parts.append(data)
            position = end
        return cls(b"".join(parts), tuple(items))

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(info.category for info in self.items)

    @property
    def is_report_only(self) -> bool:
        return all(info.type == "client_report" for info in self.items)


def scan_items(body: bytes) -> tuple[ItemInfo, ...]:
    """Item summaries of an encoded envelope; ValueError when the bytes are not one."""
    first = body.find(b"\n")
    if first < 0:
        first = len(body)
    if not isinstance(json.loads(body[:first] or b"{}"), dict):
        raise ValueError("envelope headers are not an object")
    items: list[ItemInfo] = []
    position = first + 1
    while position < len(body):
        line_end = body.find(b"\n", position)
        if line_end < 0:
            line_end = len(body)
        line = body[position:line_end]
        if not line.strip():
            position = line_end + 1
            continue
        headers = json.loads(line)
        if not isinstance(headers, dict) or not isinstance(headers.get("type"), str):
            raise ValueError("item headers without a type")
        length = headers.get("length")
        payload_start = line_end + 1
        if isinstance(length, int) and length >= 0:
            payload_end = payload_start + length
            if payload_end > len(body):
                raise ValueError("item payload is truncated")
        else:
            payload_end = body.find(b"\n", payload_start)
            payload_end = len(body) if payload_end < 0 else payload_end
        end = min(payload_end + 1, len(body))
        item_type = headers["type"]
        size = payload_end - payload_start
        quantity = max(1, size) if item_type == "attachment" else 1
        items.append(ItemInfo(item_type, category_of(item_type), quantity, position, end))
        position = end
    return tuple(items)


def stamp_sent_at(body: bytes, sent_at: float) -> bytes:
    """``body`` with the envelope header ``sent_at`` set (protocol.md §5.1)."""
    first = body.find(b"\n")
    head, rest = (body, b"") if first < 0 else (body[:first], body[first:])
    if head.startswith(b"{") and head.endswith(b"}") and b'"sent_at"' not in head:
        # Our own compact headers: splice the field in rather than parse and dump them.
        stamp = b'"sent_at":"%s"}' % format_timestamp(sent_at).encode("ascii")
        return head[:-1] + (stamp if head == b"{}" else b"," + stamp) + rest
    headers = json.loads(head or b"{}")
    headers["sent_at"] = format_timestamp(sent_at)
    return json.dumps(headers, separators=(",", ":")).encode("utf-8") + rest


def without_categories(outbound: Outbound, limited: frozenset[str]) -> Outbound:
    """A copy of ``outbound`` without the items whose category is in ``limited``."""
    first = outbound.body.find(b"\n") + 1
    kept = [info for info in outbound.items if info.category not in limited]
    parts = [outbound.body[:first]] + [outbound.body[i.start : i.end] for i in kept]
    body = b"".join(parts)
    if body and not body.endswith(b"\n"):
        body += b"\n"
    return Outbound(body, scan_items(body), outbound.attempts, outbound.spooled_at)


def count_lost(counter: drops.DropCounter, reason: str, items: tuple[ItemInfo, ...]) -> int:
    """Count every item of a lost envelope; returns how many were events."""
    events = 0
    for info in items:
        if info.type == "client_report":
            continue  # its counts are restored by the report scheduler, not re-counted
        counter.count(reason, info.category, info.quantity)
        events += info.type == "event"
    return events


@dataclass(frozen=True)
class Sent:
    """The server took the envelope (2xx)."""


@dataclass(frozen=True)
class Retry:
    """Try again later: a network error (``is_network``) or a 5xx answer."""

    reason: str
    is_network: bool


@dataclass(frozen=True)
class RateLimited:
    """429: the server counted the envelope as rate limited; its limits are recorded."""

    status: int


@dataclass(frozen=True)
class Rejected:
    """The server refused the envelope for good (413, other 4xx): counted, never retried."""

    status: int
    reason: str = drops.SEND_ERROR


Outcome = Sent | Retry | RateLimited | Rejected


class Request(Protocol):
    """A request written to the server, its answer not read yet (inflight.py)."""

    def finish(self, meanwhile: Callable[[], object] | None = None) -> Outcome: ...

    def abandon(self) -> None: ...


class Sender(Protocol):
    """What the worker needs from the network side (http.py)."""

    has_destination: bool

    @property
    def parallel(self) -> int: ...

    def start(self, outbound: Outbound) -> Request: ...

    def prepare_body(self, outbound: Outbound) -> None: ...

    def mirror(self, outbound: Outbound) -> None: ...

    def prepare(self) -> None: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...
