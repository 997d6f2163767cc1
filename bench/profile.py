"""Profile one scenario's tripwire run with cProfile: ``python bench/profile.py SCENARIO``.

Runs the scenario script (full-size arguments unless ``BENCH_QUICK=1``) under
``python -m cProfile`` against the sink, then prints the functions with the most own time and
the most cumulative time. cProfile sees the main thread only: the caller's thread.
"""

from __future__ import annotations

import os
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["main"]

_REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    """Profile the scenario named in ``argv[0]`` (``--sdk`` from ``argv[1]``, default tripwire)."""
    if str(_REPO) not in sys.path:
        sys.path.insert(0, str(_REPO))
    from bench.catalog import SCENARIOS
    from bench.harness import child_env
    from bench.sink import Sink

    known = {scenario.name: scenario for scenario in SCENARIOS}
    if not argv or argv[0] not in known:
        print(f"usage: bench/profile.py SCENARIO [SDK]; scenarios: {', '.join(known)}")
        return 2
    scenario = known[argv[0]]
    default_sdk = "tripwire" if "tripwire" in scenario.variants else scenario.variants[0]
    sdk = argv[1] if len(argv) > 1 else default_sdk
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    args = list(scenario.quick_args if quick else scenario.args)
    top = int(os.environ.get("BENCH_PROFILE_TOP", "25"))
    with Sink() as sink, tempfile.TemporaryDirectory() as tmp:
        os.environ["BENCH_CACHE_HOME"] = tmp
        output = Path(tmp) / "profile.out"
        command = [sys.executable, "-m", "cProfile", "-o", str(output), "-m", scenario.module]
        command += ["--sdk", sdk, "--dsn", sink.dsn(1), *args]
        completed = subprocess.run(command, env=child_env(), cwd=_REPO, check=False)
        if completed.returncode != 0 or not output.exists():
            return completed.returncode or 1
        stats = pstats.Stats(str(output))
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
