"""The one pass over the events that builds a report: which call each event belongs to, and
whether that call is in the report at all."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime

from ivr.report.calls import READERS, Call
from ivr.report.figures import Report, Source
from ivr.report.totals import Totals


def as_events(entries: Iterable[tuple[str, Sequence[str]]]) -> Iterator[dict[str, str]]:
    """Stream entries as ``Store.entries`` yields them, (id, [name, value, ...]), as events."""
    for _, flat in entries:
        yield dict(zip(flat[::2], flat[1::2], strict=True))


def build_report(
    events: Iterable[Mapping[str, str]], start: date, end: date, flow: str | None = None, home: str = "US"
) -> Report:
    """The compliance report of the calls received from start to end (UTC dates, inclusive)."""
    if start > end:
        raise ValueError(f"the period starts ({start}) after it ends ({end})")
    # The pass keeps a few small objects per call until the end and makes no reference cycles;
    # the cyclic collector would only rescan them (and the caller's events) again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build(events, start, end, flow, home)
    finally:
        if collecting:
            gc.enable()


def _build(
    events: Iterable[Mapping[str, str]], start: date, end: date, flow: str | None, home: str
) -> Report:
    lo, hi = start.isoformat(), end.isoformat()
    source = Source()
    calls: dict[str, Call | None] = {}  # None: received outside the period or another flow
    for ev in events:
        source.events_read += 1
        step = ev.get("step") or ""
        if step == "anchor":  # the record's own, not a call's
            continue
        sid = ev.get("call") or ""
        if not sid:
            source.malformed_events += 1
            continue
        if sid in calls:
            known = calls[sid]
            if known is None:  # a call outside the period or the flow
                continue
            c = known
        else:
            c = calls[sid] = Call()
        read = READERS.get(step)
        if read is None and step != "received":  # routed, no_center, status ...: nothing to count
            continue
        at = _utc(ev.get("at") or "")
        if at is None:
            source.malformed_events += 1
            continue
        c.events += 1
        if read is not None:
            read(c, ev, (at, c.events))
        elif c.day is None:  # 'received': at most once per call, the first counts
            day = at[:10]
            if not lo <= day <= hi:
                calls[sid] = None
                source.calls_outside_period += 1
            elif flow is not None and ev.get("flow") != flow:
                calls[sid] = None
                source.calls_other_flow += 1
            else:
                c.received(ev, day)
    source.calls_seen = len(calls)
    totals = Totals(start, end, flow, home, source)
    for sid, counted in calls.items():
        if counted is not None:
            totals.add(sid, counted)
    return totals.report()


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
