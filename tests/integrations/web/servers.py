"""Real servers for the web integration tests: wsgiref and uvicorn on 127.0.0.1:0 in threads."""

from __future__ import annotations

import logging
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

__all__ = ["serve_asgi", "serve_werkzeug", "serve_wsgi", "wait_for"]


class _ThreadingWsgiServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve ``app`` with wsgiref (a thread per request); yields its base URL."""
    server = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingWsgiServer, handler_class=_QuietHandler
    )
    with _serving(server) as url:
        yield url


@contextmanager
def serve_werkzeug(app: Any) -> Iterator[str]:
    """Serve ``app`` with werkzeug's server, which de-chunks request bodies (and says so with
    ``wsgi.input_terminated``); yields its base URL."""
    from werkzeug.serving import make_server as make_werkzeug_server

    server = make_werkzeug_server("127.0.0.1", 0, app, threaded=True)
    werkzeug_logger = logging.getLogger("werkzeug")
    level = werkzeug_logger.level
    werkzeug_logger.setLevel(logging.CRITICAL)  # its "Error on request" would be an event too
    try:
        with _serving(server) as url:
            yield url
    finally:
        werkzeug_logger.setLevel(level)


@contextmanager
def _serving(server: Any) -> Iterator[str]:
    """Run a socketserver-style ``server`` on a thread; yields its base URL, then stops it."""
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "uvicorn did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for(
    condition: Callable[[], object], message: str = "timed out", timeout_s: float = 10
) -> None:
    """Poll ``condition`` until true: some servers answer before the failure is reported."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.005)
