"""Verify the evidence record by walking its chain, from the archive's day files (when a
folder is given) through Redis's stream.

``verify`` walks the events stream from the start (or from where retention pruned it) and
checks, for each entry, that it links to the entry before it (``prev``), that its content
still hashes to its ``hash`` (nothing edited), and that its MAC is valid under its key id
(nothing forged without the key); that every anchor (``ivr.anchors``) still finds its entry,
with the hash and position it attested (nothing erased, truncated or rewritten, even by
someone who relinked the chain: the anchors are out of the webhooks' reach); at the end,
that the last hash is the chain head Redis keeps. The first broken link is named.
``ivr.audit`` holds the record's other tools (anchor, export, prune, a call's record).
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ivr import anchors, archive
from ivr.anchors import Anchor, Conflict, merged, stream_order
from ivr.evidence import Keyring, SealCheck, body_of, link, mac_is_valid, pairs, unpacked_with_text
from ivr.store import Store

CHAIN_TAIL = 4  # prev, <hash>, hash, <hash>
RECENT = 10_000  # chain hashes an in-stream anchor may attest


@dataclass(frozen=True)
class Verdict:
    """The result of verifying the record."""

    entries: int  # entries checked, with those pruned before
    broken_at: str = ""  # entry id, or "end"
    problem: str = ""
    unknown_keys: int = 0  # entries whose key id this process does not hold
    anchors: int = 0  # anchors the record was held to
    last_anchor: str = ""  # when the newest of them was taken

    @property
    def intact(self) -> bool:
        return not self.broken_at


def check_entry(keyring: Keyring | None, fields: list[str], prev: str) -> str:
    """What is wrong with one entry given the hash before it; "" when nothing is."""
    return _checked(keyring, fields, prev)[0]


def _checked(
    keyring: Keyring | None, fields: list[str], prev: str, body: str = ""
) -> tuple[str, bool | None]:
    """(``check_entry``'s answer, the MAC's validity), the entry encoded (unless ``body``,
    its sealed text as stored, is given) and MACed once."""
    if len(fields) < CHAIN_TAIL or fields[-4] != "prev" or fields[-2] != "hash":
        return "has no chain fields", None
    if fields[-3] != prev:
        return (
            f"links to {fields[-3][:12] or '(start)'} but the entry before it hashes to "
            f"{prev[:12] or '(start)'}: an entry was deleted, inserted or moved before it"
        ), None
    body = body or body_of(fields)
    if link(prev, body) != fields[-1]:
        return "its content no longer matches its hash: it was edited", None
    valid = mac_is_valid(keyring, fields, body) if keyring is not None else None
    return ("its MAC is wrong: it was forged or edited" if valid is False else ""), valid


SPLIT_AT = 100_000  # entries in day files from which verify walks them in a second process


def verify(
    store: Store,
    keyring: Keyring | None,
    logged: Iterable[Anchor] | Path = (),
    folder: Path | None = None,
    split_at: int = SPLIT_AT,
) -> Verdict:
    """Check the whole record (the archive in ``folder``, then Redis) against its chain,
    its MACs and every anchor (Redis's and ``logged``: anchors from a local log, or the
    log's path); name the first broken link. Reads a batch or a chunk at a time, entries
    and anchors alike: memory does not grow with the record.

    With ``split_at`` entries or more in day files, a second process walks the files while
    this one walks Redis from where the manifest says the files end; the answer is the
    one walk in order would give (``_split``)."""
    days = archive.manifest(folder) if folder is not None else []
    if folder is not None and days:
        start = _State(days[0].prev, days[0].before)
        after = stream_order(days[0].first)
        after = (after[0], after[1] - 1)
        if sum(d.count for d in days) >= split_at and _can_fork(logged):
            return _split(store, keyring, logged, folder, days, start, after)
        rows: Iterable[tuple[str, list[str]]] = itertools.chain(
            archive.entries(folder, days, store.export_marks()), store.stored(f"({days[-1].last}")
        )
    else:
        pruned_id, pruned_hash, before = store.pruned()
        start = _State(pruned_hash, before)
        after = stream_order(pruned_id) if pruned_id else (-1, -1)
        rows = store.stored(f"({pruned_id}" if pruned_id else "-")
    broken, mark = _walk(rows, keyring, start, _pending(store, logged, after))
    return start.verdict(*broken) if broken else _end(start, mark, store.chain_head)


@dataclass
class _State:
    """Where a walk of the record is: the hash and count of the entries so far, and what
    it found on the way. ``first``: the count at which the record itself starts (the
    oldest entry, checked against the pruned marker), -1 for a walk that starts midway."""

    prev: str
    count: int
    first: int = -2  # -2: the count it starts from
    unknown: int = 0  # entries whose key id this process does not hold
    held: int = 0  # anchors met
    last_at: str = ""  # the newest of them

    def __post_init__(self) -> None:
        if self.first == -2:
            self.first = self.count

    def verdict(self, broken_at: str = "", problem: str = "") -> Verdict:
        return Verdict(self.count, broken_at, problem, self.unknown, self.held, self.last_at)


def _pending(
    store: Store, logged: Iterable[Anchor] | Path, after: tuple[int, int], upto: tuple[int, int] | None = None
) -> Iterator[Anchor]:
    """The anchors of entries after ``after`` (up to ``upto``), oldest first, read as they
    are needed."""
    local = _log(logged) if isinstance(logged, Path) else logged
    every = merged(store.each_anchor(), local)
    if upto is not None:
        every = itertools.takewhile(lambda a: stream_order(a.last) <= upto, every)
    return (a for a in every if stream_order(a.last) > after)


def _log(path: Path) -> Iterator[Anchor]:
    """The anchors of a local log, a line at a time; a bad line is named as a conflict."""
    try:
        yield from anchors.streamed(path)
    except ValueError as exc:
        raise Conflict(f"the anchor log cannot be read: {exc}") from None


def _walk(
    rows: Iterable[tuple[str, list[str]]], keyring: Keyring | None, state: _State, pending: Iterator[Anchor]
) -> tuple[tuple[str, str] | None, _Mark]:
    """Walk ``rows``, the entries after ``state`` as stored, holding the record to
    ``pending`` (the anchors past it, oldest first); ``state`` follows. Returns (where
    and what is broken, or None; the next anchor not met yet).

    An entry as the script appends it (``event``, the sealed text, ``prev``, ``hash``)
    that links to the hash before it, hashes to its own and has a right MAC is checked on
    the stored text alone (``SealCheck``: no decoding, no re-encoding); any other entry is
    decoded and checked field by field (``_checked``), which names what is wrong."""
    prev, count, unknown, held, last_at = state.prev, state.count, state.unknown, state.held, state.last_at
    recent: deque[str] = deque([prev], maxlen=RECENT)  # what an in-stream anchor may attest
    seals = SealCheck(keyring) if keyring is not None else None
    sha1 = hashlib.sha1
    mark = _Mark(None)
    broken: tuple[str, str] | None = None
    try:
        mark = _Mark(next(pending, None))
        last, length, dash = mark.last, mark.length, mark.dash
        for entry_id, stored in rows:
            if (
                mark.anchor is not None
                and entry_id != last
                # passed_by, inlined where the ids' digits line up: they compare as text
                and (
                    entry_id > last
                    if len(entry_id) == length and entry_id[dash] == "-"
                    else mark.passed_by(entry_id)
                )
            ):
                broken = mark.last, _erased(mark.anchor, count, entry_id)
                break
            first = count == state.first
            count += 1
            try:
                fast = (
                    seals is not None
                    and len(stored) == 6
                    and stored[0] == "event"
                    and stored[2] == "prev"
                    and stored[3] == prev
                    and stored[4] == "hash"
                    and sha1(b"%s\n%s" % (prev.encode(), text := stored[1].encode())).hexdigest() == stored[5]
                    and seals.valid(text)
                    and b'"anchor"' not in text  # an in-stream anchor: checked the long way
                )
            except (AttributeError, TypeError, UnicodeEncodeError):  # not text: the long way names it
                fast = False
            if fast:
                hash_ = stored[5]
            else:
                problem, valid, hash_ = _slow(keyring, stored, prev, recent)
                if problem and first and stored[-3:-2] != [prev] and problem != _NOT_TEXT:
                    problem = (
                        f"the record's oldest entries were erased: it starts at {entry_id}, "
                        f"which links to {stored[-3][:12] or '(start)'}, not to "
                        f"{'the pruned marker ' + prev[:12] if prev else 'the start'}"
                    )
                if problem:
                    broken = entry_id, problem
                    break
                if keyring is not None and valid is None:
                    unknown += 1
            if entry_id == mark.last and mark.anchor is not None:
                if problem := _held_to(mark.anchor, hash_, count):
                    broken = entry_id, problem
                    break
                held, last_at = held + 1, mark.anchor.at
                mark = _Mark(next(pending, None))
                last, length, dash = mark.last, mark.length, mark.dash
            prev = hash_
            recent.append(prev)
    except archive.Broken as exc:
        broken = exc.where, exc.problem
    except Conflict as conflict:
        broken = "anchors", conflict.problem
    state.prev, state.count, state.unknown, state.held, state.last_at = prev, count, unknown, held, last_at
    return broken, mark


def _end(state: _State, mark: _Mark, chain_head: Callable[[], str]) -> Verdict:
    """The verdict on a record walked to its end: every anchor met, and the chain head
    where the walk ended."""
    if mark.anchor is not None:
        return state.verdict(mark.last, _erased(mark.anchor, state.count, ""))
    head = chain_head()
    if head != state.prev:
        return state.verdict(
            "end",
            f"the record ends at {state.prev[:12] or '(start)'} but the chain "
            f"head is {head[:12] or '(none)'}: entries at the end were deleted, or "
            "the head was overwritten",
        )
    return state.verdict()


def _can_fork(logged: Iterable[Anchor] | Path) -> bool:
    """A second process can walk the files: fork exists, no other thread could hold a
    lock the child would need, and the local anchors can be read twice (a log's path, or
    anchors in memory; not a one-shot iterator)."""
    return hasattr(os, "fork") and threading.active_count() == 1 and isinstance(logged, Path | list | tuple)


def _split(
    store: Store,
    keyring: Keyring | None,
    logged: Iterable[Anchor] | Path,
    folder: Path,
    days: list[archive.DayFile],
    start: _State,
    after: tuple[int, int],
) -> Verdict:
    """``verify`` over day files and Redis as two walks at once: a child process walks
    the files (and their anchors), this one Redis (and the anchors past the files) from
    the manifest's last line. If the files do not end where that line says, or an anchor
    in them was not met, Redis is walked again from where the files really end: the
    answer is always the one walk in order gives."""
    edge = stream_order(days[-1].last)

    def files() -> tuple[tuple[str, str] | None, _State, Anchor | None]:
        broken, mark = _walk(
            archive.entries(folder, days, store.export_marks()),
            keyring,
            start,
            _pending(store, logged, after, edge),
        )
        return broken, start, mark.anchor

    child = _Child(files)
    redis_start = _State(days[-1].head, days[-1].before + days[-1].count, first=-1)
    redis_rows = store.stored(f"({days[-1].last}")
    broken, mark = _walk(redis_rows, keyring, redis_start, _pending(store, logged, edge))
    walked: tuple[tuple[str, str] | None, _State, Anchor | None] = child.result()
    files_broken, files_end, unmet = walked
    if files_broken:
        return files_end.verdict(*files_broken)
    if unmet is not None or (files_end.prev, files_end.count) != (
        days[-1].head,
        days[-1].before + days[-1].count,
    ):
        pending = itertools.chain([unmet] if unmet else [], _pending(store, logged, edge))
        files_end.first = -1
        broken, mark = _walk(store.stored(f"({days[-1].last}"), keyring, files_end, pending)
        return files_end.verdict(*broken) if broken else _end(files_end, mark, store.chain_head)
    redis_start.unknown += files_end.unknown
    redis_start.held += files_end.held
    redis_start.last_at = redis_start.last_at or files_end.last_at
    return redis_start.verdict(*broken) if broken else _end(redis_start, mark, store.chain_head)


class _Child:
    """A function run in a forked process, its result (or its error) read back."""

    def __init__(self, work: Callable[[], Any]) -> None:
        context = multiprocessing.get_context("fork")
        self._reader, writer = context.Pipe(duplex=False)
        self._process = context.Process(target=_child, args=(writer, work), daemon=True)
        self._process.start()
        writer.close()

    def result(self) -> Any:
        try:
            ok, value = self._reader.recv()
        except EOFError:
            ok, value = False, "the process walking the day files died"
        finally:
            self._reader.close()
            self._process.join()
        if not ok:
            raise RuntimeError(f"verify's walk of the day files failed: {value}")
        return value


def _child(writer: Connection, work: Callable[[], Any]) -> None:
    try:
        writer.send((True, work()))
    except BaseException:  # noqa: BLE001 - whatever it was, the parent says so
        writer.send((False, traceback.format_exc()))
    finally:
        writer.close()


_NOT_TEXT = "it is not an entry as stored: a field is not text"


def _slow(
    keyring: Keyring | None, stored: list[str], prev: str, recent: deque[str]
) -> tuple[str, bool | None, str]:
    """(what is wrong or "", the MAC's validity, the entry's hash) of an entry checked
    field by field."""
    if not all(isinstance(part, str) for part in stored):
        return _NOT_TEXT, None, ""
    fields, body = unpacked_with_text(stored)
    problem, valid = _checked(keyring, fields, prev, body)
    return problem or _anchor_problem(fields, recent), valid, fields[-1] if fields else ""


class _Mark:
    """The next anchor the walk must meet, and whether an entry id is past it: a string
    comparison where the two ids have the same shape (the digits of both parts line up,
    as they do entry after entry), the ids' numbers otherwise."""

    def __init__(self, anchor: Anchor | None) -> None:
        self.anchor = anchor
        self.last = anchor.last if anchor is not None else ""
        self.order = stream_order(self.last) if anchor is not None else (0, 0)
        self.dash = self.last.find("-")
        self.length = len(self.last)

    def passed_by(self, entry_id: str) -> bool:
        if len(entry_id) == self.length and entry_id[self.dash] == "-":
            return entry_id > self.last
        try:
            return stream_order(entry_id) > self.order
        except ValueError:  # not an id: the entry check names it
            return False


def _erased(anchor: Anchor, count: int, next_id: str) -> str:
    """Why an anchored entry that is not in the stream means evidence was erased."""
    where = f"before {next_id}" if next_id else "at its end"
    return (
        f"the anchor of {anchor.at} attests {anchor.count} entries up to {anchor.last} "
        f"(hash {anchor.hash[:12]}); the record holds {count} {where}: "
        f"{anchor.count - count} or more entries were erased (trimmed, deleted or rewritten)"
    )


def _held_to(anchor: Anchor, hash_: str, count: int) -> str:
    """What is wrong with an anchored entry as found; "" when it is what was attested."""
    if hash_ != anchor.hash:
        return (
            f"it hashes to {hash_[:12]} but the anchor of {anchor.at} attests "
            f"{anchor.hash[:12]}: it or entries before it were rewritten"
        )
    if count != anchor.count:
        return (
            f"it is entry {count} of the record but the anchor of {anchor.at} attests it "
            f"as entry {anchor.count}: entries before it were deleted or inserted"
        )
    return ""


def _anchor_problem(fields: list[str], seen: deque[str]) -> str:
    """An anchor the webhooks once appended to the stream itself must attest a head the
    record still holds before it (records from before ``ivr.anchors``)."""
    if "anchor" not in fields[:10]:
        return ""
    attested = pairs(fields).get("head", "")
    if attested in seen:
        return ""
    return (
        f"it attests the chain head {attested[:12]}, which none of the {RECENT} entries "
        "before it has: entries before it were deleted or rewritten and the chain relinked"
    )
