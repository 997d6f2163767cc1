"""The disk spool: envelopes that could not be sent wait here, across processes and restarts.

One folder per DSN. Each file is a batch of envelopes written atomically (write, fsync,
rename). A process claims a file by renaming it to a name holding its pid, so two processes
never send the same envelope; after each envelope it sends, it renames the claim to record
its progress, so a process killed mid-batch leaves only the unsent rest. Claims of dead
processes are taken over. Torn, foreign or unreadable files are skipped and logged, never
fatal. Used by the worker thread, and at exit by the closing thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Claim", "Spool", "default_spool_root"]

logger = logging.getLogger(__name__)

MAGIC = b"TRIPWIRE-SPOOL 1\n"
MAX_FILE_BYTES = 4 * 1024 * 1024  # a batch file; replay loads one at a time
# The folder is listed (a stat per file) at most this often: each stat lets the caller's
# thread take the GIL, and the worker waits milliseconds to get it back. In between, the
# size is what was listed plus what this process wrote; other writers may go over the bound
# by what they wrote within that second.
SIZE_RECHECK_S = 1.0
STALE_S = 3600.0  # a temporary file (or, on Windows, a claim) this old was abandoned
_AVAILABLE = ".spool"
_CLAIMED = ".claim"


def default_spool_root() -> Path:
    """The per-user cache folder: XDG on Linux, ~/Library/Caches, or LOCALAPPDATA."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    return base / "tripwire" / "spool"


def _pid_is_alive(pid: int) -> bool:
    if pid == os.getpid() or sys.platform == "win32":
        return True  # Windows: os.kill(pid, 0) would end the process; claims age out instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


@dataclass
class Claim:
    """A spool file this process holds: its records and how many were already handled."""

    path: Path
    base: str
    records: list[bytes]
    done: int


def encode_records(bodies: list[bytes]) -> bytes:
    parts = [MAGIC]
    for body in bodies:
        parts.append(b"%d %08x\n" % (len(body), zlib.crc32(body)))
        parts.append(body)
    return b"".join(parts)


def decode_records(data: bytes) -> tuple[list[bytes], str | None]:
    """The records of a spool file, and why reading stopped early (None when it did not)."""
    if not data.startswith(MAGIC):
        return [], "not a tripwire spool file"
    records: list[bytes] = []
    position = len(MAGIC)
    while position < len(data):
        line_end = data.find(b"\n", position)
        try:
            length_text, crc_text = data[position:line_end].split(b" ")
            length, crc = int(length_text), int(crc_text, 16)
        except ValueError:
            return records, f"bad record header at byte {position}"
        if line_end < 0 or length < 0:
            return records, f"bad record header at byte {position}"
        body = data[line_end + 1 : line_end + 1 + length]
        if len(body) != length:
            return records, f"record at byte {position} is truncated"
        if zlib.crc32(body) != crc:
            return records, f"record at byte {position} fails its checksum"
        records.append(body)
        position = line_end + 1 + length
    return records, None


class Spool:
    """A bounded folder of envelope batches for one DSN."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.is_full = False  # the last write stopped at the size bound
        self._full_at = 0.0
        self._known_size = 0
        self._known_at = -SIZE_RECHECK_S
        self._ready = False

    @classmethod
    def for_dsn(cls, root: Path, dsn: str, max_bytes: int) -> Spool:
        key = hashlib.sha256(dsn.encode("utf-8")).hexdigest()[:16]
        return cls(root / key, max_bytes)

    def _ensure_directory(self) -> None:
        if not self._ready:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._ready = True

    def size(self) -> int:
        total = 0
        for entry in self._entries():
            if entry.name.endswith((_AVAILABLE, _CLAIMED)):
                try:
                    total += entry.stat().st_size
                except OSError:
                    continue
        return total

    def _entries(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.directory) as listing:
                return list(listing)
        except OSError:
            return []

    @property
    def has_room(self) -> bool:
        """False for a while after a write found the spool full (listing it is not free)."""
        return not (self.is_full and time.monotonic() < self._full_at + SIZE_RECHECK_S)

    def write(self, bodies: list[bytes]) -> int:
        """Store ``bodies`` in batch files; returns how many fit (oldest first). Never raises."""
        if not self.has_room:
            return 0
        try:
            self._ensure_directory()
            now = time.monotonic()
            if now - self._known_at >= SIZE_RECHECK_S:
                self._known_size, self._known_at = self.size(), now
            room = self.max_bytes - self._known_size
        except OSError as exc:
            logger.debug("spool %s unusable: %s", self.directory, exc)
            return 0
        written = 0
        self.is_full = False
        while written < len(bodies):
            batch: list[bytes] = []
            size = len(MAGIC)
            for body in bodies[written:]:
                cost = len(body) + 20
                if batch and size + cost > MAX_FILE_BYTES:
                    break
                if size + cost > room:
                    break
                batch.append(body)
                size += cost
            if not batch:
                self.is_full = True
                self._full_at = time.monotonic()
                break
            if not self._write_file(encode_records(batch)):
                break
            room -= size
            self._known_size += size
            written += len(batch)
        return written

    def _write_file(self, data: bytes) -> bool:
        base = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        temporary = self.directory / f".{base}.tmp"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view) :]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.rename(temporary, self.directory / f"{base}.0{_AVAILABLE}")
        except OSError as exc:
            logger.debug("spool write to %s failed: %s", self.directory, exc)
            try:
                temporary.unlink()
            except OSError:
                pass
            return False
        return True

    def has_pending(self) -> bool:
        """True when a file waits to be sent (ours to take, or left by a dead process)."""
        return any(self._candidates())

    def _candidates(self) -> list[tuple[str, str, int]]:
        """(name, base, done) of files this process may claim, oldest first."""
        found: list[tuple[str, str, int]] = []
        now = time.time()
        for entry in self._entries():
            name = entry.name
            try:
                if name.endswith(_AVAILABLE):
                    base, done = name[: -len(_AVAILABLE)].rsplit(".", 1)
                    found.append((name, base, int(done)))
                elif name.endswith(_CLAIMED):
                    base, done, pid = name[: -len(_CLAIMED)].rsplit(".", 2)
                    stale = sys.platform == "win32" and entry.stat().st_mtime < now - STALE_S
                    if stale or not _pid_is_alive(int(pid)):
                        found.append((name, base, int(done)))
                elif name.endswith(".tmp") and entry.stat().st_mtime < now - STALE_S:
                    os.unlink(entry.path)  # left by a process killed mid-write
            except (ValueError, OSError):
                continue  # a foreign name: not ours to touch
        found.sort(key=lambda candidate: candidate[1])
        return found

    def claim(self) -> Claim | None:
        """Take the oldest file waiting, or None. Never raises."""
        for name, base, done in self._candidates():
            claimed = self.directory / f"{base}.{done}.{os.getpid()}{_CLAIMED}"
            try:
                os.rename(self.directory / name, claimed)  # exclusive: one rename wins
            except OSError:
                continue
            try:
                data = claimed.read_bytes()
            except OSError as exc:
                logger.debug("spool file %s unreadable: %s", claimed, exc)
                self._set_aside(claimed)
                continue
            records, problem = decode_records(data)
            if problem is not None:
                logger.debug("spool file %s: %s; %d records kept", claimed, problem, len(records))
                if not records:
                    self._set_aside(claimed)
                    continue
            if done >= len(records):
                self._remove(claimed)
                continue
            return Claim(claimed, base, records, done)
        return None

    def advance(self, claim: Claim, done: int | None = None) -> None:
        """Record that the first ``done`` envelopes of ``claim`` (default: one more) were
        handled, in one rename; removes the file at the end.
        """
        claim.done = claim.done + 1 if done is None else done
        if claim.done >= len(claim.records):
            self._remove(claim.path)
            return
        moved = self.directory / f"{claim.base}.{claim.done}.{os.getpid()}{_CLAIMED}"
        try:
            os.rename(claim.path, moved)
            claim.path = moved
        except OSError as exc:
            logger.debug("spool progress on %s not recorded: %s", claim.path, exc)

    def release(self, claim: Claim) -> None:
        """Give ``claim`` back, unsent records included, for a later attempt or process."""
        try:
            os.rename(claim.path, self.directory / f"{claim.base}.{claim.done}{_AVAILABLE}")
        except OSError as exc:
            logger.debug("spool file %s not released: %s", claim.path, exc)

    def replace(self, claim: Claim, rest: list[bytes]) -> None:
        """Give ``claim`` back as a new file of ``rest`` (the records still to send).

        For records handled out of order: the count in a file name cannot skip them. The new
        file is written before the claim goes, so a crash in between sends some twice rather
        than losing any.
        """
        if rest and not self._write_file(encode_records(rest)):
            self.release(claim)
            return
        self._remove(claim.path)

    def _remove(self, path: Path) -> None:
        self.is_full = False
        self._known_at = -SIZE_RECHECK_S
        try:
            path.unlink()
        except OSError as exc:
            logger.debug("spool file %s not removed: %s", path, exc)

    def _set_aside(self, path: Path) -> None:
        try:
            os.rename(path, path.with_name(path.name + ".bad"))
        except OSError:
            self._remove(path)
