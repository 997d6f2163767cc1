"""Scenarios 2 and 3: ``capture_exception()`` of an error raised N frames deep.

Times only the call, on the caller's thread; the exception is raised fresh for every call
(so deduplication never short-cuts). Calls run back to back, so the SDK's worker thread sends
while the caller captures, as in a live app; ``--pace`` flushes untimed after each call.
"""

from __future__ import annotations

import sys
import time
from types import ModuleType

from bench.scenarios.child import emit, init_sdk, measure, parser, sink_stats
from bench.scenarios.workload import BenchError, descend

__all__ = ["main"]


def _timed_capture(sdk: ModuleType, frames: int) -> int:
    try:
        descend(frames - 1)
    except BenchError as exc:
        started = time.perf_counter_ns()
        sdk.capture_exception(exc)
        return time.perf_counter_ns() - started
    raise AssertionError("descend() always raises")


def main(argv: list[str]) -> dict[str, object]:
    """Measure and return median/p99 microseconds per call and what reached the sink."""
    arguments = parser("capture_exception, N frames deep")
    arguments.add_argument("--frames", type=int, default=25)
    arguments.add_argument("--calls", type=int, default=300)
    arguments.add_argument("--warmup", type=int, default=30)
    args = arguments.parse_args(argv)
    sdk = init_sdk(args.sdk, args.dsn)
    result: dict[str, object] = dict(
        measure(
            lambda: _timed_capture(sdk, args.frames),
            args.calls,
            args.warmup,
            sdk.flush if args.pace else None,
        )
    )
    sdk.flush()
    result["delivered"] = sink_stats(args.dsn)["events"]
    return result


if __name__ == "__main__":
    emit(main(sys.argv[1:]))
