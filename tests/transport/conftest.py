"""Fixtures for transport tests: hand-built event envelopes and transports on a collector."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tripwire
from tripwire.drops import DropCounter
from tripwire.dsn import Dsn
from tripwire.envelope import Envelope, Item
from tripwire.options import Options
from tripwire.testing import Collector
from tripwire.transport.http import HttpTransport

MakeTransport = Callable[..., HttpTransport]


def event_envelope(message: str = "boom", **extra: Any) -> Envelope:
    """An error-event envelope as the client builds it (the payload still a dict)."""
    event_id = os.urandom(16).hex()
    event = {
        "event_id": event_id,
        "timestamp": time.time(),
        "platform": "python",
        "level": "error",
        "message": {"formatted": message},
        **extra,
    }
    return Envelope({"event_id": event_id}, [Item("event", json=event)])


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def make_transport(collector: Collector, spool_dir: Path) -> Iterator[MakeTransport]:
    """Build transports to ``collector`` (spooling under tmp_path); closes them at the end."""
    made: list[HttpTransport] = []

    def make(dsn: str | None = None, timeout_s: float = 5.0, **options: Any) -> HttpTransport:
        options.setdefault("spool_dir", str(spool_dir))
        options.setdefault("shutdown_timeout", 1.0)
        drops = DropCounter(options.get("on_drop"))
        config = Options(dsn=Dsn.parse(dsn or collector.dsn), **options)
        transport = HttpTransport(config, drops, timeout_s=timeout_s)
        made.append(transport)
        return transport

    yield make
    collector.release()
    for transport in made:
        transport.close(0)


RunScript = Callable[..., "subprocess.CompletedProcess[str]"]
SRC = str(Path(tripwire.__file__).resolve().parents[1])


def script_env(spool_dir: Path) -> dict[str, str]:
    """The environment of a child Python: this checkout's tripwire, a private cache folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    env["PYTHONPATH"] = SRC
    env["XDG_CACHE_HOME"] = str(spool_dir.parent / "cache")
    return env


@pytest.fixture
def run_script(spool_dir: Path) -> RunScript:
    """Run Python ``code`` in a fresh interpreter, ``timeout`` bounding it; returns the result."""

    def run(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            env=script_env(spool_dir),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
