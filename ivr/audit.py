"""The evidence record as a whole: verify its chain (``ivr.chain_walk``), anchor it,
export it, prune what was exported, read one call's record.

The stream is never trimmed by length. ``prune`` removes only entries that were exported
(``export`` records each exported range and the file's SHA-256) and are older than the
retention period.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ivr import archive
from ivr.anchors import Anchor, stream_order
from ivr.chain_walk import CHAIN_TAIL, check_entry
from ivr.chain_walk import SPLIT_AT as SPLIT_AT
from ivr.chain_walk import Verdict as Verdict
from ivr.chain_walk import verify as verify
from ivr.evidence import Keyring, pairs, unpack
from ivr.store import Store


def anchor(store: Store, now: datetime) -> tuple[Anchor | None, str]:
    """Take a high-water mark of the record now, unless nothing was appended since the last
    one. Refuses (None, why) when the record no longer holds what the last anchor attested:
    the alarm goes off on the auditor's timer, not only when someone runs verify."""
    count, last_id, hash_ = store.high_water()
    previous = store.last_anchor()
    pruned_id, pruned_hash, _ = store.pruned()
    # Two reads, not a walk: the app's user can only trim from the start (XADD's MAXLEN,
    # MINID), so the oldest entry and the last anchored one show any erasure it can do.
    first = next(store.entries(f"({pruned_id}" if pruned_id else "-", batch=1), None)
    if first is not None and first[1][-3:-2] != [pruned_hash]:
        return None, (
            f"the record now starts at {first[0]}, which does not link to where the "
            "last prune left it: its oldest entries were erased; run ivr audit verify"
        )
    if previous is not None:
        if not pruned_id or stream_order(previous.last) > stream_order(pruned_id):
            found = store.entry(previous.last)
            if found is None or found[-1] != previous.hash or count < previous.count:
                return None, (
                    f"the record no longer holds entry {previous.last} as the anchor "
                    f"of {previous.at} attested it: run ivr audit verify"
                )
        if previous.last == last_id:
            return None, ""
    if not last_id:
        return None, ""
    taken = Anchor(now.astimezone(UTC).isoformat(timespec="milliseconds"), last_id, hash_, count)
    store.add_anchor(taken)
    return taken, ""


def _range(start: date, end: date) -> tuple[str, str]:
    """Stream ids from the start of ``start`` up to, not including, the day after ``end``."""
    return archive.first_id(start), "(" + archive.first_id(end + timedelta(days=1))


def period(
    store: Store, start: date, end: date, folder: Path | None = None, stored: bool = False
) -> Iterator[tuple[str, list[str]]]:
    """Entries that may belong to calls received from start to end, from the archive in
    ``folder`` and then Redis: a day of slack after ``end`` for calls that ran past midnight.
    Unpacked (``Store.entries``), or with ``stored`` as Redis holds them (``Store.stored``),
    for a reader that decodes only what it needs."""
    first_id, last_id = _range(start, end + timedelta(days=1))
    days = archive.manifest(folder) if folder is not None else []
    read = store.stored if stored else store.entries
    if folder is None or not days:
        yield from read(first_id, last_id)
        return
    yield from archive.period(folder, first_id, last_id, _as_stored if stored else unpack)
    # what the archive holds is read from it alone, even before Redis pruned it
    if stream_order(days[-1].last) >= stream_order(first_id):
        first_id = f"({days[-1].last}"
    yield from read(first_id, last_id)


def _as_stored(stored: list[str]) -> list[str]:
    """A day file's row as read: already the fields as Redis held them."""
    return stored


def export(store: Store, start: date, end: date, fmt: str, out: Path) -> tuple[int, str]:
    """Write entries of [start, end] (UTC days) as jsonl or csv; record the range. Returns
    (entries, sha256 of the file)."""
    first_id, last_id = _range(start, end)
    rows = list(store.entries(first_id, last_id))
    buffer = io.StringIO()
    if fmt == "jsonl":
        for entry_id, fields in rows:
            buffer.write(json.dumps({"id": entry_id, **pairs(fields)}, ensure_ascii=False) + "\n")
    else:
        names: dict[str, None] = {"id": None}
        for _, fields in rows:
            names.update(dict.fromkeys(fields[::2]))
        writer = csv.DictWriter(buffer, fieldnames=list(names))
        writer.writeheader()
        for entry_id, fields in rows:
            writer.writerow({"id": entry_id, **pairs(fields)})
    data = buffer.getvalue().encode()
    out.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    if rows:
        store.mark_exported(rows[0][0], rows[-1][0], len(rows), digest, str(out))
    return len(rows), digest


def prune(store: Store, before: date, retention_days: int, today: date) -> tuple[int, str]:
    """Remove entries older than ``before`` and than the retention period, only where every
    one of them was exported. Returns (entries removed, "" or why nothing was removed)."""
    cutoff = min(before, today - timedelta(days=retention_days))
    pruned_id = store.pruned()[0]
    ranges = sorted(stream_order(a) + stream_order(b) for a, b in store.exported())
    candidates = list(store.entries(f"({pruned_id}" if pruned_id else "-", "(" + archive.first_id(cutoff)))
    if not candidates:
        return 0, f"no entries before {cutoff.isoformat()} (retention {retention_days} days)"
    for entry_id, _ in candidates:
        key = stream_order(entry_id)
        if not any(r[:2] <= key <= r[2:] for r in ranges):
            return 0, f"entry {entry_id} was never exported: export its range first"
    last_id, last_fields = candidates[-1]
    calls = {dict(pairs(f)).get("call", "") for _, f in candidates} - {""}
    store.prune(last_id, last_fields[-1], calls, len(candidates))
    return len(candidates), ""


def call_record(
    store: Store, keyring: Keyring | None, call_sid: str
) -> Iterator[tuple[str, dict[str, str], str]]:
    """One call's entries in the order they happened (by ``at``, then stream id: spooled
    entries reach the stream late): (id, fields, chain status of that entry)."""
    entries: list[tuple[str, list[str] | None]] = list(store.call_entries(call_sid))
    if not entries:  # its id list expired with the call (store.CALL_TTL): read the stream
        entries = [(i, f) for i, f in store.entries() if pairs(f).get("call") == call_sid]
    entries.sort(key=lambda e: (pairs(e[1]).get("at", "") if e[1] else "", stream_order(e[0])))
    for entry_id, fields in entries:
        if fields is None:
            yield entry_id, {}, "missing: deleted or pruned"
            continue
        problem = check_entry(keyring, fields, fields[-3] if len(fields) >= CHAIN_TAIL else "")
        if not problem:
            following = store.next_entry(entry_id)
            if following is None:
                if store.chain_head() != fields[-1]:
                    problem = "the chain head does not point at this last entry"
            elif following[1][-3:-2] != [fields[-1]]:
                problem = f"the next entry ({following[0]}) does not link to it"
        yield entry_id, pairs(fields), problem or "intact"
