"""Helpers for testing code that uses tripwire: observe what would be sent.

``capture_events()`` swaps in a recording transport; ``Collector`` is a real local HTTP
endpoint that records what arrives. tripwire's own tests use both.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tripwire.envelope import Envelope, parse_envelope
from tripwire.transport.base import Transport

__all__ = [
    "CollectedRequest",
    "Collector",
    "RecordingTransport",
    "Response",
    "capture_envelopes",
    "capture_events",
]


class RecordingTransport(Transport):
    """Keeps every envelope in memory, encoding each one as the HTTP worker would."""

    def __init__(self, on_envelope: Callable[[Envelope], None] | None = None) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()
        self._on_envelope = on_envelope

    def capture_envelope(self, envelope: Envelope) -> None:
        envelope.serialize()  # encode now, as the worker would, so encoding bugs surface
        with self._lock:
            self.envelopes.append(envelope)
        if self._on_envelope is not None:
            self._on_envelope(envelope)

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            found = [envelope.get_event() for envelope in self.envelopes]
        return [event for event in found if event is not None]


@contextmanager
def capture_envelopes(**options: Any) -> Iterator[list[Envelope]]:
    """``init()`` with a recording transport; yields the live list of envelopes."""
    import tripwire

    transport = RecordingTransport()
    with tripwire.init(transport=transport, **options):
        yield transport.envelopes


@contextmanager
def capture_events(**options: Any) -> Iterator[list[dict[str, Any]]]:
    """``init()`` with a recording transport; yields the live list of events sent."""
    import tripwire

    events: list[dict[str, Any]] = []

    def keep(envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            events.append(event)

    with tripwire.init(transport=RecordingTransport(keep), **options):
        yield events


@dataclass(frozen=True)
class Response:
    """How the collector answers one request."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # answer after this long
    hang: bool = False  # never answer (until ``release()`` or ``stop()``), then disconnect
    close: bool = False  # read the request, then drop the connection without an answer


@dataclass
class CollectedRequest:
    """One request the collector answered: headers, decoded body, parsed envelope."""

    path: str
    headers: Message
    body: bytes
    status: int
    envelope: Envelope | None

    @property
    def event(self) -> dict[str, Any] | None:
        return None if self.envelope is None else self.envelope.get_event()

    @property
    def client_reports(self) -> list[dict[str, Any]]:
        if self.envelope is None:
            return []
        return [
            item.json
            for item in self.envelope.items
            if item.type == "client_report" and isinstance(item.json, dict)
        ]


class Collector:
    """A real Sentry-protocol HTTP endpoint on 127.0.0.1 that records what it receives.

    Answers 200 unless scripted with ``respond()``; ``down()`` and ``up()`` stop and restart
    it on the same port, so a DSN stays valid across an outage.
    """

    def __init__(
        self,
        project_id: str = "1",
        public_key: str = "public",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.project_id = project_id
        self.public_key = public_key
        self._ssl_context = ssl_context
        self.default = Response()
        self.requests: list[CollectedRequest] = []
        self._script: deque[Response] = deque()
        self._lock = threading.Condition()
        self._release = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def dsn(self) -> str:
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{self.public_key}@127.0.0.1:{self.port}/{self.project_id}"

    @property
    def accepted(self) -> list[CollectedRequest]:
        with self._lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    @property
    def envelopes(self) -> list[Envelope]:
        return [r.envelope for r in self.accepted if r.envelope is not None]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [r.event for r in self.accepted if r.event is not None]

    @property
    def client_reports(self) -> list[dict[str, Any]]:
        return [report for r in self.accepted for report in r.client_reports]

    def discarded(self) -> dict[tuple[str, str], int]:
        """Totals of the client reports received, by (reason, category)."""
        totals: dict[tuple[str, str], int] = {}
        for report in self.client_reports:
            for entry in report.get("discarded_events", []):
                key = (entry["reason"], entry["category"])
                totals[key] = totals.get(key, 0) + entry["quantity"]
        return totals

    def respond(self, *responses: Response) -> None:
        """Answer the next requests with ``responses``, in order, then with ``default``."""
        with self._lock:
            self._script.extend(responses)

    def release(self) -> None:
        """Let hanging requests end (their connections are dropped)."""
        self._release.set()

    def wait_for_events(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` events were accepted; True when they were."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len([r for r in self.requests if r.event and 200 <= r.status < 300]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def up(self) -> Collector:
        """Start listening (on the same port as before, if there was one)."""
        if self._server is not None:
            return self
        self._release.clear()
        server = _QuietServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        server.block_on_close = False
        if self._ssl_context is not None:
            server.socket = self._ssl_context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    start = up

    def down(self) -> None:
        """Stop listening and cut every open connection: the server is unreachable."""
        server, self._server = self._server, None
        self._release.set()
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections, self._connections = set(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    stop = down

    def __enter__(self) -> Collector:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def _next_response(self) -> Response:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def _record(self, request: CollectedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that exits mid-request is expected here, not worth a traceback


def _handler_for(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's pool expects

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes: without this, Nagle holds the second.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with collector._lock:
                collector._connections.add(self.connection)

        def finish(self) -> None:
            with collector._lock:
                collector._connections.discard(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            response = collector._next_response()
            if response.close:
                self.close_connection = True
                return
            if response.hang:
                collector._release.wait()
                self.close_connection = True
                return
            if response.delay_s:
                time.sleep(response.delay_s)
            body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
            try:  # the envelope endpoint, or a Spotlight-style stream
                envelope = None if "/store" in self.path else parse_envelope(body)
            except (ValueError, KeyError):
                envelope = None
            collector._record(
                CollectedRequest(self.path, self.headers, body, response.status, envelope)
            )
            event_id = envelope.headers.get("event_id") if envelope is not None else None
            answer = json.dumps({"id": event_id}).encode()
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    return Handler
