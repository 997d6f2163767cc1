"""Scenarios 4 and 5: ``capture_message()``, plain or with ``tags=``, ``extras=``, ``level=``.

The official SDK's keyword is ``extras`` (plural; scopes-and-options.md §3), so both get that.
"""

from __future__ import annotations

import sys
import time
from types import ModuleType

from bench.scenarios.child import emit, init_sdk, measure, parser, sink_stats

__all__ = ["main"]

TAGS = {"region": "eu-west-1", "tenant": "acme", "feature": "checkout"}
EXTRAS = {"order_id": 12345, "items": [1, 2, 3], "note": "paid with a gift card"}


def _timed_message(sdk: ModuleType, with_kwargs: bool) -> int:
    if with_kwargs:
        started = time.perf_counter_ns()
        sdk.capture_message("payment retried", level="warning", tags=TAGS, extras=EXTRAS)
        return time.perf_counter_ns() - started
    started = time.perf_counter_ns()
    sdk.capture_message("payment retried")
    return time.perf_counter_ns() - started


def main(argv: list[str]) -> dict[str, object]:
    """Measure and return median/p99 microseconds per call and what reached the sink."""
    arguments = parser("capture_message")
    arguments.add_argument("--kwargs", action="store_true", help="pass tags, extras, level")
    arguments.add_argument("--calls", type=int, default=2000)
    arguments.add_argument("--warmup", type=int, default=200)
    args = arguments.parse_args(argv)
    sdk = init_sdk(args.sdk, args.dsn)
    result: dict[str, object] = dict(
        measure(
            lambda: _timed_message(sdk, args.kwargs),
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
