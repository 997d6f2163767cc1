"""Running scenario scripts in fresh interpreters and reading their result lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.scenarios.child import ATEXIT_MARKER, RESULT_MARKER

__all__ = ["REPO", "ChildRun", "child_env", "run_child", "split_variants"]

REPO = Path(__file__).resolve().parent.parent
_STDERR_TAIL_CHARS = 600


@dataclass
class ChildRun:
    """One scenario process: its result line (if any), wall time, and how it ended."""

    sdk: str
    result: dict[str, Any] | None
    wall_s: float
    ended_wall: float
    returncode: int
    stderr_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        """Why this run has no usable figures, or None when it has."""
        if self.result is not None and "unavailable" in self.result:
            return f"n/a (not built yet: {self.result['unavailable']})"
        if self.result is None or self.returncode != 0:
            last = self.stderr_tail.strip().splitlines()[-1:] or [f"exit {self.returncode}"]
            return f"failed: {last[0][:160]}"
        return None


def child_env() -> dict[str, str]:
    """The environment of every child: the repo's ``src`` first, no SENTRY_* settings.

    ``BENCH_CACHE_HOME``, when set, becomes ``XDG_CACHE_HOME``: tripwire spools undelivered
    envelopes there, so a run can keep its spool in a folder it removes afterwards.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("SENTRY_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    if os.environ.get("BENCH_CACHE_HOME"):
        env["XDG_CACHE_HOME"] = os.environ["BENCH_CACHE_HOME"]
    return env


def _parse_result(stdout: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = None
    atexit_wall: float | None = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            found = json.loads(line[len(RESULT_MARKER) :])
        elif line.startswith(ATEXIT_MARKER):
            atexit_wall = float(line[len(ATEXIT_MARKER) :])
    if found is not None and atexit_wall is not None:
        found["atexit_wall"] = atexit_wall
    return found


def run_child(
    module: str, sdk: str, args: list[str], dsn: str | None, timeout_s: float
) -> ChildRun:
    """Run ``python -m <module> --sdk <sdk> [--dsn <dsn>] <args>`` and wait for it to end."""
    command = [sys.executable, "-m", module, "--sdk", sdk]
    if dsn is not None:
        command += ["--dsn", dsn]
    command += args
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=child_env(),
            cwd=REPO,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        return ChildRun(
            sdk, None, time.perf_counter() - started, time.time(), -9, stderr + "\ntimed out"
        )
    wall_s = time.perf_counter() - started
    return ChildRun(
        sdk=sdk,
        result=_parse_result(completed.stdout),
        wall_s=wall_s,
        ended_wall=time.time(),
        returncode=completed.returncode,
        stderr_tail=completed.stderr[-_STDERR_TAIL_CHARS:],
    )


def split_variants(run: ChildRun, variants: tuple[str, ...]) -> list[ChildRun]:
    """One run per variant from a child that measured them all (its ``variants`` figures).

    A child that failed fails every variant; a variant it has no figures for is reported
    with the child's reason, if any.
    """
    found = run.result.get("variants") if run.result is not None else None
    if not isinstance(found, dict):
        return [ChildRun(variant, None, run.wall_s, run.ended_wall, run.returncode or 1,
                         run.stderr_tail) for variant in variants]  # fmt: skip
    return [
        ChildRun(
            variant,
            found.get(variant) or {"unavailable": "no figures from the child"},
            run.wall_s,
            run.ended_wall,
            run.returncode,
            run.stderr_tail,
        )
        for variant in variants
    ]
