"""The local spool: where evidence waits, fsynced, while Redis cannot take it.

A webhook answers only after its events are durable: appended to Redis, or written here
and fsynced. Each process appends to its own file (one JSON line per sealed event); any
process, or ``ivr audit replay``, later sends every file's lines to Redis in order through
the same idempotent append, then removes the file. Replaying twice adds nothing: Redis
keeps one entry per (CallSid, step) while the call's step set lives (``store.CALL_TTL``).

Locking: a writer holds an exclusive flock while it appends and checks that the file it
locked is still the one at its path; a replayer takes the lock (without waiting), so a file
is never removed under a writer, and a writer never appends to a removed file.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# (call sid, [(step key, sealed body), ...]) -> None; raises when Redis cannot take them.
Append = Callable[[str, list[tuple[str, str]]], None]


@dataclass(frozen=True)
class Spooled:
    """One sealed event waiting for Redis."""

    call: str
    key: str
    body: str


class Spool:
    """A folder of append-only files of sealed events."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = f"spool-{socket.gethostname()}-{os.getpid()}-{time.time_ns()}.jsonl"

    @property
    def path(self) -> Path:
        return self.folder / self.name

    def append(self, records: Iterable[Spooled]) -> None:
        """Write the records and fsync them before returning."""
        data = "".join(
            json.dumps({"call": r.call, "key": r.key, "body": r.body}, separators=(",", ":")) + "\n"
            for r in records
        ).encode()
        if not data:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if _still_linked(fd, self.path):
                    new = os.fstat(fd).st_size == 0
                    os.write(fd, data)
                    os.fsync(fd)
                    if new:  # the file's name must be durable too, once
                        _fsync_folder(self.folder)
                    return
            finally:
                os.close(fd)  # closing releases the lock

    def pending(self) -> list[Path]:
        """Spool files waiting for replay, oldest first."""
        found = []
        for path in self.folder.glob("spool-*.jsonl"):  # none when the folder does not exist
            try:
                found.append((path.stat().st_mtime, path.name, path))
            except FileNotFoundError:  # another process replayed it just now
                continue
        return [path for *_, path in sorted(found)]

    def replay(self, append: Append) -> int:
        """Send every waiting file to Redis in order; return how many records were sent."""
        sent = 0
        for path in self.pending():
            try:
                sent += _replay_file(path, append)
            except FileNotFoundError:
                continue
        return sent


def read(path: Path) -> Iterator[Spooled]:
    """The records of one file; a torn last line (a crash mid-write) is skipped."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
                yield Spooled(record["call"], record["key"], record["body"])
            except (ValueError, KeyError):
                log.error("spool %s line %d is damaged; skipped", path, number)


def _replay_file(path: Path, append: Append) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # a writer or another replayer has it; next time
        if not _still_linked(fd, path):
            return 0
        batch: list[Spooled] = []
        sent = 0
        for record in read(path):
            if batch and batch[-1].call != record.call:
                append(batch[0].call, [(r.key, r.body) for r in batch])
                sent += len(batch)
                batch = []
            batch.append(record)
        if batch:
            append(batch[0].call, [(r.key, r.body) for r in batch])
            sent += len(batch)
        path.unlink()
        _fsync_folder(path.parent)
        log.info("replayed %d spooled event(s) from %s", sent, path.name)
        return sent
    finally:
        os.close(fd)


def _still_linked(fd: int, path: Path) -> bool:
    """True when fd is the file at path (not one a replayer removed meanwhile)."""
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino and os.fstat(fd).st_nlink > 0
    except FileNotFoundError:
        return False


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
