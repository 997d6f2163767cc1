from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tripwire.inbox import queries
from tripwire.inbox.storage import Storage


def test_demo_prints_grouped_issues_and_the_address_and_stores_them(tmp_path: Path) -> None:
    """`tripwire demo` end to end: inbox, sample app in a subprocess, grouped issues."""
    stale = tmp_path / ".tripwire" / "demo" / "inbox.sqlite3"
    stale.parent.mkdir(parents=True)
    with Storage(stale) as storage:  # a previous run's issues must not show up
        storage.store_event(1, {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "message": "old"})
    done = subprocess.run(
        [sys.executable, "-m", "tripwire.inbox.cli", "demo", "--no-wait", "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "KeyError: 'kiwi'" in done.stdout
    assert "10 events in 5 issues. Open http://127.0.0.1:" in done.stdout

    with Storage(tmp_path / ".tripwire" / "demo" / "inbox.sqlite3") as storage:
        issues = queries.issues(storage)
        # The SDK sends with more than one request in flight, so the two log events may
        # arrive in either order; the issue's title is the one of the last to arrive.
        counts = {
            i.title.split(":")[0].replace("order 18", "order 19"): i.times_seen for i in issues
        }
        assert counts == {
            "PaymentFailed": 1,
            "KeyError": 5,
            "payment provider answered 503 for order 19": 2,
            "ValueError": 1,
            "ZeroDivisionError": 1,
        }
        [chained] = [i for i in issues if i.title.startswith("PaymentFailed")]
        event = queries.latest_event(storage, chained.id)
        assert event is not None
        types = [e["type"] for e in event.body["exception"]["values"]]
        assert types == ["ConnectionRefusedError", "PaymentFailed"]
        assert chained.culprit == "__main__ in charge"
        [threaded] = [i for i in issues if i.title.startswith("ZeroDivisionError")]
        assert threaded.culprit == "__main__ in nightly_report"
