"""The inbox's connections: ingest requests read by the lean mode, the rest by uvicorn."""

from __future__ import annotations

import gzip
import json
import socket
from typing import Any

import pytest

from tests.inbox.conftest import envelope, make_event
from tripwire.inbox import queries
from tripwire.inbox.connection import LeanRequest, read_request
from tripwire.inbox.runner import BackgroundInbox
from tripwire.inbox.storage import Storage


def _request(
    body: bytes,
    *,
    key: str = "k",
    path: str = "/api/1/envelope/",
    version: str = "HTTP/1.1",
    extra: str = "",
    gzipped: bool = True,
) -> bytes:
    if gzipped:
        body = gzip.compress(body)
    head = (
        f"POST {path} {version}\r\nHost: 127.0.0.1\r\n"
        f"X-Sentry-Auth: Sentry sentry_version=7, sentry_key={key}\r\n"
        + ("Content-Encoding: gzip\r\n" if gzipped else "")
        + f"{extra}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _chunked(body: bytes, key: str) -> bytes:
    head = (
        "POST /api/1/envelope/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"X-Sentry-Auth: Sentry sentry_version=7, sentry_key={key}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    return head.encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def _read_replies(sock: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """``count`` HTTP responses (framed by Content-Length) from ``sock``."""
    buffer = b""
    replies: list[tuple[int, dict[str, str], bytes]] = []
    while len(replies) < count:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            status_line, *lines = buffer[:end].decode("latin-1").split("\r\n")
            headers = {n.lower(): v.strip() for n, _, v in (x.partition(":") for x in lines)}
            length = int(headers["content-length"])
            if len(buffer) >= end + 4 + length:
                body = buffer[end + 4 : end + 4 + length]
                replies.append((int(status_line.split()[1]), headers, body))
                buffer = buffer[end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed after {len(replies)} of {count} replies"
        buffer += chunk
    return replies


def _connect(inbox: BackgroundInbox) -> socket.socket:
    return socket.create_connection(("127.0.0.1", inbox.port), timeout=30)


def test_a_lean_request_is_read_whole_and_taken_off_the_buffer() -> None:
    buffer = bytearray(_request(b"payload", gzipped=False) + b"POST /next")
    request = read_request(buffer)
    assert isinstance(request, LeanRequest)
    assert (request.is_envelope, request.project_id) == (True, 1)
    assert request.body == b"payload"
    assert request.header(b"x-sentry-auth") == "Sentry sentry_version=7, sentry_key=k"
    assert request.keep_alive
    assert bytearray(b"POST /next") == buffer


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "a page"),
        (_request(b"{}", path="/api/1/other/"), "not an ingest path"),
        (_request(b"{}", path="/api/1/env%65lope/"), "an escaped path"),
        (_chunked(b"{}", "k"), "a chunked body"),
        (_request(b"{}", extra="Expect: 100-continue\r\n"), "100-continue"),
        (_request(b"{}", extra="Content-Length: 2\r\n"), "two lengths"),
        (_request(b"{}", extra=" folded\r\n"), "a folded header"),
        (_request(b"x" * 300_000, gzipped=False), "a body to decode on a thread"),
        (_request(b"{}", version="HTTP/2.0"), "another version"),
    ],
)
def test_anything_unusual_is_left_to_uvicorn_untouched(data: bytes, reason: str) -> None:
    buffer = bytearray(data)
    assert read_request(buffer) is False, reason
    assert bytearray(data) == buffer


def test_a_request_cut_short_waits_for_more_bytes() -> None:
    data = _request(b"payload", gzipped=False)
    for cut in (10, data.index(b"\r\n\r\n") + 2, len(data) - 1):
        assert read_request(bytearray(data[:cut])) is None


def _keeps_alive(data: bytes) -> bool:
    request = read_request(bytearray(data))
    assert isinstance(request, LeanRequest)
    return request.keep_alive


def test_http_1_0_and_connection_close_end_the_connection_after_the_answer() -> None:
    assert not _keeps_alive(_request(b"{}", extra="Connection: close\r\n"))
    assert not _keeps_alive(_request(b"{}", version="HTTP/1.0"))
    assert _keeps_alive(_request(b"{}", version="HTTP/1.0", extra="Connection: keep-alive\r\n"))
    assert _keeps_alive(_request(b"{}"))


def test_pipelined_envelopes_are_all_stored_and_answered_in_order(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    key = storage.default_project().public_key
    events = [make_event(value=f"order {n} failed") for n in range(3)]
    with _connect(inbox) as sock:
        sock.sendall(b"".join(_request(envelope(event), key=key) for event in events))
        replies = _read_replies(sock, 3)
    assert [status for status, _, _ in replies] == [200, 200, 200]
    assert [e["event_id"] for e in events] == [json.loads(body)["id"] for _, _, body in replies]
    assert {e["event_id"] for e in events} == {
        stored.event_id for stored in queries.events_after(storage, 0)
    }


def test_a_connection_that_asks_for_a_page_between_posts_gets_all_three(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    key = storage.default_project().public_key
    page_request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with _connect(inbox) as sock:  # all at once: the page waits for the first answer
        sock.sendall(
            _request(envelope(make_event()), key=key)
            + page_request
            + _request(envelope(make_event()), key=key)
        )
        first, page, second = _read_replies(sock, 3)
    assert (first[0], page[0], second[0]) == (200, 200, 200)
    assert page[1]["content-type"].startswith("text/html")
    assert len(queries.events_after(storage, 0)) == 2


def test_connection_close_is_answered_then_closed(inbox: BackgroundInbox, storage: Storage) -> None:
    key = storage.default_project().public_key
    with _connect(inbox) as sock:
        sock.sendall(_request(envelope(make_event()), key=key, extra="Connection: close\r\n"))
        [(status, headers, _)] = _read_replies(sock, 1)
        assert sock.recv(100) == b""
    assert status == 200
    assert headers["connection"] == "close"


def _refusal(sock: socket.socket, data: bytes) -> tuple[int, dict[str, Any], bytes]:
    sock.sendall(data)
    [(status, headers, body)] = _read_replies(sock, 1)
    headers.pop("date", None)
    headers.pop("content-length")
    headers.pop("transfer-encoding", None)
    headers.pop("connection", None)
    return status, headers, body


@pytest.mark.parametrize("case", ["bad key", "bad json", "stored"])
def test_lean_answers_are_the_ones_the_asgi_endpoint_gives(
    inbox: BackgroundInbox, storage: Storage, case: str
) -> None:
    key = storage.default_project().public_key
    event = make_event()
    body = envelope(event)[:-20] if case == "bad json" else envelope(event)
    sent_key = "0" * 32 if case == "bad key" else key
    with _connect(inbox) as lean, _connect(inbox) as uvicorn:
        by_lean = _refusal(lean, _request(body, key=sent_key, gzipped=False))
        by_uvicorn = _refusal(uvicorn, _chunked(body, sent_key))
    assert by_uvicorn == by_lean
    assert {"bad key": 403, "bad json": 400, "stored": 200}[case] == by_lean[0]
