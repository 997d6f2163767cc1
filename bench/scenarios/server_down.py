"""Scenario 9: the server is down: many captures, peak memory growth, time to exit.

The DSN points at a port where nothing listens (connections are refused): the harness hands
every scenario the sink's DSN, so its port is replaced here by one that is bound but never
listens, held for the whole run so no other process can take it. The peak resident
set is reset after ``init()`` through ``/proc/self/clear_refs`` where Linux allows it; the
harness times the exit from the result line to the end of the process.
"""

from __future__ import annotations

import resource
import socket
import sys
import time

from bench.scenarios.child import emit, init_sdk, mark_atexit, parser

__all__ = ["SHUTDOWN_TIMEOUT_S", "main"]

SHUTDOWN_TIMEOUT_S = 2.0  # both SDKs' default, given explicitly
_HELD: list[socket.socket] = []  # the refused port stays ours until the process is gone


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def _refused(dsn: str) -> tuple[str, socket.socket]:
    """``dsn`` moved to a local port that is bound but not listening, and the socket holding it."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    scheme, rest = dsn.split("://", 1)
    userinfo, _, location = rest.rpartition("@")
    path = location.partition("/")[2]
    return f"{scheme}://{userinfo}@127.0.0.1:{holder.getsockname()[1]}/{path}", holder


def main(argv: list[str]) -> dict[str, object]:
    """Capture ``--count`` messages with no server, then return; exit happens after."""
    arguments = parser("server down")
    arguments.add_argument("--count", type=int, default=50_000)
    args = arguments.parse_args(argv)
    mark_atexit()
    dsn, holder = _refused(args.dsn)
    _HELD.append(holder)
    sdk = init_sdk(args.sdk, dsn, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    sdk.capture_message("warm-up")
    time.sleep(0.2)
    baseline = _status_kib("VmRSS")
    is_peak_reset = _reset_peak()
    started = time.perf_counter()
    for index in range(args.count):
        sdk.capture_message(f"while the server is down {index}")
    elapsed = time.perf_counter() - started
    peak = (
        _status_kib("VmHWM")
        if is_peak_reset
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    )
    return {
        "count": args.count,
        "captures_s": elapsed,
        "baseline_mib": baseline / 1024,
        "peak_growth_mib": (peak - baseline) / 1024,
        "rss_growth_mib": (_status_kib("VmRSS") - baseline) / 1024,
        "is_peak_reset": is_peak_reset,
        "shutdown_timeout_s": SHUTDOWN_TIMEOUT_S,
        "done_wall": time.time(),
        "refused_port": holder.getsockname()[1],
    }


if __name__ == "__main__":
    emit(main(sys.argv[1:]))
