"""The benchmark harness: scenario scripts in fresh interpreters, figures, the table.

Tiny iteration counts and no timing assertions: these check that the pieces work.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.catalog import SCENARIOS, Target
from bench.harness import REPO, ChildRun, child_env, run_child
from bench.report import Outcome, median_figures, render_table
from bench.scenarios.floor import REPR_CHARS, walk
from bench.scenarios.inbox_ingest import make_events
from bench.scenarios.workload import BenchError, descend
from bench.sink import Sink


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def test_the_floor_walks_every_frame_with_bounded_locals() -> None:
    try:
        descend(24)
    except BenchError as exc:
        frames = walk(exc.__traceback__)

    assert len(frames) == 25
    deepest = frames[-1]
    assert "raise BenchError" in deepest.context_line
    assert set(deepest.variables) == {
        "depth",
        "count",
        "text",
        "numbers",
        "mapping",
        "thing",
        "tree",
    }
    assert all(len(value) <= REPR_CHARS for frame in frames for value in frame.variables.values())


def test_a_capture_scenario_delivers_its_events_to_the_sink(sink: Sink) -> None:
    args = ["--frames", "3", "--calls", "3", "--warmup", "1"]
    run = run_child("bench.scenarios.capture", "official", args, sink.dsn(1), timeout_s=60)

    assert run.error is None, run.stderr_tail
    assert run.result is not None
    assert 4 == run.result["delivered"] == sink.stats(1).events
    assert run.result["median_us"] > 0


def test_a_missing_middleware_is_reported_not_faked() -> None:
    """A child that cannot build its variant yields an error row, never figures."""
    run = ChildRun("tripwire", {"unavailable": "no module"}, 0.1, 0.0, 0)

    assert run.error == "n/a (not built yet: no module)"


def test_figures_are_medians_over_rounds_and_the_table_shows_ratios() -> None:
    [scenario] = [found for found in SCENARIOS if found.name == "message"]
    outcome = Outcome(scenario)
    for variant, values in {
        "tripwire": (10.0, 30.0, 20.0),
        "official": (400.0, 380.0, 390.0),
    }.items():
        outcome.runs[variant] = [
            ChildRun(variant, {"median_us": value, "p99_us": value * 2}, 1.0, 0.0, 0)
            for value in values
        ]
    outcome.runs["tripwire"].append(ChildRun("tripwire", None, 1.0, 0.0, 1, "Boom: broken"))

    figures = {"message": median_figures(outcome)}
    table = render_table([outcome], figures)

    assert figures["message"]["tripwire"]["median_us"] == 20.0
    assert "| 20.0 | 390.0 | 0.051 |" in table
    assert "met" in table
    assert "message / tripwire: failed: Boom: broken" in table


def test_ratio_targets_need_both_figures() -> None:
    five_times_less = Target("5x less", max_ratio=0.2)

    assert five_times_less.is_met(10.0, 100.0) is True
    assert five_times_less.is_met(30.0, 100.0) is False
    assert five_times_less.is_met(10.0, None) is None


def test_run_py_runs_one_scenario_and_writes_the_json(tmp_path: Path) -> None:
    output = tmp_path / "figures.json"
    env = {**child_env(), "BENCH_QUICK": "1", "BENCH_OUTPUT": str(output), "BENCH_RESULTS_MD": "0"}
    completed = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "floor"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "12. The floor" in completed.stdout
    figures = json.loads(output.read_text())["scenarios"]["floor"]["figures"]
    assert figures["none"]["median_us"] > 0


def test_inbox_events_have_twenty_frames_from_forty_sites() -> None:
    events = make_events(80)

    frames = events[0]["exception"]["values"][0]["stacktrace"]["frames"]
    assert len(frames) == 20
    assert len({event["exception"]["values"][0]["type"] for event in events}) == 40
    assert len({event["event_id"] for event in events}) == 80


def test_server_down_reports_memory_and_when_exit_handlers_ran() -> None:
    """Nothing listens on the DSN's port; the child still reports and exits."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dsn = f"http://key@127.0.0.1:{port}/1"

    run = run_child("bench.scenarios.server_down", "official", ["--count", "200"], dsn, 60)

    assert run.error is None, run.stderr_tail
    assert run.result is not None
    assert run.result["count"] == 200
    assert run.result["atexit_wall"] >= run.result["done_wall"]
    assert run.result["peak_growth_mib"] >= 0
