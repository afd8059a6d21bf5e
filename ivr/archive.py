"""The archive: evidence past the hot window, in append-only files, one per UTC day.

Redis holds the last ``IVR_HOT_DAYS`` days (default 35); ``ivr audit archive`` moves every
older, complete UTC day out of it: the day's entries go to ``events-YYYY-MM-DD.jsonl`` in
the archive folder (one JSON array per line: the entry id, then its fields exactly as
Redis stored them, ``Store.stored``: the sealed text the chain hash covers, prev, hash),
the file is fsynced and renamed into place, and a line is appended to ``manifest.jsonl``
(``DayFile``: first and last id, how many entries, how many came before, the chain hash
before the first and after the last, the file's SHA-256). Only then is the day marked
exported in Redis (the operator's user) and pruned from it, the pruned marker counting what
it removed so that anchors still match. The chain does not restart: a day's first entry
links to the previous day's last, and Redis's oldest entry to the archive's last.

``entries`` reads the files back in order, in bounded memory, and raises ``Broken`` for a
file that is missing, whose SHA-256 or entry count differs from its manifest line, or whose
manifest line differs from the export mark Redis keeps for it (manifest and file rewritten
together). ``audit.verify`` and ``ivr report`` read the archive and then Redis as one
record.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ivr.anchors import append_line, read_lines, stream_order
from ivr.evidence import unpack
from ivr.store import Store

MANIFEST = "manifest.jsonl"
HOT_DAYS = 35
CHUNK = 1 << 20


class Broken(Exception):
    """The archive does not hold what its manifest says: where, and what is wrong."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


@dataclass(frozen=True)
class DayFile:
    """One manifest line: a day file and what it must hold."""

    day: str  # UTC, YYYY-MM-DD
    file: str  # its name in the archive folder
    first: str  # first entry id
    last: str  # last entry id
    count: int  # entries in the file
    before: int  # entries of the record before its first, pruned ones counted
    prev: str  # chain hash its first entry links to
    head: str  # its last entry's chain hash
    sha256: str

    @classmethod
    def of(cls, fields: Mapping[str, object]) -> DayFile:
        """A manifest line as read; ValueError when it is not one."""
        try:
            values: dict[str, Any] = {
                k: (int(str(v)) if k in ("count", "before") else str(v)) for k, v in fields.items()
            }
            return cls(**values)
        except TypeError as exc:
            raise ValueError(f"not a manifest line: {dict(fields)}") from exc


def manifest(folder: Path) -> list[DayFile]:
    """Every day file of the archive, oldest first; a torn last line (a crash mid-write)
    is skipped. An archive folder that does not exist yet is empty."""
    try:
        return read_lines(folder / MANIFEST, DayFile.of, "a manifest line")
    except FileNotFoundError:
        return []


def day_of(entry_id: str) -> date:
    """The UTC day of a stream id (its milliseconds since the epoch)."""
    return datetime.fromtimestamp(stream_order(entry_id)[0] / 1000, UTC).date()


def first_id(day: date) -> str:
    """The first stream id of a UTC day."""
    return f"{int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)}-0"


def archive(store: Store, folder: Path, hot_days: int, today: date) -> tuple[list[DayFile], str]:
    """Move every complete UTC day older than ``hot_days`` from Redis to its own day file
    and prune it from Redis. Returns (the day files written, "" or why it stopped)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = manifest(folder)
    pruned_id, prev, before = store.pruned()
    start = f"({pruned_id}" if pruned_id else "-"
    if done:
        last = done[-1]
        if pruned_id and stream_order(pruned_id) > stream_order(last.last):
            return [], (
                f"Redis was pruned up to {pruned_id}, past the archive's last entry "
                f"{last.last}: the entries between are in neither"
            )
        if stream_order(pruned_id or "0-0") < stream_order(last.last):  # a crash before pruning
            store.prune(last.last, last.head, (), last.before + last.count - before)
        start, prev, before = f"({last.last}", last.head, last.before + last.count
    written = []
    rows = store.stored(start, "(" + first_id(today - timedelta(days=hot_days)))
    day: date | None = None
    out: _Writer | None = None
    for entry_id, fields in rows:
        if day != (entry_day := day_of(entry_id)):
            if out is not None:
                written.append(_close(store, folder, out))
                prev, before = out.head, out.before + out.count
            day, out = entry_day, _Writer(folder, entry_day, before, prev)
        assert out is not None  # for mypy: made with the first entry's day
        out.add(entry_id, fields)
    if out is not None:
        written.append(_close(store, folder, out))
    return written, ""


class _Writer:
    """One day file being written: hashed and counted as it goes."""

    def __init__(self, folder: Path, day: date, before: int, prev: str) -> None:
        self.day, self.before, self.prev, self.head = day, before, prev, prev
        self.name = f"events-{day.isoformat()}.jsonl"
        self.part = folder / (self.name + ".part")
        self.file = self.part.open("wb")
        self.sha = hashlib.sha256()
        self.first = self.last = ""
        self.count = 0
        self.calls: set[str] = set()  # whose id lists to delete (records from before they expired)

    def add(self, entry_id: str, stored: list[str]) -> None:
        line = (json.dumps([entry_id, *stored], separators=(",", ":")) + "\n").encode()
        self.file.write(line)
        self.sha.update(line)
        self.first = self.first or entry_id
        self.last, self.head, self.count = entry_id, stored[-1], self.count + 1
        fields = unpack(stored)
        if fields[:1] == ["call"]:
            self.calls.add(fields[1])


def _close(store: Store, folder: Path, out: _Writer) -> DayFile:
    """Put a day file on disk under its name, add it to the manifest, then mark it exported
    and prune it from Redis: a crash at any point leaves the entries in Redis or the file."""
    out.file.flush()
    os.fsync(out.file.fileno())
    out.file.close()
    os.replace(out.part, folder / out.name)
    written = DayFile(
        out.day.isoformat(),
        out.name,
        out.first,
        out.last,
        out.count,
        out.before,
        out.prev,
        out.head,
        out.sha.hexdigest(),
    )
    _append_line(folder, written)
    store.mark_exported(
        written.first, written.last, written.count, written.sha256, str(folder / written.file)
    )
    store.prune(written.last, written.head, out.calls, written.count)
    return written


def _append_line(folder: Path, day: DayFile) -> None:
    append_line(folder / MANIFEST, asdict(day))
    dir_fd = os.open(folder, os.O_RDONLY)  # the rename and the manifest, on disk
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def entries(
    folder: Path, days: Iterable[DayFile], marks: Mapping[tuple[str, str], str], check: bool = True
) -> Iterator[tuple[str, list[str]]]:
    """The entries of these day files in order, as stored, a chunk at a time. With
    ``check``, each file is held to its manifest line and to Redis's export mark of it
    (``marks``: (first id, file name) -> sha256); raises Broken at the first file that is
    not what they say."""
    for day in days:
        path = folder / day.file
        mark = marks.get((day.first, day.file))
        if check and mark is not None and mark != day.sha256:
            raise Broken(
                day.file,
                f"its manifest line says SHA-256 {day.sha256[:12]} but Redis "
                f"marked it exported with {mark[:12]}: the file and the manifest "
                "were rewritten",
            )
        sha = hashlib.sha256()
        count = 0
        try:
            with path.open("rb") as file:
                rest = b""
                while chunk := file.read(CHUNK):
                    sha.update(chunk)
                    lines = (rest + chunk).split(b"\n")
                    rest = lines.pop()
                    for line in lines:
                        row = _row(line)
                        count += 1
                        yield row[0], row[1:]
                if rest:
                    row = _row(rest)
                    count += 1
                    yield row[0], row[1:]
        except FileNotFoundError:
            raise Broken(
                day.file, f"the day file of {day.day} ({day.count} entries from {day.first}) is missing"
            ) from None
        if check and (sha.hexdigest() != day.sha256 or count != day.count):
            raise Broken(
                day.file,
                f"it holds {count} entries with SHA-256 "
                f"{sha.hexdigest()[:12]}; the manifest says {day.count} with "
                f"{day.sha256[:12]}: it was edited",
            )


def _row(line: bytes) -> list[str]:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:  # lone surrogates, which orjson refuses and json keeps
        try:
            row = json.loads(line)
        except ValueError:
            row = None
    if not isinstance(row, list) or len(row) < 2:
        return ["?", "not an entry"]  # verify names it at its place in the chain
    return row


def period(
    folder: Path, first: str, end: str, shape: Callable[[list[str]], list[str]] = unpack
) -> Iterator[tuple[str, list[str]]]:
    """Archived entries from id ``first`` up to, not including, id ``end`` (an "(" id),
    unpacked (``evidence.unpack``), or as ``shape`` makes them from the stored fields."""
    low, high = stream_order(first), stream_order(end.lstrip("("))
    days = [d for d in manifest(folder) if stream_order(d.last) >= low and stream_order(d.first) < high]
    for entry_id, stored in entries(folder, days, {}, check=False):
        if low <= stream_order(entry_id) < high:
            yield entry_id, shape(stored)
