"""Scenario 8: a burst of captures as fast as possible, then ``flush()``.

Reports how long the burst took on the caller's thread, how long ``flush()`` took, and how
many events the sink had when it returned; the harness reads the final count after exit.
"""

from __future__ import annotations

import sys
import time

from bench.scenarios.child import emit, init_sdk, parser, sink_stats

__all__ = ["main"]


def main(argv: list[str]) -> dict[str, object]:
    """Send ``--count`` messages back to back, flush, and report what had arrived."""
    arguments = parser("burst of captures")
    arguments.add_argument("--count", type=int, default=5000)
    args = arguments.parse_args(argv)
    sdk = init_sdk(args.sdk, args.dsn)
    started_wall = time.time()
    started = time.perf_counter()
    for index in range(args.count):
        sdk.capture_message(f"burst message {index}")
    captured = time.perf_counter()
    sdk.flush()
    flushed = time.perf_counter()
    stats = sink_stats(args.dsn)
    return {
        "count": args.count,
        "burst_s": captured - started,
        "flush_s": flushed - captured,
        "delivered_at_flush": stats["events"],
        "started_wall": started_wall,
    }


if __name__ == "__main__":
    emit(main(sys.argv[1:]))
