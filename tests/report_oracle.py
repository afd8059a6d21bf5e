"""An oracle for the compliance reports (ivr.report) that does not share their code.

``Sim`` writes a month of calls as the engine and the webhooks would record them (several
flows, centers in PH/IN/US-PA/US-NJ, callers from US states, abroad and unknown, transfers by
key/voice/hold, exemptions, safe answers, a few deliberate coverage exceptions, some webhooks
appended late as a spool replay does) and, while it decides what happens in each call,
writes down what every figure must count (``Truth``). ``expected`` only adds those notes up;
the report must find the same numbers from the events alone. ``a_month`` is the month the
report tests share.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.report import Report

NOV1, NOV30 = date(2026, 11, 1), date(2026, 11, 30)
FLOWS_DIR = Path(__file__).resolve().parent.parent / "flows"

CENTERS = {  # id: (city, country, region)
    "manila": ("Manila", "PH", ""),
    "cebu": ("Cebu", "PH", ""),
    "bangalore": ("Bangalore", "IN", ""),
    "scranton": ("Scranton", "US", "PA"),
    "newark": ("Newark", "US", "NJ"),
}


def bridged_fields(center: str) -> dict[str, str]:
    """A ``bridged`` event's fields for a queue at one of CENTERS."""
    city, country, region = CENTERS[center]
    return {
        "center": center,
        "city": city,
        "country": country,
        "region": region,
        "target": "queue",
        "domestic": str(country == "US").lower(),
    }


OFFSHORE = ("manila", "cebu", "bangalore")
FLOWS = ("support", "billing", "sales")
GOOD = ("completed", "answered", "bridged")  # bridge endings that mean a human took the call
BAD = ("busy", "no-answer", "failed", "queue-full")
HOW = {"key": "key 1", "voice": "said 'agent'", "hold": "key during hold"}
SCENARIOS = {  # for numbers without an exemption
    "offshore": 48,
    "domestic": 22,
    "no_center": 5,
    "safe_domestic": 4,
    "cautious": 4,
    "crash": 2,
    "unknown_number": 2,
    "missing_disclosure": 0.6,
    "missing_offer": 0.6,
    "wrong_city": 0.4,
    "late_disclosure": 0.4,
}


@dataclass
class Truth:
    """What one call must contribute to the figures, noted while generating it."""

    sid: str
    day: date
    flow: str
    caller_country: str
    nj: bool
    exempt_call: bool = False  # emergency / foreign-business number
    bridges: list[tuple[str, str, bool, bool]] = field(default_factory=list)
    # ^ offshore bridges: (center, country, the caller heard the place, and then the offer)
    exempt: set[str] = field(default_factory=set)
    request: str | None = None
    reached: bool = False
    completed: bool = False
    delay_ms: int | None = None
    safe: set[str] = field(default_factory=set)
    nj_bridged: bool = False
    nj_answered: bool = False
    answered: set[str] = field(default_factory=set)  # offshore centers whose agent answered
    abandoned: list[tuple[str, float]] = field(default_factory=list)  # (center, s to abandon)
    waits: list[tuple[str, float]] = field(default_factory=list)  # (center, QueueTime)
    centers: Counter[str] = field(default_factory=Counter)  # bridges per center


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


class Writer:
    """One call being written: webhooks (turns) share their 'at', as in ivr.webhooks."""

    def __init__(self, sim: Sim, sid: str, t0: datetime, truth: Truth) -> None:
        self.sim, self.rng, self.sid, self.now, self.t = sim, sim.rng, sid, t0, truth
        self.turns: list[tuple[datetime, list[dict[str, str]]]] = []
        self.caller = f"{sim.rng.getrandbits(128):032x}"
        self.pending: tuple[str, datetime] | None = None  # the last bridge, until it ends

    def close(self) -> None:
        """The call is over: a bridge still pending was never reported, so it was answered."""
        if self.pending is not None:
            self.settle(self.pending[0], None)

    def turn(self, ms: int | None = None) -> None:
        if self.turns:
            self.now += timedelta(milliseconds=self.rng.randint(800, 45000) if ms is None else ms)
        self.turns.append((self.now, []))

    def emit(self, step: str, **fields: str) -> None:
        event = {"call": self.sid, "caller": self.caller, "at": iso(self.now), "step": step}
        event.update(fields)
        event.update(kid="k1", mac="ab" * 32, prev="cd" * 20, hash="ef" * 20)  # ignored
        self.turns[-1][1].append(event)

    def routed(self, center: str, by: str = "route") -> None:
        city, country, _ = CENTERS[center]
        self.emit("routed", center=center, city=city, country=country, by=by)

    def disclose(self, center: str, offer: bool = True) -> None:
        city, country, _ = CENTERS[center]
        self.emit(
            "disclosed",
            center=center,
            city=city,
            country=country,
            text=f"Your call will be answered by our team in {city}, {country}.",
            language="en-US",
        )
        if offer:
            self.emit(
                "offered",
                text="To speak with an agent in the United States, press 1.",
                key="1",
                keywords="agent|united states|america",
            )

    def bridged(self, center: str, heard: tuple[bool, bool] = (True, True)) -> None:
        _, country, region = CENTERS[center]
        if self.pending is not None:  # the previous bridge, unreported, did not hold the caller
            self.pending = None
        self.emit("bridged", **bridged_fields(center))
        self.pending = (center, self.now)
        self.t.centers[center] += 1
        if country != "US":
            self.t.bridges.append((center, country, *heard))
        if region == "NJ":
            self.t.nj_bridged = True

    def ended(self, center: str, status: str | None) -> None:
        """The bridge the call ends on; status None: Twilio never reported it."""
        if status is not None:
            self.turn()
            self.report_end(center, status)
        if (status is None or status in GOOD) and CENTERS[center][2] == "NJ":
            self.t.nj_answered = True
        self.settle(center, status)

    def report_end(self, center: str, status: str) -> None:
        """Twilio's report of the pending bridge's end, with a QueueTime most of the time."""
        fields = {}
        if self.rng.random() < 0.9:
            wait = self.rng.randint(0, 600)
            fields["wait"] = str(wait)
            self.t.waits.append((center, float(wait)))
        if status == "hangup":
            made = self.pending[1] if self.pending else self.now
            took = float(fields["wait"]) if fields else (self.now - made).total_seconds()
            self.t.abandoned.append((center, took))
        self.emit(
            "bridge_ended",
            status=status,
            center=center,
            domestic=str(CENTERS[center][1] == "US").lower(),
            **fields,
        )

    def settle(self, center: str, status: str | None) -> None:
        if self.pending is not None and self.pending[0] == center:
            if (status is None or status in GOOD) and CENTERS[center][1] != "US":
                self.t.answered.add(center)
            self.pending = None

    def domestic(self) -> str:
        return "newark" if self.rng.random() < (0.7 if self.t.nj else 0.3) else "scranton"

    def exempt(self, reason: str, center: str) -> None:
        self.emit("exempt", reason=reason, center=center)
        self.t.exempt.add(reason)

    def safe(self, reason: str, policy: str | None = "domestic") -> None:
        self.emit("safe_answer", reason=reason, **({"policy": policy} if policy else {}))
        self.t.safe.add(reason)

    def transfer(self, by: str, offered_from: str) -> None:
        rng, t = self.rng, self.t
        self.emit("transfer_requested", how=HOW[by], by=by, center=offered_from)
        self.pending = None  # a bridge the caller left on hold was not answered
        t.request = by
        if rng.random() < 0.05:
            self.emit("unavailable", reason="no domestic center")
            return
        delay = 0 if rng.random() < 0.4 else rng.randint(1, 20000)
        if delay:
            self.turn(delay)
        d = self.domestic()
        self.bridged(d)
        t.reached, t.delay_ms = True, delay
        r = rng.random()
        if r < 0.7:
            self.ended(d, rng.choice(GOOD))
            t.completed = True
        elif r < 0.85:
            self.ended(d, rng.choice(BAD))
            self.emit("unavailable", reason="domestic bridge failed")
        else:
            self.ended(d, None)
            t.completed = True

    def after_offshore_bridge(self, x: str) -> None:
        """An offshore bridge that was made: answered, unreported, failed, or left on hold."""
        rng = self.rng
        r = rng.random()
        if r < 0.7:
            self.ended(x, rng.choice(GOOD))
        elif r < 0.8:
            self.ended(x, None)
        elif r < 0.84:  # the caller hangs up in the queue: no overflow
            self.turn()
            self.report_end(x, "hangup")
            self.pending = None
        elif r < 0.9:
            self.turn()
            self.report_end(x, rng.choice(BAD))
            self.pending = None
            if rng.random() < 0.5:
                y = rng.choice([c for c in OFFSHORE if c != x])
                self.routed(y, "overflow")
                self.disclose(y)
                self.turn()
                self.bridged(y)
                self.ended(y, rng.choice(GOOD))
            else:
                d = self.domestic()
                self.routed(d, "overflow")
                self.exempt("domestic-center", d)
                self.bridged(d)
                self.ended(d, rng.choice(GOOD))
        else:
            self.turn()
            self.transfer("hold", x)


class Sim:
    """Calls written as the evidence stream would hold them, with their Truth."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.truths: list[Truth] = []
        self.rows: list[tuple[str, int, int, int, dict[str, str]]] = []
        self.n = 0

    def events(self) -> list[dict[str, str]]:
        """Stream order: when each webhook's events were appended (late for spooled ones)."""
        return [row[-1] for row in sorted(self.rows, key=lambda row: row[:4])]

    def entries(self) -> list[tuple[str, list[str]]]:
        """The same as stream entries, (id, [name, value, ...]), with ids as Redis gives them:
        the millisecond each was appended (one more than the last for a tie)."""
        out, last = [], 0
        for row in sorted(self.rows, key=lambda row: row[:4]):
            last = max(last + 1, int(datetime.fromisoformat(row[0]).timestamp() * 1000))
            out.append((f"{last}-0", [x for pair in row[-1].items() for x in pair]))
        return out

    def month(
        self,
        calls: int,
        start: datetime = datetime(2026, 10, 30, tzinfo=UTC),
        end: datetime = datetime(2026, 12, 2, tzinfo=UTC),
    ) -> Sim:
        span = int((end - start).total_seconds() * 1000)
        for _ in range(calls):
            self.call(start + timedelta(milliseconds=self.rng.randrange(span)))
        return self

    def _caller(self) -> tuple[str, str]:
        r = self.rng.random()
        if r < 0.72:
            return "US", self.rng.choices(["NJ", "PA", "NY", "CA", "TX", "FL"], [25, 20, 15, 15, 15, 10])[0]
        if r < 0.87:
            return self.rng.choice(["GB", "MX", "CA", "PH", "DE"]), ""
        return "unknown", ""

    def call(
        self,
        t0: datetime,
        scenario: str | None = None,
        flow: str | None = None,
        exempt: str | None = None,
        caller: tuple[str, str] | None = None,
    ) -> Truth:
        rng = self.rng
        self.n += 1
        sid = f"CA{self.n:032x}"
        country, state = caller or self._caller()
        if exempt is None:
            exempt = rng.choices(["", "emergency", "foreign-business"], [91, 5, 4])[0]
        if scenario is None:
            scenario = "exempt" if exempt else rng.choices(list(SCENARIOS), list(SCENARIOS.values()))[0]
        flow = "" if scenario == "unknown_number" else flow or rng.choice(FLOWS)
        t = Truth(sid, t0.astimezone(UTC).date(), flow, country, state == "NJ")
        w = Writer(self, sid, t0, t)
        w.turn()
        fresh = scenario not in ("safe_domestic", "cautious")
        w.emit(
            "received",
            number="+18005550100",
            caller_country=country,
            caller_state=state,
            direction="inbound",
            fresh=str(fresh).lower(),
            flow=flow,
            version="3" if flow else "",
            exempt=exempt,
        )
        x = rng.choice(OFFSHORE)
        if scenario == "exempt":
            t.exempt_call = True
            c = rng.choice(list(CENTERS))
            w.routed(c)
            w.exempt(exempt, c)
            w.bridged(c, (False, False))
            w.ended(c, rng.choice(GOOD) if rng.random() < 0.8 else None)
        elif scenario == "offshore":
            w.routed(x)
            w.disclose(x)
            w.turn()
            if rng.random() < 0.6:
                w.bridged(x)
                w.after_offshore_bridge(x)
            else:
                w.transfer(rng.choice(["key", "voice"]), x)
        elif scenario == "domestic":
            d = w.domestic()
            w.routed(d)
            w.exempt("domestic-center", d)
            w.bridged(d)
            r = rng.random()
            if r < 0.75:
                w.ended(d, rng.choice(GOOD))
            elif r < 0.85:
                w.ended(d, None)
            elif r < 0.95:
                w.turn()
                w.report_end(d, rng.choice(BAD))
                w.pending = None
                w.routed(x, "overflow")
                w.disclose(x)
                w.turn()
                w.bridged(x)
                w.ended(x, rng.choice(GOOD))
            else:  # left the domestic queue with the transfer key: that bridge did not hold
                w.turn()
                w.transfer("hold", d)
        elif scenario == "no_center":
            w.emit("no_center", state="route")
            d = w.domestic()
            w.bridged(d)
            w.ended(d, rng.choice(GOOD))
        elif scenario == "safe_domestic":
            w.safe("center lookup unavailable")
            d = w.domestic()
            w.bridged(d)
            w.ended(d, rng.choice(GOOD))
        elif scenario == "cautious":
            w.safe("center lookup unavailable", "cautious")
            w.emit(
                "disclosed",
                center="",
                city="",
                country="",
                language="en-US",
                text="Your call may be answered outside the United States.",
                cautious="true",
            )
            w.emit(
                "offered",
                text="Press 1 for an agent in the United States.",
                key="1",
                keywords="agent|united states|america",
            )
            w.turn()
            if rng.random() < 0.7:
                w.bridged(x)
                w.ended(x, rng.choice(GOOD))
            else:
                w.transfer("key", "")
        elif scenario == "crash":
            w.routed(x)
            w.disclose(x)
            w.turn()
            w.safe(f"UnsafeBridge: center {x} was not disclosed")
            d = w.domestic()
            w.bridged(d)
            w.ended(d, rng.choice(GOOD))
        elif scenario == "unknown_number":
            w.safe("unknown number", None)
        elif scenario == "missing_disclosure":
            w.routed(x)
            w.turn()
            w.bridged(x, (False, False))
            w.ended(x, rng.choice(GOOD))
        elif scenario == "missing_offer":
            w.routed(x)
            w.disclose(x, offer=False)
            w.turn()
            w.bridged(x, (True, False))
            w.ended(x, rng.choice(GOOD))
        elif scenario == "wrong_city":
            w.routed(x)
            w.disclose(x)
            w.turn()
            w.bridged(rng.choice([c for c in OFFSHORE if CENTERS[c][0] != CENTERS[x][0]]), (False, False))
        elif scenario == "late_disclosure":
            w.routed(x)
            w.turn()
            w.bridged(x, (False, False))
            w.turn()
            w.disclose(x)
        else:
            raise AssertionError(scenario)
        w.close()
        w.turn()
        w.emit("status", status="completed", duration=str(rng.randint(5, 900)), sequence="4")
        spooled = rng.randrange(len(w.turns)) if len(w.turns) > 1 and rng.random() < 0.04 else -1
        for i, (at, turn_events) in enumerate(w.turns):
            appended = at + timedelta(minutes=rng.randint(1, 30)) if i == spooled else at
            for j, event in enumerate(turn_events):
                self.rows.append((iso(appended), self.n, i, j, event))
        self.truths.append(t)
        return t


def nearest_rank(values: list[float], p: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = -(-p * len(ordered) // 100)  # ceil(p/100 * n), 1-based
    return ordered[k - 1]


def expected(sim: Sim, start: date, end: date, flow: str | None = None) -> dict[str, Any]:
    """The figures, added up from the generator's notes."""
    calls = [t for t in sim.truths if start <= t.day <= end and (flow is None or t.flow == flow)]
    offshore = [t for t in calls if t.answered]
    bridges = [(t, b) for t in calls for b in t.bridges]
    heard = [(t, b) for t, b in bridges if b[2] or t.exempt_call]
    offered = [(t, b) for t, b in bridges if b[3] or t.exempt_call]
    requests = [t for t in calls if t.request]
    delays = [t.delay_ms / 1000 for t in requests if t.reached]
    reasons = Counter({"domestic-center": 0, "emergency": 0, "foreign-business": 0})
    for t in calls:
        reasons.update(t.exempt)
    days = {}
    for i in range((end - start).days + 1):
        d = start + timedelta(days=i)
        today = [t for t in calls if t.day == d]
        days[d] = {
            "calls_received": len(today),
            "offshore_calls": sum(1 for t in today if t.answered),
            "offshore_bridges": sum(len(t.bridges) for t in today),
            "covered_bridges": sum(1 for t in today for b in t.bridges if b[2] or t.exempt_call),
        }
    nj = [t for t in calls if t.nj]
    return {
        "calls_received": len(calls),
        "offshore_calls": len(offshore),
        "offshore_bridges": len(bridges),
        "offshore_by_country": dict(
            Counter(c for t in offshore for c in {CENTERS[a][1] for a in t.answered})
        ),
        "offshore_by_center": dict(Counter(c for t in offshore for c in t.answered)),
        "abandoned_calls": sum(1 for t in calls if t.abandoned),
        "bridges_by_center": sum((t.centers for t in calls), Counter()),
        "abandoned": [a for t in calls for a in t.abandoned],
        "waits": [w for t in calls for w in t.waits],
        "disclosed": len(heard),
        "disclosed_via_exemption": sum(1 for t, b in heard if not b[2]),
        "disclosure_exception_calls": sorted({t.sid for t, b in bridges if (t, b) not in heard}),
        "disclosure_exceptions": len(bridges) - len(heard),
        "offered": len(offered),
        "offered_via_exemption": sum(1 for t, b in offered if not b[3]),
        "offer_exception_calls": sorted({t.sid for t, b in bridges if (t, b) not in offered}),
        "offer_exceptions": len(bridges) - len(offered),
        "requested": len(requests),
        "by_channel": {c: sum(1 for t in requests if t.request == c) for c in ("key", "voice", "hold")},
        "completed": sum(1 for t in requests if t.completed),
        "reached": len(delays),
        "p50": nearest_rank(delays, 50),
        "p90": nearest_rank(delays, 90),
        "exempt_by_reason": dict(reasons),
        "exempt_calls": sum(1 for t in calls if t.exempt),
        "caller_outside_home": sum(1 for t in calls if t.caller_country not in ("US", "unknown")),
        "caller_country_unknown": sum(1 for t in calls if t.caller_country == "unknown"),
        "safe_calls": sum(1 for t in calls if t.safe),
        "safe_by_reason": dict(Counter(r for t in calls for r in t.safe)),
        "calls_from_nj": len(nj),
        "bridged_to_nj": sum(1 for t in nj if t.nj_bridged),
        "answered_in_nj": sum(1 for t in nj if t.nj_answered),
        "nj_centers": ["newark"] if any(t.nj_bridged for t in calls) else [],
        "days": days,
        "outside_period": sum(1 for t in sim.truths if not start <= t.day <= end),
        "other_flow": sum(
            1 for t in sim.truths if start <= t.day <= end and flow is not None and t.flow != flow
        ),
    }


def assert_matches(report: Report, e: dict[str, Any]) -> None:
    v, d, o, tr, ex, s, nj = (
        report.volume,
        report.disclosure,
        report.offer,
        report.transfers,
        report.exemptions,
        report.safe_answers,
        report.new_jersey,
    )
    assert v.calls_received == e["calls_received"]
    assert v.offshore_calls == e["offshore_calls"]
    assert v.offshore_bridges == e["offshore_bridges"]
    assert v.offshore_by_country == e["offshore_by_country"]
    assert v.offshore_by_center == e["offshore_by_center"]
    w = report.waits
    assert w.abandoned_calls == e["abandoned_calls"]
    assert {c.center: c.bridges for c in w.by_center} == dict(e["bridges_by_center"])
    for c in w.by_center:
        took = [s for center, s in e["abandoned"] if center == c.center]
        waited = [s for center, s in e["waits"] if center == c.center]
        assert (c.abandoned, c.abandon_rate) == (len(took), len(took) / c.bridges)
        assert (c.seconds_to_abandon_p50, c.seconds_to_abandon_p90) == (
            nearest_rank(took, 50),
            nearest_rank(took, 90),
        )
        assert (c.waits_reported, c.wait_p50, c.wait_p90, c.wait_p99) == (
            len(waited),
            nearest_rank(waited, 50),
            nearest_rank(waited, 90),
            nearest_rank(waited, 99),
        )
    share = e["offshore_calls"] / e["calls_received"] if e["calls_received"] else None
    assert v.offshore_share == share
    assert v.warning == (share is not None and share >= 0.25)
    assert v.threshold_reached == (share is not None and share >= 0.30)

    assert d.offshore_bridges == o.offshore_bridges == e["offshore_bridges"]
    assert d.covered == e["disclosed"]
    assert d.via_exemption == e["disclosed_via_exemption"]
    assert d.exception_calls == e["disclosure_exception_calls"]
    assert len(d.exceptions) == e["disclosure_exceptions"]
    assert d.complete == (e["disclosure_exceptions"] == 0)
    assert o.covered == e["offered"]
    assert o.via_exemption == e["offered_via_exemption"]
    assert o.exception_calls == e["offer_exception_calls"]
    assert len(o.exceptions) == e["offer_exceptions"]
    if e["offshore_bridges"]:
        assert d.coverage == e["disclosed"] / e["offshore_bridges"]
        assert o.coverage == e["offered"] / e["offshore_bridges"]

    assert tr.requested == e["requested"]
    assert tr.by_channel == e["by_channel"]
    assert tr.completed == e["completed"]
    assert tr.not_completed == e["requested"] - e["completed"]
    assert tr.reached_domestic_bridge == e["reached"]
    assert tr.seconds_to_bridge_p50 == e["p50"]
    assert tr.seconds_to_bridge_p90 == e["p90"]

    assert ex.by_reason == e["exempt_by_reason"]
    assert ex.exempt_calls == e["exempt_calls"]
    assert ex.caller_outside_home == e["caller_outside_home"]
    assert ex.caller_country_unknown == e["caller_country_unknown"]
    assert s.calls == e["safe_calls"]
    assert s.by_reason == e["safe_by_reason"]

    assert nj.calls_from_nj == e["calls_from_nj"]
    assert nj.bridged_to_nj == e["bridged_to_nj"]
    assert nj.answered_in_nj == e["answered_in_nj"]
    assert nj.nj_centers == e["nj_centers"]
    if e["calls_from_nj"]:
        assert nj.share_answered_in_nj == e["answered_in_nj"] / e["calls_from_nj"]
        assert nj.meets_target == (e["answered_in_nj"] / e["calls_from_nj"] >= 0.65)

    assert [day.day for day in report.daily] == list(e["days"])
    for day in report.daily:
        want = e["days"][day.day]
        assert (day.calls_received, day.offshore_calls, day.offshore_bridges, day.covered_bridges) == (
            want["calls_received"],
            want["offshore_calls"],
            want["offshore_bridges"],
            want["covered_bridges"],
        ), day
        assert day.offshore_share == (
            want["offshore_calls"] / want["calls_received"] if want["calls_received"] else None
        )
        assert day.disclosure_coverage == (
            want["covered_bridges"] / want["offshore_bridges"] if want["offshore_bridges"] else None
        )

    assert report.source.calls_outside_period == e["outside_period"]
    assert report.source.calls_other_flow == e["other_flow"]


BOUNDARY = {  # calls whose bridge lacks a disclosure, so the exception list shows who is in
    "before": datetime(2026, 10, 31, 23, 59, 59, 500000, tzinfo=UTC),
    "first": datetime(2026, 11, 1, tzinfo=UTC),
    "last": datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
    "after": datetime(2026, 12, 1, tzinfo=UTC),
}


def a_month() -> tuple[Sim, list[dict[str, str]], dict[str, str]]:
    """November's calls (and a few either side), with at least one call of every kind; the
    CallSids of the calls at the period's edges."""
    sim = Sim(20261101).month(3000)
    boundary = {
        name: sim.call(t0, "missing_disclosure", flow="support", exempt="").sid
        for name, t0 in BOUNDARY.items()
    }
    for scenario in (
        "missing_disclosure",
        "missing_offer",
        "wrong_city",
        "late_disclosure",
        "cautious",
        "unknown_number",
    ):  # at least one of each, whatever the seed
        sim.call(datetime(2026, 11, 15, 12, tzinfo=UTC), scenario, exempt="")
    sim.call(datetime(2026, 11, 16, 9, tzinfo=UTC), "exempt", exempt="emergency")
    events = sim.events()
    events.insert(
        len(events) // 2,
        {
            "call": "CAorphan",
            "caller": "x",
            "step": "status",
            "at": "2026-11-15T00:00:00.000+00:00",
            "status": "completed",
        },
    )
    return sim, events, boundary


def ev(call: str, at: str, step: str, **fields: str) -> dict[str, str]:
    return {"call": call, "caller": "h", "at": at, "step": step, **fields}
