"""Scenario 11: inbox ingest, events per second stored and grouped, 20-frame events.

Two paths, each on a fresh SQLite file: ``Storage.store_event()`` one event at a time (each
its own transaction), and envelopes POSTed over HTTP to ``tripwire serve`` (a subprocess) from
a few keep-alive client threads, where the inbox's writer batches commits. Events come from 40
distinct error sites, so grouping makes about 40 issues.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.scenarios.child import emit, parser
from bench.scenarios.floor import FrameSnapshot, walk
from bench.scenarios.workload import BenchError, descend

__all__ = ["SITES", "main", "make_events"]

SITES = 40
FRAMES = 20


def _frame(snapshot: FrameSnapshot, site: int, index: int) -> dict[str, Any]:
    function = f"{snapshot.function}_{site}" if index == FRAMES - 1 else snapshot.function
    return {
        "filename": f"app/{Path(snapshot.filename).name}",
        "abs_path": snapshot.filename,
        "module": "app.orders",
        "function": function,
        "lineno": snapshot.lineno + index,
        "pre_context": ["    # preparing", "    total = sum(numbers)"],
        "context_line": snapshot.context_line,
        "post_context": ["    return total", ""],
        "in_app": True,
        "vars": snapshot.variables,
    }


def make_events(count: int) -> list[dict[str, Any]]:
    """``count`` realistic error events with 20 frames each, spread over ``SITES`` sites."""
    try:
        descend(FRAMES - 1)
    except BenchError as exc:
        snapshots = walk(exc.__traceback__)
    breadcrumbs = [
        {
            "timestamp": time.time(),
            "category": "http",
            "message": f"GET /orders/{n}",
            "level": "info",
        }
        for n in range(10)
    ]
    events = []
    for number in range(count):
        site = number % SITES
        events.append(
            {
                "event_id": uuid.uuid4().hex,
                "timestamp": time.time(),
                "platform": "python",
                "level": "error",
                "logger": "app.orders",
                "environment": "production",
                "release": "shop@1.4.2",
                "server_name": "web-1",
                "exception": {
                    "values": [
                        {
                            "type": f"OrderError{site}",
                            "value": f"order {number} could not be paid",
                            "module": "app.errors",
                            "mechanism": {"type": "generic", "handled": True},
                            "stacktrace": {
                                "frames": [
                                    _frame(s, site, i) for i, s in enumerate(snapshots[:FRAMES])
                                ]
                            },
                        }
                    ]
                },
                "tags": {"region": "eu-west-1", "tenant": f"t{number % 7}"},
                "contexts": {"runtime": {"name": "CPython", "version": "3.11.7"}},
                "breadcrumbs": {"values": breadcrumbs},
                "user": {"id": str(number % 100)},
                "extra": {"order_id": number},
                "sdk": {"name": "sentry.python", "version": "2.75.0"},
            }
        )
    return events


def _counts(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        issues = conn.execute("SELECT COUNT(*) FROM issues").fetchone()[0]
    conn.close()
    return int(events), int(issues)


def _store_directly(db: Path, events: list[dict[str, Any]]) -> dict[str, float]:
    from tripwire.inbox.storage import Storage

    storage = Storage(db)
    project = storage.default_project().id
    started = time.perf_counter()
    for event in events:
        storage.store_event(project, event)
    elapsed = time.perf_counter() - started
    storage.close()
    stored, issues = _counts(db)
    return {"store_events_per_s": stored / elapsed, "store_stored": stored, "store_issues": issues}


def _envelope(event: dict[str, Any]) -> bytes:
    payload = json.dumps(event).encode()
    header = json.dumps({"event_id": event["event_id"]}).encode()
    item = json.dumps({"type": "event", "length": len(payload)}).encode()
    return gzip.compress(b"\n".join([header, item, payload]) + b"\n")


def _post_all(dsn: str, bodies: list[bytes], threads: int, budget_s: float) -> float:
    """POST ``bodies`` from ``threads`` connections until done or ``budget_s`` ran out."""
    key, _, rest = dsn.removeprefix("http://").partition("@")
    hostport, _, project = rest.partition("/")
    host, _, port = hostport.partition(":")
    headers = {
        "Content-Type": "application/x-sentry-envelope",
        "Content-Encoding": "gzip",
        "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={key}, sentry_client=bench/1",
    }
    pending = list(reversed(bodies))
    lock = threading.Lock()
    failures: list[str] = []

    deadline = time.perf_counter() + budget_s

    def worker() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.perf_counter() < deadline:
            with lock:
                if not pending:
                    break
                body = pending.pop()
            connection.request("POST", f"/api/{project}/envelope/", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures.append(f"inbox answered {response.status}")
        connection.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures:
        raise RuntimeError(failures[0])
    return time.perf_counter() - started


def _store_over_http(
    db: Path, events: list[dict[str, Any]], threads: int, budget_s: float
) -> dict[str, float]:
    command = [sys.executable, "-m", "tripwire.inbox.cli", "serve", "--db", str(db), "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert server.stdout is not None
        dsn = ""
        while not dsn:
            line = server.stdout.readline()
            if not line:
                raise RuntimeError(f"tripwire serve exited with {server.wait()}")
            dsn = line.split("DSN:", 1)[1].strip() if "DSN:" in line else ""
        bodies = [_envelope(event) for event in events]
        elapsed = _post_all(dsn, bodies, threads, budget_s)
    finally:
        server.terminate()
        server.wait(timeout=15)
    stored, issues = _counts(db)
    return {"http_events_per_s": stored / elapsed, "http_stored": stored, "http_issues": issues}


def main(argv: list[str]) -> dict[str, object]:
    """Measure both ingest paths; returns events per second and what was stored."""
    arguments = parser("inbox ingest", sdks=("tripwire",))
    arguments.add_argument("--events", type=int, default=3000)
    arguments.add_argument("--threads", type=int, default=4)
    arguments.add_argument("--seconds", type=float, default=10.0, help="time budget for HTTP")
    args = arguments.parse_args(argv)
    events = make_events(args.events)
    result: dict[str, object] = {"events": args.events}
    with tempfile.TemporaryDirectory(prefix="tripwire-bench-") as tmp:
        result.update(_store_directly(Path(tmp) / "direct.db", events))
        fresh = [{**event, "event_id": uuid.uuid4().hex} for event in events]
        result.update(_store_over_http(Path(tmp) / "http.db", fresh, args.threads, args.seconds))
    return result


if __name__ == "__main__":
    emit(main(sys.argv[1:]))
