"""The twelve scenarios: what each runs, in how many rounds, which figures it reports, targets.

Targets come from issue 3: ratios are tripwire / official from one run on one machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.harness import ChildRun
from bench.sink import Sink

__all__ = ["SCENARIOS", "Figures", "Row", "Scenario", "Target", "cross_rows"]

Figures = dict[str, dict[str, float]]  # variant -> figure -> median over rounds


@dataclass(frozen=True)
class Target:
    """A goal for tripwire's figure: relative to the official SDK's, or absolute."""

    text: str
    max_ratio: float | None = None  # tripwire / official at most this
    at_most: float | None = None
    at_least: float | None = None

    def is_met(self, tripwire: float | None, official: float | None) -> bool | None:
        """True or False, or None when a figure it needs is missing."""
        if tripwire is None:
            return None
        if self.max_ratio is not None:
            if not official:
                return None
            return tripwire / official <= self.max_ratio
        if self.at_most is not None:
            return tripwire <= self.at_most
        if self.at_least is not None:
            return tripwire >= self.at_least
        return None


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure every variant reports."""

    key: str
    label: str
    target: Target | None = None
    digits: int = 1


AfterExit = Callable[[ChildRun, Sink, int], None]
Derive = Callable[[Figures], None]


@dataclass(frozen=True)
class Scenario:
    """A scenario script and how the harness runs and reads it."""

    name: str
    title: str
    module: str
    variants: tuple[str, ...]
    args: tuple[str, ...]
    quick_args: tuple[str, ...]
    rows: tuple[Row, ...]
    rounds: int = 3
    quick_rounds: int = 1
    timeout_s: float = 120.0
    is_paceable: bool = False  # takes --pace (BENCH_PACE=1): flush untimed after each call
    measures_variants_together: bool = False  # one child (--sdk all) reports every variant
    after_exit: AfterExit | None = None
    derive: Derive | None = None


SDKS = ("tripwire", "official")


def _wall_ms(run: ChildRun, sink: Sink, project: int) -> None:
    run.extra["wall_ms"] = run.wall_s * 1000


def _above_bare(figures: Figures) -> None:
    bare = figures.get("none", {}).get("wall_ms")
    for sdk in SDKS:
        wall = figures.get(sdk, {}).get("wall_ms")
        if bare is not None and wall is not None:
            figures[sdk]["above_bare_ms"] = wall - bare


def _arrivals(run: ChildRun, sink: Sink, project: int) -> None:
    if run.result is None:
        return
    time.sleep(0.3)  # let the sink finish decoding what the exiting process sent last
    stats = sink.stats(project)
    run.extra["delivered_total"] = stats.events
    run.extra["discarded_reported"] = stats.discarded_reported
    if stats.last_event_arrival is not None:
        run.extra["last_arrival_s"] = stats.last_event_arrival - run.result["started_wall"]


def _exit_time(run: ChildRun, sink: Sink, project: int) -> None:
    if run.result is not None:
        run.extra["exit_s"] = run.ended_wall - run.result["done_wall"]
        if "atexit_wall" in run.result:
            run.extra["sdk_exit_s"] = run.result["atexit_wall"] - run.result["done_wall"]


def _per_call(target: Target | None, p99: bool = True) -> tuple[Row, ...]:
    rows = (Row("median_us", "median per call (us)", target),)
    return (*rows, Row("p99_us", "p99 per call (us)")) if p99 else rows


_REQUEST_ROWS = (
    Row("requests_per_s", "requests per second", digits=0),
    Row("server_cpu_us", "server CPU per request (us)"),
    Row("cpu_overhead_pct", "server CPU per request vs no SDK (%)", Target("<= 5%", at_most=5.0)),
    Row("cpu_overhead_pct_p25", "  25th percentile of rounds (%)"),
    Row("cpu_overhead_pct_p75", "  75th percentile of rounds (%)"),
    Row("overhead_pct", "throughput overhead vs no SDK (%)", Target("<= 5%", at_most=5.0)),
    Row("overhead_pct_p25", "  25th percentile of rounds (%)"),
    Row("overhead_pct_p75", "  75th percentile of rounds (%)"),
    Row("latency_overhead_pct", "latency overhead vs no SDK (%)"),
)


def _requests(kind: str) -> Scenario:
    return Scenario(
        f"{kind}_requests",
        f"10. Request overhead, {kind.upper()} app",
        "bench.scenarios.request_load",
        ("none", "floor", *SDKS),
        ("--kind", kind),
        ("--kind", kind, "--rounds", "2", "--generations", "1", "--seconds", "0.3"),
        _REQUEST_ROWS,
        rounds=1,
        quick_rounds=1,
        timeout_s=240.0,
        measures_variants_together=True,
    )


def _capture(name: str, title: str, frames: int, calls: int, target: Target) -> Scenario:
    return Scenario(
        name,
        title,
        "bench.scenarios.capture",
        SDKS,
        ("--frames", str(frames), "--calls", str(calls)),
        ("--frames", str(frames), "--calls", "20", "--warmup", "3"),
        (*_per_call(target), Row("delivered", "events delivered", digits=0)),
        is_paceable=True,
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "import_init",
        "1. import + init() in a fresh interpreter",
        "bench.scenarios.import_init",
        ("none", *SDKS),
        (),
        (),
        (
            Row("above_bare_ms", "wall time above bare interpreter (ms)", Target("5x less", 0.2)),
            Row("in_process_ms", "import + init inside the process (ms)"),
            Row("wall_ms", "process wall time (ms)"),
        ),
        rounds=10,
        quick_rounds=2,
        after_exit=_wall_ms,
        derive=_above_bare,
    ),
    _capture(
        "deep_capture",
        "2. capture_exception(), 25 frames deep",
        25,
        200,
        Target("20x less", 1 / 20),
    ),
    _capture(
        "shallow_capture",
        "3. capture_exception(), 3 frames deep",
        3,
        600,
        Target("15x less", 1 / 15),
    ),
    Scenario(
        "message",
        "4. capture_message()",
        "bench.scenarios.message",
        SDKS,
        ("--calls", "1500"),
        ("--calls", "50", "--warmup", "5"),
        _per_call(Target("12x less", 1 / 12)),
        is_paceable=True,
    ),
    Scenario(
        "message_kwargs",
        "5. capture_message() with tags=, extras=, level=",
        "bench.scenarios.message",
        SDKS,
        ("--kwargs", "--calls", "1500"),
        ("--kwargs", "--calls", "50", "--warmup", "5"),
        _per_call(Target("12x less", 1 / 12)),
        is_paceable=True,
    ),
    Scenario(
        "breadcrumb",
        "6. add_breadcrumb()",
        "bench.scenarios.scope_calls",
        SDKS,
        ("--call", "add_breadcrumb"),
        ("--call", "add_breadcrumb", "--samples", "200", "--warmup", "20"),
        _per_call(Target("2x less", 0.5), p99=False),
    ),
    Scenario(
        "new_scope",
        "7. with new_scope() as s: s.set_tag(...)",
        "bench.scenarios.scope_calls",
        SDKS,
        ("--call", "new_scope"),
        ("--call", "new_scope", "--samples", "200", "--warmup", "20"),
        _per_call(Target("2x less", 0.5), p99=False),
    ),
    Scenario(
        "burst",
        "8. Burst: 5,000 capture_message() then flush()",
        "bench.scenarios.burst",
        SDKS,
        ("--count", "5000"),
        ("--count", "5000"),
        (
            Row("delivered_at_flush", "delivered when flush() returned", Target("5,000 of 5,000", at_least=5000), 0),
            Row("delivered_total", "delivered by process exit", digits=0),
            Row("discarded_reported", "drops the SDK reported (client reports)", digits=0),
            Row("burst_s", "burst on the caller's thread (s)", digits=3),
            Row("flush_s", "flush() (s)", digits=3),
            Row("last_arrival_s", "last event arrived after start (s)", digits=3),
        ),
        rounds=2,
        after_exit=_arrivals,
    ),
    Scenario(
        "server_down",
        "9. Server down: 50,000 capture_message()",
        "bench.scenarios.server_down",
        SDKS,
        ("--count", "50000"),
        ("--count", "5000"),
        (
            Row("peak_growth_mib", "peak memory growth (MiB)", Target("< 30 MB", at_most=30.0)),
            Row("exit_s", "time to exit after the last capture (s)", Target("<= shutdown_timeout 2 s", at_most=2.0), 2),
            Row("sdk_exit_s", "of which exit handlers, incl. the SDK's (s)", digits=2),
            Row("captures_s", "captures on the caller's thread (s)", digits=2),
        ),
        rounds=1,
        after_exit=_exit_time,
    ),
    _requests("wsgi"),
    _requests("asgi"),
    Scenario(
        "inbox_ingest",
        "11. Inbox ingest, 20-frame events",
        "bench.scenarios.inbox_ingest",
        ("tripwire",),
        ("--events", "3000", "--seconds", "8"),
        ("--events", "300", "--seconds", "3"),
        (
            Row("store_events_per_s", "Storage.store_event(), events/s", Target(">= 2,000/s", at_least=2000), 0),
            Row("http_events_per_s", "POST to tripwire serve, 4 connections, events/s", Target(">= 2,000/s", at_least=2000), 0),
            Row("http_server_cpu_us_per_event", "  server CPU per stored event (us)", digits=0),
            Row("http_server_cpu_share", "  server CPU share (cores)", digits=2),
            Row("http_client_cpu_share", "  load generator CPU share (cores)", digits=2),
            Row("store_issues", "issues after grouping (of 40 sites)", digits=0),
        ),
        rounds=2,
    ),
    Scenario(
        "floor",
        "12. The floor: the 25-frame stack walked by hand, no SDK",
        "bench.scenarios.floor",
        ("none",),
        ("--frames", "25", "--calls", "300"),
        ("--frames", "25", "--calls", "20", "--warmup", "3"),
        _per_call(None),
    ),
)  # fmt: skip


def cross_rows(figures: dict[str, Figures]) -> list[tuple[str, float | None, Target | None]]:
    """Figures that compare scenarios or show a floor: deep capture against the floor, and the
    request overhead of the floor middleware (no SDK) next to tripwire's."""
    deep = figures.get("deep_capture", {}).get("tripwire", {}).get("median_us")
    floor = figures.get("floor", {}).get("none", {}).get("median_us")
    ratio = deep / floor if deep is not None and floor else None
    rows: list[tuple[str, float | None, Target | None]] = [
        ("deep capture / floor (tripwire)", ratio, Target("within 2x", at_most=2.0))
    ]
    for kind in ("wsgi", "asgi"):
        found = figures.get(f"{kind}_requests", {}).get("floor", {})
        if found:
            label = f"{kind.upper()} server CPU per request vs no SDK, floor middleware (%)"
            rows.append((label, found.get("cpu_overhead_pct"), None))
    return rows
