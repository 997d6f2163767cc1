"""What every scenario script shares: loading the SDK under test, timing calls, the result line.

A scenario runs as ``python -m bench.scenarios.<name> --sdk tripwire|official|none ...`` in a
fresh interpreter and prints ``BENCH_RESULT {json}`` as its last line of output.
"""

from __future__ import annotations

import argparse
import atexit
import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = [
    "ATEXIT_MARKER",
    "RESULT_MARKER",
    "SDKS",
    "emit",
    "init_sdk",
    "load_sdk",
    "mark_atexit",
    "measure",
    "parser",
    "sink_stats",
    "summarize_ns",
]

RESULT_MARKER = "BENCH_RESULT "
ATEXIT_MARKER = "BENCH_ATEXIT "
SDKS = ("tripwire", "official", "none")


def parser(description: str, sdks: tuple[str, ...] = SDKS) -> argparse.ArgumentParser:
    """An argument parser with the options every scenario takes."""
    found = argparse.ArgumentParser(description=description)
    found.add_argument("--sdk", choices=sdks, required=True)
    found.add_argument("--dsn", default=None, help="the sink's DSN for this run")
    found.add_argument("--pace", action="store_true", help="flush() untimed after each timed call")
    return found


def load_sdk(name: str) -> ModuleType:
    """Import the SDK under test: ``tripwire`` or the official ``sentry_sdk``."""
    if name == "tripwire":
        import tripwire

        return tripwire
    if name == "official":
        import sentry_sdk

        return sentry_sdk
    raise ValueError(f"no SDK to load for {name!r}")


def init_sdk(name: str, dsn: str | None, **options: Any) -> ModuleType:
    """Import and ``init()`` the SDK with the same options for both; defaults otherwise."""
    sdk = load_sdk(name)
    sdk.init(dsn=dsn, **options)
    return sdk


def summarize_ns(samples: list[int]) -> dict[str, float]:
    """Median, p99 and mean of per-call nanoseconds, in microseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "median_us": statistics.median(ordered) / 1000,
        "p99_us": p99 / 1000,
        "mean_us": statistics.fmean(ordered) / 1000,
        "calls": float(len(ordered)),
    }


def measure(
    timed_call: Callable[[], int],
    calls: int,
    warmup: int,
    settle: Callable[[], object] | None = None,
) -> dict[str, float]:
    """Run ``timed_call`` (which returns the nanoseconds of the part it times) many times.

    ``settle`` runs untimed after each call, e.g. ``flush()`` so that the worker thread has sent
    the previous event before the next timed call and does not compete for the GIL inside it.
    """
    for _ in range(warmup):
        timed_call()
        if settle is not None:
            settle()
    samples: list[int] = []
    for _ in range(calls):
        samples.append(timed_call())
        if settle is not None:
            settle()
    return summarize_ns(samples)


def sink_stats(dsn: str) -> dict[str, Any]:
    """Ask the sink what has arrived so far for this DSN's project."""
    rest = dsn.split("@", 1)[1]
    host, _, project = rest.rpartition("/")
    with urllib.request.urlopen(f"http://{host}/stats/{project}/", timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def mark_atexit() -> None:
    """Print the wall time when exit handlers have run: call before the SDK's ``init()``.

    ``atexit`` runs handlers last-registered first, so this one runs after the SDK's.
    """

    def report() -> None:
        sys.stdout.write(f"{ATEXIT_MARKER}{time.time()}\n")
        sys.stdout.flush()

    atexit.register(report)


def emit(result: dict[str, Any]) -> None:
    """Print the result line the harness reads."""
    result.setdefault("wall_time", time.time())
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
