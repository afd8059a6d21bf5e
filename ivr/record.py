"""The evidence record in Redis: its entries in order (in bulk, a batch at a time), one
call's entries, the chain's head, the auditor's anchors, export marks and pruning. The
webhooks append to it through ``ivr.store`` (the commit script); this part only reads it,
marks what was exported and removes what retention let go. ``Record`` is one of the
parts ``ivr.store.Store`` is made of: it needs only ``client``.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis

from ivr import keys
from ivr.anchors import Anchor
from ivr.evidence import unpack
from ivr.publishing import publisher

__all__ = ["Record"]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while a batch of entries is built: it would traverse
    the growing record again and again (tens of lists per entry, none of them cyclic), which
    made reading a month of evidence take three to four times as long."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _unpacked(entry: Mapping[bytes, bytes]) -> list[str]:
    """An entry as redis-py's client returns it, as ``evidence.unpack`` gives it."""
    return unpack([x.decode() for pair in entry.items() for x in pair])


class Record:
    """Reads, export marks and pruning of the evidence record."""

    client: Any  # redis-py's annotations cover sync and async; we are sync
    _bulk: Any = None  # the bulk reader, made on first use

    def entries(
        self, start: str = "-", end: str = "+", batch: int = 2_000
    ) -> Iterator[tuple[str, list[str]]]:
        """Entries of the events stream in order, as (id, [name, value, ...]) with the
        chain fields last (``evidence.unpack``). A batch at a time: 2,000 entries are about
        13 MiB as Python lists, so a reader's memory does not grow with the record."""
        return self._batches(start, end, batch, unpack)

    def stored(self, start: str = "-", end: str = "+", batch: int = 2_000) -> Iterator[tuple[str, list[str]]]:
        """``entries`` as Redis holds them (``event``, the sealed text, ``prev``, ``hash``;
        older entries their own fields): what the chain hash covers, byte for byte."""
        return self._batches(start, end, batch, list)

    def _batches(
        self, start: str, end: str, batch: int, shape: Callable[[list[str]], list[str]]
    ) -> Iterator[tuple[str, list[str]]]:
        """The next batch is asked for as soon as a batch is in, before this one is used:
        Redis prepares it while the reader works (a walk of the record waited on Redis
        for a third of its time). A connection of its own, closed if the reader stops
        with a reply still on the way."""
        pool = self._reader().connection_pool
        connection = pool.get_connection()
        done = False
        try:
            connection.send_command("XRANGE", keys.EVENTS, start, end, "COUNT", batch)
            while True:
                reply = connection.read_response()
                more = len(reply) == batch
                if more:
                    connection.send_command("XRANGE", keys.EVENTS, "(" + reply[-1][0], end, "COUNT", batch)
                with _collector_paused():
                    rows = [(i, shape(f)) for i, f in reply]
                del reply
                yield from rows
                if not more:
                    done = True
                    return
        finally:
            if done:
                pool.release(connection)
            else:  # a reply may be unread: the connection cannot be used again
                connection.disconnect()
                pool.release(connection)

    def _reader(self) -> Any:
        """A client for reading the record in bulk: the reply parser (hiredis, in C) decodes
        text and the entries stay the flat lists Redis sends; redis-py's per-entry dicts
        would make a month of evidence take several times longer to read."""
        if self._bulk is not None:
            return self._bulk
        pool = self.client.connection_pool
        kwargs = {**pool.connection_kwargs, "decode_responses": True}
        reader = redis.Redis(
            connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        )
        reader.set_response_callback("XRANGE", lambda rows, **_: rows)
        self._bulk = reader
        return reader

    def call_entries(self, call_sid: str) -> list[tuple[str, list[str] | None]]:
        """One call's entries in order; None for an id whose entry is gone."""
        ids = [i.decode() for i in self.client.lrange(keys.call_entries(call_sid), 0, -1)]
        return [(entry_id, self.entry(entry_id)) for entry_id in ids]

    def next_entry(self, entry_id: str) -> tuple[str, list[str]] | None:
        """The entry right after this one, if any."""
        rows = self.client.xrange(keys.EVENTS, min="(" + entry_id, max="+", count=1)
        if not rows:
            return None
        next_id, fields = rows[0]
        return next_id.decode(), _unpacked(fields)

    def entry(self, entry_id: str) -> list[str] | None:
        """One entry by id; None when it is not in the stream."""
        rows = self.client.xrange(keys.EVENTS, min=entry_id, max=entry_id)
        return _unpacked(rows[0][1]) if rows else None

    def high_water(self) -> tuple[int, str, str]:
        """(entries appended so far, pruned ones counted; the last one's id; its hash), read
        at one moment."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(keys.AUDIT_PRUNED).xlen(keys.EVENTS).xrevrange(keys.EVENTS, count=1)
        pruned, length, last = pipe.execute()
        if not last:
            return (
                int(pruned.get(b"count", 0)),
                pruned.get(b"id", b"").decode(),
                pruned.get(b"hash", b"").decode(),
            )
        return int(pruned.get(b"count", 0)) + length, last[0][0].decode(), _unpacked(last[0][1])[-1]

    def anchors(self) -> list[Anchor]:
        """Every anchor the auditor wrote, oldest first."""
        return list(self.each_anchor())

    def each_anchor(self, batch: int = 1_000) -> Iterator[Anchor]:
        """``anchors``, a batch at a time: a year of anchors is never in memory at once."""
        cursor = "-"
        while True:
            rows = self.client.xrange(keys.AUDIT_ANCHORS, min=cursor, count=batch)
            yield from (Anchor.of({k.decode(): v.decode() for k, v in f.items()}) for _, f in rows)
            if len(rows) < batch:
                return
            cursor = "(" + rows[-1][0].decode()

    def last_anchor(self) -> Anchor | None:
        """The newest anchor, if any."""
        rows = self.client.xrevrange(keys.AUDIT_ANCHORS, count=1)
        return Anchor.of({k.decode(): v.decode() for k, v in rows[0][1].items()}) if rows else None

    def add_anchor(self, anchor: Anchor) -> None:
        """Record a high-water mark (the auditor's credentials: the app's cannot)."""
        self.client.xadd(keys.AUDIT_ANCHORS, anchor.fields())

    def chain_head(self) -> str:
        """The hash of the last entry appended, as the script left it."""
        value = self.client.get(keys.CHAIN_HEAD)
        return value.decode() if value else ""

    def pruned(self) -> tuple[str, str, int]:
        """(last id, last hash, entries removed) of what retention removed; ("", "", 0) if
        nothing was."""
        found = self.client.hgetall(keys.AUDIT_PRUNED)
        return (found.get(b"id", b"").decode(), found.get(b"hash", b"").decode(), int(found.get(b"count", 0)))

    def mark_exported(self, first: str, last: str, count: int, sha256: str, path: str) -> None:
        """Remember that entries first..last were exported to a file with this digest."""
        self.client.xadd(
            keys.AUDIT_EXPORTED,
            {
                "first": first,
                "last": last,
                "count": str(count),
                "sha256": sha256,
                "path": path,
                "by": publisher(),
            },
        )

    def exported(self) -> list[tuple[str, str]]:
        """Exported ranges of entry ids, (first, last), oldest first."""
        rows = self.client.xrange(keys.AUDIT_EXPORTED)
        return [(f[b"first"].decode(), f[b"last"].decode()) for _, f in rows]

    def export_marks(self) -> dict[tuple[str, str], str]:
        """The SHA-256 of each exported file, by (first entry id, file name)."""
        rows = self.client.xrange(keys.AUDIT_EXPORTED)
        return {
            (f[b"first"].decode(), os.path.basename(f[b"path"].decode())): f[b"sha256"].decode()
            for _, f in rows
        }

    def prune(self, last_id: str, last_hash: str, calls: Iterable[str], removed: int) -> int:
        """Remove every entry up to and including last_id (``removed`` of them, counted in
        the marker so that anchors' counts still match); verification resumes after it."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xtrim(keys.EVENTS, minid=_after(last_id), approximate=False)
        pipe.hset(keys.AUDIT_PRUNED, mapping={"id": last_id, "hash": last_hash})
        pipe.hincrby(keys.AUDIT_PRUNED, "count", removed)
        for call_sid in calls:
            pipe.delete(keys.call_entries(call_sid))
        return int(pipe.execute()[0])


def _after(entry_id: str) -> str:
    """The smallest stream id greater than entry_id."""
    ms, seq = entry_id.split("-")
    return f"{ms}-{int(seq) + 1}"
