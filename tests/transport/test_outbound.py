"""Encoded envelopes: the bytes and item summaries the worker keeps, and ``sent_at``."""

from __future__ import annotations

import json

from tripwire.envelope import Envelope, Item
from tripwire.transport.outbound import Outbound, scan_items, stamp_sent_at


def _mixed_envelope() -> Envelope:
    items = [
        Item("event", json={"message": "ü\nline two", "level": "error"}),
        Item.attachment(b"a\nb", "notes.txt"),
        Item.attachment(b"", "empty.bin"),
        Item("client_report", json={"discarded_events": []}),
    ]
    return Envelope({"event_id": "ab" * 16}, items)


def test_encoding_gives_the_envelopes_own_bytes_and_the_items_a_parse_would_find() -> None:
    envelope = _mixed_envelope()
    outbound = Outbound.encode(envelope)

    assert outbound.body == envelope.serialize()
    assert outbound.items == scan_items(outbound.body)
    assert [info.quantity for info in outbound.items] == [1, 3, 1, 1]


def test_sent_at_is_set_once_and_the_items_are_left_as_they_were() -> None:
    body = Outbound.encode(_mixed_envelope()).body
    for original in (body, b"{}\n" + body.split(b"\n", 1)[1], b'{"sent_at":"old"}\n', b"{}"):
        stamped = stamp_sent_at(original, 0.0)
        head, _, rest = stamped.partition(b"\n")
        assert json.loads(head)["sent_at"] == "1970-01-01T00:00:00.000000Z"
        assert head.count(b"sent_at") == 1
        assert rest == original.partition(b"\n")[2]
