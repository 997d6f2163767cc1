"""Scenario 12, the floor: the deep stack walked by hand with no SDK.

Frames, line numbers, the context line and a 200-character repr of each local: the work any
SDK must do on the caller's thread, so the cost none can beat.
"""

from __future__ import annotations

import linecache
import sys
import time
from dataclasses import dataclass
from types import TracebackType

from bench.scenarios.child import emit, measure, parser
from bench.scenarios.workload import BenchError, descend

__all__ = ["FrameSnapshot", "main", "walk"]

REPR_CHARS = 200


@dataclass(frozen=True)
class FrameSnapshot:
    """What the floor keeps of one frame."""

    filename: str
    function: str
    lineno: int
    context_line: str
    variables: dict[str, str]


def walk(traceback: TracebackType | None) -> list[FrameSnapshot]:
    """Snapshot each frame of ``traceback``: where it is and a bounded repr of its locals."""
    frames: list[FrameSnapshot] = []
    while traceback is not None:
        frame = traceback.tb_frame
        code = frame.f_code
        lineno = traceback.tb_lineno
        frames.append(
            FrameSnapshot(
                code.co_filename,
                code.co_name,
                lineno,
                linecache.getline(code.co_filename, lineno).strip(),
                {name: repr(value)[:REPR_CHARS] for name, value in frame.f_locals.items()},
            )
        )
        traceback = traceback.tb_next
    return frames


def _timed_walk(frames: int) -> int:
    try:
        descend(frames - 1)
    except BenchError as exc:
        started = time.perf_counter_ns()
        walk(exc.__traceback__)
        return time.perf_counter_ns() - started
    raise AssertionError("descend() always raises")


def main(argv: list[str]) -> dict[str, object]:
    """Measure the hand walk; ``--sdk`` must be ``none``."""
    arguments = parser("the floor: a hand-walked stack", sdks=("none",))
    arguments.add_argument("--frames", type=int, default=25)
    arguments.add_argument("--calls", type=int, default=300)
    arguments.add_argument("--warmup", type=int, default=30)
    args = arguments.parse_args(argv)
    return dict(measure(lambda: _timed_walk(args.frames), args.calls, args.warmup))


if __name__ == "__main__":
    emit(main(sys.argv[1:]))
