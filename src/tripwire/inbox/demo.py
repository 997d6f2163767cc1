"""``tripwire demo``: an inbox, a sample app that fails, the grouped issues, then the UI.

The sample app (demo_app.py) is copied to ``shop.py`` in the demo folder and run from
there, so its tracebacks look like a user's app and its folder holds nothing else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import click

from tripwire.inbox import console, queries
from tripwire.inbox.runner import BackgroundInbox
from tripwire.inbox.storage import Storage

__all__ = ["DEMO_DIR", "run_demo", "run_sample_app"]

DEMO_DIR = Path(".tripwire") / "demo"
SAMPLE_APP_TIMEOUT_S = 60.0


def run_sample_app(dsn: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Write the sample app to ``folder/shop.py`` and run it against ``dsn``."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "shop.py"
    source = resources.files("tripwire.inbox").joinpath("demo_app.py").read_text("utf-8")
    script.write_text(source, encoding="utf-8")
    # The child must import the same tripwire as this process, installed or from a checkout.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.run(
        [sys.executable, script.name, dsn],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=SAMPLE_APP_TIMEOUT_S,
        check=False,
    )


def _command() -> str:
    """How to run ``tripwire`` from here: by name when it is on PATH, else by its path."""
    script = Path(sys.executable).parent / "tripwire"
    found = shutil.which("tripwire")
    if found and Path(found).resolve() == script.resolve():
        return "tripwire"
    if script.exists():
        return os.path.relpath(script)
    return f"{sys.executable} -m tripwire.inbox.cli"


def _start(storage: Storage, host: str, port: int) -> BackgroundInbox:
    try:
        return BackgroundInbox(storage, host, port).start()
    except OSError:
        click.echo(f"Port {port} is busy; using a free one instead.")
        return BackgroundInbox(storage, host, 0).start()


def run_demo(db: Path | None, host: str, port: int, *, wait: bool = True) -> int:
    """Run the demo; returns the number of issues. With ``wait``, serve until Ctrl-C."""
    if db is None:  # the demo's own database starts empty each time
        db = DEMO_DIR / "inbox.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    with Storage(db) as storage:
        inbox = _start(storage, host, port)
        try:
            click.echo(f"tripwire inbox on {inbox.url}  (db: {storage.path})")
            click.echo(f"Running a sample app that fails in several ways, DSN {inbox.dsn}\n")
            done = run_sample_app(inbox.dsn, db.parent)
            if done.returncode != 0:
                raise click.ClickException(f"the sample app failed:\n{done.stderr.strip()}")
            found = queries.issues(storage, "is:unresolved")
            for line in console.issue_table(found):
                click.echo(line)
            click.echo(
                f"\n{sum(i.times_seen for i in found)} events in {len(found)} issues. "
                f"Open {click.style(inbox.url, bold=True, underline=True)} in your browser,"
            )
            click.echo(f"or run: {_command()} show {found[0].id if found else 1} --db {db}")
            if wait:
                click.echo("Serving until Ctrl-C.")
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    click.echo("\nStopped.")
            return len(found)
        finally:
            inbox.stop()
