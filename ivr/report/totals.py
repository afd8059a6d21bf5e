"""Complete calls added up into the report's figures, one call at a time.

``Totals.add`` takes a call once no event of it can still come and keeps only sums (and the
few lists a percentile or an exception list needs), so the calls need not be held until the
end; ``Totals.report`` finishes the shares, messages and orderings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from ivr import waits
from ivr.outcomes import ANSWERED, GONE
from ivr.report.calls import Bridge, Call, End, outcomes
from ivr.report.certification import Extra, certify
from ivr.report.figures import (
    CHANNELS,
    EXEMPT_CALL,
    EXEMPT_REASONS,
    NJ_TARGET_PERCENT,
    NOTICE_PERCENT,
    WARNING_PERCENT,
    Coverage,
    Day,
    DomesticRequests,
    Exemptions,
    Line,
    NewJersey,
    Report,
    SafeAnswers,
    Source,
    Transfers,
    Uncovered,
    Volume,
    percent,
)
from ivr.waits import nearest_rank


class Totals:
    """The sums of the calls added so far."""

    def __init__(
        self, start: date, end: date, flow: str | None, home: str, source: Source, nested: bool = False
    ) -> None:
        self.start, self.end, self.flow, self.home, self.source = start, end, flow, home, source
        # per rule set in force, the same sums over its calls only (R12); not within those
        self.nested = nested
        self.by_rules: dict[str, Totals] = {}
        self.extra = Extra()
        self.lines: dict[str, Line] = {}
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        self.daily = {d.isoformat(): Day(d) for d in days}
        self.volume, self.disclosure, self.offer = Volume(), Coverage(), Coverage()
        self.transfers, self.exemptions = Transfers(), Exemptions()
        self.safe, self.nj = SafeAnswers(), NewJersey()
        self.by_country: Counter[str] = Counter()
        self.by_center: Counter[str] = Counter()
        self.channels: Counter[str] = Counter({c: 0 for c in CHANNELS})
        self.reasons: Counter[str] = Counter({r: 0 for r in EXEMPT_REASONS})
        self.safe_reasons: Counter[str] = Counter()
        self.delays: list[float] = []  # seconds from a transfer request to its domestic bridge
        self.domestic = DomesticRequests()
        self.to_callback: list[float] = []  # seconds from a callback's request to its answer
        self.nj_centers: set[str] = set()
        self.tally = waits.Tally()

    # -- one call ---------------------------------------------------------------------------

    def add(self, sid: str, c: Call) -> None:
        """One complete call of the period (or of no known period: no 'received')."""
        if c.day is None:
            self.source.calls_without_received += 1
            return
        ends = outcomes(c) if c.bridges else []
        answered = [read == ANSWERED for read, _, _ in ends]
        self._call(sid, c, c.day, ends, answered)
        rules = self.by_rules.get(c.rules)
        if rules is None:
            rules = self.by_rules[c.rules] = Totals(
                self.start, self.end, self.flow, self.home, Source(), nested=True
            )
        rules._call(sid, c, c.day, ends, answered)  # the same call in its rule set's sums

    def _call(self, sid: str, c: Call, received: str, ends: list[End], answered: list[bool]) -> None:
        """A call with a 'received', its bridges' ends already read (``outcomes``)."""
        day = self.daily[received]
        self.volume.calls_received += 1
        self.volume.handed_off += c.handed_off
        self.volume.disclosed_at_bind += c.bound
        day.calls_received += 1
        self._caller(c)
        self._bridges(sid, c, day, ends, answered)
        self._transfers(c, answered)
        if not self.nested:  # a rule set's certification has no domestic figures (certify)
            self._domestic(sid, c, ends, answered)
        self._line(c)

    def _line(self, c: Call) -> None:
        """The number's line: its rule sets, and whether a home_only line stayed home."""
        x = self.extra
        abroad = sum(b.offshore(self.home) for b in c.bridges)
        x.bots += c.bots
        x.bot_notices += c.bot_notices
        x.bot_handoffs += c.bot_handoffs
        if c.home_only:
            x.home_only_calls += 1
            x.home_only_abroad += abroad > 0
            x.refused_abroad += c.kept_home
        if self.nested:
            return
        line = self.lines.get(c.number)
        if line is None:
            line = self.lines[c.number] = Line(c.number)
        line.calls += 1
        line.rules[c.rules] = line.rules.get(c.rules, 0) + 1
        line.home_only = line.home_only or c.home_only
        line.offshore_bridges += abroad
        line.refused_abroad += c.kept_home

    def _domestic(self, sid: str, c: Call, ends: list[End], answered: list[bool]) -> None:
        """The one outcome of the call's domestic request, if it made one."""
        asked = [pos for pos, _ in c.requests] + [
            pos for pos, step, _ in c.domestic if step == "domestic_choice"
        ]
        if not asked:
            return
        first = min(asked)
        d = self.domestic
        d.requests += 1
        steps = {step: fields for _, step, fields in sorted(c.domestic, key=lambda item: item[0])}
        after = [
            (b, read, ok)
            for b, (read, _, _), ok in zip(c.bridges, ends, answered, strict=True)
            if b.pos > first
        ]
        if any(ok and b.offshore(self.home) for b, _, ok in after):
            d.offshore += 1
            d.unresolved.append(f"{sid} offshore: an offshore bridge was answered after the request")
            return
        bridged = steps.get("callback_bridged", {})
        if bridged.get("outcome") == ANSWERED:
            d.by_callback += 1
            waited = steps.get("callback_answered", {}).get("waited", "")
            if waited.lstrip("-").isdigit():
                self.to_callback.append(float(waited))
            return
        if "voicemail_left" in steps:
            d.by_voicemail += 1
            return
        if any(ok and not b.offshore(self.home) for b, _, ok in after):
            d.by_bridge += 1
            return
        if any(read == GONE for _, read, _ in after) or bridged.get("outcome") == GONE:
            d.caller_gone += 1
            return
        failed = steps.get("callback_failed", {})
        if "callback_cancelled" in steps:
            d.cancelled += 1
        elif failed.get("final") == "true":
            d.callbacks_failed += 1
            d.unresolved.append(f"{sid} callback failed: {failed.get('reason', '')}")
        elif "callback_requested" in steps:
            d.callbacks_open += 1
        else:
            d.not_honoured += 1
            why = steps.get("unavailable", {}).get("reason") or steps.get("callback_unrecorded", {}).get(
                "reason"
            )
            d.unresolved.append(f"{sid} not honoured: {why or 'no end recorded'}")

    def _caller(self, c: Call) -> None:
        """Where the caller is and what exempted or safely answered the call."""
        if c.country in ("", "UNKNOWN"):
            self.exemptions.caller_country_unknown += 1
        elif c.country != self.home:
            self.exemptions.caller_outside_home += 1
        if c.exempt:
            self.exemptions.exempt_calls += 1
            self.reasons.update(set(c.exempt))
        if c.safe:
            self.safe.calls += 1
            self.safe_reasons.update(set(c.safe))
        self.nj.calls_from_nj += c.state == "NJ"

    def _bridges(self, sid: str, c: Call, day: Day, ends: list[End], answered: list[bool]) -> None:
        """Waits, New Jersey, offshore volume and coverage, bridge by bridge."""
        exempt = c.exempt_number in EXEMPT_CALL or not EXEMPT_CALL.isdisjoint(c.exempt)
        countries: set[str] = set()  # where an offshore agent answered
        centers: set[str] = set()
        bridged_nj = answered_nj = abandoned = False
        for bridge, (read, ended, wait), ok in zip(c.bridges, ends, answered, strict=True):
            queued = float(wait) if wait.isdigit() else None
            to_end = (
                _seconds_between(bridge.pos[0], ended[0])
                if read == GONE and queued is None and ended
                else None
            )
            self.tally.add(bridge.center, read, queued, to_end)
            abandoned = abandoned or read == GONE
            if bridge.region == "NJ" and bridge.country == "US":
                self.nj_centers.add(bridge.center)
                bridged_nj = True
                answered_nj = answered_nj or ok
            if not bridge.offshore(self.home):
                continue
            if ok:  # R17 counts the calls an offshore agent answered
                countries.add(bridge.country)
                centers.add(bridge.center)
            self.volume.offshore_bridges += 1
            day.offshore_bridges += 1
            day.covered_bridges += self._coverage(sid, c, bridge, exempt)
        if countries:
            self.volume.offshore_calls += 1
            day.offshore_calls += 1
            self.by_country.update(countries)
            self.by_center.update(centers)
        self.tally.abandoned_calls += abandoned
        if c.state == "NJ":
            self.nj.bridged_to_nj += bridged_nj
            self.nj.answered_in_nj += answered_nj

    def _coverage(self, sid: str, c: Call, bridge: Bridge, exempt: bool) -> bool:
        """Count one offshore bridge's disclosure and offer; whether a disclosure covered it."""
        said = c.disclosed_before((bridge.city, bridge.country), bridge.pos)
        heard = said is not None and any(said < o < bridge.pos for o in c.offers)
        for cov, ok_here in ((self.disclosure, said is not None), (self.offer, heard)):
            cov.offshore_bridges += 1
            if ok_here or exempt:
                cov.covered += 1
                cov.via_exemption += not ok_here
            else:
                cov.exceptions.append(
                    Uncovered(sid, bridge.pos[0], bridge.center, bridge.city, bridge.country)
                )
        return said is not None or exempt

    def _transfers(self, c: Call, answered: list[bool]) -> None:
        """Each request, and the domestic bridges after it and before the call's next one."""
        if not c.requests:
            return
        requests = sorted(c.requests)
        for i, (requested_at, by) in enumerate(requests):
            self.transfers.requested += 1
            self.channels[by] += 1
            until = requests[i + 1][0] if i + 1 < len(requests) else None
            after = [
                (b.pos, ok)
                for b, ok in zip(c.bridges, answered, strict=True)
                if not b.offshore(self.home) and b.pos > requested_at and (until is None or b.pos < until)
            ]
            if after:
                self.transfers.reached_domestic_bridge += 1
                self.transfers.completed += any(ok for _, ok in after)
                first = min(after)[0][0]
                self.delays.append(_seconds_between(requested_at[0], first))

    # -- the figures ------------------------------------------------------------------------

    def report(self) -> Report:
        """The figures of every call added."""
        return Report(
            self.start,
            self.end,
            self.flow,
            self.home,
            self.source,
            _volume(self.volume, self.by_country, self.by_center),
            _coverage(self.disclosure),
            _coverage(self.offer),
            _transfers(self.transfers, self.channels, self.delays),
            _exemptions(self.exemptions, self.reasons),
            _safe_answers(self.safe, self.safe_reasons),
            _new_jersey(self.nj, self.nj_centers),
            [_day(d) for d in self.daily.values()],
            self.tally.result(),
            [_finished_line(line) for _, line in sorted(self.lines.items())],
            [certify(label, t.report(), t.extra) for label, t in sorted(self.by_rules.items())],
            _domestic(self.domestic, self.to_callback),
        )


def _finished_line(line: Line) -> Line:
    line.stayed_home = line.offshore_bridges == 0 if line.home_only else None
    return line


def _volume(v: Volume, by_country: Counter[str], by_center: Counter[str]) -> Volume:
    v.offshore_by_country = _ranked(by_country)
    v.offshore_by_center = _ranked(by_center)
    v.offshore_share = _share(v.offshore_calls, v.calls_received)
    v.warning = v.offshore_calls * 100 >= WARNING_PERCENT * v.calls_received > 0
    v.threshold_reached = v.offshore_calls * 100 >= NOTICE_PERCENT * v.calls_received > 0
    v.message = _volume_message(v)
    return v


def _coverage(cov: Coverage) -> Coverage:
    cov.coverage = _share(cov.covered, cov.offshore_bridges)
    cov.complete = cov.covered == cov.offshore_bridges
    cov.exceptions.sort(key=lambda u: (u.at, u.call))
    cov.exception_calls = sorted({u.call for u in cov.exceptions})
    return cov


def _transfers(t: Transfers, channels: Counter[str], delays: list[float]) -> Transfers:
    t.by_channel = _in_order(channels, CHANNELS)
    t.not_completed = t.requested - t.completed
    t.seconds_to_bridge_p50 = nearest_rank(delays, 50)
    t.seconds_to_bridge_p90 = nearest_rank(delays, 90)
    return t


def _domestic(d: DomesticRequests, to_callback: list[float]) -> DomesticRequests:
    d.seconds_to_callback_p50 = nearest_rank(to_callback, 50)
    d.seconds_to_callback_p90 = nearest_rank(to_callback, 90)
    d.unresolved.sort()
    return d


def _exemptions(e: Exemptions, reasons: Counter[str]) -> Exemptions:
    e.by_reason = _in_order(reasons, EXEMPT_REASONS)
    return e


def _safe_answers(s: SafeAnswers, reasons: Counter[str]) -> SafeAnswers:
    s.by_reason = _ranked(reasons)
    return s


def _new_jersey(nj: NewJersey, centers: set[str]) -> NewJersey:
    nj.nj_centers = sorted(centers)
    nj.share_answered_in_nj = _share(nj.answered_in_nj, nj.calls_from_nj)
    if nj.calls_from_nj:
        nj.meets_target = nj.answered_in_nj * 100 >= NJ_TARGET_PERCENT * nj.calls_from_nj
    nj.message = _nj_message(nj)
    return nj


def _day(d: Day) -> Day:
    d.offshore_share = _share(d.offshore_calls, d.calls_received)
    d.disclosure_coverage = _share(d.covered_bridges, d.offshore_bridges)
    return d


def _seconds_between(earlier: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _ranked(counter: Counter[str]) -> dict[str, int]:
    """Most first, then by name."""
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _in_order(counter: Counter[str], known: Sequence[str]) -> dict[str, int]:
    """The known keys in their order, then the others by name."""
    return dict(
        sorted(counter.items(), key=lambda kv: (known.index(kv[0]) if kv[0] in known else len(known), kv[0]))
    )


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
