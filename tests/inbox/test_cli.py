from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tests.inbox.conftest import distinct_errors, envelope, envelope_url, make_event, post
from tripwire.dsn import Dsn
from tripwire.inbox import queries
from tripwire.inbox.cli import main
from tripwire.inbox.ingest import Attachment
from tripwire.inbox.records import prepare
from tripwire.inbox.runner import BackgroundInbox
from tripwire.inbox.storage import Storage


def _run(db: Path, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


def _chained_event() -> dict[str, object]:
    event = make_event(exc_type="PaymentFailed", value="could not charge order 17")
    cause = make_event(exc_type="ConnectionRefusedError", value="[Errno 111] refused")
    [cause_value] = cause["exception"]["values"]
    cause_value["mechanism"] = {"type": "chained", "source": "__cause__", "exception_id": 1}
    event["exception"]["values"].insert(0, cause_value)
    return event


def test_dsn_is_parseable_and_stable(tmp_path: Path) -> None:
    db = tmp_path / "db"
    first = _run(db, "dsn").strip()
    assert first == _run(db, "dsn", "--port", "8969").strip()
    parsed = Dsn.parse(first)
    assert (parsed.host, parsed.port, parsed.project_id) == ("127.0.0.1", 8969, "1")


def test_project_create_prints_a_new_dsn_that_dsn_finds_again(tmp_path: Path) -> None:
    db = tmp_path / "db"
    created = _run(db, "project", "create", "web")
    assert created == _run(db, "dsn", "--project", "web")
    assert Dsn.parse(created.strip()).project_id == "2"
    again = CliRunner().invoke(main, ["project", "create", "--db", str(db), "web"])
    assert again.exit_code == 1
    assert "exists already" in again.output


def test_db_comes_from_tripwire_db(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["dsn"], env={"TRIPWIRE_DB": str(tmp_path / "env.db")})
    assert result.exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_issues_lists_grouped_issues_as_table_and_json(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with Storage(db) as storage:
        storage.store_events(1, [make_event(), make_event(), make_event(exc_type="KeyError")])
    table = _run(db, "issues")
    assert "ValueError: bad value 42" in table
    assert "app.views in compute" in table
    rows = json.loads(_run(db, "issues", "--json", "--sort", "times_seen"))
    assert [(r["title"].split(":")[0], r["times_seen"]) for r in rows] == [
        ("ValueError", 2),
        ("KeyError", 1),
    ]
    assert json.loads(_run(db, "issues", "--json", "is:resolved")) == []


def test_show_renders_a_python_traceback_with_locals_and_the_chain(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with Storage(db) as storage:
        issue_id = storage.store_event(1, _chained_event()).issue_id
    text = _run(db, "show", str(issue_id))
    assert "\x1b[" not in text  # no colours when not a terminal
    cause_at = text.index("ConnectionRefusedError: [Errno 111] refused")
    assert text.index("The above exception was the direct cause") > cause_at
    assert 'File "/srv/app/app/views.py", line 11, in compute' in text
    assert "    return compute(request)" in text
    assert "      count = 3" in text
    assert text.rstrip().count("PaymentFailed: could not charge order 17") == 2  # title + last
    data = json.loads(_run(db, "show", f"#{issue_id}", "--json"))
    assert issue_id == data["issue"]["id"]
    assert data["event"]["body"]["exception"]["values"][-1]["type"] == "PaymentFailed"


def test_show_uses_colours_in_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with Storage(db) as storage:
        issue_id = storage.store_event(1, make_event()).issue_id
    result = CliRunner().invoke(main, ["show", str(issue_id), "--db", str(db)], color=True)
    assert "\x1b[31m\x1b[1mValueError: bad value 42\x1b[0m" in result.output


def test_show_unknown_issue_exits_with_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["show", "--db", str(tmp_path / "db"), "42"])
    assert result.exit_code == 1
    assert "no issue #42" in result.output


def test_tail_follows_new_events_as_json(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with Storage(db) as storage, BackgroundInbox(storage) as inbox:
        key = storage.default_project().public_key
        storage.store_event(1, make_event(exc_type="OldError"))
        tail = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tripwire.inbox.cli",
                "tail",
                "--db",
                str(db),
                "--json",
                "--all",
                "--count",
                "2",
                "--interval",
                "0.05",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        try:
            assert tail.stdout is not None
            line = tail.stdout.readline()  # tail is polling once this arrives
            assert line, f"tail printed nothing: {tail.communicate(timeout=60)[1]}"
            first = json.loads(line)
            reply = post(envelope_url(inbox), envelope(make_event(exc_type="NewError")), key=key)
            assert reply.status == 200
            out, errors = tail.communicate(timeout=60)
        finally:
            tail.kill()
            tail.communicate()
    assert tail.returncode == 0, errors
    titles = [first["title"]] + [json.loads(line)["title"] for line in out.splitlines()]
    assert [t.split(":")[0] for t in titles] == ["OldError", "NewError"]


def test_serve_prints_a_dsn_that_accepts_events(tmp_path: Path) -> None:
    db = tmp_path / "db"
    server = subprocess.Popen(
        [sys.executable, "-m", "tripwire.inbox.cli", "serve", "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("tripwire inbox on http://127.0.0.1:")
        dsn = Dsn.parse(server.stdout.readline().removeprefix("DSN: ").strip())
        event = make_event()
        url = f"http://127.0.0.1:{dsn.port}/api/{dsn.project_id}/envelope/"
        reply = post(url, envelope(event), key=dsn.public_key)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert reply.status == 200
    with Storage(db) as storage:
        assert [event["event_id"]] == [e.event_id for e in queries.events_after(storage, 0)]


def test_retention_settings_are_shown_changed_and_applied(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with Storage(db) as storage:
        storage.store_events(1, [make_event() for _ in range(3)])
    assert _run(db, "retention") == "retention_days = 30\nmax_events_per_issue = 1000\n"
    assert "max_events_per_issue = 2" in _run(db, "retention", "--max-events", "2")
    with Storage(db) as storage:
        [issue] = queries.issues(storage)
        assert (issue.times_seen, len(queries.issue_events(storage, issue.id))) == (3, 2)


def test_an_unusable_database_path_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    result = CliRunner().invoke(main, ["issues", "--db", str(tmp_path / "file" / "db")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot open ")


def test_issues_past_the_limit_name_the_cursor_of_the_next_page(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with Storage(db) as storage:
        storage.store_events(1, distinct_errors(3))
    first = _run(db, "issues", "--limit", "2")
    assert "2 of 3 issues; next page: --after " in first
    cursor = first.rsplit("--after ", 1)[1].strip()
    rest = _run(db, "issues", "--limit", "2", "--after", cursor)
    titles = re.findall(r"Error\d", first + rest)
    assert sorted(titles) == ["Error0", "Error1", "Error2"]
    assert "next page" not in rest


def test_issues_with_a_made_up_cursor_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["issues", "--db", str(tmp_path / "db"), "--after", "x"])
    assert result.exit_code == 2
    assert "not a page cursor" in result.output


def test_show_lists_the_attachments_of_the_event(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with Storage(db) as storage:
        event = prepare(
            make_event(),
            attachments=[Attachment("app.log", "text/plain", "event.attachment", b"ok\n")],
        )
        issue_id = storage.store_events(1, [event])[0].issue_id
    assert "  app.log  text/plain, 3 bytes" in _run(db, "show", str(issue_id))
    shown = json.loads(_run(db, "show", str(issue_id), "--json"))
    assert [(a["filename"], a["size"]) for a in shown["attachments"]] == [("app.log", 3)]
