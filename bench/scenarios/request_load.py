"""Scenario 10: request overhead. Starts an app server and drives it from a few threads.

Each thread keeps one ``http.client`` connection (reopened when the server closes it, as
wsgiref does after every response) and sends GET requests until the shared count or the time
budget runs out. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time

from bench.scenarios.app_server import EXIT_UNAVAILABLE
from bench.scenarios.child import emit, parser, summarize_ns

__all__ = ["main"]


def _start_server(kind: str, sdk: str, dsn: str | None) -> tuple[subprocess.Popen[str], int | str]:
    """Start the app server; returns it with its port, or with why it is unavailable."""
    command = [sys.executable, "-m", "bench.scenarios.app_server", "--kind", kind, "--sdk", sdk]
    if dsn:
        command += ["--dsn", dsn]
    with tempfile.TemporaryFile(mode="w+") as errors:
        server = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, env=os.environ.copy()
        )
        assert server.stdout is not None
        line = server.stdout.readline().strip()
        if line.startswith("PORT "):
            return server, int(line.split()[1])
        server.wait(timeout=10)
        errors.seek(0)
        last = (errors.read().strip().splitlines() or [""])[-1]
    if server.returncode == EXIT_UNAVAILABLE:
        return server, line.removeprefix("UNAVAILABLE ")
    raise RuntimeError(f"the {sdk} {kind} server exited with {server.returncode}: {last}")


def _drive(port: int, threads: int, requests: int, budget_s: float) -> tuple[list[int], float]:
    remaining = [requests]
    lock = threading.Lock()
    latencies: list[int] = []
    failures: list[BaseException] = []
    deadline = time.perf_counter() + budget_s

    def worker() -> None:
        try:
            work()
        except Exception as exc:
            failures.append(exc)

    def work() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[int] = []
        while time.perf_counter() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter_ns()
            connection.request("GET", "/orders?page=2", headers={"User-Agent": "bench"})
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter_ns() - started)
            if response.status != 200:
                raise RuntimeError(f"app answered {response.status}")
        connection.close()
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} client threads failed, first: {failures[0]!r}")
    return latencies, time.perf_counter() - started


def main(argv: list[str]) -> dict[str, object]:
    """Return requests per second and latency figures, or ``unavailable`` with the reason."""
    arguments = parser("request overhead")
    arguments.add_argument("--kind", choices=("wsgi", "asgi"), required=True)
    arguments.add_argument("--threads", type=int, default=4)
    arguments.add_argument("--requests", type=int, default=6000)
    arguments.add_argument("--seconds", type=float, default=4.0)
    arguments.add_argument("--warmup", type=int, default=300)
    args = arguments.parse_args(argv)
    server, port = _start_server(args.kind, args.sdk, args.dsn)
    if isinstance(port, str):
        return {"unavailable": port}
    try:
        _drive(port, args.threads, args.warmup, args.seconds)
        latencies, elapsed = _drive(port, args.threads, args.requests, args.seconds)
    finally:
        server.terminate()
        server.wait(timeout=10)
    result: dict[str, object] = dict(summarize_ns(latencies))
    result["requests_per_s"] = len(latencies) / elapsed
    return result


if __name__ == "__main__":
    emit(main(sys.argv[1:]))
