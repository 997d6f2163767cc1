"""Scenarios 6 and 7: ``add_breadcrumb()`` and ``with new_scope() as s: s.set_tag(...)``.

Nothing is sent, so calls are timed back to back; each sample is a batch of calls, divided,
because one call is close to the clock's resolution.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import ModuleType

from bench.scenarios.child import emit, init_sdk, measure, parser

__all__ = ["main"]

BATCH = 20


def _breadcrumbs(sdk: ModuleType) -> Callable[[], int]:
    def timed() -> int:
        started = time.perf_counter_ns()
        for index in range(BATCH):
            sdk.add_breadcrumb(category="auth", message="user logged in", data={"id": index})
        return (time.perf_counter_ns() - started) // BATCH

    return timed


def _new_scope(sdk: ModuleType) -> Callable[[], int]:
    def timed() -> int:
        started = time.perf_counter_ns()
        for _ in range(BATCH):
            with sdk.new_scope() as scope:
                scope.set_tag("tenant", "acme")
        return (time.perf_counter_ns() - started) // BATCH

    return timed


def main(argv: list[str]) -> dict[str, object]:
    """Measure and return median/p99 microseconds per call (per batch of 20, divided)."""
    arguments = parser("breadcrumbs and scopes")
    arguments.add_argument("--call", choices=("add_breadcrumb", "new_scope"), required=True)
    arguments.add_argument("--samples", type=int, default=5000)
    arguments.add_argument("--warmup", type=int, default=500)
    args = arguments.parse_args(argv)
    sdk = init_sdk(args.sdk, args.dsn)
    timed = _breadcrumbs(sdk) if args.call == "add_breadcrumb" else _new_scope(sdk)
    return dict(measure(timed, args.samples, args.warmup))


if __name__ == "__main__":
    emit(main(sys.argv[1:]))
