"""Anchors: the record's high-water mark, kept where the webhooks' Redis user cannot write.

The webhooks' user must append (``XADD``), and ``XADD`` also trims (``MAXLEN``, ``MINID``),
which no ACL rule can forbid; it must also set the chain head. So whoever holds the app's
credentials can erase the oldest entries, or all of them, and make the head agree. What it
cannot do is write ``onshore:audit:*``: an anchor there, written by ``ivr audit anchor``
with the auditor's credentials on a timer, says "the record had ``count`` entries, the last
one ``last`` with chain hash ``hash``". Because each hash covers every entry before it, one
anchored hash pins the whole record up to it, and ``ivr audit verify`` fails on a record
that no longer reaches an anchor or holds a different entry there. A trim removes the
oldest entries first, so it cannot remove anything without removing anchored entries too.

Each anchor is also appended, one JSON line, to a local file (``IVR_ANCHOR_LOG``) that can
be made append-only and shipped off the host; ``verify --anchors FILE`` checks against it,
so even losing Redis's copy of the anchors does not lose the high-water mark.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Anchor:
    """The record at one moment: how many entries it had, and the last one's id and hash."""

    at: str  # UTC, ISO 8601
    last: str  # stream id of the last entry
    hash: str  # that entry's chain hash
    count: int  # entries appended up to and including it, pruned ones counted

    @classmethod
    def of(cls, fields: Mapping[str, str]) -> Anchor:
        """An anchor from its stored fields; ValueError when they are not one."""
        try:
            return cls(fields["at"], fields["last"], fields["hash"], int(fields["count"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an anchor: {dict(fields)}") from exc

    def fields(self) -> dict[str, str]:
        """The anchor as stored: every value a string."""
        return {k: str(v) for k, v in asdict(self).items()}


def append(path: Path, anchor: Anchor) -> None:
    """Add one line to the local anchor log and put it on disk before returning."""
    append_line(path, anchor.fields())


def read(path: Path) -> list[Anchor]:
    """Every anchor in a local log; a torn last line (a crash mid-write) is skipped."""
    return read_lines(path, Anchor.of, "an anchor line")


def append_line(path: Path, fields: Mapping[str, object]) -> None:
    """Append one JSON line to an append-only log and fsync it before returning."""
    line = (json.dumps(dict(fields), sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_lines(path: Path, parse: Callable[[Mapping[str, Any]], T], what: str) -> list[T]:
    """Every line of an append-only JSON log, parsed; a torn last line (a crash mid-write)
    is skipped, any other bad line is a ValueError."""
    out = []
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        try:
            out.append(parse(json.loads(line)))
        except ValueError:
            if number < len(lines):
                raise ValueError(f"{path}:{number}: not {what}") from None
    return out


def merged(*sources: Iterable[Anchor]) -> tuple[list[Anchor], str]:
    """Anchors from every source, one per entry id, oldest first; a problem when two
    sources disagree about the same entry (one of them was altered)."""
    by_id: dict[str, Anchor] = {}
    for anchor in (a for source in sources for a in source):
        seen = by_id.setdefault(anchor.last, anchor)
        if (seen.hash, seen.count) != (anchor.hash, anchor.count):
            return [], (
                f"two anchors disagree about entry {anchor.last}: hash "
                f"{seen.hash[:12]} (entry {seen.count}) at {seen.at} and "
                f"{anchor.hash[:12]} (entry {anchor.count}) at {anchor.at}"
            )
    return sorted(by_id.values(), key=lambda a: stream_order(a.last)), ""


def stream_order(entry_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair (milliseconds, sequence)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms or 0), int(seq or 0)
