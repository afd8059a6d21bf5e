"""The one pass over the events that builds a report: which call each event belongs to,
whether that call is in the report at all, and when it is complete.

Memory stays bounded by the traffic of a few days, not by the period: a call is added up
(``Totals.add``) and forgotten as soon as the stream has gone on for ``QUIET`` past its
latest entry. The stream's clock is the entry id (Redis's time of the append, milliseconds),
which ``as_events`` passes on as the event's ``id``, as ``ivr audit export`` writes it. No
entry of a call can come that late: every write refreshes the call's step set for
``store.CALL_TTL`` (26 h: Twilio's 24 h call limit, the status callback and a short outage's
spool replay), and a write after it expired could only be a spool replayed after an outage of
more than a day, which then counts as a call of its own without a 'received'. Events with no
``id`` (hand-made ones) carry no clock: their calls are all added up at the end.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

import orjson

from ivr.evidence import unpack
from ivr.report.calls import READERS, Call
from ivr.report.figures import Report, Source
from ivr.report.totals import Totals

QUIET = timedelta(hours=48)  # stream time after a call's latest entry when it is complete
_CHECK_EVERY = 1024  # events between looks at the stream's clock


def as_events(entries: Iterable[tuple[str, Sequence[str]]]) -> Iterator[dict[str, str]]:
    """Stream entries as ``Store.entries`` yields them, (id, [name, value, ...]), as events,
    each with its entry id as ``id``. A last name without a value is left out (zip's strict
    check costs a quarter of the pass here; an entry missing its call counts as malformed)."""
    for entry_id, flat in entries:
        pairs = iter(flat)
        event = dict(zip(pairs, pairs, strict=False))
        event["id"] = entry_id
        yield event


def stored_events(entries: Iterable[tuple[str, Sequence[str]]]) -> Iterator[dict[str, str]]:
    """``as_events`` of the entries as Redis holds them (``Store.stored``, or
    ``audit.period(..., stored=True)``): the sealed text is decoded straight into the event,
    without the chain fields, which the report does not read (``prev`` and ``hash``), and
    without building the unpacked list first. Entries of another layout, or whose sealed
    fields do not pair up, are read as ``as_events`` reads them unpacked."""
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for entry_id, stored in entries:
        flat = None
        if len(stored) == 6 and stored[0] == "event":
            try:
                flat = loads(stored[1])
            except decode_error:
                flat = None
        if isinstance(flat, list) and not len(flat) & 1:
            pairs = iter(flat)
            event = dict(zip(pairs, pairs, strict=False))  # the length is even: no strict check
        else:
            pairs = iter(unpack(stored))
            event = dict(zip(pairs, pairs, strict=False))
        event["id"] = entry_id
        yield event


def build_report(
    events: Iterable[Mapping[str, str]],
    start: date,
    end: date,
    flow: str | None = None,
    home: str = "US",
    quiet: timedelta = QUIET,
) -> Report:
    """The compliance report of the calls received from start to end (UTC dates, inclusive)."""
    if start > end:
        raise ValueError(f"the period starts ({start}) after it ends ({end})")
    # The pass makes no reference cycles: the cyclic collector would only rescan the calls
    # still open (and the caller's events) again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Pass(start, end, flow, home, quiet).run(events)
    finally:
        if collecting:
            gc.enable()


class _Pass:
    """Reads events one at a time; holds the calls not yet complete."""

    def __init__(self, start: date, end: date, flow: str | None, home: str, quiet: timedelta) -> None:
        self.lo, self.hi, self.flow = start.isoformat(), end.isoformat(), flow
        self.source = Source()
        self.totals = Totals(start, end, flow, home, self.source)
        self.calls: dict[str, Call] = {}
        self.quiet_ms = quiet // timedelta(milliseconds=1)
        self.sweep_at: int | None = None  # stream time of the next look for complete calls

    def run(self, events: Iterable[Mapping[str, str]]) -> Report:
        source, calls, check_every = self.source, self.calls, _CHECK_EVERY
        count = 0
        for ev in events:
            count += 1
            entry_id = ev.get("id")
            if entry_id is not None and count % check_every == 0:
                self._tick(entry_id)
                calls = self.calls
            step = ev.get("step") or ""
            if step == "anchor":  # the record's own, not a call's
                continue
            sid = ev.get("call") or ""
            if not sid:
                source.malformed_events += 1
                continue
            c = calls.get(sid)
            if c is None:
                c = calls[sid] = Call()
                source.calls_seen += 1
            c.last = entry_id
            if c.out:  # received outside the period or another flow
                continue
            read = READERS.get(step)
            if read is None and step != "received":  # routed, no_center, status ...: nothing to count
                continue
            at = ev.get("at")
            if at is None or len(at) != 29 or not at.endswith("+00:00"):  # not the evidence's own form
                at = _utc(at or "")
            if at is None:
                source.malformed_events += 1
                continue
            c.events += 1
            if read is not None:
                read(c, ev, (at, c.events))
            elif c.day is None:  # 'received': at most once per call, the first counts
                self._received(c, ev, at[:10])
        source.events_read = count
        for sid, c in self.calls.items():
            if not c.out:
                self.totals.add(sid, c)
        return self.totals.report()

    def _received(self, c: Call, ev: Mapping[str, str], day: str) -> None:
        if not self.lo <= day <= self.hi:
            c.out = True
            self.source.calls_outside_period += 1
        elif self.flow is not None and ev.get("flow") != self.flow:
            c.out = True
            self.source.calls_other_flow += 1
        else:
            c.received(ev, day)

    def _tick(self, entry_id: str) -> None:
        """At the stream time of this entry, add up the calls complete by now."""
        now = _stream_ms(entry_id)
        if now is None:
            return
        if self.sweep_at is None:
            self.sweep_at = now + self.quiet_ms // 2
        if now < self.sweep_at:
            return
        open_calls: dict[str, Call] = {}
        for sid, c in self.calls.items():
            last = _stream_ms(c.last) if c.last is not None else None
            if last is None or now - last < self.quiet_ms:
                open_calls[sid] = c
            elif not c.out:
                self.totals.add(sid, c)
        self.calls = open_calls
        self.sweep_at = now + self.quiet_ms // 2


def _stream_ms(entry_id: str) -> int | None:
    """The milliseconds of a stream id ('1790000000000-3'), or None."""
    try:
        return int(entry_id.partition("-")[0])
    except ValueError:
        return None


def _utc(at: str) -> str | None:
    """The canonical form the evidence writes ('2026-11-01T12:00:00.000+00:00'), or None."""
    if len(at) == 29 and at.endswith("+00:00"):
        return at
    try:
        moment = datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
