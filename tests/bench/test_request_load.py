"""Scenario 10's pieces: the load generator, the app servers, the interleaved comparison.

Real servers on 127.0.0.1 in subprocesses; tiny windows and no timing assertions.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from bench.harness import REPO, ChildRun, child_env, run_child, split_variants
from bench.scenarios.http_load import run_window
from bench.scenarios.request_load import per_round, spread


@pytest.fixture(params=["wsgi", "asgi"])
def bare_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int, subprocess.Popen[str]]]:
    command = [sys.executable, "-m", "bench.scenarios.app_server", "--kind", request.param]
    server = subprocess.Popen(
        [*command, "--sdk", "none"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline().split()[1])
    yield request.param, port, server
    server.terminate()
    server.communicate(timeout=10)


def test_the_load_generator_completes_requests_on_both_servers(
    bare_server: tuple[str, int, subprocess.Popen[str]],
) -> None:
    """wsgiref closes every connection (reconnect), uvicorn keeps them open."""
    kind, port, _ = bare_server

    window = run_window(port, 0.3, 2, keep_alive=kind == "asgi")

    figures = window.as_dict()
    assert figures["responses"] > 0
    assert len(window.latencies_ns) == figures["responses"]
    assert figures["requests_per_s"] > 0
    assert figures["client_cpu_share"] >= 0


def test_the_app_server_reports_its_cpu_time_growing_under_load(
    bare_server: tuple[str, int, subprocess.Popen[str]],
) -> None:
    kind, port, server = bare_server
    assert server.stdin is not None
    assert server.stdout is not None

    def cpu_ns() -> int:
        assert server.stdin is not None
        assert server.stdout is not None
        server.stdin.write("cpu\n")
        server.stdin.flush()
        return int(server.stdout.readline().split()[1])

    before = cpu_ns()
    run_window(port, 0.3, 2, keep_alive=kind == "asgi")

    assert cpu_ns() > before


def test_one_child_measures_every_variant_and_their_overheads() -> None:
    args = ["--kind", "asgi", "--rounds", "2", "--generations", "1"]
    args += ["--seconds", "0.3", "--warmup-seconds", "0.1"]

    run = run_child("bench.scenarios.request_load", "all", args, None, timeout_s=110)

    assert run.error is None, run.stderr_tail
    none, tripwire, official = split_variants(run, ("none", "tripwire", "official"))
    assert none.result is not None
    assert tripwire.result is not None
    assert official.result is not None
    assert none.result["rounds"] == tripwire.result["rounds"] == 2
    assert "overhead_pct" not in none.result
    for figures in (tripwire.result, official.result):
        assert figures["server_cpu_us"] > 0
        assert figures["cpu_overhead_pct_p25"] <= figures["cpu_overhead_pct_p75"]
        assert figures["overhead_pct_min"] <= figures["overhead_pct"] <= figures["overhead_pct_max"]
        assert len(figures["windows"]) == 2


def test_a_failed_child_fails_every_variant() -> None:
    failed = ChildRun("all", None, 1.0, 0.0, 1, "RuntimeError: the server exited")

    parts = split_variants(failed, ("none", "tripwire"))

    assert [part.sdk for part in parts] == ["none", "tripwire"]
    assert all(part.error == "failed: RuntimeError: the server exited" for part in parts)


def test_a_variant_without_a_middleware_is_reported_unavailable() -> None:
    run = ChildRun(
        "all", {"variants": {"none": {"rounds": 2}, "tripwire": {"unavailable": "no module"}}},
        1.0, 0.0, 0,
    )  # fmt: skip

    none, tripwire = split_variants(run, ("none", "tripwire"))

    assert none.error is None
    assert tripwire.error == "n/a (not built yet: no module)"


def test_spread_gives_the_median_quartiles_and_extremes() -> None:
    figures = spread("x", [4.0, 1.0, 3.0, 2.0, 5.0])

    assert figures == {"x": 3.0, "x_p25": 2.0, "x_p75": 4.0, "x_min": 1.0, "x_max": 5.0}
    assert spread("x", [7.0]) == {"x": 7.0}


def test_a_round_in_which_a_server_completed_nothing_has_no_ratio() -> None:
    def window(responses: int, cpu_us: float) -> dict[str, float]:
        return {"responses": responses, "server_cpu_us": cpu_us}

    windows = {
        "none": [window(100, 50.0), window(0, 0.0), window(100, 40.0)],
        "tripwire": [window(100, 55.0), window(100, 60.0), window(0, 0.0)],
    }

    ratios = per_round(windows, "tripwire", lambda b, m: m["server_cpu_us"] / b["server_cpu_us"])

    assert [round(ratio, 6) for ratio in ratios] == [10.0]
