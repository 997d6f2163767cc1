"""The load generator of scenario 10: raw sockets, one process, little CPU per request.

Run as ``python -m bench.scenarios.http_load``; reads one window per line on stdin,
``PORT SECONDS CONNECTIONS keep-alive|close``, and answers each with one JSON line. A window
keeps ``CONNECTIONS`` requests in flight (closed loop) until ``SECONDS`` pass: a selector over
non-blocking sockets, one prebuilt request, responses framed by ``Content-Length``. Servers
that close after each response (wsgiref) are read to the end and reconnected. Only
127.0.0.1 is ever contacted. Staying in one process across windows keeps start-up and
import costs out of the figures; its own CPU time is reported so that a reader can see the
client was not the bottleneck.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import statistics
import sys
import time

__all__ = ["LoadWindow", "main", "run_window"]

_HEADER_END = b"\r\n\r\n"


class _Connection:
    __slots__ = ("buffer", "sock", "started_ns")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.started_ns = 0


class LoadWindow:
    """One window's outcome: responses completed, seconds, latencies, client CPU."""

    __slots__ = ("client_cpu_s", "elapsed_s", "latencies_ns", "responses")

    def __init__(self) -> None:
        self.responses = 0
        self.elapsed_s = 0.0
        self.latencies_ns: list[int] = []
        self.client_cpu_s = 0.0

    def as_dict(self) -> dict[str, float]:
        ordered = sorted(self.latencies_ns)
        return {
            "responses": self.responses,
            "elapsed_s": self.elapsed_s,
            "requests_per_s": self.responses / self.elapsed_s if self.elapsed_s else 0.0,
            "median_us": statistics.median(ordered) / 1000 if ordered else 0.0,
            "p99_us": ordered[int(len(ordered) * 0.99)] / 1000 if ordered else 0.0,
            "client_cpu_share": self.client_cpu_s / self.elapsed_s if self.elapsed_s else 0.0,
        }


def _is_complete(buffer: bytearray) -> bool:
    end = buffer.find(_HEADER_END)
    if end < 0:
        return False
    head = bytes(buffer[:end]).lower()
    marker = head.find(b"content-length:")
    if marker < 0:
        raise RuntimeError("a response without Content-Length")
    length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
    if not head.startswith((b"http/1.1 200", b"http/1.0 200")):
        status = head.partition(b"\r\n")[0]
        raise RuntimeError(f"the app answered {status!r}")
    return len(buffer) >= end + 4 + length


def run_window(port: int, seconds: float, connections: int, keep_alive: bool) -> LoadWindow:
    """Keep ``connections`` GET requests in flight against 127.0.0.1:``port`` for ``seconds``."""
    request = (
        f"GET /orders?page=2 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench\r\n"
        + ("" if keep_alive else "Connection: close\r\n")
        + "\r\n"
    ).encode()
    selector = selectors.DefaultSelector()
    window = LoadWindow()
    cpu_before = sum(os.times()[:2])

    def send(connection: _Connection) -> None:
        connection.buffer.clear()
        connection.started_ns = time.perf_counter_ns()
        connection.sock.sendall(request)

    def connect() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect(("127.0.0.1", port))  # loopback: completes at once, no need to poll
        sock.setblocking(False)
        connection = _Connection(sock)
        selector.register(sock, selectors.EVENT_READ, connection)
        send(connection)

    started = time.perf_counter()
    deadline = started + seconds
    for _ in range(connections):
        connect()
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        for key, _events in selector.select(deadline - now):
            connection: _Connection = key.data
            chunk = connection.sock.recv(65536)
            connection.buffer += chunk
            is_complete = _is_complete(connection.buffer)
            if not chunk and (keep_alive or not is_complete):
                raise RuntimeError("the server closed the connection before a full response")
            if not is_complete or (chunk and not keep_alive):
                continue  # more to come; servers that close are read to the end
            window.latencies_ns.append(time.perf_counter_ns() - connection.started_ns)
            window.responses += 1
            if keep_alive:
                send(connection)
            else:
                selector.unregister(connection.sock)
                connection.sock.close()
                connect()
    window.elapsed_s = time.perf_counter() - started
    window.client_cpu_s = sum(os.times()[:2]) - cpu_before
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    selector.close()
    return window


def main(argv: list[str]) -> None:
    """Serve windows from stdin until it closes; ``--cpu N`` pins the process to CPU N."""
    if argv[:1] == ["--cpu"]:
        os.sched_setaffinity(0, {int(argv[1])})
    for line in sys.stdin:
        port, seconds, connections, mode = line.split()
        window = run_window(int(port), float(seconds), int(connections), mode == "keep-alive")
        sys.stdout.write(json.dumps(window.as_dict()) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
