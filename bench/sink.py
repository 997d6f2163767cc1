"""A local HTTP sink: a real threaded server on 127.0.0.1 that counts the envelopes it gets.

Both SDKs send to it through their real transports. Each benchmark run uses its own project id
(``http://key@127.0.0.1:<port>/<project>``) so counts never mix; ``GET /stats/<project>/``
answers the counts as JSON, so a child process can ask what had arrived when its flush returned.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
import zlib
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's
    # delayed ACK (40 ms), which would cap every sender at ~25 requests per second.
    disable_nagle_algorithm = True
    server: _SinkServer

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request log line."""

    def _answer(self, status: int, body: bytes = b"{}") -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        match = _ENVELOPE_PATH.match(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if match is None:
            self._answer(404)
            return
        self.server.sink.record(int(match.group(1)), raw, self.headers.get("Content-Encoding"))
        self._answer(200)

    def do_GET(self) -> None:
        match = _STATS_PATH.match(self.path)
        if match is None:
            self._answer(404)
            return
        stats = self.server.sink.stats(int(match.group(1)))
        self._answer(200, json.dumps(asdict(stats)).encode())


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    sink: Sink

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up (an SDK exiting) is normal here; say nothing."""


class Sink:
    """The counting server. Use as a context manager; ``dsn(project)`` names a project."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._projects: dict[int, ProjectStats] = {}
        self._server = _SinkServer(("127.0.0.1", 0), _Handler)
        self._server.sink = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def dsn(self, project: int) -> str:
        return f"http://benchkey@127.0.0.1:{self.port}/{project}"

    def start(self) -> Sink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

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
