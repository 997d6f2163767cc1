"""Scenario 11: inbox ingest, events per second stored and grouped, 20-frame events.

Two paths, each on a fresh SQLite file: ``Storage.store_event()`` one event at a time (each
its own transaction), and envelopes POSTed over HTTP to ``tripwire serve`` (a subprocess)
over a few kept-alive connections, one request in flight on each, where the inbox's writer
batches commits. The client sends requests built before the clock starts from raw
non-blocking sockets and one selector, so that it costs a few percent of a CPU (reported as
``http_client_cpu_share``) and the figure measures the server; the server's own CPU time per
stored event (all its threads, from /proc) is reported too, since other work on the machine
changes it much less than the throughput. Events come from 40 distinct error sites, so
grouping makes about 40 issues.
"""

from __future__ import annotations

import gzip
import json
import os
import selectors
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.scenarios.child import emit, parser
from bench.scenarios.floor import FrameSnapshot, walk
from bench.scenarios.workload import BenchError, descend

__all__ = ["SITES", "main", "make_events"]

SITES = 40
FRAMES = 20


def _frame(snapshot: FrameSnapshot, site: int, index: int) -> dict[str, Any]:
    function = f"{snapshot.function}_{site}" if index == FRAMES - 1 else snapshot.function
    return {
        "filename": f"app/{Path(snapshot.filename).name}",
        "abs_path": snapshot.filename,
        "module": "app.orders",
        "function": function,
        "lineno": snapshot.lineno + index,
        "pre_context": ["    # preparing", "    total = sum(numbers)"],
        "context_line": snapshot.context_line,
        "post_context": ["    return total", ""],
        "in_app": True,
        "vars": snapshot.variables,
    }


def make_events(count: int) -> list[dict[str, Any]]:
    """``count`` realistic error events with 20 frames each, spread over ``SITES`` sites."""
    try:
        descend(FRAMES - 1)
    except BenchError as exc:
        snapshots = walk(exc.__traceback__)
    breadcrumbs = [
        {
            "timestamp": time.time(),
            "category": "http",
            "message": f"GET /orders/{n}",
            "level": "info",
        }
        for n in range(10)
    ]
    events = []
    for number in range(count):
        site = number % SITES
        events.append(
            {
                "event_id": uuid.uuid4().hex,
                "timestamp": time.time(),
                "platform": "python",
                "level": "error",
                "logger": "app.orders",
                "environment": "production",
                "release": "shop@1.4.2",
                "server_name": "web-1",
                "exception": {
                    "values": [
                        {
                            "type": f"OrderError{site}",
                            "value": f"order {number} could not be paid",
                            "module": "app.errors",
                            "mechanism": {"type": "generic", "handled": True},
                            "stacktrace": {
                                "frames": [
                                    _frame(s, site, i) for i, s in enumerate(snapshots[:FRAMES])
                                ]
                            },
                        }
                    ]
                },
                "tags": {"region": "eu-west-1", "tenant": f"t{number % 7}"},
                "contexts": {"runtime": {"name": "CPython", "version": "3.11.7"}},
                "breadcrumbs": {"values": breadcrumbs},
                "user": {"id": str(number % 100)},
                "extra": {"order_id": number},
                "sdk": {"name": "sentry.python", "version": "2.75.0"},
            }
        )
    return events


def _counts(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        issues = conn.execute("SELECT COUNT(*) FROM issues").fetchone()[0]
    conn.close()
    return int(events), int(issues)


def _store_directly(db: Path, events: list[dict[str, Any]]) -> dict[str, float]:
    from tripwire.inbox.storage import Storage

    storage = Storage(db)
    project = storage.default_project().id
    started = time.perf_counter()
    for event in events:
        storage.store_event(project, event)
    elapsed = time.perf_counter() - started
    storage.close()
    stored, issues = _counts(db)
    return {"store_events_per_s": stored / elapsed, "store_stored": stored, "store_issues": issues}


def _envelope(event: dict[str, Any]) -> bytes:
    payload = json.dumps(event).encode()
    header = json.dumps({"event_id": event["event_id"]}).encode()
    item = json.dumps({"type": "event", "length": len(payload)}).encode()
    return gzip.compress(b"\n".join([header, item, payload]) + b"\n")


def _requests(dsn: str, bodies: list[bytes]) -> list[bytes]:
    """Each body as a whole HTTP request, built before the clock starts."""
    key, _, rest = dsn.removeprefix("http://").partition("@")
    hostport, _, project = rest.partition("/")
    head = (
        f"POST /api/{project}/envelope/ HTTP/1.1\r\nHost: {hostport}\r\n"
        "Content-Type: application/x-sentry-envelope\r\nContent-Encoding: gzip\r\n"
        f"X-Sentry-Auth: Sentry sentry_version=7, sentry_key={key}, sentry_client=bench/1\r\n"
    )
    return [f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body for body in bodies]


def _response_end(buffer: bytearray) -> int:
    """Where the first complete response in ``buffer`` ends (0: not complete yet)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return 0
    head = bytes(buffer[:end]).lower()
    if not head.startswith(b"http/1.1 200"):
        status = head.partition(b"\r\n")[0]
        raise RuntimeError(f"inbox answered {status!r}")
    marker = head.find(b"content-length:")
    length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
    return end + 4 + length if len(buffer) >= end + 4 + length else 0


def _post_all(port: int, requests: list[bytes], connections: int, budget_s: float) -> float:
    """Send ``requests`` over ``connections`` kept-alive sockets, one in flight on each,
    until all are answered or ``budget_s`` ran out; returns the seconds it took."""
    pending = list(reversed(requests))
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}

    def send_next(sock: socket.socket) -> None:
        if pending:
            sock.setblocking(True)  # a request is a few KB: the socket buffer takes it at once
            sock.sendall(pending.pop())
            sock.setblocking(False)
        else:
            selector.unregister(sock)

    started = time.perf_counter()
    deadline = started + budget_s
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffers[sock] = bytearray()
        selector.register(sock, selectors.EVENT_READ, sock)
        send_next(sock)
    while selector.get_map() and time.perf_counter() < deadline:
        for key, _events in selector.select(deadline - time.perf_counter()):
            sock = key.data
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("the inbox closed a kept-alive connection")
            buffer = buffers[sock]
            buffer += chunk
            end = _response_end(buffer)
            if end:
                del buffer[:end]
                send_next(sock)
    elapsed = time.perf_counter() - started
    selector.close()
    for sock in buffers:
        sock.close()
    return elapsed


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` has used, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _store_over_http(
    db: Path, events: list[dict[str, Any]], connections: int, budget_s: float
) -> dict[str, float]:
    command = [sys.executable, "-m", "tripwire.inbox.cli", "serve", "--db", str(db), "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert server.stdout is not None
        dsn = ""
        while not dsn:
            line = server.stdout.readline()
            if not line:
                raise RuntimeError(f"tripwire serve exited with {server.wait()}")
            dsn = line.split("DSN:", 1)[1].strip() if "DSN:" in line else ""
        port = int(dsn.partition("@")[2].partition("/")[0].rpartition(":")[2])
        requests = _requests(dsn, [_envelope(event) for event in events])
        server_cpu_s = _cpu_s(server.pid)
        client_cpu_s = time.process_time()
        elapsed = _post_all(port, requests, connections, budget_s)
        client_cpu_s = time.process_time() - client_cpu_s
        server_cpu_s = _cpu_s(server.pid) - server_cpu_s
    finally:
        server.terminate()
        server.wait(timeout=15)
    stored, issues = _counts(db)
    return {
        "http_events_per_s": stored / elapsed,
        "http_stored": stored,
        "http_issues": issues,
        "http_server_cpu_us_per_event": server_cpu_s / stored * 1e6,
        "http_server_cpu_share": server_cpu_s / elapsed,
        "http_client_cpu_share": client_cpu_s / elapsed,
    }


def main(argv: list[str]) -> dict[str, object]:
    """Measure both ingest paths; returns events per second and what was stored."""
    arguments = parser("inbox ingest", sdks=("tripwire",))
    arguments.add_argument("--events", type=int, default=3000)
    arguments.add_argument("--threads", type=int, default=4, help="connections")
    arguments.add_argument("--seconds", type=float, default=10.0, help="time budget for HTTP")
    args = arguments.parse_args(argv)
    events = make_events(args.events)
    result: dict[str, object] = {"events": args.events}
    with tempfile.TemporaryDirectory(prefix="tripwire-bench-") as tmp:
        result.update(_store_directly(Path(tmp) / "direct.db", events))
        fresh = [{**event, "event_id": uuid.uuid4().hex} for event in events]
        result.update(_store_over_http(Path(tmp) / "http.db", fresh, args.threads, args.seconds))
    return result


if __name__ == "__main__":
    emit(main(sys.argv[1:]))
