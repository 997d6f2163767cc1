"""The disk spool: envelopes that could not be sent wait here, across processes and restarts.

One folder per DSN. Each file is a batch of envelopes written atomically (write, fsync,
rename), its records compressed as one zlib stream: the events of a process repeat most of
their bytes (contexts, modules), so a file of 1,500 message events takes 120 KB, not 4 MB. A process claims a file by renaming it to a name holding its pid, so two processes
never send the same envelope; after each envelope it sends, it renames the claim to record
its progress, so a process killed mid-batch leaves only the unsent rest. Claims of dead
processes are taken over. Torn, foreign or unreadable files are skipped and logged, never
fatal. Used by the worker thread, and at exit by the closing thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAGIC",
    "MAGIC_COMPRESSED",
    "Claim",
    "Spool",
    "decode_records",
    "default_spool_root",
    "encode_file",
    "encode_records",
    "read_file",
]

logger = logging.getLogger(__name__)

MAGIC = b"TRIPWIRE-SPOOL 1\n"  # the records follow as they are (still read)
MAGIC_COMPRESSED = b"TRIPWIRE-SPOOL 2\n"  # the records follow as one zlib stream
# zlib level 3 on a file of message events: 8 ms for 4 MB (zlib lets go of the GIL meanwhile)
# and 33 times smaller; level 1 as fast and 25 times, level 6 three times slower.
COMPRESS_LEVEL = 3
MAX_FILE_BYTES = 4 * 1024 * 1024  # a batch file's records, uncompressed; replay loads one
_DECOMPRESS_CHUNK = 64 * 1024  # compressed bytes at a time: a corrupt stream keeps the rest
# The folder is listed (a stat per file) to learn the size other processes added: each stat
# lets the caller's thread take the GIL, and the worker waits up to the 5 ms switch interval
# to get it back. So while this process's own count stays under half the bound it lists at
# most every SIZE_RECHECK_FAR_S, nearer the bound every SIZE_RECHECK_S; in between the size
# is what was listed plus what this process wrote.
SIZE_RECHECK_S = 1.0
SIZE_RECHECK_FAR_S = 10.0
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


def _record_stream(bodies: list[bytes], head: bytes = b"") -> bytes:
    parts = [head]
    for body in bodies:
        parts.append(b"%d %08x\n" % (len(body), zlib.crc32(body)))
        parts.append(body)
    return b"".join(parts)


def encode_records(bodies: list[bytes]) -> bytes:
    """A spool file of ``bodies`` stored as they are (the first format; still read)."""
    return _record_stream(bodies, MAGIC)


def encode_file(bodies: list[bytes]) -> bytes:
    """A spool file of ``bodies``, the records compressed as one zlib stream."""
    return MAGIC_COMPRESSED + zlib.compress(_record_stream(bodies), COMPRESS_LEVEL)


def read_file(data: bytes) -> tuple[list[bytes], str | None]:
    """The records of a spool file of either format, and why reading stopped early (None
    when it did not): what comes before a torn or corrupt part is kept.
    """
    if data.startswith(MAGIC):
        return decode_records(data)
    if not data.startswith(MAGIC_COMPRESSED):
        return [], "not a tripwire spool file"
    decompressor = zlib.decompressobj()
    parts: list[bytes] = []
    problem = None
    for start in range(len(MAGIC_COMPRESSED), len(data), _DECOMPRESS_CHUNK):
        try:
            parts.append(decompressor.decompress(data[start : start + _DECOMPRESS_CHUNK]))
        except zlib.error as exc:
            problem = f"compressed records corrupt near byte {start}: {exc}"
            break
    if problem is None and not decompressor.eof:
        problem = "compressed records are truncated"
    records, torn = _parse_records(b"".join(parts), 0)
    return records, problem or torn


def decode_records(data: bytes) -> tuple[list[bytes], str | None]:
    """The records of a file in the first format, and why reading stopped early."""
    if not data.startswith(MAGIC):
        return [], "not a tripwire spool file"
    return _parse_records(data, len(MAGIC))


def _parse_records(data: bytes, position: int) -> tuple[list[bytes], str | None]:
    records: list[bytes] = []
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
        self._known_at = -SIZE_RECHECK_FAR_S
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
            near = self._known_size >= self.max_bytes // 2
            if now - self._known_at >= (SIZE_RECHECK_S if near else SIZE_RECHECK_FAR_S):
                self._known_size, self._known_at = self.size(), now
            room = self.max_bytes - self._known_size
        except OSError as exc:
            logger.debug("spool %s unusable: %s", self.directory, exc)
            return 0
        written = 0
        self.is_full = False
        while written < len(bodies):
            if room <= len(MAGIC_COMPRESSED):
                self.is_full = True
                self._full_at = time.monotonic()
                break
            batch: list[bytes] = []
            size = 0
            for body in bodies[written:]:
                size += len(body) + 20
                if batch and size > MAX_FILE_BYTES:
                    break
                batch.append(body)
            data = encode_file(batch)
            while len(data) > room and len(batch) > 1:  # the spool is nearly full
                batch = batch[: len(batch) // 2]
                data = encode_file(batch)
            if len(data) > room:
                self.is_full = True
                self._full_at = time.monotonic()
                break
            if not self._write_file(data):
                break
            room -= len(data)
            self._known_size += len(data)
            written += len(batch)
        return written

    def _write_file(self, data: bytes) -> bool:
        # Not secrets.token_hex: os.urandom lets go of the GIL (see SIZE_RECHECK_S). The
        # random module is reseeded in forked children.
        base = f"{time.time_ns():020d}-{os.getpid()}-{random.getrandbits(32):08x}"
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
            records, problem = read_file(data)
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
        if rest and not self._write_file(encode_file(rest)):
            self.release(claim)
            return
        self._remove(claim.path)

    def _remove(self, path: Path) -> None:
        self.is_full = False
        self._known_at = -SIZE_RECHECK_FAR_S
        try:
            path.unlink()
        except OSError as exc:
            logger.debug("spool file %s not removed: %s", path, exc)

    def _set_aside(self, path: Path) -> None:
        try:
            os.rename(path, path.with_name(path.name + ".bad"))
        except OSError:
            self._remove(path)
