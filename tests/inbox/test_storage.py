from __future__ import annotations

import sqlite3
import threading
import time
from importlib import resources
from pathlib import Path

import pytest

from tests.inbox.conftest import distinct_errors, make_event
from tripwire.inbox import queries
from tripwire.inbox.search import SORTS, BadCursor
from tripwire.inbox.storage import SCHEMA_VERSION, Busy, Storage, StorageError, default_db_path


def test_new_database_is_in_wal_mode_at_the_schema_version_with_a_default_project(
    tmp_path: Path,
) -> None:
    with Storage(tmp_path / "sub" / "db.sqlite3") as storage:
        project = storage.default_project()
        assert (project.id, project.name) == (1, "default")
        assert len(project.public_key) == 32
    conn = sqlite3.connect(tmp_path / "sub" / "db.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_reopening_keeps_the_default_project_key(tmp_path: Path) -> None:
    with Storage(tmp_path / "db") as first:
        key = first.default_project().public_key
    with Storage(tmp_path / "db") as second:
        assert key == second.default_project().public_key


def test_a_database_from_a_newer_tripwire_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StorageError, match="upgrade tripwire"):
        Storage(tmp_path / "db")


def test_db_path_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIPWIRE_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert tmp_path / "tripwire" / "inbox.sqlite3" == default_db_path()
    monkeypatch.setenv("TRIPWIRE_DB", str(tmp_path / "x.db"))
    assert tmp_path / "x.db" == default_db_path()


def test_project_names_are_unique(storage: Storage) -> None:
    storage.create_project("web")
    with pytest.raises(StorageError, match="exists already"):
        storage.create_project("web")


def test_repeated_errors_count_on_one_issue_and_duplicates_are_skipped(storage: Storage) -> None:
    first = make_event()
    stored = storage.store_events(1, [first, make_event(), first])
    assert [s.is_new_issue for s in stored[:2]] == [True, False]
    assert stored[2].id is None
    [issue] = queries.issues(storage)
    assert issue.times_seen == 2
    assert {"checkout_step": [("pay", 2)]}.items() <= queries.issue_tags(storage, issue.id).items()
    assert sum(queries.histograms(storage, [issue.id])[issue.id]) == 2


def test_resolved_issue_that_recurs_is_a_regression(storage: Storage) -> None:
    issue_id = storage.store_event(1, make_event()).issue_id
    storage.set_status(issue_id, "resolved")
    assert queries.issues(storage, "is:unresolved") == []
    again = storage.store_event(1, make_event())
    assert again.is_regression
    issue = queries.issue(storage, issue_id)
    assert issue is not None
    assert (issue.status, issue.is_regression) == ("unresolved", True)
    assert [issue_id] == [i.id for i in queries.issues(storage, "is:regressed")]


def test_ignored_issue_stays_ignored_but_counts(storage: Storage) -> None:
    issue_id = storage.store_event(1, make_event()).issue_id
    storage.set_status(issue_id, "ignored")
    storage.store_event(1, make_event())
    issue = queries.issue(storage, issue_id)
    assert issue is not None
    assert (issue.status, issue.times_seen) == ("ignored", 2)


def test_a_failing_batch_stores_nothing(storage: Storage) -> None:
    with pytest.raises(KeyError):
        storage.store_events(1, [make_event(), {"message": "no event_id"}])
    assert queries.events_after(storage, 0) == []
    assert queries.issues(storage, "") == []


def test_a_transaction_that_may_not_wait_is_refused_while_another_connection_writes(
    storage: Storage,
) -> None:
    other = sqlite3.connect(storage.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(Busy), storage.transaction(wait=False):
        pass
    other.execute("COMMIT")
    other.close()
    with storage.transaction(wait=False) as conn:
        conn.execute("UPDATE settings SET value = '7' WHERE key = 'retention_days'")
    assert storage.setting("retention_days") == 7


def test_a_transaction_that_may_not_wait_is_refused_while_another_thread_writes(
    storage: Storage,
) -> None:
    refused: list[BaseException] = []

    def try_to_write() -> None:
        try:
            with storage.transaction(wait=False):
                pass
        except Busy as exc:
            refused.append(exc)

    with storage.transaction():
        attempt = threading.Thread(target=try_to_write)
        attempt.start()
        attempt.join()
    assert len(refused) == 1
    storage.store_event(storage.default_project().id, make_event())  # the lock was let go


def test_search_by_level_tag_status_and_text(storage: Storage) -> None:
    storage.store_event(1, make_event(exc_type="KeyError", value="k", tags={"region": "eu"}))
    storage.store_event(1, make_event(exc_type="TimeoutError", level="warning"))

    def titles(query: str) -> list[str]:
        return sorted(i.title.split(":")[0] for i in queries.issues(storage, query))

    assert titles("level:warning") == ["TimeoutError"]
    assert titles('region:"eu" is:unresolved') == ["KeyError"]
    assert titles("keyerr") == ["KeyError"]
    assert titles("release:shop@1.0") == ["KeyError", "TimeoutError"]
    assert titles("is:resolved") == []
    assert titles("project:default level:warning") == ["TimeoutError"]
    assert titles("project:nope") == []
    assert titles("100%_match") == []


def test_retention_removes_old_events_and_caps_events_per_issue(storage: Storage) -> None:
    storage.set_setting("max_events_per_issue", 2)
    for _ in range(4):
        storage.store_event(1, make_event())
    assert storage.prune() == 2
    [issue] = queries.issues(storage)
    assert len(queries.issue_events(storage, issue.id)) == 2
    assert issue.times_seen == 4
    storage.set_setting("retention_days", 1)
    assert storage.prune(now=time.time() + 2 * 86400) == 2
    assert queries.issues(storage, "") == []


def test_unknown_settings_are_errors(storage: Storage) -> None:
    with pytest.raises(StorageError):
        storage.set_setting("nope", 1)


def test_a_version_1_database_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    first = resources.files("tripwire.inbox.migrations").joinpath("0001_initial.sql")
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.executescript(first.read_text("utf-8"))
    conn.execute("INSERT INTO projects VALUES (1, 'default', 'k1', 0), (2, 'web', 'k2', 0)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    with Storage(tmp_path / "old.db") as storage:
        assert [(p.name, p.public_key) for p in storage.projects()] == [
            ("default", "k1"),
            ("web", "k2"),
        ]
        storage.store_event(2, make_event())
        indexes = {row[0] for row in storage.reader.execute("SELECT name FROM sqlite_master")}
    assert "events_received" not in indexes
    check = sqlite3.connect(tmp_path / "old.db")
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()


@pytest.mark.parametrize("sort", list(SORTS))
def test_issue_pages_cover_every_issue_once_in_order(storage: Storage, sort: str) -> None:
    storage.store_events(1, distinct_errors(25))
    for event in distinct_errors(5):  # some issues seen twice, so times_seen differs
        event["exception"]["values"][0]["type"] = "Error3"
        storage.store_event(1, event)
    whole = queries.issues(storage, "", sort=sort, limit=1000)
    pages: list[queries.IssuePage] = [queries.issue_page(storage, "", sort=sort, size=10)]
    while pages[-1].next_cursor:
        pages.append(
            queries.issue_page(storage, "", sort=sort, size=10, after=pages[-1].next_cursor)
        )
    assert [len(p.issues) for p in pages] == [10, 10, 5]
    assert {p.total for p in pages} == {25}
    assert [i.id for p in pages for i in p.issues] == [i.id for i in whole]


def test_an_issue_that_moves_up_while_paging_is_not_shown_again(storage: Storage) -> None:
    storage.store_events(1, distinct_errors(4))
    first = queries.issue_page(storage, "", size=2)
    storage.store_event(1, distinct_errors(2)[1])  # Error1, listed on page 1, seen again
    second = queries.issue_page(storage, "", size=2, after=first.next_cursor)
    shown = [i.id for i in first.issues + second.issues]
    assert len(shown) == len(set(shown))


def test_a_cursor_this_sort_did_not_make_is_refused(storage: Storage) -> None:
    with pytest.raises(BadCursor, match="not a page cursor"):
        queries.issue_page(storage, "", after="yesterday")
