"""The servers of scenario 10: a small WSGI app (threaded wsgiref) or ASGI app (uvicorn).

Run as ``python -m bench.scenarios.app_server --kind wsgi|asgi --sdk none|floor|tripwire|official``;
prints ``PORT <n>`` once it listens on 127.0.0.1 and serves until it is terminated. Prints
``UNAVAILABLE <reason>`` and exits 3 when the SDK has no such middleware yet. Each line read on
stdin is answered with ``CPU <ns>``: the CPU time of the whole process so far (every thread,
ended ones too), so that a window's server cost can be read without touching the app.

``floor`` wraps the app in the least a middleware must do to give each request scopes of its
own, with no SDK: one ContextVar set to a per-request value around the call, and reset after.
Its overhead is the floor of scenario 10, as scenario 12 is the floor of a capture.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bench.scenarios.child import SDKS, init_sdk, parser

__all__ = ["asgi_app", "main", "wsgi_app"]

EXIT_UNAVAILABLE = 3
_BODY = json.dumps({"status": "ok", "items": list(range(20))}).encode()
_MIDDLEWARE = {
    ("tripwire", "wsgi"): ("tripwire.integrations.wsgi", "SentryWsgiMiddleware"),
    ("tripwire", "asgi"): ("tripwire.integrations.asgi", "SentryAsgiMiddleware"),
    ("official", "wsgi"): ("sentry_sdk.integrations.wsgi", "SentryWsgiMiddleware"),
    ("official", "asgi"): ("sentry_sdk.integrations.asgi", "SentryAsgiMiddleware"),
}


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A small JSON endpoint."""
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(_BODY)))]
    )
    return [_BODY]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same endpoint, as ASGI."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _BODY})


_request: contextvars.ContextVar[object] = contextvars.ContextVar("bench_request", default=None)


def _floor_wsgi(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        token = _request.set((environ, None))
        try:
            return app(environ, start_response)
        finally:
            _request.reset(token)

    return middleware


def _floor_asgi(app: Callable[..., Any]) -> Callable[..., Any]:
    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        token = _request.set((scope, None))
        try:
            await app(scope, receive, send)
        finally:
            _request.reset(token)

    return middleware


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Silence the access log."""


class _ThreadingWsgiServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # wsgiref closes every connection, so clients reconnect per request; socketserver's
    # backlog of 5 overflows and a dropped SYN costs a 1 s retransmit.
    request_queue_size = 1024


def _wrap(sdk: str, kind: str, app: object) -> object:
    if sdk == "none":
        return app
    if sdk == "floor":
        return _floor_wsgi(app) if kind == "wsgi" else _floor_asgi(app)  # type: ignore[arg-type]
    module_name, class_name = _MIDDLEWARE[(sdk, kind)]
    try:
        middleware = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        print(f"UNAVAILABLE {module_name}.{class_name}: {exc}", flush=True)
        raise SystemExit(EXIT_UNAVAILABLE) from exc
    return middleware(app)


def _serve_wsgi(app: Any) -> None:
    server = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingWsgiServer, handler_class=_QuietHandler
    )
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


def _serve_asgi(app: Any) -> None:
    import uvicorn

    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    # protocol says TCP; with proto 0 each response waits out Nagle and delayed ACKs (40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)  # listening before PORT is printed: early clients wait in the backlog
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


def _answer_cpu_queries() -> None:
    for _line in sys.stdin:
        print(f"CPU {time.process_time_ns()}", flush=True)


def main(argv: list[str]) -> None:
    """Serve the app of ``--kind`` wrapped in the SDK's middleware (or bare for ``none``)."""
    arguments = parser("app server for request overhead", (*SDKS, "floor"))
    arguments.add_argument("--kind", choices=("wsgi", "asgi"), required=True)
    arguments.add_argument("--cpu", type=int, default=None, help="run on this CPU only")
    args = arguments.parse_args(argv)
    if args.cpu is not None:  # before any thread starts: threads inherit the mask
        os.sched_setaffinity(0, {args.cpu})
    threading.Thread(target=_answer_cpu_queries, name="cpu-queries", daemon=True).start()
    if args.sdk not in ("none", "floor"):
        init_sdk(args.sdk, args.dsn)
    if args.kind == "wsgi":
        _serve_wsgi(_wrap(args.sdk, "wsgi", wsgi_app))
    else:
        _serve_asgi(_wrap(args.sdk, "asgi", asgi_app))


if __name__ == "__main__":
    main(sys.argv[1:])
