"""One kept-alive HTTP/1.1 connection to the DSN's host: the worker's direct path.

A single worker thread sends one request at a time, with no redirects and no retries, so it
needs none of urllib3's pool machinery, which cost more per envelope than encoding and gzip
together (bench scenario 8). This writes each request with one ``sendall`` and reads the
answer from its own buffer. TLS is checked (``ssl.create_default_context``), socket options
are applied before connecting. Proxies are not handled here: ``http.py`` sends through urllib3
when one is configured. Worker side; raises ``OSError`` (``ssl`` and timeouts included).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import ssl

__all__ = ["Connection", "ProtocolError", "Reply", "tls_context"]

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024  # an answer past this is cut short and the connection dropped
_RECEIVE_BYTES = 64 * 1024


class ProtocolError(OSError):
    """The server's answer was not HTTP/1.x we can read (or the connection ended early)."""


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes


def tls_context(
    ca_certs: str | None, cert_file: str | None, key_file: str | None
) -> ssl.SSLContext:
    """A client context: certificates verified against ``ca_certs``, optional client cert."""
    import ssl

    context = ssl.create_default_context(cafile=ca_certs)
    if cert_file:
        context.load_cert_chain(cert_file, key_file or None)
    return context


class Connection:
    """A connection to ``host:port`` that is opened on first use and kept between requests."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        socket_options: Sequence[tuple[int, int, int | bytes]] = (),
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._address = (host, port)
        self._host_header = f"[{host}]" if ":" in host else host
        if port != (443 if tls is not None else 80):
            self._host_header += f":{port}"
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._socket_options = list(socket_options)
        self._tls = tls
        self._sock: socket.socket | None = None
        self._buffer = bytearray()

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buffer.clear()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _connect(self) -> socket.socket:
        host, port = self._address
        error: OSError | None = None
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM
        ):
            sock = socket.socket(family, kind, proto)
            try:
                for level, name, value in self._socket_options:
                    sock.setsockopt(level, name, value)
                sock.settimeout(self._connect_timeout_s)
                sock.connect(address)
                if self._tls is not None:
                    sock = self._tls.wrap_socket(sock, server_hostname=host)
                sock.settimeout(self._timeout_s)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error or OSError(f"no address found for {host}")

    def post(
        self,
        target: str,
        body: bytes,
        headers: Mapping[str, str],
        meanwhile: Callable[[], object] | None = None,
    ) -> Reply:
        """POST ``body`` to ``target`` (a path) and read the whole answer. Raises OSError.

        ``meanwhile`` runs once the request is written, while the server works on it.
        """
        self.send(target, body, headers)
        if meanwhile is not None:
            meanwhile()
        return self.receive()

    def send(self, target: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Write a POST request; ``receive()`` reads its answer. Raises OSError."""
        lines = [f"POST {target} HTTP/1.1", f"Host: {self._host_header}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        if self._sock is None:
            self._sock = self._connect()
        try:
            self._sock.sendall(request)
        except BaseException:
            self.close()
            raise

    def receive(self) -> Reply:
        """The whole answer to the request written last. Raises OSError."""
        if self._sock is None:
            raise ProtocolError("no request was written on this connection")
        try:
            reply, keep = self._read_reply()
        except BaseException:
            self.close()
            raise
        if not keep:
            self.close()
        return reply

    def _fill(self, sock: socket.socket) -> None:
        chunk = sock.recv(_RECEIVE_BYTES)
        if not chunk:
            raise ProtocolError("the server closed the connection without a full answer")
        self._buffer += chunk

    def _read_head(self, sock: socket.socket) -> tuple[bytes, bytes]:
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self._buffer[:end])
                del self._buffer[: end + 4]
                status_line, _, header_lines = head.partition(b"\r\n")
                return status_line, header_lines
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise ProtocolError("answer headers too long")
            self._fill(sock)

    def _read_reply(self) -> tuple[Reply, bool]:
        sock = self._sock
        assert sock is not None
        while True:
            status_line, header_lines = self._read_head(sock)
            version, _, rest = status_line.partition(b" ")
            try:
                status = int(rest[:3])
            except ValueError:
                raise ProtocolError(f"bad status line {status_line[:80]!r}") from None
            if not version.startswith(b"HTTP/1.") or status < 100:
                raise ProtocolError(f"bad status line {status_line[:80]!r}")
            if status >= 200:
                break  # 1xx answers (100 Continue) are skipped
        headers: dict[str, str] = {}
        for line in header_lines.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        keep = version != b"HTTP/1.0" and headers.get("connection", "").lower() != "close"
        if status in (204, 304):
            return Reply(status, headers, b""), keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return Reply(status, headers, self._read_chunked(sock)), keep
        length_text = headers.get("content-length")
        if length_text is None:
            return Reply(status, headers, self._read_to_end(sock)), False
        try:
            length = int(length_text)
        except ValueError:
            raise ProtocolError(f"bad Content-Length {length_text[:40]!r}") from None
        if length > MAX_BODY_BYTES:
            return Reply(status, headers, b""), False
        return Reply(status, headers, self._read_exactly(sock, length)), keep

    def _read_exactly(self, sock: socket.socket, length: int) -> bytes:
        while len(self._buffer) < length:
            self._fill(sock)
        data = bytes(self._buffer[:length])
        del self._buffer[:length]
        return data

    def _read_line(self, sock: socket.socket) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise ProtocolError("chunk header too long")
            self._fill(sock)

    def _read_chunked(self, sock: socket.socket) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self._read_line(sock)
            try:
                length = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {line[:40]!r}") from None
            if length == 0:
                while self._read_line(sock):  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            size += length
            if size > MAX_BODY_BYTES:
                raise ProtocolError("answer body too long")
            parts.append(self._read_exactly(sock, length))
            self._read_line(sock)

    def _read_to_end(self, sock: socket.socket) -> bytes:
        while len(self._buffer) <= MAX_BODY_BYTES:
            chunk = sock.recv(_RECEIVE_BYTES)
            if not chunk:
                break
            self._buffer += chunk
        data = bytes(self._buffer[:MAX_BODY_BYTES])
        self._buffer.clear()
        return data
