"""Compliance reports from the per-call evidence (R12, R17, R20): pure, no Redis, no Flask.

``build_report(events, start, end)`` reads entries of the ``onshore:events`` stream (dicts of
str, in stream order, schema in ``ivr.evidence``) once, keeps a few small facts per call, and
sums them up; ``render(report, fmt)`` prints the result as text, csv, json or html.

Theory of operation, and the definitions the figures rest on (also printed with every report,
see ``DEFINITIONS``):

* A call belongs to the period when the UTC date of its ``received`` event is in
  [start, end]; every event of that call counts, whenever it was recorded. Calls whose
  ``received`` is not in the input cannot be placed and are only counted (``source``).
* Order within a call is the order of ``at`` (then stream order for equal ``at``), not the
  stream order alone: events that waited in the local spool while Redis was down are
  appended later than events of the call's next webhooks. So per call the pass keeps only
  positions (``at``, sequence) and decides "earlier" once the input is exhausted.
* An offshore bridge is a ``bridged`` event with ``domestic=false`` (when the field is absent:
  its country is not the home country). A call is offshore when it has at least one.
* A bridge was answered unless Twilio reported, in the ``bridge_ended`` that follows it, a
  status that ``ivr.outcomes`` does not read as answered, or the call moved on (another bridge or a
  transfer request, e.g. the caller pressed 1 on hold) before any ``bridge_ended``. A bridge
  with no report at all counts as answered: Twilio connected it and said nothing else.
"""

from __future__ import annotations

import csv
import gc
import html
import io
import json
import math
import re
import textwrap
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from ivr import waits
from ivr.outcomes import ANSWERED, GONE, meaning
from ivr.waits import Waits, nearest_rank

FORMATS = ("text", "csv", "json", "html")
CONTENT_TYPES = {
    "text": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}

WARNING_PERCENT = 25  # R17: warn while nearing the notice threshold
NOTICE_PERCENT = 30  # R17: moving >= 30% of call volume overseas needs a notice
NJ_TARGET_PERCENT = 65  # R20: >= 65% of NJ-originating volume answered in New Jersey
EXEMPT_CALL = frozenset({"emergency", "foreign-business"})  # exemptions that cover a bridge
EXEMPT_REASONS = ("domestic-center", "emergency", "foreign-business")
CHANNELS = ("key", "voice", "hold")
_CAUTIOUS = "*"  # disclosure key of a cautious "may be answered outside" disclosure
_STEPS = {
    "bridged": 1,
    "bridge_ended": 2,
    "disclosed": 3,
    "offered": 4,
    "received": 5,
    "exempt": 6,
    "transfer_requested": 7,
    "safe_answer": 8,
    "handoff": 9,
}  # the steps the report reads

DEFINITIONS = (
    (
        "Period",
        "A call belongs to the period when the UTC date of its 'received' event is within "
        "the period (inclusive); all its events count, whenever they were recorded.",
    ),
    ("Order", "Within a call, events are ordered by 'at', then by stream order."),
    (
        "Offshore call",
        "A call an offshore agent answered: at least one 'bridged' event with "
        "domestic=false whose bridge was answered (see Answered bridge). A call "
        "bridged offshore that was abandoned, failed or moved on is not one. A call "
        "answered at several offshore centers counts once in the total and once "
        "under each country and center.",
    ),
    (
        "Offshore share",
        "Offshore calls (answered offshore) / calls received (R17): warning at 25%, notice threshold at 30%.",
    ),
    (
        "Disclosure coverage",
        "Offshore bridges (each one, not each call) preceded in the call by a "
        "disclosure naming the bridge's city and country, or by a cautious "
        "disclosure, or whose call is exempt (emergency or foreign-business, "
        "from an 'exempt' event or the number's flag on 'received').",
    ),
    (
        "Offer coverage",
        "Offshore bridges with an 'offered' event after such a disclosure and "
        "before the bridge, or whose call is exempt.",
    ),
    (
        "Answered bridge",
        "A bridge counts as answered unless its 'bridge_ended' status means "
        "otherwise (answered: DialCallStatus completed/answered, QueueResult "
        "bridged/bridging-in-process/redirected-from-bridged; a caller who hung "
        "up first is never answered), or the call moved on to another bridge or "
        "a transfer before any 'bridge_ended'. A bridge with no report counts "
        "as answered.",
    ),
    (
        "Transfer requests",
        "Each 'transfer_requested' event. Completed: a domestic bridge after "
        "it (and before the call's next request) was answered. Time to bridge: "
        "'at' of the first such bridge minus 'at' of the request, nearest-rank "
        "percentiles; the engine records both in one webhook, so this measures "
        "our decision time, not the time until a human answers.",
    ),
    (
        "Exemptions",
        "Calls with an 'exempt' event, per reason; callers outside the home country "
        "and of unknown country (R11) from 'received'.",
    ),
    (
        "New Jersey",
        "Calls whose 'received' caller_state is NJ; answered in NJ: an answered bridge "
        "to a center whose region is NJ (country US) (R20: target 65%).",
    ),
    *waits.DEFINITIONS,
)


# -- the report -----------------------------------------------------------------------------


@dataclass
class Source:
    """What the report was computed from."""

    events_read: int = 0
    calls_seen: int = 0  # distinct CallSids in the input
    calls_outside_period: int = 0
    calls_other_flow: int = 0
    calls_without_received: int = 0  # events whose call has no 'received' in the input
    malformed_events: int = 0  # no call, or an 'at' that is not ISO 8601


@dataclass
class Volume:
    """Section 1 (R17): calls received and calls answered offshore."""

    calls_received: int = 0
    offshore_calls: int = 0  # calls an offshore agent answered
    offshore_share: float | None = None  # offshore_calls / calls_received
    offshore_bridges: int = 0  # every offshore bridge made, answered or not
    offshore_by_country: dict[str, int] = field(default_factory=dict)
    offshore_by_center: dict[str, int] = field(default_factory=dict)
    handed_off: int = 0  # calls given to the company's own TwiML application (not covered)
    warning: bool = False  # share >= 25%
    threshold_reached: bool = False  # share >= 30%
    message: str = ""


@dataclass
class Uncovered:
    """One offshore bridge without the required disclosure or offer."""

    call: str
    at: str
    center: str
    city: str
    country: str


@dataclass
class Coverage:
    """Section 2 (R1, R8): offshore bridges covered by a disclosure (or offer)."""

    offshore_bridges: int = 0
    covered: int = 0
    via_exemption: int = 0  # covered only because the call is exempt
    coverage: float | None = None  # covered / offshore_bridges; None without bridges
    complete: bool = True
    exceptions: list[Uncovered] = field(default_factory=list)
    exception_calls: list[str] = field(default_factory=list)


@dataclass
class Transfers:
    """Section 3 (R7): transfer requests and how fast they reached a domestic bridge."""

    requested: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    completed: int = 0
    not_completed: int = 0
    reached_domestic_bridge: int = 0
    seconds_to_bridge_p50: float | None = None
    seconds_to_bridge_p90: float | None = None


@dataclass
class Exemptions:
    """Section 4 (R3, R5, R6, R11)."""

    by_reason: dict[str, int] = field(default_factory=dict)  # calls per exempt reason
    exempt_calls: int = 0
    caller_outside_home: int = 0
    caller_country_unknown: int = 0


@dataclass
class SafeAnswers:
    """Section 5: calls that got the safe answer, by reason."""

    calls: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


@dataclass
class NewJersey:
    """Section 6 (R20): NJ-originating calls and where they were answered."""

    calls_from_nj: int = 0
    bridged_to_nj: int = 0
    answered_in_nj: int = 0
    share_answered_in_nj: float | None = None
    target: float = NJ_TARGET_PERCENT / 100
    meets_target: bool | None = None  # None without NJ-originating calls
    nj_centers: list[str] = field(default_factory=list)  # NJ centers bridged in the period
    message: str = ""


@dataclass
class Day:
    """Section 7: one day of the period (calls by the UTC date they were received)."""

    day: date
    calls_received: int = 0
    offshore_calls: int = 0
    offshore_share: float | None = None
    offshore_bridges: int = 0
    covered_bridges: int = 0
    disclosure_coverage: float | None = None


@dataclass
class Report:
    start: date
    end: date
    flow: str | None
    home: str
    source: Source
    volume: Volume
    disclosure: Coverage
    offer: Coverage
    transfers: Transfers
    exemptions: Exemptions
    safe_answers: SafeAnswers
    new_jersey: NewJersey
    daily: list[Day]
    waits: Waits = field(default_factory=Waits)


# -- one pass over the events ------------------------------------------------------------------

Pos = tuple[str, int]  # (at, canonical UTC with milliseconds; the call's nth event in the input)


@dataclass(slots=True)
class _Call:
    """The few facts kept per call while reading."""

    n: int = 0  # events of the call read so far: its stream order
    day: str | None = None  # YYYY-MM-DD once 'received' was read
    flow: str = ""
    state: str = ""
    country: str = ""
    exempt_number: str = ""
    disclosed: dict[Any, Pos] | None = None  # (city, country) or _CAUTIOUS -> first
    offers: list[Pos] | None = None
    bridges: list[tuple[Pos, str, str, str, str, bool]] | None = None
    ends: list[tuple[Pos, str, str]] | None = None  # (position, meaning, wait)
    requests: list[tuple[Pos, str]] | None = None
    exempt: list[str] | None = None
    safe: list[str] | None = None
    handed_off: bool = False


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
    calls: dict[str, _Call | None] = {}  # None: received outside the period or another flow
    seq = 0
    codes = _STEPS
    words: dict[str, str] = {}  # one copy of each day, state and country kept
    for ev in events:
        seq += 1
        get = ev.get
        if get("step") == "anchor":  # the record's own, not a call's
            continue
        sid = get("call") or ""
        if sid in calls:
            known = calls[sid]
            if known is None:  # a call outside the period or the flow
                continue
            c = known
        elif not sid:
            source.malformed_events += 1
            continue
        else:
            c = calls[sid] = _Call()
        code = codes.get(get("step") or "")
        if code is None:  # routed, no_center, unavailable, status: nothing to count
            continue
        at = get("at")
        if at is None or len(at) != 29 or at[23:] != "+00:00":
            at = _utc(at or "")
            if at is None:
                source.malformed_events += 1
                continue
        c.n = n = c.n + 1
        pos = (at, n)
        if code == 1:  # bridged
            country = get("country", "")
            domestic = get("domestic")
            offshore = domestic == "false" if domestic in ("true", "false") else country != home
            if c.bridges is None:
                c.bridges = []
            c.bridges.append(
                (
                    pos,
                    get("center", ""),
                    get("city", ""),
                    country,
                    (get("region") or "").strip().upper(),
                    offshore,
                )
            )
        elif code == 2:  # bridge_ended
            if c.ends is None:
                c.ends = []
            # what the engine read it as; events recorded before it said so: the table's reading
            c.ends.append((pos, get("outcome") or meaning(get("status", "")), get("wait", "")))
        elif code == 3:  # disclosed
            where = _CAUTIOUS if get("cautious") == "true" else (get("city", ""), get("country", ""))
            if c.disclosed is None:
                c.disclosed = {where: pos}
            else:
                first = c.disclosed.get(where)
                if first is None or pos < first:
                    c.disclosed[where] = pos
        elif code == 4:  # offered
            if c.offers is None:
                c.offers = [pos]
            else:
                c.offers.append(pos)
        elif code == 5:  # received
            if c.day is not None:
                continue  # at most once per call; keep the first
            day = at[:10]
            day = words.setdefault(day, day)
            if not lo <= day <= hi:
                calls[sid] = None
                source.calls_outside_period += 1
                continue
            if flow is not None and get("flow") != flow:
                calls[sid] = None
                source.calls_other_flow += 1
                continue
            c.day = day
            c.flow = get("flow", "")
            state = (get("caller_state") or "").strip().upper()
            c.state = words.setdefault(state, state)
            country = (get("caller_country") or "").strip().upper()
            c.country = words.setdefault(country, country)
            c.exempt_number = get("exempt", "")
        elif code == 6:  # exempt
            if c.exempt is None:
                c.exempt = []
            c.exempt.append(get("reason", ""))
        elif code == 7:  # transfer_requested
            if c.requests is None:
                c.requests = []
            c.requests.append((pos, get("by", "")))
        elif code == 9:  # handoff
            c.handed_off = True
        else:  # safe_answer
            if c.safe is None:
                c.safe = []
            c.safe.append(get("reason", ""))
    source.events_read = seq
    source.calls_seen = len(calls)
    return _sum_up(calls, start, end, flow, home, source)


End = tuple[str, Pos | None, str]  # what a bridge's end meant, where it was reported, the wait
_UNREPORTED: End = (ANSWERED, None, "")  # connected, and Twilio said nothing else
_MOVED_ON: End = ("", None, "")  # another bridge or a transfer came before any report


def _outcomes(c: _Call) -> list[End]:
    """Per bridge of the call, how it ended, walking its bridges in call order."""
    bridges = c.bridges or []
    if len(bridges) == 1 and not c.requests:  # most calls
        made = bridges[0][0]
        later = [e for e in c.ends or () if e[0] > made]
        if not later:
            return [_UNREPORTED]
        pos, read, wait = min(later)
        return [(read, pos, wait)]
    items: list[tuple[Pos, int, Any]] = [(b[0], 0, i) for i, b in enumerate(bridges)]
    items += [(e[0], 1, e) for e in c.ends or ()]
    items += [(r[0], 2, None) for r in c.requests or ()]
    items.sort(key=lambda item: item[0])  # positions are unique: only they are compared
    ends = [_MOVED_ON] * len(bridges)
    current: int | None = None
    for _, kind, value in items:
        if kind == 0:  # a new bridge: the previous one, unreported, did not hold the caller
            current = value
        elif current is not None:
            if kind == 1:
                ends[current] = (value[1], value[0], value[2])
            current = None
    if current is not None:
        ends[current] = _UNREPORTED
    return ends


def _seconds_between(earlier: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _ranked(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _sum_up(
    calls: Mapping[str, _Call | None], start: date, end: date, flow: str | None, home: str, source: Source
) -> Report:
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    daily = {d.isoformat(): Day(d) for d in days}
    volume, disclosure, offer = Volume(), Coverage(), Coverage()
    transfers, exemptions, safe, nj = Transfers(), Exemptions(), SafeAnswers(), NewJersey()
    by_country: Counter[str] = Counter()
    by_center: Counter[str] = Counter()
    channels: Counter[str] = Counter({c: 0 for c in CHANNELS})
    reasons: Counter[str] = Counter({r: 0 for r in EXEMPT_REASONS})
    safe_reasons: Counter[str] = Counter()
    delays: list[float] = []
    nj_centers: set[str] = set()
    tally = waits.Tally()

    for sid, c in calls.items():
        if c is None:
            continue
        if c.day is None:
            source.calls_without_received += 1
            continue
        day = daily[c.day]
        volume.calls_received += 1
        volume.handed_off += c.handed_off
        day.calls_received += 1
        if c.country in ("", "UNKNOWN"):
            exemptions.caller_country_unknown += 1
        elif c.country != home:
            exemptions.caller_outside_home += 1
        if c.exempt:
            exemptions.exempt_calls += 1
            for reason in set(c.exempt):
                reasons[reason] += 1
        if c.safe:
            safe.calls += 1
            for reason in set(c.safe):
                safe_reasons[reason] += 1
        exempt = c.exempt_number in EXEMPT_CALL or any(r in EXEMPT_CALL for r in c.exempt or ())
        from_nj = c.state == "NJ"
        nj.calls_from_nj += from_nj
        bridges = c.bridges or []
        ends = _outcomes(c) if bridges else []
        answered = [read == ANSWERED for read, _, _ in ends]
        countries: set[str] = set()
        centers: set[str] = set()
        bridged_nj = answered_nj = False
        for (pos, center, city, country, region, offshore), (read, ended, wait), ok in zip(
            bridges, ends, answered, strict=True
        ):
            queued = float(wait) if wait.isdigit() else None
            tally.add(
                center,
                read,
                queued,
                _seconds_between(pos[0], ended[0]) if read == GONE and queued is None and ended else None,
            )
            if region == "NJ" and country == "US":
                nj_centers.add(center)
                bridged_nj = True
                answered_nj = answered_nj or ok
            if not offshore:
                continue
            if ok:  # R17 counts the calls an offshore agent answered
                countries.add(country)
                centers.add(center)
            volume.offshore_bridges += 1
            day.offshore_bridges += 1
            said = _disclosed_before(c.disclosed, (city, country), pos)
            heard = said is not None and any(said < o < pos for o in c.offers or ())
            for cov, ok_here in ((disclosure, said is not None), (offer, heard)):
                cov.offshore_bridges += 1
                if ok_here or exempt:
                    cov.covered += 1
                    cov.via_exemption += not ok_here
                else:
                    cov.exceptions.append(Uncovered(sid, pos[0], center, city, country))
            if said is not None or exempt:
                day.covered_bridges += 1
        if countries:
            volume.offshore_calls += 1
            day.offshore_calls += 1
            by_country.update(countries)
            by_center.update(centers)
        tally.abandoned_calls += any(read == GONE for read, _, _ in ends)
        if from_nj:
            nj.bridged_to_nj += bridged_nj
            nj.answered_in_nj += answered_nj
        if c.requests:
            requests = sorted(c.requests)
            for i, (requested_at, by) in enumerate(requests):
                transfers.requested += 1
                channels[by] += 1
                until = requests[i + 1][0] if i + 1 < len(requests) else None
                after = [
                    (b[0], ok)
                    for b, ok in zip(bridges, answered, strict=True)
                    if not b[5] and b[0] > requested_at and (until is None or b[0] < until)
                ]
                if after:
                    transfers.reached_domestic_bridge += 1
                    transfers.completed += any(ok for _, ok in after)
                    first = min(after)[0][0]
                    delays.append(_seconds_between(requested_at[0], first))

    volume.offshore_by_country = _ranked(by_country)
    volume.offshore_by_center = _ranked(by_center)
    volume.offshore_share = _share(volume.offshore_calls, volume.calls_received)
    volume.warning = volume.offshore_calls * 100 >= WARNING_PERCENT * volume.calls_received > 0
    volume.threshold_reached = volume.offshore_calls * 100 >= NOTICE_PERCENT * volume.calls_received > 0
    volume.message = _volume_message(volume)
    for cov in (disclosure, offer):
        cov.coverage = _share(cov.covered, cov.offshore_bridges)
        cov.complete = cov.covered == cov.offshore_bridges
        cov.exceptions.sort(key=lambda u: (u.at, u.call))
        cov.exception_calls = sorted({u.call for u in cov.exceptions})
    transfers.by_channel = dict(
        sorted(
            channels.items(),
            key=lambda kv: (CHANNELS.index(kv[0]) if kv[0] in CHANNELS else len(CHANNELS), kv[0]),
        )
    )
    transfers.not_completed = transfers.requested - transfers.completed
    transfers.seconds_to_bridge_p50 = nearest_rank(delays, 50)
    transfers.seconds_to_bridge_p90 = nearest_rank(delays, 90)
    exemptions.by_reason = dict(
        sorted(
            reasons.items(),
            key=lambda kv: (
                EXEMPT_REASONS.index(kv[0]) if kv[0] in EXEMPT_REASONS else len(EXEMPT_REASONS),
                kv[0],
            ),
        )
    )
    safe.by_reason = _ranked(safe_reasons)
    nj.nj_centers = sorted(nj_centers)
    nj.share_answered_in_nj = _share(nj.answered_in_nj, nj.calls_from_nj)
    if nj.calls_from_nj:
        nj.meets_target = nj.answered_in_nj * 100 >= NJ_TARGET_PERCENT * nj.calls_from_nj
    nj.message = _nj_message(nj)
    for d in daily.values():
        d.offshore_share = _share(d.offshore_calls, d.calls_received)
        d.disclosure_coverage = _share(d.covered_bridges, d.offshore_bridges)
    return Report(
        start,
        end,
        flow,
        home,
        source,
        volume,
        disclosure,
        offer,
        transfers,
        exemptions,
        safe,
        nj,
        list(daily.values()),
        tally.result(),
    )


def _disclosed_before(disclosed: Mapping[Any, Pos] | None, where: tuple[str, str], bridge: Pos) -> Pos | None:
    """The first disclosure naming this place (or a cautious one) before the bridge."""
    if not disclosed:
        return None
    found = [p for p in (disclosed.get(where), disclosed.get(_CAUTIOUS)) if p is not None and p < bridge]
    return min(found) if found else None


def _volume_message(v: Volume) -> str:
    share = percent(v.offshore_calls, v.calls_received)
    if v.threshold_reached:
        return (
            f"NOTICE: {share} of calls received were answered offshore, at or above the "
            f"{NOTICE_PERCENT}% notice threshold (R17)."
        )
    if v.warning:
        return (
            f"WARNING: {share} of calls received were answered offshore, nearing the "
            f"{NOTICE_PERCENT}% notice threshold (R17)."
        )
    if not v.calls_received:
        return "No calls received in the period."
    return f"{share} of calls received were answered offshore, below {WARNING_PERCENT}%."


def _nj_message(nj: NewJersey) -> str:
    if not nj.calls_from_nj:
        return "No calls from New Jersey in the period."
    share = percent(nj.answered_in_nj, nj.calls_from_nj)
    if not nj.nj_centers:
        return (
            f"No NJ centers: no call of the period was bridged to a New Jersey center, so "
            f"none of the {nj.calls_from_nj:,} NJ-originating calls was answered in New "
            f"Jersey (R20 target {NJ_TARGET_PERCENT}%)."
        )
    verdict = "meets" if nj.meets_target else "is below"
    return (
        f"{share} of NJ-originating calls were answered in New Jersey, which {verdict} the "
        f"{NJ_TARGET_PERCENT}% target (R20)."
    )


# -- rendering ----------------------------------------------------------------------------


def percent(part: int, whole: int) -> str:
    """part/whole as a percentage with two decimals, rounded half to even (32/54 is 59.26%),
    except that only all is 100.00% and only none is 0.00% (99.996% shows 99.99%)."""
    if not whole:
        return "n/a"
    hundredths = round(Fraction(part * 10000, whole))  # exact: no float rounding on the way
    if part < whole:
        hundredths = min(hundredths, 9999)
    if part > 0:
        hundredths = max(hundredths, 1)
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _n(value: int) -> str:
    return f"{value:,}"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def _flow_label(report: Report) -> str:
    if report.flow is None:
        return "all flows"
    return f"flow {report.flow}" if report.flow else "calls to unknown numbers (no flow)"


def title(report: Report) -> str:
    return (
        f"Onshore compliance report, {report.start.isoformat()} to {report.end.isoformat()}"
        f" (UTC), {_flow_label(report)}"
    )


def render(report: Report, fmt: str) -> str:
    """The report as text, csv, json or html."""
    renderers = {"text": render_text, "csv": render_csv, "json": render_json, "html": render_html}
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
    return renderers[fmt](report)


Table = tuple[tuple[str, ...], list[tuple[str, ...]]]  # headers, rows


def _sections(r: Report) -> list[tuple[str, list[tuple[str, str]], list[tuple[str, Table]]]]:
    """Every section as (heading, label/value pairs, named tables): shared by text and html."""
    v, d, o, t, e, s, nj = (
        r.volume,
        r.disclosure,
        r.offer,
        r.transfers,
        r.exemptions,
        r.safe_answers,
        r.new_jersey,
    )

    def coverage(cov: Coverage, what: str) -> list[tuple[str, str]]:
        return [
            ("Offshore bridges", _n(cov.offshore_bridges)),
            (f"Covered by {_a(what)}", _n(cov.covered - cov.via_exemption)),
            ("Covered by an exemption", _n(cov.via_exemption)),
            ("Exceptions", _n(cov.offshore_bridges - cov.covered)),
            (f"{what.capitalize()} coverage", percent(cov.covered, cov.offshore_bridges)),
            ("Complete (must be 100%)", "yes" if cov.complete else "NO"),
        ]

    def exceptions(cov: Coverage) -> list[tuple[str, Table]]:
        if not cov.exceptions:
            return []
        rows: list[tuple[str, ...]] = [(u.call, u.at, u.center, u.city, u.country) for u in cov.exceptions]
        return [("Exceptions", (("CallSid", "Bridged at (UTC)", "Center", "City", "Country"), rows))]

    def breakdown(counts: Mapping[str, int], what: str, whole: int, of: str) -> Table:
        return ((what, "Calls", f"Share of {of}"), [(k, _n(n), percent(n, whole)) for k, n in counts.items()])

    return [
        (
            "1. Call volume and offshore share (R17)",
            [
                ("Calls received", _n(v.calls_received)),
                ("Calls answered offshore", _n(v.offshore_calls)),
                ("Offshore bridges (answered or not)", _n(v.offshore_bridges)),
                ("Share of volume answered offshore", percent(v.offshore_calls, v.calls_received)),
                ("Handed off to the company's own application (outside this record)", _n(v.handed_off)),
                ("Warning (>= 25%)", "YES" if v.warning else "no"),
                ("Notice threshold reached (>= 30%)", "YES" if v.threshold_reached else "no"),
            ],
            [
                (
                    "Offshore calls by country",
                    breakdown(v.offshore_by_country, "Country", v.calls_received, "calls received"),
                ),
                (
                    "Offshore calls by center",
                    breakdown(v.offshore_by_center, "Center", v.calls_received, "calls received"),
                ),
            ],
        ),
        ("2a. Disclosure coverage (R1, R4)", coverage(d, "disclosure"), exceptions(d)),
        ("2b. Offer coverage (R8)", coverage(o, "offer"), exceptions(o)),
        (
            "3. Transfer requests (R7)",
            [
                ("Transfer requests", _n(t.requested)),
                *((f"Requested by {k}", _n(n)) for k, n in t.by_channel.items()),
                ("Transfers completed", _n(t.completed)),
                ("Transfers not completed", _n(t.not_completed)),
                ("Completion rate", percent(t.completed, t.requested)),
                ("Requests that reached a domestic bridge", _n(t.reached_domestic_bridge)),
                ("Time to domestic bridge, p50", _seconds(t.seconds_to_bridge_p50)),
                ("Time to domestic bridge, p90", _seconds(t.seconds_to_bridge_p90)),
            ],
            [],
        ),
        (
            "4. Exemptions (R3, R5, R6, R11)",
            [
                *((f"Exempt: {k}", _n(n)) for k, n in e.by_reason.items()),
                ("Calls with any exemption", _n(e.exempt_calls)),
                (f"Caller outside the home country ({r.home})", _n(e.caller_outside_home)),
                ("Caller country unknown", _n(e.caller_country_unknown)),
            ],
            [],
        ),
        (
            "5. Safe answers",
            [("Calls given the safe answer", _n(s.calls))],
            [
                (
                    "Safe answers by reason",
                    breakdown(s.by_reason, "Reason", r.volume.calls_received, "calls received"),
                )
            ]
            if s.by_reason
            else [],
        ),
        (
            "6. New Jersey (R20)",
            [
                ("Calls from New Jersey", _n(nj.calls_from_nj)),
                ("Bridged to a New Jersey center", _n(nj.bridged_to_nj)),
                ("Answered in New Jersey", _n(nj.answered_in_nj)),
                ("Share answered in New Jersey", percent(nj.answered_in_nj, nj.calls_from_nj)),
                (
                    f"Meets the {NJ_TARGET_PERCENT}% target",
                    "n/a" if nj.meets_target is None else "yes" if nj.meets_target else "NO",
                ),
                ("New Jersey centers", ", ".join(nj.nj_centers) or "no NJ centers"),
            ],
            [],
        ),
        (
            "7. Daily series",
            [],
            [
                (
                    "By day (UTC)",
                    (
                        (
                            "Day",
                            "Calls received",
                            "Offshore calls",
                            "Offshore share",
                            "Offshore bridges",
                            "Covered",
                            "Disclosure coverage",
                        ),
                        [
                            (
                                x.day.isoformat(),
                                _n(x.calls_received),
                                _n(x.offshore_calls),
                                percent(x.offshore_calls, x.calls_received),
                                _n(x.offshore_bridges),
                                _n(x.covered_bridges),
                                percent(x.covered_bridges, x.offshore_bridges),
                            )
                            for x in r.daily
                        ],
                    ),
                )
            ],
        ),
        (
            "8. Abandoned calls and waits, per center",
            [
                ("Calls abandoned (the caller hung up before an answer)", _n(r.waits.abandoned_calls)),
                ("Share of calls received", percent(r.waits.abandoned_calls, v.calls_received)),
            ],
            [
                (
                    "By center",
                    (
                        (
                            "Center",
                            "Bridges",
                            "Answered",
                            "Abandoned",
                            "Abandon rate",
                            "To abandon p50",
                            "To abandon p90",
                            "Waits reported",
                            "Wait p50",
                            "Wait p90",
                            "Wait p99",
                        ),
                        [
                            (
                                w.center,
                                _n(w.bridges),
                                _n(w.answered),
                                _n(w.abandoned),
                                percent(w.abandoned, w.bridges),
                                _seconds(w.seconds_to_abandon_p50),
                                _seconds(w.seconds_to_abandon_p90),
                                _n(w.waits_reported),
                                _seconds(w.wait_p50),
                                _seconds(w.wait_p90),
                                _seconds(w.wait_p99),
                            )
                            for w in r.waits.by_center
                        ],
                    ),
                )
            ],
        ),
        (
            "Source",
            [
                ("Events read", _n(r.source.events_read)),
                ("Calls in the input", _n(r.source.calls_seen)),
                ("Calls received outside the period", _n(r.source.calls_outside_period)),
                ("Calls of other flows", _n(r.source.calls_other_flow)),
                ("Calls without a 'received' event", _n(r.source.calls_without_received)),
                ("Malformed events", _n(r.source.malformed_events)),
            ],
            [],
        ),
    ]


def _messages(r: Report) -> list[tuple[str, str]]:
    """(severity, message) shown at the top of the text and html reports."""
    out = []
    v = r.volume
    out.append(("alert" if v.threshold_reached else "warning" if v.warning else "info", v.message))
    for cov, what in ((r.disclosure, "disclosure"), (r.offer, "offer")):
        if not cov.complete:
            missing = cov.offshore_bridges - cov.covered
            out.append(
                (
                    "alert",
                    f"{what.capitalize()} coverage is "
                    f"{percent(cov.covered, cov.offshore_bridges)}: {missing:,} "
                    f"offshore bridge(s) without {_a(what)} (listed below).",
                )
            )
    nj = r.new_jersey
    out.append(("warning" if nj.meets_target is False else "info", nj.message))
    if r.flow and not v.calls_received:
        out.insert(
            0,
            (
                "warning",
                f"No call of flow '{r.flow}' was received in this period: "
                "is the flow's id right? (`ivr versions FLOW` lists its versions)",
            ),
        )
    return out


def _text_table(headers: tuple[str, ...], rows: list[tuple[str, ...]], indent: str) -> list[str]:
    columns = list(zip(headers, *rows, strict=True))
    widths = [max(len(x) for x in col) for col in columns]
    numeric = [i > 0 and all(_numeric(x) for x in col[1:]) for i, col in enumerate(columns)]

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            cell.rjust(w) if right else cell.ljust(w)
            for cell, w, right in zip(cells, widths, numeric, strict=True)
        ]
        return (indent + "  ".join(parts)).rstrip()

    return [line(headers), indent + "  ".join("-" * w for w in widths), *map(line, rows)]


def render_text(r: Report) -> str:
    out = [
        title(r),
        "=" * len(title(r)),
        f"Period: {r.start.isoformat()} to {r.end.isoformat()} (UTC, inclusive)   "
        f"Flow: {_flow_label(r)}   Home country: {r.home}",
        "",
    ]
    for severity, message in _messages(r):
        out.append(f"{'!! ' if severity == 'alert' else '!  ' if severity == 'warning' else ''}{message}")
    for heading, pairs, tables in _sections(r):
        out += ["", heading, "-" * len(heading)]
        if pairs:
            width = max(len(k) for k, _ in pairs) + 2
            vwidth = max(len(v) for _, v in pairs)
            out += [f"  {(k + ' ').ljust(width, '.')} {v.rjust(vwidth)}" for k, v in pairs]
        for name, (headers, rows) in tables:
            out += ["", f"  {name}"]
            out += _text_table(headers, rows, "    ") if rows else ["    (none)"]
    out += ["", "Definitions", "-----------"]
    out += [
        textwrap.fill(f"{k}: {v}", 96, initial_indent="  ", subsequent_indent="    ") for k, v in DEFINITIONS
    ]
    return "\n".join(out) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_dict(report: Report) -> dict[str, Any]:
    """Everything in the report as plain data (dates stay date objects)."""
    return asdict(report)


def render_json(r: Report) -> str:
    data = {"title": title(r), **to_dict(r), "definitions": {k: v for k, v in DEFINITIONS}}
    return json.dumps(data, indent=2, default=_jsonable) + "\n"


def rows(r: Report) -> Iterator[tuple[str, str, str, str]]:
    """Every figure as (section, metric, key, value): the CSV layout."""

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    yield "report", "start", "", r.start.isoformat()
    yield "report", "end", "", r.end.isoformat()
    yield "report", "flow", "", r.flow or ""
    yield "report", "home", "", r.home
    for section in (
        "source",
        "volume",
        "disclosure",
        "offer",
        "transfers",
        "exemptions",
        "safe_answers",
        "new_jersey",
    ):
        for name, value in asdict(getattr(r, section)).items():
            if isinstance(value, dict):
                for k, n in value.items():
                    yield section, name, k, cell(n)
            elif isinstance(value, list) and name == "exceptions":
                for u in value:
                    yield (
                        section,
                        "exception",
                        u["call"],
                        f"{u['center']} {u['city']} {u['country']} at {u['at']}",
                    )
            elif isinstance(value, list):
                for item in value:
                    yield section, name, "", cell(item)
            else:
                yield section, name, "", cell(value)
    for day in r.daily:
        for name, value in asdict(day).items():
            if name != "day":
                yield "daily", name, day.day.isoformat(), cell(value)
    yield "waits", "abandoned_calls", "", cell(r.waits.abandoned_calls)
    for center in r.waits.by_center:
        for name, value in asdict(center).items():
            if name != "center":
                yield "waits", name, center.center, cell(value)
    for name, text in DEFINITIONS:  # how each figure is computed, as in the other formats
        yield "definitions", name, "", text


def render_csv(r: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("section", "metric", "key", "value"))
    writer.writerows(rows(r))
    return buffer.getvalue()


# -- html ---------------------------------------------------------------------------------

_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; color: #111; margin: 2em auto;
       max-width: 60em; padding: 0 1em; line-height: 1.35; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #999;
     page-break-after: avoid; break-after: avoid; }
h3 { font-size: 1em; margin: 1em 0 .3em; page-break-after: avoid; break-after: avoid; }
p.meta strong, td.n, td.day { white-space: nowrap; }
p.meta { color: #333; margin-top: 0; }
table { border-collapse: collapse; margin: .4em 0 1em; page-break-inside: auto; }
tr { page-break-inside: avoid; }
th, td { border: 1px solid #bbb; padding: .2em .6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #eee; }
table.kv th { font-weight: normal; background: #f6f6f6; }
.msg { border: 1px solid #999; padding: .4em .8em; margin: .4em 0; }
.msg.alert { border: 2px solid #a00; color: #a00; font-weight: bold; }
.msg.warning { border: 2px solid #b60; color: #840; font-weight: bold; }
dl dt { font-weight: bold; } dl dd { margin: 0 0 .4em 1.5em; }
svg { max-width: 100%; height: auto; }
@page { size: A4; margin: 15mm; }
@media print { body { margin: 0; max-width: none; } .msg { break-inside: avoid; } }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


_NUMERIC = re.compile(r"^(?:[\d,]+(?:\.\d+)?(?:%| s)?|n/a)$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")  # a date or time, kept on one line when printed


def _numeric(cell: str) -> bool:
    return bool(_NUMERIC.match(cell))


def _html_table(headers: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in body:
        cells = "".join(
            f'<td class="n">{_e(c)}</td>'
            if i and _numeric(c)
            else f'<td class="day">{_e(c)}</td>'
            if _DAY.match(c)
            else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    if not body:
        lines.append(f'<tr><td colspan="{len(headers)}">(none)</td></tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)


def render_html(r: Report) -> str:
    heading = title(r)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_e(heading)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>Onshore compliance report</h1>",
        f'<p class="meta">Period <strong>{_e(r.start.isoformat())}</strong> to '
        f"<strong>{_e(r.end.isoformat())}</strong> (UTC, inclusive) &middot; Flow: "
        f"<strong>{_e(_flow_label(r))}</strong> &middot; Home country: {_e(r.home)} "
        f"&middot; {_e(_n(r.source.events_read))} events read</p>",
    ]
    out += [f'<p class="msg {_e(severity)}">{_e(message)}</p>' for severity, message in _messages(r)]
    for name, pairs, tables in _sections(r):
        out.append(f"<h2>{_e(name)}</h2>")
        if name.startswith("7."):
            out.append(_svg_chart(r))
        if pairs:
            out.append('<table class="kv"><tbody>')
            out += [f'<tr><th scope="row">{_e(k)}</th><td class="n">{_e(v)}</td></tr>' for k, v in pairs]
            out.append("</tbody></table>")
        for table_name, (headers, body) in tables:
            out.append(f"<h3>{_e(table_name)}</h3>")
            out.append(_html_table(headers, body))
    out.append("<h2>Definitions</h2>")
    out.append("<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in DEFINITIONS) + "</dl>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _svg_chart(r: Report) -> str:
    """The daily offshore share and disclosure coverage as an inline SVG line chart."""
    width, height = 760, 360
    left, right, top, bottom = 64, 24, 64, 80
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(r.daily)

    def x(i: int) -> float:
        return left + (i + 0.5) * plot_w / n

    def y(share: float) -> float:
        return top + plot_h * (1 - share)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-label="{_e("Daily offshore share and disclosure coverage, " + heading_period(r))}"'
        f' font-family="Georgia, serif" font-size="13">',
        f"<title>{_e('Daily offshore share and disclosure coverage')}</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#444"/>',
    ]
    for tick in (0, 25, 50, 75, 100):
        ty = y(tick / 100)
        parts.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick}%</text>')
    # The R17 lines are named in the legend, not on the plot, where a label would hide a day.
    limits = (
        (f"{NOTICE_PERCENT}% notice threshold (R17)", NOTICE_PERCENT, "#a00", "2 3"),
        (f"{WARNING_PERCENT}% warning (R17)", WARNING_PERCENT, "#b60", "8 4"),
    )
    for _, limit, color, dash in limits:
        parts.append(
            f'<line x1="{left}" y1="{y(limit / 100):.1f}" x2="{left + plot_w}" '
            f'y2="{y(limit / 100):.1f}" stroke="{color}" stroke-width="1.5" '
            f'stroke-dasharray="{dash}"/>'
        )
    step = max(1, math.ceil(n / 16))
    for i, day in enumerate(r.daily):
        tx = x(i)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top + plot_h}" x2="{tx:.1f}" y2="{top + plot_h + 4}" stroke="#444"/>'
        )
        if i % step == 0:
            label = day.day.strftime("%m-%d")
            parts.append(
                f'<text x="{tx:.1f}" y="{top + plot_h + 16}" text-anchor="end" '
                f'transform="rotate(-45 {tx:.1f} {top + plot_h + 16})">{_e(label)}</text>'
            )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle">'
        f"{_e('Day received (UTC)')}</text>"
    )
    parts.append(
        f'<text x="16" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + plot_h / 2:.1f})">'
        f"{_e('Percent of calls / offshore bridges')}</text>"
    )
    series = (
        ("Offshore share of calls received", "offshore_share", "#c0392b", ""),
        (
            "Disclosure coverage of offshore bridges",
            "disclosure_coverage",
            "#1f4e9a",
            ' stroke-dasharray="7 4"',
        ),
    )
    for label, attr, color, dash in series:
        segment: list[str] = []
        segments = [segment]
        for i, day in enumerate(r.daily):
            value = getattr(day, attr)
            if value is None:
                segment = []
                segments.append(segment)
                continue
            segment.append(f"{x(i):.1f},{y(value):.1f}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="2.5" fill="{color}">'
                f"<title>{_e(f'{day.day.isoformat()}: {label} {value * 100:.2f}%')}"
                f"</title></circle>"
            )
        for points in segments:
            if len(points) > 1:
                parts.append(
                    f'<polyline points="{" ".join(points)}" fill="none" '
                    f'stroke="{color}" stroke-width="2"{dash}/>'
                )
    legend = [(label, color, dash, "2") for label, _, color, dash in series]
    legend += [(label, color, f' stroke-dasharray="{dash}"', "1.5") for label, _, color, dash in limits]
    for i, (label, color, dash, stroke_width) in enumerate(legend):
        legend_x, legend_y = left + (i % 2) * 340, 18 + (i // 2) * 22
        parts.append(
            f'<line x1="{legend_x}" y1="{legend_y - 4}" x2="{legend_x + 28}" '
            f'y2="{legend_y - 4}" stroke="{color}" stroke-width="{stroke_width}"{dash}/>'
        )
        parts.append(f'<text x="{legend_x + 34}" y="{legend_y}">{_e(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def heading_period(r: Report) -> str:
    return f"{r.start.isoformat()} to {r.end.isoformat()}, {_flow_label(r)}"
