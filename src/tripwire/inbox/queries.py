"""Reading the inbox: issue lists, one issue, its events, its histogram, new events."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from tripwire.inbox.records import EventRecord, Issue, StoredAttachment, decompress
from tripwire.inbox.search import SORTS, parse_search
from tripwire.inbox.storage import Storage

__all__ = [
    "HISTOGRAM_HOURS",
    "IssuePage",
    "attachment",
    "attachments",
    "event",
    "events_after",
    "histograms",
    "issue",
    "issue_events",
    "issue_page",
    "issue_tags",
    "issues",
    "last_event_row",
    "latest_event",
]

HISTOGRAM_HOURS = 24


def _issue(row: sqlite3.Row) -> Issue:
    return Issue(
        id=row["id"],
        project_id=row["project_id"],
        title=row["title"],
        culprit=row["culprit"],
        level=row["level"],
        status=row["status"],
        is_regression=bool(row["is_regression"]),
        times_seen=row["times_seen"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        grouping_version=row["grouping_version"],
        grouping_hash=row["grouping_hash"],
        grouping_components=tuple(row["grouping_components"].split("\n")),
    )


def _event(row: sqlite3.Row) -> EventRecord:
    return EventRecord(
        id=row["id"],
        event_id=row["event_id"],
        issue_id=row["issue_id"],
        project_id=row["project_id"],
        received_at=row["received_at"],
        timestamp=row["timestamp"],
        level=row["level"],
        title=row["title"],
        body=decompress(row["body"], row["event_id"]),
    )


@dataclass(frozen=True)
class IssuePage:
    """One page of an issue list; ``next_cursor`` is None on the last page."""

    issues: list[Issue]
    total: int
    next_cursor: str | None


def _where(query: str, project_id: int | None) -> tuple[str, list[object]]:
    where, params = parse_search(query).sql()
    if project_id is not None:
        where += " AND issues.project_id = ?"
        params.append(project_id)
    return where, params


def issues(
    storage: Storage,
    query: str = "",
    *,
    sort: str = "last_seen",
    project_id: int | None = None,
    limit: int = 100,
    after: str | None = None,
) -> list[Issue]:
    """Issues matching the search ``query`` (see search.py), sorted by ``sort``, the first
    ``limit`` after the page cursor ``after`` (raises ``BadCursor`` for a bad one)."""
    order = SORTS.get(sort, SORTS["last_seen"])
    where, params = _where(query, project_id)
    if after:
        clause, point = order.after(after)
        where, params = f"{where} AND {clause}", [*params, *point]
    rows = storage.reader.execute(
        f"SELECT * FROM issues WHERE {where} ORDER BY {order.order_by()} LIMIT ?",
        (*params, limit),
    )
    return [_issue(row) for row in rows]


def issue_page(
    storage: Storage,
    query: str = "",
    *,
    sort: str = "last_seen",
    project_id: int | None = None,
    size: int = 100,
    after: str | None = None,
) -> IssuePage:
    """A page of ``issues()``, with how many match in all and the cursor of the next page."""
    found = issues(storage, query, sort=sort, project_id=project_id, limit=size + 1, after=after)
    where, params = _where(query, project_id)
    total = storage.reader.execute(f"SELECT COUNT(*) FROM issues WHERE {where}", params)
    next_cursor = None
    if len(found) > size:
        found = found[:size]
        order = SORTS.get(sort, SORTS["last_seen"])
        last = found[-1]
        next_cursor = order.cursor(getattr(last, order.column), last.id)
    return IssuePage(found, int(total.fetchone()[0]), next_cursor)


def issue(storage: Storage, issue_id: int) -> Issue | None:
    row = storage.reader.execute("SELECT * FROM issues WHERE id = ?", (issue_id,)).fetchone()
    return _issue(row) if row else None


def issue_events(storage: Storage, issue_id: int, limit: int = 50) -> list[EventRecord]:
    """The issue's newest events first."""
    rows = storage.reader.execute(
        "SELECT * FROM events WHERE issue_id = ? ORDER BY id DESC LIMIT ?", (issue_id, limit)
    )
    return [_event(row) for row in rows]


def latest_event(storage: Storage, issue_id: int) -> EventRecord | None:
    found = issue_events(storage, issue_id, limit=1)
    return found[0] if found else None


def event(storage: Storage, event_id: str) -> EventRecord | None:
    """An event by its ``event_id`` (32 hex), in any project."""
    # The IN over projects lets SQLite use the (project_id, event_id) index.
    row = storage.reader.execute(
        "SELECT * FROM events WHERE project_id IN (SELECT id FROM projects) AND event_id = ? "
        "ORDER BY id LIMIT 1",
        (event_id,),
    ).fetchone()
    return _event(row) if row else None


def issue_tags(storage: Storage, issue_id: int) -> dict[str, list[tuple[str, int]]]:
    """Tag key → its values with their counts, most frequent first."""
    found: dict[str, list[tuple[str, int]]] = {}
    rows = storage.reader.execute(
        "SELECT key, value, times_seen FROM issue_tags WHERE issue_id = ? "
        "ORDER BY key, times_seen DESC, value",
        (issue_id,),
    )
    for key, value, times_seen in rows:
        found.setdefault(key, []).append((value, times_seen))
    return found


def histograms(
    storage: Storage, issue_ids: list[int], now: float | None = None
) -> dict[int, list[int]]:
    """Events per hour over the last HISTOGRAM_HOURS hours (oldest first) per issue."""
    current = int((time.time() if now is None else now) // 3600)
    first = current - HISTOGRAM_HOURS + 1
    result = {issue_id: [0] * HISTOGRAM_HOURS for issue_id in issue_ids}
    if not issue_ids:
        return result
    marks = ", ".join("?" * len(issue_ids))
    rows = storage.reader.execute(
        f"SELECT issue_id, hour, count FROM issue_hours WHERE issue_id IN ({marks}) "
        "AND hour >= ? AND hour <= ?",
        (*issue_ids, first, current),
    )
    for issue_id, hour, count in rows:
        result[issue_id][hour - first] = count
    return result


def last_event_row(storage: Storage) -> int:
    """The highest event row id so far (0 when empty), the starting point for ``tail``."""
    row = storage.reader.execute("SELECT MAX(id) FROM events").fetchone()
    return int(row[0] or 0)


def events_after(storage: Storage, row_id: int, limit: int = 500) -> list[EventRecord]:
    """Events stored after row ``row_id``, oldest first."""
    rows = storage.reader.execute(
        "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (row_id, limit)
    )
    return [_event(row) for row in rows]


_ATTACHMENT_COLUMNS = "id, event_row, filename, content_type, attachment_type, size"


def _attachment(row: sqlite3.Row) -> StoredAttachment:
    return StoredAttachment(
        row["id"],
        row["event_row"],
        row["filename"],
        row["content_type"],
        row["attachment_type"],
        row["size"],
    )


def attachments(storage: Storage, event_row: int) -> list[StoredAttachment]:
    """The attachments that came with the event stored in row ``event_row``, in order."""
    rows = storage.reader.execute(
        f"SELECT {_ATTACHMENT_COLUMNS} FROM attachments WHERE event_row = ? ORDER BY id",
        (event_row,),
    )
    return [_attachment(row) for row in rows]


def attachment(storage: Storage, attachment_id: int) -> tuple[StoredAttachment, bytes] | None:
    """An attachment and its bytes; None if there is none (or retention removed it)."""
    row = storage.reader.execute(
        f"SELECT {_ATTACHMENT_COLUMNS}, body FROM attachments WHERE id = ?", (attachment_id,)
    ).fetchone()
    return (_attachment(row), bytes(row["body"])) if row else None
