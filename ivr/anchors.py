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

import heapq
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

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
    return list(streamed(path))


def streamed(path: Path) -> Iterator[Anchor]:
    """``read``, a line at a time: a year of anchors is never in memory at once. Opens the
    log at once (OSError now); a bad line is a ValueError when it is reached."""
    return parsed_lines(path.open(), Anchor.of, "an anchor line", str(path))


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
    return list(parsed_lines(path.open(), parse, what, str(path)))


def parsed_lines(
    lines: IO[str], parse: Callable[[Mapping[str, Any]], T], what: str, name: str
) -> Iterator[T]:
    """``read_lines`` of an open file, a line at a time (closed at the end)."""
    with lines:
        bad = 0
        for number, line in enumerate(lines, 1):
            if bad:  # a bad line with more after it: not a torn last line
                raise ValueError(f"{name}:{bad}: not {what}")
            try:
                parsed = parse(json.loads(line))
            except ValueError:
                bad = number
                continue
            yield parsed


class Conflict(Exception):
    """The anchors contradict each other: what is wrong (``verify`` names it)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def merged(*sources: Iterable[Anchor]) -> Iterator[Anchor]:
    """Anchors from every source, one per entry id, oldest first, read as they come (each
    source holds them in the order they were taken, which is their entries' order, so
    merging them needs one anchor of each at a time). Raises ``Conflict`` when two sources
    disagree about the same entry (one of them was altered) or a source is out of order."""
    previous: Anchor | None = None
    for anchor in heapq.merge(*map(_in_order, sources), key=_order):
        if previous is not None and anchor.last == previous.last:
            if (previous.hash, previous.count) != (anchor.hash, anchor.count):
                raise Conflict(
                    f"two anchors disagree about entry {anchor.last}: hash "
                    f"{previous.hash[:12]} (entry {previous.count}) at {previous.at} and "
                    f"{anchor.hash[:12]} (entry {anchor.count}) at {anchor.at}"
                )
            continue
        previous = anchor
        yield anchor


def _in_order(source: Iterable[Anchor]) -> Iterator[Anchor]:
    before: Anchor | None = None
    for anchor in source:
        if before is not None and _order(anchor) < _order(before):
            raise Conflict(
                f"anchors out of order: the anchor of {anchor.at} (entry {anchor.last}) "
                f"comes after the anchor of {before.at} (entry {before.last}), a later "
                "entry; anchors are taken in the record's order, so their source was altered"
            )
        before = anchor
        yield anchor


def _order(anchor: Anchor) -> tuple[int, int]:
    return stream_order(anchor.last)


def stream_order(entry_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair (milliseconds, sequence)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms or 0), int(seq or 0)
