from __future__ import annotations

import gzip
import json
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.inbox.conftest import UNTIMED, envelope, make_event
from tripwire.inbox.ingest import (
    MAX_ENVELOPE_BYTES,
    Attachment,
    Forbidden,
    IngestError,
    PayloadTooLarge,
    UnsupportedEncoding,
    decode_body,
    parse_auth,
    parse_envelope,
    parse_store,
)


def test_envelope_as_the_sdk_writes_it_yields_its_event() -> None:
    event = make_event()
    parsed = parse_envelope(envelope(event))
    assert [event] == parsed.events


def test_items_without_length_run_to_the_next_newline() -> None:
    body = b'{}\n{"type":"event"}\n{"message":"hi","level":"info"}\n{"type":"session"}\n{}'
    parsed = parse_envelope(body)
    assert parsed.events[0]["message"] == "hi"
    assert parsed.skipped_items == 1


def test_last_item_may_end_without_newline() -> None:
    body = b'{}\n{"type":"event","length":16}\n{"message":"hi"}'
    assert parse_envelope(body).events[0]["message"] == "hi"


def test_length_counts_bytes_so_payloads_may_contain_newlines() -> None:
    payload = b'{"message":\n"two lines"}'
    body = b'{}\n{"type":"replay_video","length":%d}\n%s\n{"type":"event"}\n{"message":"x"}\n' % (
        len(payload),
        payload,
    )
    parsed = parse_envelope(body)
    assert parsed.skipped_items == 1
    assert parsed.events[0]["message"] == "x"


def test_attachments_come_with_their_event_bytes_exact_and_names_defaulted() -> None:
    log = b"line1\nline2\n"
    body = (
        envelope(make_event())
        + b'{"type":"attachment","filename":"log.txt","content_type":"text/plain",'
        + b'"length":%d}\n%s\n' % (len(log), log)
        + b'{"type":"attachment","length":3,"attachment_type":"event.minidump"}\n\x00\x01\n\n'
    )
    parsed = parse_envelope(body)
    assert parsed.attachments == [
        Attachment("log.txt", "text/plain", "event.attachment", log),
        Attachment("attachment", "application/octet-stream", "event.minidump", b"\x00\x01\n"),
    ]
    assert parsed.skipped_items == 0


def test_attachments_without_an_event_are_skipped() -> None:
    parsed = parse_envelope(b'{}\n{"type":"attachment","filename":"a","length":1}\nx\n')
    assert (parsed.attachments, parsed.skipped_items) == ([], 1)


def test_envelope_header_event_id_wins_over_the_payload() -> None:
    event = make_event()
    header_id = "9ec79c33ec9942ab8353589fcb2e04dc"
    parsed = parse_envelope(envelope(event, headers={"event_id": header_id}))
    assert header_id == parsed.events[0]["event_id"]


def test_dashed_event_id_is_stored_as_32_hex() -> None:
    parsed = parse_store(b'{"event_id":"9EC79C33-EC99-42AB-8353-589FCB2E04DC","message":"m"}')
    assert parsed.events[0]["event_id"] == "9ec79c33ec9942ab8353589fcb2e04dc"


def test_event_without_id_gets_one() -> None:
    assert len(parse_store(b'{"message":"m"}').events[0]["event_id"]) == 32


def test_client_reports_are_read_and_empty_envelopes_are_fine() -> None:
    report = json.dumps(
        {"discarded_events": [{"reason": "queue_overflow", "category": "error", "quantity": 3}]}
    ).encode()
    body = b'{}\n{"type":"client_report","length":%d}\n%s\n' % (len(report), report)
    parsed = parse_envelope(body)
    assert [(c.reason, c.category, c.quantity) for c in parsed.client_reports] == [
        ("queue_overflow", "error", 3)
    ]
    assert parse_envelope(b"{}\n").events == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"event_id":"x"\n', "envelope header is not valid JSON"),
        (b"[]\n", "envelope header must be a JSON object"),
        (b'{}\n{"type":"event","length":500}\n{"message":"hi"}\n', "exceeds the"),
        (b'{}\n{"type":"event","length":2}\n{"message":"hi"}\n', "not followed by a newline"),
        (b'{}\n{"type":"event","length":-1}\n', "non-negative"),
        (b'{}\n{"type":"event","length":"7"}\n', "non-negative"),
        (b'{}\n{"length":2}\n{}\n', "has no type"),
        (b'{}\n{"type":"event"}\n{"message": nope}\n', r"item 0 \(event\) is not valid JSON"),
        (b'{}\n{"type":"event"}\n["a list"]\n', "must be a JSON object"),
        (b'{}\n{"type":"event"}\n{}\n{"type":"event"}\n{}\n', "more than one event"),
        (b'{"dsn":"ftp://k@h/1"}\n', "Unsupported scheme"),
        (b'{}\n{"type":"event"}\n{"event_id":"not-a-uuid"}\n', "is not a UUID"),
    ],
)
def test_malformed_envelopes_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(IngestError, match=reason) as caught:
        parse_envelope(body)
    assert caught.value.status == 400
    assert "\n" not in str(caught.value)


def test_an_event_over_one_mebibyte_is_too_large() -> None:
    event = {"message": "x" * (1024 * 1024)}
    with pytest.raises(PayloadTooLarge, match="limit is 1048576"):
        parse_envelope(envelope({**event, "event_id": "9ec79c33ec9942ab8353589fcb2e04dc"}))


def test_deeply_nested_json_is_refused_not_crashed() -> None:
    with pytest.raises(IngestError, match="not valid JSON"):
        parse_store(b"[" * 100_000 + b"]" * 100_000)


def test_gzip_deflate_and_raw_deflate_bodies_decode() -> None:
    data = b'{"message":"hi"}'
    raw = zlib.compressobj(wbits=-15)
    raw_deflate = raw.compress(data) + raw.flush()
    assert data == decode_body(gzip.compress(data), "gzip")
    assert data == decode_body(zlib.compress(data), "deflate")
    assert data == decode_body(raw_deflate, "deflate")
    assert data == decode_body(data, None)
    assert data == decode_body(data, "identity")


@pytest.mark.parametrize(
    ("body", "encoding", "error"),
    [
        (b"not gzip at all", "gzip", IngestError),
        (gzip.compress(b"x" * 1000)[:-12], "gzip", IngestError),
        (b"data", "br", UnsupportedEncoding),
        (gzip.compress(b"\0" * (MAX_ENVELOPE_BYTES + 1)), "gzip", PayloadTooLarge),
    ],
)
def test_bad_or_oversized_compressed_bodies_are_refused(
    body: bytes, encoding: str, error: type[IngestError]
) -> None:
    with pytest.raises(error):
        decode_body(body, encoding)


def test_auth_header_is_parsed_like_relay() -> None:
    auth = parse_auth("sentry  sentry_key=abc ,sentry_version=7, sentry_secret=s", None)
    assert auth.public_key == "abc"
    assert parse_auth(None, "abc").public_key == "abc"
    assert parse_auth(None, None).public_key is None


def test_disagreeing_keys_are_forbidden() -> None:
    with pytest.raises(Forbidden):
        parse_auth("Sentry sentry_key=abc", "def")


@UNTIMED
@given(st.binary(max_size=2048))
def test_any_bytes_parse_or_fail_with_an_ingest_error(body: bytes) -> None:
    for parse in (parse_envelope, parse_store):
        reason = ""
        try:
            parse(body)
        except IngestError as error:
            reason = str(error)
        assert "\n" not in reason


@UNTIMED
@given(
    st.lists(
        st.sampled_from(
            [
                *(b"{}", b'{"type":"event"}', b'{"type":"event","length":3}', b'{"message":"m"}'),
                *(b'{"length":1,"type":"x"}', b"\n", b"}", b'{"event_id":"a"}', b'"s"', b"[]"),
            ]
        ),
        max_size=8,
    )
)
def test_envelope_shaped_garbage_never_escapes_as_another_error(parts: list[bytes]) -> None:
    try:
        parse_envelope(b"\n".join(parts))
    except IngestError:
        pass


@UNTIMED
@given(st.binary(max_size=512), st.sampled_from(["gzip", "deflate", "identity", "br"]))
def test_any_body_decodes_or_fails_with_an_ingest_error(body: bytes, encoding: str) -> None:
    try:
        decode_body(body, encoding)
    except IngestError:
        pass
