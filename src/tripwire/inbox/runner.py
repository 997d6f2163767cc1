"""Serving the inbox with uvicorn: in the foreground (``serve``) or from a thread (demo, tests)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import uvicorn

from tripwire.inbox.connection import protocol_class
from tripwire.inbox.server import InboxApp, create_app
from tripwire.inbox.storage import Storage

__all__ = ["BackgroundInbox", "bind", "serve_forever"]

STARTUP_TIMEOUT_S = 10.0


class _CoalescedWrites:
    """A transport whose writes within one loop iteration leave as one ``send``.

    uvicorn writes a response's head and body separately; two sends on a keep-alive
    connection wake the client twice and cost two trips through the TCP stack.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._parts: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._parts:
            self._loop.call_soon(self.flush)
        self._parts.append(bytes(data))

    def flush(self) -> None:
        parts, self._parts = self._parts, []
        if parts and not self._transport.is_closing():
            self._transport.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def write_now(self, data: bytes) -> None:
        """Write ``data`` (after what is waiting) without waiting for the loop's turn."""
        self._parts.append(data)
        self.flush()

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self._parts)) + self._transport.get_write_buffer_size()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._parts.clear()
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _protocol(app: InboxApp) -> type[asyncio.Protocol] | str:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # no httptools: uvicorn's own choice, writes as they come
        return "auto"

    class CoalescingHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(_CoalescedWrites(transport))  # type: ignore[arg-type]

    return protocol_class(app.inbox, CoalescingHttpToolsProtocol)


def _config(app: InboxApp, host: str, port: int) -> uvicorn.Config:
    # uvloop and httptools when installed (they are in the inbox extra): each roughly halves
    # what the event loop and HTTP parsing cost per ingested envelope. No proxy headers: the
    # inbox never looks at client addresses.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http=_protocol(app),
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        lifespan="on",
        ws="none",
        server_header=False,
    )


def serve_forever(storage: Storage, sock: socket.socket) -> None:
    """Serve on the bound ``sock`` until Ctrl-C or SIGTERM."""
    host, port = sock.getsockname()[:2]
    uvicorn.Server(_config(create_app(storage), host, port)).run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: any free port); raises ``OSError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP; without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    return sock


class BackgroundInbox:
    """The inbox served from a daemon thread, on ``port`` (0: any free port); ``app_options``
    go to ``create_app``.

    ``start()`` returns once it accepts connections; ``stop()`` writes what is queued and
    ends the thread.
    """

    def __init__(
        self, storage: Storage, host: str = "127.0.0.1", port: int = 0, **app_options: Any
    ) -> None:
        self.storage = storage
        self.host = host
        self._socket = bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        self.app = create_app(storage, **app_options)
        self._server = uvicorn.Server(_config(self.app, host, self.port))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def dsn(self) -> str:
        """The default project's DSN."""
        return self.storage.default_project().dsn(self.url)

    def start(self) -> BackgroundInbox:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the inbox did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(STARTUP_TIMEOUT_S)
        self._socket.close()

    def __enter__(self) -> BackgroundInbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
