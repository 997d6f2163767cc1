"""Where tripwire's caller-thread time goes: the median time of each capture pipeline step.

``python bench/pipeline_steps.py [message|FRAMES] [--pace]`` captures a message, or an error
FRAMES deep (default 25), a thousand times against the sink, with every step of
``tripwire.client.PIPELINE`` wrapped in a timer. What is left of the call is event building
(frames, locals) before the pipeline and envelope hand-off after it. Steps that ran on the
transport's worker are marked so and not counted in the caller's share. Without ``--pace`` calls
run back to back, so the worker thread competes for the GIL as in the benchmark.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["main", "measure_steps"]

_REPO = Path(__file__).resolve().parent.parent
CALLS = 1000
WARMUP = 100


def measure_steps(mode: str, dsn: str, pace: bool) -> None:
    """In this process: init tripwire, time each step, print medians and means."""
    import tripwire
    from bench.scenarios.workload import BenchError, descend
    from tripwire import client as client_module

    samples: dict[str, list[int]] = {}

    def timed(step: Callable[..., Any]) -> Callable[..., Any]:
        def run(event: Any, capture: Any) -> Any:
            started = time.perf_counter_ns()
            outcome = step(event, capture)
            elapsed = time.perf_counter_ns() - started
            on_worker = threading.current_thread() is not threading.main_thread()
            name = f"{step.__name__} (worker)" if on_worker else step.__name__
            samples.setdefault(name, []).append(elapsed)
            return outcome

        return run

    client_module.PIPELINE = tuple(timed(step) for step in client_module.PIPELINE)
    tripwire.init(dsn=dsn)

    def one() -> int:
        if mode == "message":
            started = time.perf_counter_ns()
            tripwire.capture_message("payment retried")
            return time.perf_counter_ns() - started
        try:
            descend(int(mode) - 1)
        except BenchError as exc:
            started = time.perf_counter_ns()
            tripwire.capture_exception(exc)
            return time.perf_counter_ns() - started
        raise AssertionError("descend() always raises")

    totals: list[int] = []
    for index in range(WARMUP + CALLS):
        if index == WARMUP:
            samples.clear()
        elapsed = one()
        if index >= WARMUP:
            totals.append(elapsed)
        if pace:
            tripwire.flush()
    total = statistics.median(totals) / 1000
    print(f"{mode}, {'paced' if pace else 'back to back'}: median {total:.1f} us per call")
    in_steps = 0.0
    for name, values in samples.items():
        median = statistics.median(values) / 1000
        in_steps += 0.0 if name.endswith("(worker)") else median
        mean = statistics.fmean(values) / 1000
        print(f"  {name:24} median {median:8.1f} us ({median / total:5.1%})  mean {mean:8.1f} us")
    rest = total - in_steps
    print(f"  {'outside the pipeline':24} median {rest:8.1f} us ({rest / total:5.1%})")


def main(argv: list[str]) -> int:
    """Run ``measure_steps`` in a fresh interpreter against a sink."""
    if str(_REPO) not in sys.path:
        sys.path.insert(0, str(_REPO))
    from bench.harness import child_env
    from bench.sink import Sink

    if argv[:1] == ["--child"]:
        measure_steps(argv[1], argv[2], argv[3] == "paced")
        return 0
    mode = next((arg for arg in argv if not arg.startswith("--")), "25")
    pace = "paced" if "--pace" in argv else "b2b"
    with Sink() as sink, tempfile.TemporaryDirectory() as tmp:
        os.environ["BENCH_CACHE_HOME"] = tmp
        command = [sys.executable, __file__, "--child", mode, sink.dsn(1), pace]
        return subprocess.run(command, env=child_env(), cwd=_REPO, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
