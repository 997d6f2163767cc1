"""Scenario 10: request overhead, no SDK against tripwire against the official SDK, interleaved.

A fourth server, ``floor``, runs the app in the least a middleware can do to give a request
scopes of its own (one ContextVar set and reset; app_server.py): what no SDK can go below.

One process runs the whole comparison, so that every variant sees the same machine at nearly
the same time: it starts one app server per variant (bench/scenarios/app_server.py) and one
load generator (bench/scenarios/http_load.py), then runs rounds; each round gives every
server one window of load, in an order that rotates from round to round. The servers are
restarted for each of ``--generations``, so process-level luck is sampled too. With
``--pin`` the servers run on CPU 1 and the load generator on CPU 0; off by default, since on
a shared machine other processes then queue on the server's one CPU (the spread of the CPU
ratio doubled in trials).

Figures per variant are medians over rounds; overheads are medians of per-round ratios
against the bare server's window of the same round, with their 25th and 75th percentiles
and extremes, so that a reader can see whether a difference of 5% is resolvable. Besides
throughput, each window reads the server's own CPU time (every thread), which is immune to
other processes taking turns on the CPU: CPU per request is the cost the middleware adds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import IO, Any

from bench.scenarios.app_server import EXIT_UNAVAILABLE
from bench.scenarios.child import emit, parser

__all__ = ["VARIANTS", "main", "per_round", "spread"]

VARIANTS = ("none", "floor", "tripwire", "official")
Window = dict[str, float]


class _Process:
    """A child process spoken to by lines on stdin and stdout."""

    def __init__(self, command: list[str]) -> None:
        self.popen = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )

    def ask(self, line: str) -> str:
        stdin: IO[str] | None = self.popen.stdin
        stdout: IO[str] | None = self.popen.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(line + "\n")
        stdin.flush()
        answer = stdout.readline().strip()
        if not answer:
            raise RuntimeError(f"{self.popen.args[2]} stopped: {self._last_error()}")
        return answer

    def _last_error(self) -> str:
        self.popen.kill()
        _, errors = self.popen.communicate(timeout=10)
        return (errors.strip().splitlines() or [f"exit {self.popen.returncode}"])[-1]

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.communicate()


class _Server(_Process):
    def __init__(self, kind: str, sdk: str, dsn: str | None, cpu: int | None) -> None:
        command = [sys.executable, "-m", "bench.scenarios.app_server", "--kind", kind]
        command += ["--sdk", sdk] + (["--dsn", dsn] if dsn else [])
        command += ["--cpu", str(cpu)] if cpu is not None else []
        super().__init__(command)
        self.port = 0
        self.unavailable = ""

    def wait_ready(self) -> None:
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline().strip()
        if line.startswith("PORT "):
            self.port = int(line.split()[1])
            return
        self.popen.wait(timeout=10)
        if self.popen.returncode != EXIT_UNAVAILABLE:
            raise RuntimeError(f"the server exited with {self.popen.returncode}: {line}")
        self.unavailable = line.removeprefix("UNAVAILABLE ")

    def cpu_ns(self) -> int:
        return int(self.ask("cpu").split()[1])


def _window(load: _Process, server: _Server, seconds: float, connections: int, kind: str) -> Window:
    mode = "keep-alive" if kind == "asgi" else "close"  # wsgiref closes after every response
    cpu_before = server.cpu_ns()
    window: Window = json.loads(load.ask(f"{server.port} {seconds} {connections} {mode}"))
    responses = window["responses"]
    if responses:
        window["server_cpu_us"] = (server.cpu_ns() - cpu_before) / 1000 / responses
    return window


def per_round(
    windows: dict[str, list[Window]], variant: str, ratio: Callable[[Window, Window], float]
) -> list[float]:
    """``ratio(bare, mine)`` for each round, in percent above 1; a round in which either
    server completed nothing (descheduled for the whole window) has no ratio."""
    pairs = zip(windows["none"], windows[variant], strict=False)
    return [
        (ratio(bare, mine) - 1) * 100
        for bare, mine in pairs
        if bare["responses"] and mine["responses"]
    ]


def spread(name: str, values: list[float]) -> dict[str, float]:
    """Median, quartiles and extremes of ``values`` as ``<name>``, ``<name>_p25``, ..."""
    if len(values) < 2:
        return {name: values[0]} if values else {}
    p25, median, p75 = statistics.quantiles(values, n=4, method="inclusive")
    return {
        name: median,
        f"{name}_p25": p25,
        f"{name}_p75": p75,
        f"{name}_min": min(values),
        f"{name}_max": max(values),
    }


def _figures(windows: dict[str, list[Window]], variant: str) -> dict[str, float]:
    mine = windows[variant]
    found: dict[str, float] = {"rounds": len(mine)}
    for key in ("requests_per_s", "median_us", "p99_us", "server_cpu_us"):
        values = [window[key] for window in mine if key in window]
        if values:
            found[key] = statistics.median(values)
    found["client_cpu_share_max"] = max(window["client_cpu_share"] for window in mine)
    if variant != "none" and windows.get("none"):
        throughput = per_round(
            windows, variant, lambda b, m: b["requests_per_s"] / m["requests_per_s"]
        )
        found.update(spread("overhead_pct", throughput))
        cpu = per_round(windows, variant, lambda b, m: m["server_cpu_us"] / b["server_cpu_us"])
        found.update(spread("cpu_overhead_pct", cpu))
        latency = per_round(windows, variant, lambda b, m: m["median_us"] / b["median_us"])
        if latency:
            found["latency_overhead_pct"] = statistics.median(latency)
    return found


def _run_generation(
    args: Any, load: _Process, windows: dict[str, list[Window]], unavailable: dict[str, str]
) -> None:
    server_cpu = 1 if args.pin else None
    servers = {sdk: _Server(args.kind, sdk, args.dsn, server_cpu) for sdk in VARIANTS}
    try:
        for sdk, server in servers.items():
            server.wait_ready()
            if server.unavailable:
                unavailable[sdk] = server.unavailable
        ready = [sdk for sdk in VARIANTS if sdk not in unavailable]
        for sdk in ready:  # warm-up: caches, specialised bytecode, the SDK's first request
            _window(load, servers[sdk], args.warmup_seconds, args.connections, args.kind)
        for index in range(args.rounds):
            shift = (len(windows.get("none", [])) + index) % len(ready)
            for sdk in ready[shift:] + ready[:shift]:
                window = _window(load, servers[sdk], args.seconds, args.connections, args.kind)
                windows.setdefault(sdk, []).append(window)
    finally:
        for server in servers.values():
            if server.popen.poll() is None:
                server.stop()


def main(argv: list[str]) -> dict[str, object]:
    """Return every variant's figures under ``variants`` (or ``unavailable`` with the reason)."""
    arguments = parser("request overhead", sdks=("all",))
    arguments.add_argument("--kind", choices=("wsgi", "asgi"), required=True)
    arguments.add_argument("--connections", type=int, default=4)
    arguments.add_argument("--rounds", type=int, default=4, help="rounds per generation")
    arguments.add_argument("--generations", type=int, default=4)
    arguments.add_argument("--seconds", type=float, default=0.6, help="one window")
    arguments.add_argument("--warmup-seconds", type=float, default=0.5)
    arguments.add_argument("--pin", action=argparse.BooleanOptionalAction, default=False)
    args = arguments.parse_args(argv)
    if args.pin:
        os.sched_setaffinity(0, {0})  # this process and the load generator: CPU 0
    load = _Process([sys.executable, "-m", "bench.scenarios.http_load"])
    windows: dict[str, list[Window]] = {}
    unavailable: dict[str, str] = {}
    try:
        for _ in range(args.generations):
            _run_generation(args, load, windows, unavailable)
    finally:
        load.stop()
    variants: dict[str, object] = {}
    for sdk in VARIANTS:
        if sdk in unavailable:
            variants[sdk] = {"unavailable": unavailable[sdk]}
        elif windows.get(sdk):
            variants[sdk] = {**_figures(windows, sdk), "pinned": args.pin, "windows": windows[sdk]}
    return {"variants": variants}


if __name__ == "__main__":
    emit(main(sys.argv[1:]))
