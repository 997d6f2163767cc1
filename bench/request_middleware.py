"""What the request middleware alone costs: the bench app called bare and wrapped, no server.

Usage: ``python bench/request_middleware.py [wsgi|asgi ...] [--rounds N] [--baseline SRC]``. Each
round starts a fresh interpreter per SDK (tripwire, official, and with ``--baseline`` tripwire
imported from the ``src`` directory SRC of another checkout, to compare two versions), which
calls the bench app
(bench/scenarios/app_server.py) bare and wrapped in the SDK's middleware, in alternating
blocks; it reports the median time per request of each and their difference. An ASGI request
runs in a task of its own, as servers run them. Prints the added microseconds per request:
the median over rounds and the lowest and highest round.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["main"]

_REPO = Path(__file__).resolve().parent.parent
_BLOCK = 2000  # requests per timed block
_BLOCKS = 15  # blocks per variant in one process


def _wsgi_request(app: Any) -> Callable[[], None]:
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/orders",
        "QUERY_STRING": "page=2",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
    }

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        return None

    def request() -> None:
        response = app(dict(environ), start_response)
        for _chunk in response:
            pass
        close = getattr(response, "close", None)
        if close is not None:
            close()

    return request


def _asgi_scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/orders",
        "raw_path": b"/orders",
        "query_string": b"page=2",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


def _time_blocks(kind: str, apps: dict[str, Any]) -> dict[str, float]:
    """Median microseconds per request of each app, timed in alternating blocks."""
    samples: dict[str, list[float]] = {name: [] for name in apps}

    async def serve(app: Any) -> float:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for _ in range(_BLOCK):
            await loop.create_task(app(_asgi_scope(), _receive, _send))
        return time.perf_counter() - started

    def block(app: Any) -> float:
        if kind == "asgi":
            return asyncio.run(serve(app))
        request = _wsgi_request(app)
        started = time.perf_counter()
        for _ in range(_BLOCK):
            request()
        return time.perf_counter() - started

    for app in apps.values():  # warm-up
        block(app)
    for _ in range(_BLOCKS):
        for name, app in apps.items():
            samples[name].append(block(app) / _BLOCK * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def _child(sdk: str, kind: str) -> None:
    sys.path.insert(0, str(_REPO))
    from bench.scenarios.app_server import _wrap, asgi_app, wsgi_app
    from bench.scenarios.child import init_sdk

    init_sdk(sdk, "http://benchkey@127.0.0.1:9/1")  # nothing is captured: never contacted
    bare = wsgi_app if kind == "wsgi" else asgi_app
    figures = _time_blocks(kind, {"bare": bare, "wrapped": _wrap(sdk, kind, bare)})
    print(json.dumps(figures))


def main(argv: list[str]) -> int:
    """Run the rounds and print the table."""
    if argv[:1] == ["--child"]:
        _child(argv[1], argv[2])
        return 0
    rounds = 3
    if "--rounds" in argv:
        rounds = int(argv[argv.index("--rounds") + 1])
    variants: dict[str, Mapping[str, str]] = {"tripwire": os.environ, "official": os.environ}
    if "--baseline" in argv:
        src = argv[argv.index("--baseline") + 1]
        path = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])
        variants = {"tripwire": os.environ, f"tripwire ({src})": {**os.environ, "PYTHONPATH": path}}
    kinds = [kind for kind in argv if kind in ("wsgi", "asgi")] or ["wsgi", "asgi"]
    added: dict[tuple[str, str], list[float]] = {}
    bare: dict[str, list[float]] = {}
    for index in range(rounds):
        for kind in kinds:
            order = list(variants.items())
            for name, env in order[index % 2 :] + order[: index % 2]:  # alternate who goes first
                sdk = "official" if name == "official" else "tripwire"
                command = [sys.executable, __file__, "--child", sdk, kind]
                output = subprocess.run(
                    command, capture_output=True, text=True, check=True, env=dict(env)
                )
                figures = json.loads(output.stdout.strip().splitlines()[-1])
                added.setdefault((kind, name), []).append(figures["wrapped"] - figures["bare"])
                bare.setdefault(kind, []).append(figures["bare"])
    print("| app | bare app (us) | SDK | added per request (us), median | lowest, highest round |")
    print("|---|--:|---|--:|--:|")
    for (kind, sdk), values in added.items():
        print(
            f"| {kind} | {statistics.median(bare[kind]):.2f} | {sdk} "
            f"| {statistics.median(values):.2f} | {min(values):.2f}, {max(values):.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
