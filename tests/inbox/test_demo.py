from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tripwire.inbox import queries
from tripwire.inbox.demo import run_sample_app
from tripwire.inbox.runner import BackgroundInbox
from tripwire.inbox.storage import Storage


def test_sample_app_failures_arrive_grouped(
    inbox: BackgroundInbox, storage: Storage, tmp_path: Path
) -> None:
    done = run_sample_app(inbox.dsn, tmp_path / "demo")
    assert done.returncode == 0, done.stderr

    counts = {i.title.split(":")[0]: i.times_seen for i in queries.issues(storage)}
    assert counts == {
        "PaymentFailed": 1,
        "KeyError": 5,
        "payment provider answered 503 for order 19": 2,
        "ValueError": 1,
        "ZeroDivisionError": 1,
    }
    [chained] = [i for i in queries.issues(storage) if i.title.startswith("PaymentFailed")]
    event = queries.latest_event(storage, chained.id)
    assert event is not None
    types = [e["type"] for e in event.body["exception"]["values"]]
    assert types == ["ConnectionRefusedError", "PaymentFailed"]
    assert chained.culprit == "__main__ in charge"


def test_demo_command_prints_the_grouped_issues_and_the_address(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tripwire.inbox.cli", "demo", "--no-wait", "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "KeyError: 'kiwi'" in done.stdout
    assert "10 events in 5 issues. Open http://127.0.0.1:" in done.stdout
    assert (tmp_path / ".tripwire" / "demo" / "inbox.sqlite3").exists()
