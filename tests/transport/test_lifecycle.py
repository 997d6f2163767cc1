"""Exit, kill -9, fork and restart, each in real processes against a real collector."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.transport.conftest import RunScript, script_env
from tripwire.testing import Collector, Response
from tripwire.transport.replay import WINDOW

CAPTURE_ERRORS = """
import sys, tripwire
tripwire.init(sys.argv[1], spool_dir=sys.argv[2], shutdown_timeout=float(sys.argv[4]))
for number in range(int(sys.argv[3])):
    try:
        raise RuntimeError(f"failure {number}")
    except RuntimeError:
        tripwire.capture_exception()
"""

JUST_INIT = """
import sys, tripwire
tripwire.init(sys.argv[1], spool_dir=sys.argv[2], shutdown_timeout=float(sys.argv[3]))
"""


def _values(collector: Collector) -> list[str]:
    return [str(e["exception"]["values"][-1]["value"]) for e in collector.events]


def test_done_when_1000_errors_outlive_a_stopped_server_and_arrive_on_the_next_run(
    collector: Collector, run_script: RunScript, spool_dir: Path
) -> None:
    """The issue's acceptance scenario: nothing is lost, the exit is not held up."""
    collector.down()
    started = time.monotonic()
    first = run_script(CAPTURE_ERRORS, collector.dsn, str(spool_dir), "1000", "2", timeout=30)
    assert first.returncode == 0, first.stderr
    assert time.monotonic() - started < 30

    collector.up()
    # The exit ends as soon as all is sent; the long budget is for a loaded machine.
    second = run_script(JUST_INIT, collector.dsn, str(spool_dir), "100", timeout=110)
    assert second.returncode == 0, second.stderr

    values = _values(collector)
    assert Counter(values) == Counter(f"failure {number}" for number in range(1000))


def test_exit_with_a_hanging_server_takes_at_most_shutdown_timeout(
    collector: Collector, run_script: RunScript, spool_dir: Path
) -> None:
    collector.default = Response(hang=True)
    done = run_script(CAPTURE_ERRORS, collector.dsn, str(spool_dir), "5", "1", timeout=15)
    assert done.returncode == 0, done.stderr

    collector.release()
    collector.down()
    collector.default = Response()
    collector.up()
    later = run_script(JUST_INIT, collector.dsn, str(spool_dir), "5")
    assert later.returncode == 0, later.stderr
    assert set(_values(collector)) == {f"failure {number}" for number in range(5)}


SPOOL_AND_WAIT = """
import sys, time, tripwire
tripwire.init(sys.argv[1], spool_dir=sys.argv[2])
for number in range(200):
    tripwire.capture_message(f"before kill {number}")
tripwire.flush(5)
print("spooled", flush=True)
time.sleep(60)
"""


def test_what_a_killed_process_spooled_is_delivered_by_the_next_one(
    collector: Collector, run_script: RunScript, spool_dir: Path
) -> None:
    collector.down()
    with subprocess.Popen(
        [sys.executable, "-c", SPOOL_AND_WAIT, collector.dsn, str(spool_dir)],
        env=script_env(spool_dir),
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "spooled"
        child.send_signal(signal.SIGKILL)
        child.wait(10)

    collector.up()
    later = run_script(JUST_INIT, collector.dsn, str(spool_dir), "5")
    assert later.returncode == 0, later.stderr
    messages = [e["message"] for e in collector.events]
    assert Counter(messages) == Counter(f"before kill {number}" for number in range(200))


def test_a_process_killed_mid_replay_leaves_the_rest_for_the_next(
    collector: Collector, run_script: RunScript, spool_dir: Path
) -> None:
    collector.down()
    first = run_script(CAPTURE_ERRORS, collector.dsn, str(spool_dir), "300", "1")
    assert first.returncode == 0, first.stderr
    collector.default = Response(delay_s=0.01)
    collector.up()
    replaying = subprocess.Popen(
        [
            sys.executable,
            "-c",
            JUST_INIT + "import time; time.sleep(60)\n",
            collector.dsn,
            str(spool_dir),
            "1",
        ],
        env=script_env(spool_dir),
    )
    assert collector.wait_for_events(50, timeout=20)
    replaying.send_signal(signal.SIGKILL)
    replaying.wait(10)

    collector.default = Response()
    later = run_script(JUST_INIT, collector.dsn, str(spool_dir), "10")
    assert later.returncode == 0, later.stderr
    counts = Counter(_values(collector))
    assert set(counts) == {f"failure {number}" for number in range(300)}
    # At most the envelopes in flight at the kill can arrive twice (at-least-once).
    assert sum(counts.values()) - len(counts) <= WINDOW


FORK_UNDER_LOAD = """
import multiprocessing, sys, threading, tripwire
tripwire.init(sys.argv[1], spool_dir=False, shutdown_timeout=30)
stop = threading.Event()

def load():
    number = 0
    name = threading.current_thread().name
    while not stop.is_set():
        tripwire.capture_message(f"parent {name} {number}")
        number += 1

def child(index):
    for number in range(50):
        tripwire.capture_message(f"child {index} {number}")

if __name__ == "__main__":
    # The modules integration scans distributions under a lock at the first event; a fork
    # during that scan would leave the child's copy locked. Warm it before the load starts.
    tripwire.capture_message("warm up")
    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=child, args=(i,)) for i in range(4)]
    for process in children:
        process.start()
    for process in children:
        process.join(30)
        assert process.exitcode == 0, process.exitcode
    stop.set()
    for thread in threads:
        thread.join()
    assert tripwire.flush(60)
    print("ok")
"""


def test_forked_children_under_load_deliver_their_events_without_deadlock(
    collector: Collector, run_script: RunScript
) -> None:
    done = run_script(FORK_UNDER_LOAD, collector.dsn, timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"

    messages = [str(e["message"]) for e in collector.events]
    children = Counter(m for m in messages if m.startswith("child"))
    assert children == Counter(f"child {i} {n}" for i in range(4) for n in range(50))
    parents = Counter(m for m in messages if m.startswith("parent"))
    assert parents
    assert max(parents.values()) == 1


def test_two_processes_replaying_one_spool_never_send_an_envelope_twice(
    collector: Collector, run_script: RunScript, spool_dir: Path
) -> None:
    collector.down()
    first = run_script(CAPTURE_ERRORS, collector.dsn, str(spool_dir), "400", "1")
    assert first.returncode == 0, first.stderr
    collector.up()

    replay = [sys.executable, "-c", JUST_INIT, collector.dsn, str(spool_dir), "100"]
    env = script_env(spool_dir)
    with subprocess.Popen(replay, env=env) as one, subprocess.Popen(replay, env=env) as two:
        assert one.wait(110) == 0
        assert two.wait(110) == 0

    assert Counter(_values(collector)) == Counter(f"failure {n}" for n in range(400))
