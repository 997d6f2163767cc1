"""Fixtures for the default integrations: recorded events, and a tiny HTTP collector that
subprocesses send to."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.relay import assert_valid_event
from tripwire.envelope import parse_envelope
from tripwire.testing import Collector, capture_events

SRC = str(Path(__file__).resolve().parents[2] / "src")

# A transport for subprocesses: a daemon thread POSTs each envelope to TRIPWIRE_TEST_URL, so
# whatever is still queued at exit is lost unless something flushes (the atexit integration).
# The HTTP transport closes itself at exit too, so the atexit tests use this one.
PRELUDE = textwrap.dedent(
    """
    import os, queue, threading, urllib.request
    import tripwire
    from tripwire.transport.base import Transport

    class PostingTransport(Transport):
        def __init__(self):
            super().__init__()
            self.queue = queue.Queue()
            threading.Thread(target=self.work, daemon=True).start()

        def capture_envelope(self, envelope):
            self.queue.put(envelope.serialize())

        def work(self):
            while True:
                body = self.queue.get()
                try:
                    urllib.request.urlopen(os.environ["TRIPWIRE_TEST_URL"], data=body).read()
                finally:
                    self.queue.task_done()

        def flush(self, timeout, callback=None):
            done = threading.Event()
            threading.Thread(target=lambda: (self.queue.join(), done.set()), daemon=True).start()
            if not done.wait(min(timeout, 0.1)) and callback is not None:
                callback(self.queue.unfinished_tasks, timeout)
            return done.wait(max(timeout - 0.1, 0))
    """
)


class TinyCollector:
    """Records the envelopes POSTed to it; ``delay`` holds every answer back that long."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.release = threading.Event()
        self.release.set()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                collector.bodies.append(body)
                collector.release.wait(30)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/1/envelope/"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events received, each one checked by Relay's normaliser."""
        found = [parse_envelope(body).get_event() for body in list(self.bodies)]
        events = [event for event in found if event is not None]
        for event in events:
            assert_valid_event(event)
        return events

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tiny_collector() -> Iterator[TinyCollector]:
    collector = TinyCollector()
    yield collector
    collector.close()


def run_script(
    body: str, collector: TinyCollector | Collector, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run PRELUDE + ``body`` in a fresh interpreter importing this worktree's tripwire.

    The script finds the collector in TRIPWIRE_TEST_URL (for PostingTransport) and
    TRIPWIRE_TEST_DSN (for the real HTTP transport).
    """
    env = dict(os.environ, PYTHONPATH=SRC)
    if isinstance(collector, TinyCollector):
        env["TRIPWIRE_TEST_URL"] = collector.url
    else:
        env["TRIPWIRE_TEST_DSN"] = collector.dsn
    env.pop("PYTHONSTARTUP", None)
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    """``init()`` with a recording transport and the default integrations."""
    with capture_events() as captured:
        yield captured
