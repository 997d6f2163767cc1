"""``make bench``: every scenario against tripwire and the official SDK, alternating rounds.

Usage: ``python bench/run.py [SCENARIO ...]`` (no names: all of them; ``--list`` names them).
Environment: ``BENCH_QUICK=1`` (one round, few iterations), ``BENCH_ROUNDS=N`` (rounds for
every scenario), ``BENCH_PACE=1`` (flush untimed after each timed capture), ``BENCH_RESULTS_MD=1|0`` (write bench/RESULTS.md; default: only for a full
run of every scenario). Figures go to bench/results/latest.json, or to ``BENCH_OUTPUT``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

_REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    """Run the chosen scenarios, print the table, write the JSON (and maybe RESULTS.md)."""
    if str(_REPO) not in sys.path:
        sys.path.insert(0, str(_REPO))
    from bench.catalog import SCENARIOS, Figures
    from bench.harness import run_child, split_variants
    from bench.report import (
        Outcome,
        machine,
        median_figures,
        render_table,
        write_json,
        write_markdown,
    )
    from bench.sink import Sink

    known = {scenario.name: scenario for scenario in SCENARIOS}
    if "--list" in argv:
        for scenario in SCENARIOS:
            print(f"{scenario.name:18} {scenario.title}")
        return 0
    unknown = [name for name in argv if name not in known]
    if unknown:
        print(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(known)}")
        return 2
    chosen = [known[name] for name in argv] or list(SCENARIOS)
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    rounds_override = int(os.environ["BENCH_ROUNDS"]) if os.environ.get("BENCH_ROUNDS") else None
    pace = os.environ.get("BENCH_PACE", "") not in ("", "0")
    settings = f"quick={quick}, paced={pace}, rounds={rounds_override or 'per scenario'}"

    load_average_start = round(os.getloadavg()[0], 2)
    outcomes: list[Outcome] = []
    figures: dict[str, Figures] = {}
    project = 0
    started = time.perf_counter()
    cache = tempfile.TemporaryDirectory(prefix="tripwire-bench-cache-")
    os.environ["BENCH_CACHE_HOME"] = cache.name  # the spool of undelivered events goes here
    with cache, Sink() as sink:
        for scenario in chosen:
            outcome = Outcome(scenario)
            rounds = rounds_override or (scenario.quick_rounds if quick else scenario.rounds)
            args = list(scenario.quick_args if quick else scenario.args)
            if pace and scenario.is_paceable:
                args.append("--pace")
            for round_index in range(rounds):
                if scenario.measures_variants_together:  # one child interleaves them all
                    project += 1
                    print(
                        f"[{time.perf_counter() - started:6.1f}s] {scenario.name} round "
                        f"{round_index + 1}/{rounds} {', '.join(scenario.variants)}",
                        file=sys.stderr,
                        flush=True,
                    )
                    run = run_child(
                        scenario.module, "all", args, sink.dsn(project), scenario.timeout_s
                    )
                    for part in split_variants(run, scenario.variants):
                        outcome.runs.setdefault(part.sdk, []).append(part)
                    continue
                for variant in scenario.variants:
                    project += 1
                    print(
                        f"[{time.perf_counter() - started:6.1f}s] {scenario.name} round "
                        f"{round_index + 1}/{rounds} {variant}",
                        file=sys.stderr,
                        flush=True,
                    )
                    run = run_child(
                        scenario.module, variant, args, sink.dsn(project), scenario.timeout_s
                    )
                    if scenario.after_exit is not None:
                        scenario.after_exit(run, sink, project)
                    outcome.runs.setdefault(variant, []).append(run)
            outcomes.append(outcome)
            figures[scenario.name] = median_figures(outcome)

    meta = machine()
    meta["settings"] = settings
    meta["load_average_start"] = load_average_start
    meta["duration_s"] = round(time.perf_counter() - started, 1)
    table = render_table(outcomes, figures)
    print(table)
    results = Path(os.environ.get("BENCH_OUTPUT") or _REPO / "bench" / "results" / "latest.json")
    write_json(results, meta, outcomes, figures)
    print(f"\nfigures written to {results} ({meta['duration_s']} s)")
    write_md = os.environ.get("BENCH_RESULTS_MD")
    if write_md == "1" or (write_md is None and not argv and not quick and rounds_override is None):
        write_markdown(_REPO / "bench" / "RESULTS.md", meta, table)
        print("table written to bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
