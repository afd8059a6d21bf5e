"""Compliance reports (ivr.report) against an oracle that does not share their code.

``Sim`` writes a month of calls as the engine and the webhooks would record them (several
flows, centers in PH/IN/US-PA/US-NJ, callers from US states, abroad and unknown, transfers by
key/voice/hold, exemptions, safe answers, a few deliberate coverage exceptions, some webhooks
appended late as a spool replay does) and, while it decides what happens in each call,
writes down what every figure must count (``Truth``). ``expected`` only adds those notes up;
the report must find the same numbers from the events alone.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ivr import engine, evidence
from ivr.check import check_folder
from ivr.errors import UnsafeBridge
from ivr.report import FORMATS, Report, as_events, build_report, percent, render
from ivr.vocabulary import BridgeEnded, Connect, End, Facts, Handover, Heard, Silence

NOV1, NOV30 = date(2026, 11, 1), date(2026, 11, 30)
FLOWS_DIR = Path(__file__).resolve().parent.parent / "flows"

CENTERS = {  # id: (city, country, region)
    "manila": ("Manila", "PH", ""),
    "cebu": ("Cebu", "PH", ""),
    "bangalore": ("Bangalore", "IN", ""),
    "scranton": ("Scranton", "US", "PA"),
    "newark": ("Newark", "US", "NJ"),
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
        city, country, region = CENTERS[center]
        if self.pending is not None:  # the previous bridge, unreported, did not hold the caller
            self.pending = None
        self.emit(
            "bridged",
            center=center,
            city=city,
            country=country,
            region=region,
            target="queue",
            domestic=str(country == "US").lower(),
        )
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


# -- the month --------------------------------------------------------------------------------

BOUNDARY = {  # calls whose bridge lacks a disclosure, so the exception list shows who is in
    "before": datetime(2026, 10, 31, 23, 59, 59, 500000, tzinfo=UTC),
    "first": datetime(2026, 11, 1, tzinfo=UTC),
    "last": datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
    "after": datetime(2026, 12, 1, tzinfo=UTC),
}


@pytest.fixture(scope="module")
def month() -> tuple[Sim, list[dict[str, str]], dict[str, str]]:
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


@pytest.fixture(scope="module")
def november(month) -> Report:
    return build_report(month[1], NOV1, NOV30)


def test_generator_covers_every_case(month):
    """The oracle is only worth something if the month holds every kind of call."""
    sim, events, _ = month
    e = expected(sim, NOV1, NOV30)
    assert e["disclosure_exceptions"] >= 4 and e["offer_exceptions"] > e["disclosure_exceptions"]
    assert e["disclosed_via_exemption"] > 0 and all(e["by_channel"].values())
    assert e["completed"] < e["requested"] and e["reached"] < e["requested"]
    assert all(e["exempt_by_reason"].values()) and e["caller_outside_home"] > 0
    assert e["caller_country_unknown"] > 0 and len(e["safe_by_reason"]) >= 3
    assert 0 < e["answered_in_nj"] < e["bridged_to_nj"] < e["calls_from_nj"]
    assert set(e["offshore_by_country"]) == {"PH", "IN"} and e["outside_period"] > 0
    bridged_offshore = sum(1 for t in sim.truths if NOV1 <= t.day <= NOV30 and t.bridges)
    assert 0 < e["abandoned_calls"] and e["offshore_calls"] < bridged_offshore  # not all answered
    assert len(e["waits"]) < sum(e["bridges_by_center"].values())  # some ends without a wait
    steps = [ev["step"] for ev in events]
    stream_order = [ev["at"] for ev in events if ev["call"] != "CAorphan"]
    assert stream_order != sorted(stream_order)  # some webhooks were appended late
    assert set(steps) >= {
        "received",
        "routed",
        "no_center",
        "disclosed",
        "offered",
        "exempt",
        "transfer_requested",
        "bridged",
        "bridge_ended",
        "safe_answer",
        "unavailable",
        "status",
    }


def test_month_figures_equal_the_generators_counts(month, november):
    sim, events, _ = month
    assert_matches(november, expected(sim, NOV1, NOV30))
    assert november.source.events_read == len(events)
    assert november.source.calls_seen == len(sim.truths) + 1
    assert november.source.calls_without_received == 1  # the orphan status event
    assert november.source.malformed_events == 0


def test_period_is_the_received_date_inclusive(month):
    sim, events, boundary = month
    report = build_report(events, NOV1, NOV30)
    assert boundary["first"] in report.disclosure.exception_calls
    assert boundary["last"] in report.disclosure.exception_calls  # bridged on 1 December
    assert boundary["before"] not in report.disclosure.exception_calls  # bridged on 1 November
    assert boundary["after"] not in report.disclosure.exception_calls
    week = build_report(events, date(2026, 11, 10), date(2026, 11, 16))
    assert_matches(week, expected(sim, date(2026, 11, 10), date(2026, 11, 16)))
    assert len(week.daily) == 7
    last = build_report(events, NOV30, NOV30)
    assert last.disclosure.exception_calls.count(boundary["last"]) == 1
    assert_matches(last, expected(sim, NOV30, NOV30))


@pytest.mark.parametrize("flow", FLOWS)
def test_flow_filter(month, november, flow):
    sim, events, _ = month
    report = build_report(events, NOV1, NOV30, flow=flow)
    assert report.flow == flow
    assert_matches(report, expected(sim, NOV1, NOV30, flow))
    assert 0 < report.volume.calls_received < november.volume.calls_received


def test_flows_add_up_to_the_whole(month, november):
    _, events, _ = month
    parts = [build_report(events, NOV1, NOV30, flow=f) for f in (*FLOWS, "")]
    assert sum(p.volume.calls_received for p in parts) == november.volume.calls_received
    assert sum(p.volume.offshore_bridges for p in parts) == november.volume.offshore_bridges
    assert build_report(events, NOV1, NOV30, flow="nosuchflow").volume.calls_received == 0


def test_empty_input():
    report = build_report([], NOV1, NOV30)
    assert report.volume.calls_received == 0 and report.volume.offshore_share is None
    assert not report.volume.warning and report.disclosure.coverage is None
    assert report.disclosure.complete and report.transfers.seconds_to_bridge_p50 is None
    assert report.new_jersey.meets_target is None and len(report.daily) == 30
    assert all(d.calls_received == 0 and d.offshore_share is None for d in report.daily)
    for fmt in FORMATS:
        assert render(report, fmt)
    assert json.loads(render(report, "json"))["volume"]["calls_received"] == 0
    assert "n/a" in render(report, "text")


def test_store_entries_are_read_as_events(month, november):
    _, events, _ = month
    entries = ((f"{i}-0", [x for pair in e.items() for x in pair]) for i, e in enumerate(events))
    assert build_report(as_events(entries), NOV1, NOV30) == november


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError):
        build_report([], NOV30, NOV1)
    with pytest.raises(ValueError):
        render(build_report([], NOV1, NOV1), "pdf")


# -- formats ------------------------------------------------------------------------------------


class Page(HTMLParser):
    """Tags, attributes, the title, label/value rows and table cells of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.stack: list[str] = []
        self.title = ""
        self.rows: list[list[str]] = []
        self.texts: list[str] = []
        self.svg_texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs
        if tag == "tr":
            self.rows.append([])
        if tag in ("th", "td") and self.rows:
            self.rows[-1].append("")
        self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        self.texts.append(data)
        if "title" in self.stack and "svg" not in self.stack:
            self.title += data
        if "text" in self.stack and "svg" in self.stack:
            self.svg_texts.append(data)
        if self.stack and self.stack[-1] in ("th", "td") and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def parse_html(document: str) -> Page:
    page = Page()
    page.feed(document)
    page.close()
    return page


def pairs(report: Report) -> list[tuple[str, str]]:
    """Some label/value pairs every human-readable format must show, formatted by hand."""
    v, d, o, t, nj = (report.volume, report.disclosure, report.offer, report.transfers, report.new_jersey)
    return [
        ("Calls received", f"{v.calls_received:,}"),
        ("Calls answered offshore", f"{v.offshore_calls:,}"),
        ("Share of volume answered offshore", percent(v.offshore_calls, v.calls_received)),
        ("Disclosure coverage", percent(d.covered, d.offshore_bridges)),
        ("Offer coverage", percent(o.covered, o.offshore_bridges)),
        ("Transfer requests", f"{t.requested:,}"),
        ("Requested by hold", f"{t.by_channel['hold']:,}"),
        ("Transfers completed", f"{t.completed:,}"),
        ("Time to domestic bridge, p90", f"{t.seconds_to_bridge_p90:.3f} s"),
        ("Exempt: emergency", f"{report.exemptions.by_reason['emergency']:,}"),
        ("Caller country unknown", f"{report.exemptions.caller_country_unknown:,}"),
        ("Calls given the safe answer", f"{report.safe_answers.calls:,}"),
        ("Calls from New Jersey", f"{nj.calls_from_nj:,}"),
        ("Answered in New Jersey", f"{nj.answered_in_nj:,}"),
    ]


def test_text_shows_every_section(november):
    text = render(november, "text")
    lines = text.splitlines()
    assert "2026-11-01 to 2026-11-30" in lines[0] and "all flows" in lines[0]
    assert "flow billing" in render(build_report([], NOV1, NOV30, flow="billing"), "text")
    for label, value in pairs(november):
        assert any(
            line.strip().startswith(label) and line.rstrip().endswith(" " + value) for line in lines
        ), (label, value)
    for sid in november.disclosure.exception_calls + november.offer.exception_calls:
        assert sid in text
    for key in [
        *november.volume.offshore_by_country,
        *november.volume.offshore_by_center,
        *november.safe_answers.by_reason,
    ]:
        assert key in text
    for day in november.daily:
        assert any(line.strip().startswith(day.day.isoformat()) for line in lines)
    assert "NOTICE" in text  # about half the generated calls go offshore
    assert max(map(len, lines[:200])) < 160


def test_html_is_a_self_contained_page_with_every_figure(november):
    document = render(november, "html")
    page = parse_html(document)
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert not [a for a in page.attrs if a[0] in ("src", "href") or a[0].startswith("on")]
    assert "@import" not in document and "url(" not in document
    assert "2026-11-01 to 2026-11-30" in page.title and "all flows" in page.title
    rows = [tuple(r) for r in page.rows]
    for label, value in pairs(november):
        assert (label, value) in rows, (label, value)
    cells = {c for r in rows for c in r}
    assert set(november.disclosure.exception_calls) <= cells
    assert set(november.volume.offshore_by_country) <= cells
    assert {d.day.isoformat() for d in november.daily} <= cells
    # the chart: two series, the 30% line, axes labelled
    assert page.tags.count("svg") == 1 and page.tags.count("polyline") >= 2
    assert any("30% notice threshold" in t for t in page.svg_texts)
    assert "0%" in page.svg_texts and "100%" in page.svg_texts
    assert any("Day" in t for t in page.svg_texts) and any("Percent" in t for t in page.svg_texts)
    assert page.tags.count("circle") == sum(
        (d.offshore_share is not None) + (d.disclosure_coverage is not None) for d in november.daily
    )


def test_html_escapes_every_value():
    nasty = "<script>alert('x')</script>&"
    events = [
        ev(
            "CA<b>1</b>",
            "2026-11-02T10:00:00.000+00:00",
            "received",
            flow=nasty,
            caller_state="NJ",
            caller_country="US",
        ),
        ev("CA<b>1</b>", "2026-11-02T10:00:01.000+00:00", "safe_answer", reason=nasty),
        ev(
            "CA<b>1</b>",
            "2026-11-02T10:00:02.000+00:00",
            "bridged",
            center="<img src=x>",
            city="<i>",
            country="P&H",
            region="",
            domestic="false",
        ),
    ]
    report = build_report(events, NOV1, NOV30, flow=nasty)
    assert report.volume.calls_received == 1
    document = render(report, "html")
    page = parse_html(document)
    assert "script" not in page.tags and "img" not in page.tags and "b" not in page.tags
    assert "i" not in page.tags
    assert nasty in page.title
    cells = {c for r in page.rows for c in r}
    assert {"CA<b>1</b>", "<img src=x>", "P&H", nasty} <= cells


def test_csv_has_one_layout_and_every_figure(november):
    table = list(csv.reader(io.StringIO(render(november, "csv"))))
    assert table[0] == ["section", "metric", "key", "value"]
    assert all(len(row) == 4 for row in table)
    cell = {(s, m, k): v for s, m, k, v in table[1:] if m not in ("exception", "exception_calls")}
    v, t = november.volume, november.transfers
    assert cell[("volume", "calls_received", "")] == str(v.calls_received)
    assert cell[("volume", "offshore_calls", "")] == str(v.offshore_calls)
    assert float(cell[("volume", "offshore_share", "")]) == v.offshore_share
    assert cell[("volume", "threshold_reached", "")] == str(v.threshold_reached).lower()
    for country, n in v.offshore_by_country.items():
        assert cell[("volume", "offshore_by_country", country)] == str(n)
    for center, n in v.offshore_by_center.items():
        assert cell[("volume", "offshore_by_center", center)] == str(n)
    for channel, n in t.by_channel.items():
        assert cell[("transfers", "by_channel", channel)] == str(n)
    assert float(cell[("transfers", "seconds_to_bridge_p50", "")]) == t.seconds_to_bridge_p50
    for reason, n in november.exemptions.by_reason.items():
        assert cell[("exemptions", "by_reason", reason)] == str(n)
    for reason, n in november.safe_answers.by_reason.items():
        assert cell[("safe_answers", "by_reason", reason)] == str(n)
    assert cell[("new_jersey", "answered_in_nj", "")] == str(november.new_jersey.answered_in_nj)
    for section in ("disclosure", "offer"):
        cov = getattr(november, section)
        listed = [k for s, m, k, _ in table if s == section and m == "exception"]
        assert listed == [u.call for u in cov.exceptions]
        assert cell[(section, "covered", "")] == str(cov.covered)
    for day in november.daily:
        key = day.day.isoformat()
        assert cell[("daily", "calls_received", key)] == str(day.calls_received)
        assert cell[("daily", "covered_bridges", key)] == str(day.covered_bridges)


def test_json_holds_everything(november):
    data = json.loads(render(november, "json"))
    plain = json.loads(json.dumps(asdict(november), default=str))
    assert {k: data[k] for k in plain} == plain
    assert data["start"] == "2026-11-01" and data["flow"] is None
    assert data["volume"]["offshore_by_country"] == november.volume.offshore_by_country
    assert len(data["daily"]) == 30 and data["daily"][0]["day"] == "2026-11-01"
    assert [u["call"] for u in data["disclosure"]["exceptions"]] == [
        u.call for u in november.disclosure.exceptions
    ]
    assert "Disclosure coverage" in data["definitions"]


# -- semantics, case by case -------------------------------------------------------------------


def ev(call: str, at: str, step: str, **fields: str) -> dict[str, str]:
    return {"call": call, "caller": "h", "at": at, "step": step, **fields}


def at(seconds: float, day: int = 2) -> str:
    return iso(datetime(2026, 11, day, 10, tzinfo=UTC) + timedelta(seconds=seconds))


def received(call: str, seconds: float = 0, day: int = 2, **fields: str) -> dict[str, str]:
    base = {
        "number": "+18005550100",
        "caller_country": "US",
        "caller_state": "PA",
        "direction": "inbound",
        "fresh": "true",
        "flow": "support",
        "version": "1",
        "exempt": "",
    }
    return ev(call, at(seconds, day), "received", **{**base, **fields})


def bridged(call: str, seconds: float, center: str, **fields: str) -> dict[str, str]:
    city, country, region = CENTERS[center]
    return ev(
        call,
        at(seconds),
        "bridged",
        center=center,
        city=city,
        country=country,
        region=region,
        target="queue",
        domestic=str(country == "US").lower(),
        **fields,
    )


def disclosed(call: str, seconds: float, center: str) -> dict[str, str]:
    city, country, _ = CENTERS[center]
    return ev(
        call, at(seconds), "disclosed", center=center, city=city, country=country, text="t", language="en-US"
    )


def offered(call: str, seconds: float) -> dict[str, str]:
    return ev(call, at(seconds), "offered", text="t", key="1", keywords="agent")


def one_month(events: list[dict[str, str]], **kwargs: Any) -> Report:
    return build_report(events, NOV1, NOV30, **kwargs)


def queued_call(sid: str, status: str, **fields: str) -> list[dict[str, str]]:
    """A call disclosed, offered and queued for Manila, then Twilio's report of the queue's end."""
    return [
        received(sid),
        disclosed(sid, 1, "manila"),
        offered(sid, 1),
        bridged(sid, 5, "manila"),
        ev(sid, at(65), "bridge_ended", status=status, center="manila", domestic="false", **fields),
    ]


@pytest.mark.parametrize("fields", [{}, {"outcome": "gone", "wait": "60"}])  # before and after
def test_a_caller_who_hung_up_in_the_queue_is_not_answered_offshore(fields):
    report = one_month([*queued_call("A", "hangup", **fields), *queued_call("B", "bridged")])

    assert report.volume.offshore_bridges == 2
    assert report.volume.offshore_calls == 1 and report.volume.offshore_by_center == {"manila": 1}
    assert report.volume.offshore_share == 0.5  # B only; A hung up before any agent
    (manila,) = report.waits.by_center
    assert (report.waits.abandoned_calls, manila.bridges, manila.answered, manila.abandoned) == (1, 2, 1, 1)
    assert manila.abandon_rate == 0.5 and manila.seconds_to_abandon_p50 == 60.0
    text = render(report, "text")
    assert "Calls answered offshore ...." in text and "Calls abandoned" in text
    assert "Offshore call: A call an offshore agent answered" in text


@pytest.mark.parametrize(
    "status, answered",
    [
        ("bridged", True),
        ("bridging-in-process", True),
        ("redirected-from-bridged", True),
        ("hangup", False),
        ("redirected", False),
        ("leave", False),
        ("error", False),
        ("queue-full", False),
        ("system-error", False),
    ],
)
def test_every_queue_result_counts_as_the_outcomes_table_says(status, answered):
    report = one_month(queued_call("A", status))
    assert report.volume.offshore_calls == answered
    assert report.waits.abandoned_calls == (status == "hangup")


def test_waits_and_abandons_per_center_in_every_format():
    events = [
        *queued_call("A", "hangup", wait="40"),
        *queued_call("B", "bridged", wait="20"),
        *queued_call("C", "bridged", wait="30"),
    ]
    # a Dial the caller ended while Scranton rang, 12 s after the bridge
    events += [
        received("D"),
        bridged("D", 5, "scranton"),
        ev(
            "D",
            at(17),
            "bridge_ended",
            status="no-answer",
            outcome="gone",
            center="scranton",
            domestic="true",
        ),
    ]
    report = one_month(events)
    manila, scranton = report.waits.by_center
    assert (manila.center, manila.waits_reported, manila.wait_p50, manila.wait_p90, manila.wait_p99) == (
        "manila",
        3,
        30.0,
        40.0,
        40.0,
    )
    assert (scranton.abandoned, scranton.seconds_to_abandon_p50, scranton.waits_reported) == (1, 12.0, 0)
    assert report.waits.abandoned_calls == 2
    cells = {(row[0], row[1], row[2]): row[3] for row in csv.reader(io.StringIO(render(report, "csv")))}
    assert cells[("waits", "abandoned", "manila")] == "1"
    assert cells[("waits", "wait_p90", "manila")] == "40.0"
    assert cells[("waits", "seconds_to_abandon_p50", "scranton")] == "12.0"
    assert cells[("definitions", "Offshore call", "")].startswith("A call an offshore agent answered")
    data = json.loads(render(report, "json"))
    assert data["waits"]["by_center"][0]["abandon_rate"] == 1 / 3
    assert "Offshore call" in data["definitions"] and "Abandoned" in data["definitions"]
    page = render(report, "html")
    assert "8. Abandoned calls and waits, per center" in page and "Time to abandon" in page


def test_the_offer_must_come_between_the_disclosure_and_the_bridge():
    report = one_month(
        [
            received("A"),
            offered("A", 1),
            disclosed("A", 1, "manila"),
            bridged("A", 5, "manila"),
            received("B"),
            disclosed("B", 1, "manila"),
            bridged("B", 5, "manila"),
            offered("B", 6),
            received("C"),
            disclosed("C", 1, "manila"),
            offered("C", 1),
            bridged("C", 5, "manila"),
        ]
    )
    assert report.disclosure.exception_calls == []
    assert report.offer.exception_calls == ["A", "B"]  # offer before / after, never between


def test_order_is_by_time_not_by_when_the_spool_was_replayed():
    report = one_month(
        [
            bridged("A", 30, "manila"),  # recorded at once; the first webhook waited in the spool
            received("A"),
            disclosed("A", 1, "manila"),
            offered("A", 1),
            received("B"),
            bridged("B", 5, "manila"),
            disclosed("B", 9, "manila"),
            offered("B", 9),
        ]
    )
    assert report.volume.calls_received == 2
    assert report.disclosure.exception_calls == ["B"]  # told after the bridge


def test_a_disclosure_covers_only_its_own_city_and_country():
    report = one_month(
        [
            received("A"),
            disclosed("A", 1, "manila"),
            offered("A", 1),
            bridged("A", 5, "manila"),
            ev("A", at(20), "bridge_ended", status="busy", center="manila", domestic="false"),
            bridged("A", 25, "cebu"),  # same country, another city: not told
            received("B"),
            disclosed("B", 1, "manila"),
            offered("B", 1),
            bridged("B", 5, "bangalore"),
        ]
    )
    assert report.disclosure.offshore_bridges == 3
    assert [u.center for u in report.disclosure.exceptions] == ["bangalore", "cebu"]
    assert report.volume.offshore_by_country == {"PH": 1, "IN": 1}
    assert report.volume.offshore_by_center == {"bangalore": 1, "cebu": 1}  # manila was busy


def test_cautious_disclosure_and_exemptions_cover_a_bridge():
    cautious = ev(
        "A", at(1), "disclosed", center="", city="", country="", text="t", language="en-US", cautious="true"
    )
    report = one_month(
        [
            received("A"),
            cautious,
            offered("A", 1),
            bridged("A", 5, "manila"),
            received("B", exempt="emergency"),
            bridged("B", 1, "manila"),  # flag, no event
            received("C"),
            ev("C", at(1), "exempt", reason="foreign-business", center="cebu"),
            bridged("C", 1, "cebu"),
            received("D"),
            ev("D", at(1), "exempt", reason="domestic-center", center="scranton"),
            bridged("D", 1, "manila"),  # a domestic exemption does not cover an offshore bridge
        ]
    )
    assert report.disclosure.exception_calls == ["D"] == report.offer.exception_calls
    assert report.disclosure.via_exemption == 2 and report.disclosure.covered == 3
    assert report.exemptions.by_reason == {"domestic-center": 1, "emergency": 0, "foreign-business": 1}
    assert report.exemptions.exempt_calls == 2


def test_transfers_completed_and_time_to_bridge():
    events = []
    for i in range(10):  # 1..10 s to the domestic bridge; nearest rank: p50 = 5, p90 = 9
        sid = f"T{i}"
        events += [
            received(sid),
            ev(sid, at(2), "transfer_requested", how="key 1", by="key", center="manila"),
            bridged(sid, 2 + i + 1, "scranton"),
        ]
        if i == 0:
            events.append(ev(sid, at(60), "bridge_ended", status="busy", center="scranton", domestic="true"))
        if i == 1:
            events.append(
                ev(sid, at(60), "bridge_ended", status="completed", center="scranton", domestic="true")
            )
    events += [
        received("V"),
        ev("V", at(1), "transfer_requested", how="said 'agent'", by="voice", center="manila"),
        ev("V", at(1), "unavailable", reason="no domestic center"),
    ]
    t = one_month(events).transfers
    assert t.requested == 11 and t.by_channel == {"key": 10, "voice": 1, "hold": 0}
    assert t.reached_domestic_bridge == 10
    assert t.completed == 9  # busy is not completed; no report counts as completed
    assert (t.seconds_to_bridge_p50, t.seconds_to_bridge_p90) == (5.0, 9.0)


def test_replayed_and_repeated_events_do_not_move_a_call():
    def request(seconds: float, by: str) -> dict[str, str]:
        return ev("A", at(seconds), "transfer_requested", how=HOW[by], by=by, center="manila")

    report = one_month(
        [
            ev("A", at(70), "bridge_ended", status="completed", center="newark", domestic="true"),
            bridged("A", 5, "scranton"),  # the first request's bridge: busy
            received("A"),
            disclosed("A", 1, "manila"),
            offered("A", 1),
            request(20, "voice"),  # asked again later (a menu): its bridge to newark is answered
            ev("A", at(6), "bridge_ended", status="busy", center="scranton", domestic="true"),
            bridged("A", 22, "newark"),
            request(2, "key"),
            received("A", day=3, flow="billing"),  # a second 'received' changes nothing
            ev("B", at(40), "bridge_ended", status="completed", center="newark", domestic="true"),
            received("B", caller_state="NJ"),
            bridged("B", 5, "newark"),
            ev("B", at(30), "bridge_ended", status="busy", center="newark", domestic="true"),
            received("C"),
            {**request(2, "hold"), "call": "C"},
            bridged("C", 4, "scranton"),  # busy; the domestic state's on_failure tries newark
            ev("C", at(6), "bridge_ended", status="busy", center="scranton", domestic="true"),
            bridged("C", 9, "newark"),
        ]
    )
    assert report.volume.calls_received == 3 and report.daily[1].calls_received == 3
    assert report.new_jersey.bridged_to_nj == 1 and report.new_jersey.answered_in_nj == 0
    t = report.transfers
    assert (t.requested, t.reached_domestic_bridge, t.completed) == (3, 3, 2)
    assert t.by_channel == {"key": 1, "voice": 1, "hold": 1}
    assert (t.seconds_to_bridge_p50, t.seconds_to_bridge_p90) == (2.0, 3.0)  # of 3, 2, 2 s
    assert (
        build_report(
            [received("A"), received("A", flow="billing")], NOV1, NOV30, flow="billing"
        ).volume.calls_received
        == 0
    )


def test_new_jersey_answered_and_the_caller_leaving_the_queue():
    nj = {"caller_state": "NJ"}
    report = one_month(
        [
            received("A", **nj),
            bridged("A", 5, "newark"),  # no report: answered
            received("B", **nj),
            bridged("B", 5, "newark"),
            ev("B", at(40), "transfer_requested", how="key during hold", by="hold", center="newark"),
            bridged("B", 40, "scranton"),  # left the NJ queue: not answered in NJ
            received("C", **nj),
            bridged("C", 5, "newark"),
            ev("C", at(9), "bridge_ended", status="no-answer", center="newark", domestic="true"),
            received("D", **nj),
            bridged("D", 5, "manila"),
            received("E"),
            bridged("E", 5, "newark"),  # not from NJ
            received("F", **nj),
            ev(
                "F",
                at(5),
                "bridged",
                center="x",
                city="Newark",
                country="IN",
                region="NJ",
                target="queue",
                domestic="false",
            ),  # not the state
        ]
    )
    nj_report = report.new_jersey
    assert (nj_report.calls_from_nj, nj_report.bridged_to_nj, nj_report.answered_in_nj) == (5, 3, 1)
    assert nj_report.share_answered_in_nj == 0.2 and nj_report.meets_target is False
    assert nj_report.nj_centers == ["newark"]
    assert report.transfers.by_channel["hold"] == 1 and report.transfers.completed == 1


def test_no_nj_centers_is_said_plainly():
    report = one_month([received("A", caller_state="NJ"), bridged("A", 5, "scranton")])
    assert report.new_jersey.nj_centers == [] and report.new_jersey.answered_in_nj == 0
    assert "No NJ centers" in report.new_jersey.message
    for fmt in ("text", "html"):
        assert "no NJ centers" in render(report, fmt)


@pytest.mark.parametrize(
    "offshore, warning, threshold",
    [(24, False, False), (25, True, False), (29, True, False), (30, True, True), (100, True, True)],
)
def test_offshore_share_flags(offshore, warning, threshold):
    events = []
    for i in range(100):
        events.append(received(f"C{i}"))
        events.append(bridged(f"C{i}", 5, "manila" if i < offshore else "scranton"))
    v = one_month(events).volume
    assert (v.warning, v.threshold_reached) == (warning, threshold)
    assert ("nearing the 30% notice threshold" in v.message) == (warning and not threshold)
    assert ("at or above the 30% notice threshold" in v.message) == threshold


def test_timestamps_other_than_canonical_utc():
    report = one_month(
        [
            ev("A", "2026-11-01T00:30:00+01:00", "received", flow="support"),  # 31 Oct UTC
            ev("B", "2026-11-30T23:30:00-05:00", "received", flow="support"),  # 1 Dec UTC
            ev("C", "2026-11-30T23:30:00Z", "received", flow="support"),
            ev("D", "2026-11-05T10:00:00", "received", flow="support"),  # naive: UTC
            ev("E", "yesterday", "received", flow="support"),
            {"step": "received", "at": at(0)},
        ]
    )
    assert report.volume.calls_received == 2
    assert [d.day.day for d in report.daily if d.calls_received] == [5, 30]
    assert report.source.calls_outside_period == 2 and report.source.malformed_events == 2
    assert report.source.calls_without_received == 1  # E


def test_report_on_events_the_engine_itself_produced():
    """The schema the report reads is the one the engine and webhooks write."""
    config, _, errors = check_folder(FLOWS_DIR, "US")
    assert errors == []
    rng = random.Random(4932)
    events: list[dict[str, str]] = []
    offshore_bridges, offshore_calls, requests = 0, set(), Counter()
    exempt_calls, answered_offshore = set(), set()
    for n in range(300):
        sid = f"CAengine{n:04d}"
        flow = config.flows[rng.choice(sorted(config.flows))]
        now = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(30 * 24 * 60))
        exempt = "emergency" if n % 20 == 0 else None
        facts = Facts(sid, now, config.centers, "US", exempt, rng.random() > 0.05)
        common = evidence.common_fields(sid, "hash", now)
        events.append(
            {
                **common,
                "step": "received",
                "caller_country": "US",
                "caller_state": "NJ",
                "flow": flow.id,
                "exempt": exempt or "",
            }
        )
        turn = engine.begin(flow, facts)
        answered = False  # the reply to the last offshore bridge said an agent answered
        for _ in range(10):
            if answered:  # ... and this turn, which records that reply, is in the record
                answered_offshore.add(sid)
            for e in turn.events:
                events.append({**common, "step": e.step, **dict(e.fields)})
                requests[dict(e.fields).get("by")] += e.step == "transfer_requested"
            for action in turn.actions:
                if isinstance(action, Connect) and not action.domestic:
                    offshore_bridges += 1
                    offshore_calls.add(sid)
                    exempt_calls.add(sid) if exempt else None
            last = turn.actions[-1]
            if isinstance(last, (End, Handover)):
                break
            now += timedelta(seconds=rng.randint(1, 60))
            common = evidence.common_fields(sid, "hash", now)
            f = replace(facts, now=now, fresh=rng.random() > 0.05)
            reply = (
                BridgeEnded(rng.choice(["completed", "busy", "leave", "no-answer", "hangup"]))
                if isinstance(last, Connect)
                else rng.choice(
                    [
                        Silence(),
                        Heard(digits="1"),
                        Heard(speech="agent please"),
                        Heard(digits="7"),
                    ]
                )
            )
            answered = isinstance(last, Connect) and not last.domestic and reply == BridgeEnded("completed")
            try:
                turn = engine.resume(flow, turn.call, reply, f)
            except UnsafeBridge as exc:
                turn = engine.safe_answer(flow, turn.call, f, str(exc))
        else:  # the record stops on a bridge Twilio never reported: connected, so answered
            if isinstance(last, Connect) and not last.domestic:
                answered_offshore.add(sid)
    report = one_month(events)
    assert report.volume.calls_received == 300
    assert report.volume.offshore_bridges == offshore_bridges > 50
    assert report.volume.offshore_calls == len(answered_offshore) < len(offshore_calls)
    assert report.waits.abandoned_calls > 0
    assert report.disclosure.complete and report.offer.complete  # the engine never skips it
    assert report.disclosure.via_exemption > 0
    assert report.transfers.requested == sum(requests.values()) > 10
    assert report.transfers.by_channel == {c: requests[c] for c in ("key", "voice", "hold")}
    # take one non-exempt offshore call's disclosures away: that call, and only it, shows up
    victim = sorted(offshore_calls - exempt_calls)[0]
    tampered = one_month([e for e in events if not (e["call"] == victim and e["step"] == "disclosed")])
    assert tampered.disclosure.exception_calls == [victim] == tampered.offer.exception_calls


# -- size -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_100000_calls_in_one_pass():
    """Run with -s to see the figure; nothing is asserted about time."""
    sim = Sim(100_000)
    began = time.perf_counter()
    sim.month(100_000, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    events = sim.events()
    generated = time.perf_counter() - began
    began = time.perf_counter()
    report = build_report(events, NOV1, NOV30)
    elapsed = time.perf_counter() - began
    timings = {}
    for fmt in FORMATS:
        t0 = time.perf_counter()
        render(report, fmt)
        timings[fmt] = time.perf_counter() - t0
    print(
        f"\n{len(events):,} events of {report.volume.calls_received:,} calls: "
        f"build_report {elapsed:.2f} s (generated in {generated:.1f} s); render "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items())
    )
    assert report.volume.calls_received == 100_000
    assert report.disclosure.offshore_bridges == sum(len(t.bridges) for t in sim.truths)


def test_calls_handed_off_are_counted_apart():
    day = "2026-11-10T10:00:00.000+00:00"
    events = [
        {"call": "CA1", "at": day, "step": "received", "caller_country": "US", "flow": "support"},
        {"call": "CA1", "at": day, "step": "handoff", "url": "https://apps.example.com/ivr"},
        {"call": "CA2", "at": day, "step": "received", "caller_country": "US", "flow": "support"},
    ]
    report = build_report(events, date(2026, 11, 1), date(2026, 11, 30))
    assert (report.volume.calls_received, report.volume.handed_off) == (2, 1)
    assert "Handed off to the company's own application" in render(report, "text")


@pytest.mark.parametrize(
    "part, whole, shown",
    [
        (32, 54, "59.26%"),  # 59.259...: rounded, not cut
        (1, 800, "0.12%"),  # 0.125: half to even
        (3, 800, "0.38%"),  # 0.375: half to even
        (99996, 100000, "99.99%"),  # not all is never 100.00%
        (1, 100000, "0.01%"),  # some is never 0.00%
        (54, 54, "100.00%"),
        (0, 54, "0.00%"),
        (0, 0, "n/a"),
    ],
)
def test_percentages_are_rounded(part, whole, shown):
    assert percent(part, whole) == shown


def test_a_flow_no_call_was_received_for_is_warned_about(month):
    report = build_report(month[1], NOV1, NOV30, flow="suport")
    assert report.volume.calls_received == 0
    assert "No call of flow 'suport' was received in this period" in render(report, "text")
    assert "No call of flow &#x27;suport&#x27; was received" in render(report, "html")
    assert "No call of flow" not in render(build_report(month[1], NOV1, NOV30, flow="support"), "text")


def test_the_printed_page_keeps_dates_whole_and_headings_with_their_tables(november):
    document = render(november, "html")
    assert "break-after: avoid" in document.split("h3 {")[1].split("}")[0]
    assert "break-after: avoid" in document.split("h2 {")[1].split("}")[0]
    assert "td.day" in document and "white-space: nowrap" in document
    assert '<td class="day">2026-11-01</td>' in document


def test_the_chart_is_legible_and_draws_both_r17_lines_off_the_data(november):
    svg = render(november, "html").split("<svg", 1)[1].split("</svg>")[0]
    assert 'font-size="13"' in svg and 'font-size="11"' not in svg
    top, plot_h = 64, 360 - 64 - 80
    lines = {
        round(float(y))
        for y in (
            part.split('y1="')[1].split('"')[0]
            for part in svg.split("<line")[1:]
            if "stroke-dasharray" in part and 'x1="64"' in part
        )
    }
    assert {round(top + plot_h * (1 - 0.30)), round(top + plot_h * (1 - 0.25))} <= lines
    labels = [t for t in svg.split("<text")[1:] if "R17" in t]
    assert len(labels) == 2 and all(float(t.split('y="')[1].split('"')[0]) < top for t in labels)
