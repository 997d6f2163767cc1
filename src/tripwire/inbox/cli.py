"""The ``tripwire`` command: serve the inbox, print DSNs, list, show and tail issues, demo.

Every command takes ``--db PATH`` (or ``$TRIPWIRE_DB``); the default is the per-user data
folder. Errors print one line and exit with status 1.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tripwire.inbox import console, queries
from tripwire.inbox.records import EventRecord, Issue
from tripwire.inbox.search import BadCursor
from tripwire.inbox.storage import Storage, StorageError, default_db_path

__all__ = ["main"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8969
_EVENT_ID = re.compile(r"^[0-9a-fA-F]{32}$|^[0-9a-fA-F-]{36}$")
F = TypeVar("F", bound=Callable[..., Any])


def _db_option(command: F) -> F:
    """Adds ``--db`` and hands the command an open ``Storage`` as ``storage``."""

    @click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="TRIPWIRE_DB",
        default=None,
        help="SQLite file (default: $TRIPWIRE_DB, else the per-user data folder).",
    )
    @functools.wraps(command)
    def wrapper(db_path: Path | None, **kwargs: Any) -> Any:
        path = db_path or default_db_path()
        try:
            storage = Storage(path)
        except StorageError as exc:
            raise click.ClickException(str(exc)) from None
        except (sqlite3.Error, OSError) as exc:
            raise click.ClickException(f"cannot open {path}: {exc}") from None
        try:
            return command(storage=storage, **kwargs)
        except StorageError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            storage.close()

    return wrapper  # type: ignore[return-value]


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}"


@click.group()
def main() -> None:
    """tripwire: errors from any Sentry SDK, grouped, in your browser and terminal."""


@main.command()
@_db_option
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
def serve(storage: Storage, host: str, port: int) -> None:
    """Run the inbox: ingest from Sentry SDKs and serve the web UI."""
    from tripwire.inbox.runner import bind, serve_forever

    try:
        sock = bind(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    base = _base_url(host, sock.getsockname()[1])
    project = storage.default_project()
    click.echo(f"tripwire inbox on {click.style(base, bold=True)}  (db: {storage.path})")
    click.echo(f"DSN: {project.dsn(base)}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"Warning: the web UI has no login; anyone who reaches {host} can read events.")
    sys.stdout.flush()
    serve_forever(storage, sock)


@main.command()
@_db_option
@click.option("--project", "project_name", default=None, help="Project name (default: default).")
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
def dsn(storage: Storage, project_name: str | None, host: str, port: int) -> None:
    """Print a project's DSN, for scripts: SENTRY_DSN=$(tripwire dsn)."""
    project = storage.project_by_name(project_name) if project_name else storage.default_project()
    if project is None:
        raise click.ClickException(f"no project named {project_name!r}")
    click.echo(project.dsn(_base_url(host, port)))


@main.group()
def project() -> None:
    """Manage projects."""


@project.command("create")
@_db_option
@click.argument("name")
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
def project_create(storage: Storage, name: str, host: str, port: int) -> None:
    """Create project NAME and print its DSN."""
    created = storage.create_project(name)
    click.echo(created.dsn(_base_url(host, port)))


@project.command("list")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def project_list(storage: Storage, as_json: bool) -> None:
    """List projects."""
    projects = storage.projects()
    if as_json:
        _echo_json([vars(p) for p in projects])
        return
    for p in projects:
        click.echo(f"{p.id:>4}  {p.name:<20}  {p.public_key}")


@main.command()
@_db_option
@click.option("--days", type=click.IntRange(min=1), default=None, help="Keep events this long.")
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    default=None,
    help="Keep at most this many per issue.",
)
def retention(storage: Storage, days: int | None, max_events: int | None) -> None:
    """Show or change how long events are kept (issues and their counts stay)."""
    if days is not None:
        storage.set_setting("retention_days", days)
    if max_events is not None:
        storage.set_setting("max_events_per_issue", max_events)
    if days is not None or max_events is not None:
        storage.prune()
    click.echo(f"retention_days = {storage.setting('retention_days')}")
    click.echo(f"max_events_per_issue = {storage.setting('max_events_per_issue')}")


@main.command()
@_db_option
@click.argument("query", nargs=-1)
@click.option(
    "--sort",
    type=click.Choice(["last_seen", "first_seen", "times_seen", "oldest"]),
    default="last_seen",
    show_default=True,
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--after", default=None, metavar="CURSOR", help="Start after this page cursor.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def issues(
    storage: Storage,
    query: tuple[str, ...],
    sort: str,
    limit: int,
    after: str | None,
    as_json: bool,
) -> None:
    """List issues matching QUERY (default: is:unresolved), e.g. level:error release:1.2.

    Past ``--limit`` issues, the last line (on stderr with ``--json``) names the
    ``--after`` cursor of the next page.
    """
    try:
        page = queries.issue_page(
            storage, " ".join(query) or "is:unresolved", sort=sort, size=limit, after=after
        )
    except BadCursor as exc:
        raise click.BadParameter(str(exc), param_hint="--after") from None
    if as_json:
        _echo_json([console.issue_json(issue) for issue in page.issues])
    else:
        for line in console.issue_table(page.issues):
            click.echo(line)
    if page.next_cursor:
        shown = f"{len(page.issues)} of {page.total} issues"
        click.echo(f"{shown}; next page: --after {page.next_cursor}", err=as_json)


def _find(storage: Storage, ref: str, event_id: str | None) -> tuple[Issue | None, EventRecord]:
    """An issue id (``3`` or ``#3``) or an event id; the issue's latest event by default."""
    if _EVENT_ID.match(ref) and event_id is None:
        event = queries.event(storage, ref.replace("-", "").lower())
        if event is None:
            raise click.ClickException(f"no event {ref}")
        return queries.issue(storage, event.issue_id), event
    number = ref.lstrip("#")
    if not number.isdigit():
        raise click.ClickException(f"{ref!r} is neither an issue number nor an event id")
    issue = queries.issue(storage, int(number))
    if issue is None:
        raise click.ClickException(f"no issue #{number}")
    event = (
        queries.event(storage, event_id.replace("-", "").lower())
        if event_id
        else queries.latest_event(storage, issue.id)
    )
    if event is None or event.issue_id != issue.id:
        raise click.ClickException(f"issue #{number} has no such event")
    return issue, event


@main.command()
@_db_option
@click.argument("ref", metavar="ISSUE")
@click.option("--event", "event_id", default=None, help="Show this event instead of the latest.")
@click.option("--json", "as_json", is_flag=True, help="Print the issue and event as JSON.")
def show(storage: Storage, ref: str, event_id: str | None, as_json: bool) -> None:
    """Show ISSUE's latest event like a Python traceback, with locals."""
    issue, event = _find(storage, ref, event_id)
    attachments = queries.attachments(storage, event.id)
    if as_json:
        _echo_json(
            {
                "issue": console.issue_json(issue) if issue else None,
                "event": console.event_json(event),
                "attachments": [dataclasses.asdict(a) for a in attachments],
            }
        )
        return
    for line in console.event_lines(event, issue):
        click.echo(line)
    if attachments:
        click.echo(click.style("\nAttachments", bold=True))
        for found in attachments:
            click.echo(f"  {found.filename}  {found.content_type}, {found.size} bytes")


@main.command()
@_db_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option(
    "--interval", default=0.5, show_default=True, type=float, help="Seconds between polls."
)
@click.option("--count", default=0, type=int, help="Exit after this many events (0: never).")
@click.option("--all", "from_start", is_flag=True, help="Start with the events already stored.")
def tail(storage: Storage, as_json: bool, interval: float, count: int, from_start: bool) -> None:
    """Follow new events as they arrive (Ctrl-C to stop)."""
    last = 0 if from_start else queries.last_event_row(storage)
    seen = 0
    try:
        while True:
            for event in queries.events_after(storage, last):
                last = event.id
                if as_json:
                    click.echo(json.dumps(console.event_json(event), default=str))
                else:
                    click.echo(console.event_line(event))
                seen += 1
                if count and seen >= count:
                    return
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


@main.command()
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TRIPWIRE_DB",
    default=None,
    help="SQLite file (default: a fresh .tripwire/demo/inbox.sqlite3).",
)
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--no-wait", is_flag=True, help="Exit after printing the issues instead of serving.")
def demo(db_path: Path | None, host: str, port: int, no_wait: bool) -> None:
    """Start an inbox, run a sample app that fails in several ways, show the issues."""
    from tripwire.inbox.demo import run_demo

    try:
        run_demo(db_path, host, port, wait=not no_wait)
    except (StorageError, sqlite3.Error) as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    main(prog_name="tripwire")
