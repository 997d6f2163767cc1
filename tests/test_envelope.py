"""Envelopes: header lines written by hand match the JSON encoder; items finish once."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tripwire.envelope import Envelope, Item, encode_json, parse_envelope

_values = st.one_of(
    st.text(),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3),
)


@given(st.dictionaries(st.text(), _values, max_size=10))
def test_header_lines_are_the_bytes_the_json_encoder_writes(headers: dict[str, object]) -> None:
    expected = json.dumps(headers, separators=(",", ":"), allow_nan=False).encode("utf-8")

    assert encode_json(headers) == expected


def test_an_envelope_reads_back_as_it_was_written() -> None:
    envelope = Envelope(
        {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "dsn": "https://k@example.com/1"},
        [
            Item("event", json={"message": 'naïve \u2028 "quoted"', "level": "info"}),
            Item.attachment(b"\x00\x01 bytes\n", "data.bin"),
        ],
    )

    parsed = parse_envelope(envelope.serialize())

    assert parsed.headers == envelope.headers
    assert [item.type for item in parsed.items] == ["event", "attachment"]
    assert parsed.items[1].headers["filename"] == "data.bin"
    assert parsed.items[0].json == envelope.items[0].json
    assert parsed.items[1].payload == b"\x00\x01 bytes\n"


def test_an_item_read_while_its_steps_run_waits_for_them_and_they_run_once() -> None:
    entered, release = threading.Event(), threading.Event()
    runs: list[object] = []

    def finish(event: dict[str, object]) -> dict[str, object]:
        runs.append(event)
        entered.set()
        release.wait(10)
        return {**event, "finished": True}

    item = Item("event", json={"message": "raw"}, finish=finish)
    seen: list[object] = []
    readers = [threading.Thread(target=lambda: seen.append(item.json)) for _ in range(2)]
    readers[0].start()
    assert entered.wait(10)
    readers[1].start()
    readers[1].join(0.2)
    assert seen == []  # the second reader is held while the steps run
    release.set()
    for reader in readers:
        reader.join(10)

    assert seen == [{"message": "raw", "finished": True}] * 2
    assert len(runs) == 1


def test_an_item_whose_steps_raise_reads_as_empty_and_never_unscrubbed() -> None:
    def finish(event: dict[str, object]) -> dict[str, object]:
        raise ValueError("dropped after the snapshot")

    item = Item("event", json={"password": "hunter2"}, finish=finish)

    with pytest.raises(ValueError, match="dropped after the snapshot"):
        item.json  # noqa: B018  (the read runs the steps)
    assert item.json is None
