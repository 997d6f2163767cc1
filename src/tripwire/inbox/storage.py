"""SQLite storage for the inbox: WAL mode, numbered migrations, one writer at a time.

Readers never wait for the writer (WAL). Writes take the write lock up front
(``BEGIN IMMEDIATE``) so two writers queue on ``busy_timeout`` instead of failing with
"database is locked"; ``store_events`` writes a whole batch in one transaction.
Checkpoints (copying the WAL into the database, with its fsyncs) run on a background
thread, not inside whichever commit happens to cross the threshold.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from tripwire.inbox.ingest import ClientReportCount
from tripwire.inbox.records import PreparedEvent, Project, StoredEvent, prepare

__all__ = [
    "DEFAULT_PROJECT",
    "SCHEMA_VERSION",
    "Busy",
    "Storage",
    "StorageError",
    "default_db_path",
]

DEFAULT_PROJECT = "default"
BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_INTERVAL_S = 1.0
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6  # primary result codes (sqlite3 names them from 3.11)
_MIGRATIONS = "tripwire.inbox.migrations"


def _migrations() -> list[tuple[int, str]]:
    found = []
    for entry in resources.files(_MIGRATIONS).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


SCHEMA_VERSION = max(version for version, _ in _migrations())


class StorageError(Exception):
    """The database cannot be used (newer schema, unknown project...); says why."""


class Busy(Exception):
    """Another writer holds the database, and the caller chose not to wait."""


def _begin_at_once(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        code: int = getattr(exc, "sqlite_errorcode", _SQLITE_BUSY) & 0xFF  # 3.11+
        if code not in (_SQLITE_BUSY, _SQLITE_LOCKED):
            raise
        raise Busy("another process is writing") from None
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def default_db_path() -> Path:
    """``$TRIPWIRE_DB``, else ``inbox.sqlite3`` in the per-user data folder (XDG)."""
    explicit = os.environ.get("TRIPWIRE_DB")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tripwire" / "inbox.sqlite3"


class Storage:
    """The inbox database. Thread-safe: one read connection per thread, one writer lock."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._writer = self._connect()
        self._writer.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer does it
        self._writer.execute("PRAGMA cache_size = -16000")  # 16 MB: index pages stay cached
        self._writer.execute("PRAGMA journal_size_limit = 67108864")  # WAL shrinks back to 64 MB
        self._checkpointer: threading.Thread | None = None
        self._closing = threading.Event()
        self._wrote = threading.Event()
        self._migrate()
        self.default_project()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit, so a read never holds a lock.
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "PRAGMA synchronous = NORMAL"
        )  # WAL: durable at checkpoints, no fsync per commit
        conn.execute("PRAGMA foreign_keys = ON")
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    @property
    def reader(self) -> sqlite3.Connection:
        """This thread's read connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    @contextlib.contextmanager
    def transaction(self, *, wait: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction on the writer connection; rolled back whole on any error.

        With ``wait=False`` it raises ``Busy`` at once, instead of waiting, when another
        thread of this process or another process is writing.
        """
        if not self._write_lock.acquire(blocking=wait):
            raise Busy("another thread is writing")
        try:
            conn = self._writer
            if wait:
                conn.execute("BEGIN IMMEDIATE")
            else:
                _begin_at_once(conn)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            self._write_lock.release()
        self._wrote.set()
        if self._checkpointer is None:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="tripwire-inbox-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        conn = self._connect()
        while not self._closing.wait(CHECKPOINT_INTERVAL_S):
            if self._wrote.is_set():
                self._wrote.clear()
                # PASSIVE never waits for readers; what it cannot copy waits for the next round.
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _migrate(self) -> None:
        with self.transaction() as conn:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path} has schema version {current}; this tripwire knows up to "
                    f"{SCHEMA_VERSION}: upgrade tripwire"
                )
            for version, script in _migrations():
                if version > current:
                    for statement in script.split(";\n"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {version}")

    def close(self) -> None:
        """Checkpoint and close every connection; the storage is unusable afterwards."""
        self._closing.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        with contextlib.suppress(sqlite3.Error):
            self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Projects -------------------------------------------------------------------------

    def default_project(self) -> Project:
        """The project every database has from the start (created on first use)."""
        found = self.project_by_name(DEFAULT_PROJECT)
        return found if found is not None else self.create_project(DEFAULT_PROJECT, exist_ok=True)

    def create_project(self, name: str, *, exist_ok: bool = False) -> Project:
        """Add a project with a fresh public key. Raises ``StorageError`` if the name is taken."""
        name = name.strip()
        if not name:
            raise StorageError("a project needs a name")
        with self.transaction() as conn:
            row = conn.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchone()
            if row is not None:
                if exist_ok:
                    return _project(row)
                raise StorageError(f"project {name!r} exists already")
            conn.execute(
                "INSERT INTO projects (name, public_key, created_at) VALUES (?, ?, ?)",
                (name, uuid.uuid4().hex, time.time()),
            )
        found = self.project_by_name(name)
        assert found is not None
        return found

    def project_by_name(self, name: str) -> Project | None:
        row = self.reader.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchone()
        return _project(row) if row else None

    def project_by_key(self, public_key: str) -> Project | None:
        row = self.reader.execute(
            "SELECT * FROM projects WHERE public_key = ?", (public_key,)
        ).fetchone()
        return _project(row) if row else None

    def project(self, project_id: int) -> Project | None:
        row = self.reader.execute("SELECT * FROM projects WHERE id = ?", (project_id,)).fetchone()
        return _project(row) if row else None

    def projects(self) -> list[Project]:
        return [_project(r) for r in self.reader.execute("SELECT * FROM projects ORDER BY id")]

    # Settings and retention -------------------------------------------------------------

    def setting(self, key: str) -> int:
        row = self.reader.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StorageError(f"unknown setting {key!r}")
        return int(row[0])

    def set_setting(self, key: str, value: int) -> None:
        with self.transaction() as conn:
            if not conn.execute(
                "UPDATE settings SET value = ? WHERE key = ?", (str(value), key)
            ).rowcount:
                raise StorageError(f"unknown setting {key!r}")

    def prune(self, now: float | None = None) -> int:
        """Apply the retention settings; returns how many events were deleted."""
        now = time.time() if now is None else now
        cutoff = now - self.setting("retention_days") * 86400
        keep = self.setting("max_events_per_issue")
        with self.transaction() as conn:
            # Ids grow with received_at, so the old events are a prefix of the table.
            first_kept = conn.execute(
                "SELECT id FROM events WHERE received_at >= ? ORDER BY id LIMIT 1", (cutoff,)
            ).fetchone()
            deleted = conn.execute(
                "DELETE FROM events WHERE id < ?", (first_kept[0] if first_kept else 1 << 62,)
            ).rowcount
            crowded = conn.execute(
                "SELECT issue_id FROM events GROUP BY issue_id HAVING COUNT(*) > ?", (keep,)
            ).fetchall()
            for (issue_id,) in crowded:
                deleted += conn.execute(
                    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE issue_id = ? "
                    "ORDER BY id DESC LIMIT -1 OFFSET ?)",
                    (issue_id, keep),
                ).rowcount
            conn.execute(
                "DELETE FROM issues WHERE last_seen < ? AND NOT EXISTS "
                "(SELECT 1 FROM events WHERE events.issue_id = issues.id)",
                (cutoff,),
            )
            conn.execute("DELETE FROM issue_hours WHERE hour < ?", (int(cutoff // 3600),))
        return deleted

    # Writing ----------------------------------------------------------------------------

    def store_event(self, project_id: int, event: dict[str, Any]) -> StoredEvent:
        """Store one decoded event (it needs an ``event_id``) and group it into an issue."""
        return self.store_events(project_id, [event])[0]

    def store_events(
        self, project_id: int, events: Iterable[dict[str, Any] | PreparedEvent]
    ) -> list[StoredEvent]:
        """Store a batch in one transaction (all or nothing); duplicates of an ``event_id``
        already stored in the project are skipped (their ``id`` is None)."""
        now = time.time()
        prepared = [e if isinstance(e, PreparedEvent) else prepare(e, now) for e in events]
        with self.transaction() as conn:
            return [self.insert(conn, project_id, event, now) for event in prepared]

    def insert(
        self, conn: sqlite3.Connection, project_id: int, event: PreparedEvent, now: float
    ) -> StoredEvent:
        """Store ``event`` inside the open write transaction ``conn`` (see ``transaction``)."""
        grouping = event.grouping
        issue = conn.execute(
            "SELECT id, status FROM issues WHERE project_id = ? AND grouping_version = ? "
            "AND grouping_hash = ?",
            (project_id, grouping.version, grouping.hash),
        ).fetchone()
        if issue is not None:
            issue_id, status = issue[0], issue[1]
        else:
            issue_id = conn.execute(
                "INSERT INTO issues (project_id, grouping_version, grouping_hash, "
                "grouping_components, title, culprit, level, first_seen, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    project_id,
                    grouping.version,
                    grouping.hash,
                    "\n".join(grouping.components),
                    event.title,
                    event.culprit,
                    event.level,
                    now,
                    now,
                ),
            ).lastrowid
            status = "unresolved"
        cursor = conn.execute(
            "INSERT OR IGNORE INTO events (project_id, issue_id, event_id, received_at, "
            "timestamp, level, title, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                project_id,
                issue_id,
                event.event_id,
                now,
                event.timestamp,
                event.level,
                event.title,
                event.body,
            ),
        )
        if not cursor.rowcount:  # an event_id stored before: count it once
            if issue is None:
                conn.execute("DELETE FROM issues WHERE id = ?", (issue_id,))
            return StoredEvent(event.event_id, int(issue_id or 0), None)
        regressed = status == "resolved"
        conn.execute(
            "UPDATE issues SET times_seen = times_seen + 1, last_seen = MAX(last_seen, ?), "
            "title = ?, culprit = ?, level = ?, "
            "status = CASE status WHEN 'resolved' THEN 'unresolved' ELSE status END, "
            "is_regression = is_regression OR ? WHERE id = ?",
            (now, event.title, event.culprit, event.level, regressed, issue_id),
        )
        conn.execute(
            "INSERT INTO issue_hours (issue_id, hour, count) VALUES (?, ?, 1) "
            "ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + 1",
            (issue_id, int(now // 3600)),
        )
        conn.executemany(
            "INSERT INTO issue_tags (issue_id, key, value, times_seen) VALUES (?, ?, ?, 1) "
            "ON CONFLICT (issue_id, key, value) DO UPDATE SET times_seen = times_seen + 1",
            [(issue_id, key, value) for key, value in event.tags],
        )
        if event.attachments:
            conn.executemany(
                "INSERT INTO attachments (event_row, filename, content_type, attachment_type, "
                "size, body) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        cursor.lastrowid,
                        a.filename,
                        a.content_type,
                        a.attachment_type,
                        len(a.data),
                        a.data,
                    )
                    for a in event.attachments
                ],
            )
        return StoredEvent(
            event.event_id,
            int(issue_id or 0),
            cursor.lastrowid,
            is_new_issue=issue is None,
            is_regression=regressed,
        )

    def add_client_reports(self, project_id: int, counts: Iterable[ClientReportCount]) -> None:
        with self.transaction() as conn:
            self.insert_client_reports(conn, project_id, counts)

    def insert_client_reports(
        self, conn: sqlite3.Connection, project_id: int, counts: Iterable[ClientReportCount]
    ) -> None:
        conn.executemany(
            "INSERT INTO client_reports (project_id, reason, category, quantity) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (project_id, reason, category) "
            "DO UPDATE SET quantity = quantity + excluded.quantity",
            [(project_id, c.reason, c.category, c.quantity) for c in counts],
        )

    def client_reports(self, project_id: int) -> dict[tuple[str, str], int]:
        """(reason, category) → quantity the SDKs reported as dropped."""
        rows = self.reader.execute(
            "SELECT reason, category, quantity FROM client_reports WHERE project_id = ?",
            (project_id,),
        )
        return {(reason, category): quantity for reason, category, quantity in rows}

    def set_status(self, issue_id: int, status: str) -> bool:
        """Mark an issue unresolved, resolved or ignored; False if there is no such issue."""
        if status not in ("unresolved", "resolved", "ignored"):
            raise StorageError(f"unknown status {status!r}: use unresolved, resolved or ignored")
        with self.transaction() as conn:
            return bool(
                conn.execute(
                    "UPDATE issues SET status = ?, resolved_at = ?, "
                    "is_regression = CASE WHEN ? = 'resolved' THEN 0 ELSE is_regression END "
                    "WHERE id = ?",
                    (status, time.time() if status == "resolved" else None, status, issue_id),
                ).rowcount
            )


def _project(row: sqlite3.Row) -> Project:
    return Project(row["id"], row["name"], row["public_key"], row["created_at"])
