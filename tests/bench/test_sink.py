"""The benchmark sink: a real HTTP server that counts what both SDKs send."""

from __future__ import annotations

import gzip
import json
import urllib.request
from collections.abc import Iterator

import pytest
from bench.sink import Sink, count_envelope


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def _envelope(*items: tuple[dict[str, object], bytes]) -> bytes:
    lines = [json.dumps({"event_id": "a" * 32}).encode()]
    for header, payload in items:
        lines += [json.dumps(header).encode(), payload]
    return b"\n".join(lines) + b"\n"


def _post(url: str, body: bytes, encoding: str | None = "gzip") -> int:
    headers = {"Content-Type": "application/x-sentry-envelope"}
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        status: int = response.status
    return status


def _stats(sink: Sink, project: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{sink.port}/stats/{project}/") as response:
        answer: dict[str, object] = json.loads(response.read())
    return answer


def test_gzipped_envelopes_are_counted_per_project(sink: Sink) -> None:
    event = _envelope(({"type": "event"}, b'{"message": "hi"}'))
    url = f"http://127.0.0.1:{sink.port}/api/7/envelope/"

    assert _post(url, gzip.compress(event)) == 200
    assert _post(url, gzip.compress(event)) == 200
    assert _post(f"http://127.0.0.1:{sink.port}/api/8/envelope/", event, encoding=None) == 200

    assert _stats(sink, 7)["events"] == 2
    assert _stats(sink, 8)["events"] == 1
    assert _stats(sink, 9)["events"] == 0
    assert sink.stats(7).last_event_arrival is not None


def test_client_reports_count_as_drops_not_events() -> None:
    report = json.dumps(
        {"discarded_events": [{"reason": "queue_overflow", "category": "error", "quantity": 40}]}
    ).encode()
    body = _envelope(
        ({"type": "event", "length": 2}, b"{}"),
        ({"type": "client_report"}, report),
    )

    assert count_envelope(body) == (1, 1, 40)


def test_an_undecodable_body_is_counted_as_rejected(sink: Sink) -> None:
    _post(f"http://127.0.0.1:{sink.port}/api/3/envelope/", b"not gzip at all")

    stats = sink.stats(3)
    assert (stats.rejected, stats.envelopes, stats.events) == (1, 0, 0)
