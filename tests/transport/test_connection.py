"""The kept-alive HTTP/1.1 connection: answers read whole, connections reused or dropped."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tripwire.transport.connection import Connection, ProtocolError

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


class _ScriptedServer:
    """Answers each request it reads with the next scripted bytes; None closes at once."""

    def __init__(self, answers: list[bytes | None]) -> None:
        self._answers = list(answers)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._answers:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with client:
                self._answer(client)

    def _answer(self, client: socket.socket) -> None:
        buffer = b""
        while self._answers:
            while b"\r\n\r\n" not in buffer:
                chunk = client.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buffer) < length:
                buffer += client.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + buffer[:length])
            buffer = buffer[length:]
            answer = self._answers.pop(0)
            if answer is None:
                return
            client.sendall(answer)
            is_framed = b"Content-Length" in answer or b"chunked" in answer
            if b"Connection: close" in answer or not is_framed:
                return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def scripted() -> Iterator[list[_ScriptedServer]]:
    servers: list[_ScriptedServer] = []
    yield servers
    for server in servers:
        server.close()


def _connect(server: _ScriptedServer) -> Connection:
    return Connection("127.0.0.1", server.port, timeout_s=10.0, connect_timeout_s=10.0)


def test_requests_share_one_kept_alive_connection(scripted: list[_ScriptedServer]) -> None:
    server = _ScriptedServer([OK, OK, OK])
    scripted.append(server)
    connection = _connect(server)
    replies = [connection.post("/api/1/envelope/", b"body %d" % n, {"X-A": "1"}) for n in range(3)]
    connection.close()

    assert [reply.status for reply in replies] == [200, 200, 200]
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /api/1/envelope/ HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nX-A: 1\r\nContent-Length: 6\r\n\r\nbody 0" in first


def test_a_chunked_answer_after_100_continue_is_read_whole(
    scripted: list[_ScriptedServer],
) -> None:
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n"
        b"X-Sentry-Rate-Limits: 60:error:key\r\n\r\n"
        b"4;ext=1\r\nslow\r\n5\r\n down\r\n0\r\nTrailer: x\r\n\r\n"
    )
    server = _ScriptedServer([chunked, OK])
    scripted.append(server)
    connection = _connect(server)
    reply = connection.post("/", b"x", {})
    after = connection.post("/", b"y", {})
    connection.close()

    assert reply.status == 429
    assert reply.body == b"slow down"
    assert reply.headers["x-sentry-rate-limits"] == "60:error:key"
    assert after.status == 200
    assert server.connections == 1


def test_connection_close_and_unframed_answers_open_a_new_connection_next_time(
    scripted: list[_ScriptedServer],
) -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    unframed = b"HTTP/1.0 500 Oops\r\n\r\nuntil the end"
    server = _ScriptedServer([closing, unframed, OK])
    scripted.append(server)
    connection = _connect(server)
    statuses = [connection.post("/", b"x", {}).status for _ in range(2)]
    last = connection.post("/", b"x", {})
    connection.close()

    assert statuses == [200, 500]
    assert last.body == b"{}"
    assert server.connections == 3


def test_a_server_that_hangs_up_without_answering_raises_an_oserror(
    scripted: list[_ScriptedServer],
) -> None:
    server = _ScriptedServer([None, OK])
    scripted.append(server)
    connection = _connect(server)
    with pytest.raises(ProtocolError):
        connection.post("/", b"x", {})
    assert connection.post("/", b"again", {}).status == 200
    connection.close()
    assert issubclass(ProtocolError, OSError)
