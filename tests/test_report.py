"""Compliance reports (ivr.report): the figures, checked against an oracle that does not
share their code (``tests.report_oracle``), and case by case."""

from __future__ import annotations

import csv
import io
import json
import random
import time
import tracemalloc
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ivr import engine, evidence
from ivr.check import check_folder
from ivr.errors import UnsafeBridge
from ivr.report import FORMATS, Report, as_events, build_report, render
from ivr.report.build import QUIET
from ivr.store import CALL_TTL
from ivr.vocabulary import BridgeEnded, Connect, End, Facts, Handover, Heard, Silence
from tests.report_oracle import (
    CENTERS,
    FLOWS,
    FLOWS_DIR,
    HOW,
    NOV1,
    NOV30,
    Sim,
    a_month,
    assert_matches,
    bridged_fields,
    ev,
    expected,
    iso,
)


@pytest.fixture(scope="module")
def month() -> tuple[Sim, list[dict[str, str]], dict[str, str]]:
    return a_month()


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


def test_calls_added_up_as_they_complete_give_the_same_figures(month):
    """With stream ids (Redis's append time) the pass adds a call up once the stream has gone
    ``quiet`` past its latest entry; the figures are those of holding every call to the end,
    even with a quiet just longer than the generator's spool delays (30 minutes)."""
    sim, _, _ = month
    whole = build_report(sim.events(), NOV1, NOV30)  # no ids: every call held to the end
    entries = sim.entries()
    for quiet in (QUIET, timedelta(hours=1)):
        assert build_report(as_events(entries), NOV1, NOV30, quiet=quiet) == whole
        assert render(build_report(as_events(entries), NOV1, NOV30, quiet=quiet), "text") == render(
            whole, "text"
        )
    # and the early adding up is live: a quiet shorter than a call splits calls
    split = build_report(as_events(entries), NOV1, NOV30, quiet=timedelta(0))
    assert split.source.calls_without_received > whole.source.calls_without_received


def anchors(first_ms: int, last_ms: int, n: int) -> list[tuple[str, list[str]]]:
    """n anchor entries spread over [first_ms, last_ms]: the stream's clock moving on."""
    step = (last_ms - first_ms) // n
    return [(f"{first_ms + i * step}-0", ["step", "anchor"]) for i in range(1, n + 1)]


def test_an_entry_later_than_the_quiet_is_a_call_of_its_own():
    """A spool replayed after the call's step set expired (store.CALL_TTL) appends an entry
    the record no longer links to its call: it counts as a call without a 'received'."""

    def ms(e: dict[str, str]) -> int:
        return int(datetime.fromisoformat(e["at"]).timestamp() * 1000)

    def entry(e: dict[str, str], at_ms: int) -> tuple[str, list[str]]:
        return (f"{at_ms}-0", [x for pair in e.items() for x in pair])

    first = [received("A"), bridged("A", 5, "scranton")]
    late = ev("A", at(10), "bridge_ended", status="busy", outcome="failed")
    t0 = ms(first[-1])
    stream = [entry(e, ms(e)) for e in first]
    stream += anchors(t0, t0 + 4 * 86_400_000, 2 * 1024)  # four days of other entries
    stream.append(entry(late, t0 + 4 * 86_400_000 + 1))
    report = build_report(as_events(stream), NOV1, NOV30)
    assert report.source.calls_seen == 2 and report.source.calls_without_received == 1
    assert report.waits.by_center[0].answered == 1  # the bridge's end never reached it
    # within the quiet the same entry ends the call's bridge
    soon = stream[:2] + anchors(t0, t0 + 86_400_000, 2 * 1024) + [entry(late, t0 + 86_400_000 + 1)]
    report = build_report(as_events(soon), NOV1, NOV30)
    assert report.source.calls_seen == 1 and report.waits.by_center[0].answered == 0


def test_the_quiet_outlasts_the_calls_own_keys():
    assert QUIET >= timedelta(seconds=CALL_TTL)


def peak_bytes(entries: list[tuple[str, list[str]]], start: date, end: date, **kwargs: Any) -> int:
    tracemalloc.start()
    try:
        build_report(as_events(entries), start, end, **kwargs)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_period():
    """Four times the days at the same rate of calls: about the same peak, as only the calls
    of the last few days are held; holding every call (a quiet longer than the period) grows
    with the period. Nothing about time is asserted."""
    begin = datetime(2026, 9, 1, tzinfo=UTC)
    peaks = {}
    for days in (10, 40):
        entries = Sim(days).month(100 * days, begin, begin + timedelta(days=days)).entries()
        end = (begin + timedelta(days=days - 1)).date()
        peaks[days] = peak_bytes(entries, begin.date(), end)
        peaks[days, "held"] = peak_bytes(entries, begin.date(), end, quiet=timedelta(days=1000))
    assert peaks[40] < 1.5 * peaks[10], peaks
    assert peaks[40, "held"] > 2.5 * peaks[10, "held"], peaks


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError):
        build_report([], NOV30, NOV1)
    with pytest.raises(ValueError):
        render(build_report([], NOV1, NOV1), "pdf")


# -- semantics, case by case -------------------------------------------------------------------


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
    return ev(call, at(seconds), "bridged", **{**bridged_fields(center), **fields})


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


def test_a_flow_no_call_was_received_for_is_warned_about(month):
    report = build_report(month[1], NOV1, NOV30, flow="suport")
    assert report.volume.calls_received == 0
    assert "No call of flow 'suport' was received in this period" in render(report, "text")
    assert "No call of flow &#x27;suport&#x27; was received" in render(report, "html")
    assert "No call of flow" not in render(build_report(month[1], NOV1, NOV30, flow="support"), "text")


def test_every_domestic_request_has_one_outcome_and_none_ends_offshore():
    """Section 3b: bridge, callback (with its time), voicemail, caller gone, open, failed, not
    honoured (with a reason), and offshore, which must stay 0."""

    def asked(call: str) -> list[dict[str, str]]:
        return [received(call), ev(call, at(5), "transfer_requested", how="key 1", by="key", center="manila")]

    def home_bridge(call: str, outcome: str, seconds: float = 10) -> list[dict[str, str]]:
        return [
            ev(
                call,
                at(seconds),
                "bridged",
                center="scranton",
                city="Scranton",
                country="US",
                domestic="true",
            ),
            ev(call, at(seconds + 30), "bridge_ended", status="x", outcome=outcome, center="scranton"),
        ]

    events = [
        *asked("CA1"),
        *home_bridge("CA1", "answered"),
        *asked("CA2"),
        ev("CA2", at(6), "domestic_choice", center="scranton", reason="closed"),
        ev("CA2", at(7), "callback_requested", center="scranton", number="caller-id"),
        ev("CA2", at(3600), "callback_answered", waited="3595", center="scranton"),
        ev("CA2", at(3700), "callback_bridged", outcome="answered", state="done", center="scranton"),
        *asked("CA3"),
        ev("CA3", at(6), "domestic_choice", center="scranton", reason="closed"),
        ev("CA3", at(60), "voicemail_left", recording="RE1", center="scranton"),
        *asked("CA4"),
        *home_bridge("CA4", "gone"),
        *asked("CA5"),
        ev("CA5", at(7), "callback_requested", center="scranton", number="keyed"),
        *asked("CA6"),
        ev("CA6", at(7), "callback_requested", center="scranton", number="keyed"),
        ev("CA6", at(900), "callback_failed", reason="no-answer (3 attempts)", final="true"),
        *asked("CA7"),
        ev("CA7", at(8), "unavailable", reason="no domestic center"),
        received("CA8"),  # no request: not counted
    ]
    d = build_report(events, NOV1, NOV30).domestic
    assert (d.requests, d.by_bridge, d.by_callback, d.by_voicemail, d.caller_gone) == (7, 1, 1, 1, 1)
    assert (d.callbacks_open, d.callbacks_failed, d.not_honoured, d.offshore) == (1, 1, 1, 0)
    assert d.seconds_to_callback_p50 == 3595.0
    assert d.unresolved == [
        "CA6 callback failed: no-answer (3 attempts)",
        "CA7 not honoured: no domestic center",
    ]
    offshore = [
        *asked("CA9"),
        ev("CA9", at(10), "bridged", center="manila", city="Manila", country="PH", domestic="false"),
        ev("CA9", at(40), "bridge_ended", status="bridged", outcome="answered", center="manila"),
    ]
    assert build_report(offshore, NOV1, NOV30).domestic.offshore == 1
    text = render(build_report(events, NOV1, NOV30), "text")
    assert "Honoured by a callback" in text and "Ended offshore (must be 0)" in text
