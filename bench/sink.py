"""A local HTTP sink: a real server on 127.0.0.1 that counts the envelopes it gets.

Both SDKs send to it through their real transports. Each benchmark run uses its own project id
(``http://key@127.0.0.1:<port>/<project>``) so counts never mix; ``GET /stats/<project>/``
answers the counts as JSON, so a child process can ask what had arrived when its flush returned.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import threading
import time
import zlib
from dataclasses import asdict, dataclass

__all__ = ["ProjectStats", "Sink", "count_envelope"]

_ENVELOPE_PATH = re.compile(r"^/api/(\d+)/envelope/?(\?.*)?$")
_STATS_PATH = re.compile(r"^/stats/(\d+)/?$")


@dataclass
class ProjectStats:
    """What arrived for one project id. Times are ``time.time()`` seconds."""

    envelopes: int = 0
    events: int = 0
    other_items: int = 0
    discarded_reported: int = 0  # sum of client-report quantities: the sender's own drop count
    bytes_received: int = 0
    rejected: int = 0  # bodies the sink could not decode
    first_arrival: float | None = None
    last_event_arrival: float | None = None


def _items(body: bytes) -> list[tuple[dict[str, object], bytes]]:
    """Split an envelope body into (item header, payload) pairs (protocol.md §5)."""
    _, _, rest = body.partition(b"\n")
    items: list[tuple[dict[str, object], bytes]] = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        header = json.loads(line)
        length = header.get("length")
        if isinstance(length, int):
            payload, rest = rest[:length], rest[length:]
            rest = rest[1:] if rest.startswith(b"\n") else rest
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


def count_envelope(body: bytes) -> tuple[int, int, int]:
    """Return (events, other items, discarded quantity reported) for an uncompressed envelope."""
    events = others = discarded = 0
    for header, payload in _items(body):
        if header.get("type") == "event":
            events += 1
            continue
        others += 1
        if header.get("type") == "client_report":
            report = json.loads(payload)
            for entry in report.get("discarded_events", []):
                discarded += int(entry.get("quantity", 0))
    return events, others, discarded


class _Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all the SDKs send."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._sink._transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._sink._transports.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and not self._transport.is_closing():
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self._buffer) < end + 4 + length:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            status, answer = self._sink.answer(method, path, headers.get("content-encoding"), body)
            self._transport.write(
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(answer)}\r\n\r\n".encode()
                + answer
            )
            if headers.get("connection", "").lower() == "close":
                self._transport.close()


class Sink:
    """The counting server. Use as a context manager; ``dsn(project)`` names a project.

    An asyncio server on its own thread: http.server's per-request parsing would make the
    sink, not the SDK, the limit in the burst scenario.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._projects: dict[int, ProjectStats] = {}
        self._transports: set[asyncio.Transport] = set()
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            self._loop.create_server(lambda: _Connection(self), "127.0.0.1", 0)
        )
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])

    def dsn(self, project: int) -> str:
        return f"http://benchkey@127.0.0.1:{self.port}/{project}"

    def start(self) -> Sink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._server.close()
        for transport in list(self._transports):
            transport.close()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def answer(
        self, method: str, path: str, encoding: str | None, body: bytes
    ) -> tuple[int, bytes]:
        """The status and JSON body for one request."""
        envelope = _ENVELOPE_PATH.match(path)
        if method == "POST" and envelope is not None:
            self.record(int(envelope.group(1)), body, encoding)
            return 200, b"{}"
        stats = _STATS_PATH.match(path)
        if method == "GET" and stats is not None:
            return 200, json.dumps(asdict(self.stats(int(stats.group(1))))).encode()
        return 404, b"{}"

    def record(self, project: int, raw: bytes, encoding: str | None) -> None:
        """Decode one request body and add it to the project's counts."""
        now = time.time()
        try:
            body = gzip.decompress(raw) if encoding == "gzip" else raw
            events, others, discarded = count_envelope(body)
        except (OSError, EOFError, zlib.error, ValueError):
            events = others = discarded = -1
        with self._lock:
            stats = self._projects.setdefault(project, ProjectStats())
            stats.bytes_received += len(raw)
            if events < 0:
                stats.rejected += 1
                return
            stats.envelopes += 1
            stats.events += events
            stats.other_items += others
            stats.discarded_reported += discarded
            stats.first_arrival = stats.first_arrival or now
            if events:
                stats.last_event_arrival = now

    def stats(self, project: int) -> ProjectStats:
        """A copy of the counts for ``project`` (zeros when nothing arrived)."""
        with self._lock:
            return ProjectStats(**asdict(self._projects.get(project, ProjectStats())))
