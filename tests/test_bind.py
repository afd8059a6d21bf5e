"""Where the agent behind each path sits (``ivr.check.site_problems``) and the disclosure at
a TaskRouter reservation (``ivr.bind``), as plain tables: no Redis, no HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr import bind, fallback
from ivr.bridges import bridge
from ivr.check import check_folder, flow_problems, offshore_centers, site_problems
from ivr.engine import begin, resume
from ivr.errors import UnsafeBridge
from ivr.flow import TRANSFER_WORDS, Bridge, Center, Config, Disclose, Domestic, Flow, Language, Route, Target
from ivr.hours import parse_hours
from ivr.vocabulary import Ask, BridgeEnded, Call, Connect, End, Facts, Heard, Silence, Speak, Turn


def center(cid: str, city: str, country: str, target: Target | None = None) -> Center:
    zone = ZoneInfo("UTC")
    return Center(cid, cid, city, country, zone, parse_hours("24/7"), target or Target("queue", cid))


SITES = ("manila", "bangalore", "scranton")
CENTERS = {
    c.id: c
    for c in (
        center("manila", "Manila", "PH"),
        center("bangalore", "Bangalore", "IN"),
        center("scranton", "Scranton", "US", Target("number", "+15705550123")),
        center("anywhere", "Manila", "PH", Target("workflow", "WW" + "1" * 32, sites=SITES)),
    )
}
FLOW = Flow(
    "support",
    1,
    "disclose",
    "scranton",
    {
        "disclose": Disclose(
            "disclose",
            "Your call will be answered by our team in {city}, {country}.",
            "To speak with an agent in {home_country}, press {key} or say 'agent'.",
            "bridge",
        ),
        "bridge": Bridge("bridge", on_failure="home"),
        "home": Domestic("home"),
    },
    languages=(Language("en-US", "Polly.Joanna", TRANSFER_WORDS["en"]),),
)
NOW = datetime(2026, 11, 30, 15, tzinfo=UTC)
FACTS = Facts("CA" + "a" * 32, NOW, CENTERS)
# The call as the bridge enqueued it: Manila's location heard at the entry disclosure.
CALL = Call("support", 1, "bridge", center="anywhere", tried=("anywhere",), heard="Manila|PH", seq=3)


def reservation(site: str) -> bind.Reservation:
    return bind.Reservation(
        "WS" + "1" * 32, "WT" + "2" * 32, "WR" + "3" * 32, "WK" + "4" * 32, site, "+18005550100", "bridge"
    )


def at(site: str, call: Call = CALL, reply: object = None, facts: Facts = FACTS) -> bind.Bound:
    return bind.at_reservation(FLOW, call, reservation(site), facts, reply)  # type: ignore[arg-type]


def steps(bound: bind.Bound) -> list[str]:
    return [event.step for event in bound.turn.events]


def fields(bound: bind.Bound, step: str) -> dict[str, str]:
    return next(dict(e.fields) for e in bound.turn.events if e.step == step)


# --- ivr check: where agents sit -----------------------------------------------------


def problems(centers: dict[str, Center]) -> list[tuple[str, str, str]]:
    return list(site_problems(Config(centers, {}, {})))


def test_a_workflow_center_without_sites_is_refused() -> None:
    centers = {**CENTERS, "anywhere": center("anywhere", "Manila", "PH", Target("workflow", "WW" + "1" * 32))}
    assert [(c, f) for c, f, _ in problems(centers)] == [("anywhere", "connect.sites")]


def test_a_site_must_be_a_known_center_of_its_own() -> None:
    shared = Target("workflow", "WW" + "1" * 32, sites=("manila", "lagos", "anywhere"))
    found = problems({**CENTERS, "anywhere": center("anywhere", "Manila", "PH", shared)})
    assert [m for _, _, m in found] == [
        "names unknown center 'lagos'",
        "'anywhere' is itself shared; a site is one place",
    ]


def test_a_queue_used_by_centers_in_two_countries_must_be_declared_shared() -> None:
    centers = {
        "manila": center("manila", "Manila", "PH", Target("queue", "acme-all")),
        "bangalore": center("bangalore", "Bangalore", "IN", Target("queue", "acme-all")),
    }
    assert sorted((c, f) for c, f, _ in problems(centers)) == [
        ("bangalore", "connect.queue"),
        ("manila", "connect.queue"),
    ]
    declared = {
        "manila": center("manila", "Manila", "PH", Target("queue", "acme-manila")),
        "bangalore": center("bangalore", "Bangalore", "IN", Target("queue", "acme-bangalore")),
        "all": center("all", "Manila", "PH", Target("queue", "acme-all", sites=("manila", "bangalore"))),
    }
    assert problems(declared) == []


def test_a_queue_shared_within_one_country_needs_no_declaration() -> None:
    centers = {
        "scranton": center("scranton", "Scranton", "US", Target("queue", "acme-us")),
        "dallas": center("dallas", "Dallas", "US", Target("queue", "acme-us")),
    }
    assert problems(centers) == []


def test_a_shared_center_with_an_offshore_site_counts_as_offshore_even_if_its_own_city_is_home() -> None:
    home_named = center("anywhere", "Scranton", "US", Target("workflow", "WW" + "1" * 32, sites=SITES))
    assert "anywhere" in offshore_centers({**CENTERS, "anywhere": home_named}, "US")
    only_home = center("anywhere", "Scranton", "US", Target("workflow", "WW" + "1" * 32, sites=("scranton",)))
    assert "anywhere" not in offshore_centers({**CENTERS, "anywhere": only_home}, "US")


# --- the assignment callback ----------------------------------------------------------


def callback(site: object, call: Call = CALL) -> dict[str, str]:
    task = {
        "center": "anywhere",
        bind.TASK_KEY: call.to_query(),
        "call_sid": FACTS.call_sid,
        "to": "+18005550100",
    }
    return {
        "WorkspaceSid": "WS" + "1" * 32,
        "TaskSid": "WT" + "2" * 32,
        "ReservationSid": "WR" + "3" * 32,
        "WorkerSid": "WK" + "4" * 32,
        "WorkerAttributes": json.dumps({"site": site, "contact_uri": "+639170000000"}),
        "TaskAttributes": json.dumps(task),
    }


def test_the_callback_gives_the_reservation_the_call_and_a_redirect_that_leaves_it_pending() -> None:
    parsed = bind.assignment(callback("bangalore"))
    assert parsed is not None
    res, call, call_sid = parsed
    assert (res.site, res.number, res.bridge, call_sid) == (
        "bangalore",
        "+18005550100",
        "bridge",
        FACTS.call_sid,
    )
    assert call == CALL._replace(state=res.state)
    url = bind.reserved_url("https://ivr.example.com", CALL, res)
    assert bind.redirect(call_sid, url) == {
        "instruction": "redirect",
        "call_sid": call_sid,
        "url": url,
        "accept": False,
    }
    query = dict(pair.split("=", 1) for pair in url.split("?", 1)[1].split("&"))
    assert bind.Reservation.from_query(query) == res
    assert Call.from_query(query) == CALL


@pytest.mark.parametrize("site", [None, 7, "", "no spaces allowed", "x" * 65])
def test_a_worker_site_onshore_cannot_read_is_kept_as_unknown(site: object) -> None:
    parsed = bind.assignment(callback(site))
    assert parsed is not None and parsed[0].site == ""


def test_a_task_onshore_did_not_create_is_not_onshore_s() -> None:
    form = callback("manila")
    form["TaskAttributes"] = json.dumps({"call_sid": FACTS.call_sid})
    assert bind.assignment(form) is None
    assert bind.assignment({**form, "TaskAttributes": "not json"}) is None


# --- the caller's leg at a reservation -------------------------------------------------


def test_a_worker_in_another_country_than_the_one_heard_is_disclosed_with_the_offer() -> None:
    bound = at("bangalore")
    assert (bound.join, bound.cancel) == (False, "")
    speak, ask = bound.turn.actions
    assert isinstance(speak, Speak) and isinstance(ask, Ask)
    assert speak.text == "Your call will be answered by our team in Bangalore, India."
    assert ask.text == "To speak with an agent in the United States, press 1 or say 'agent'."
    assert ask.then.heard == "Bangalore|IN" and ask.then.state == reservation("bangalore").state
    assert steps(bound) == ["reserved", "disclosed", "offered"]
    assert fields(bound, "reserved")["site"] == "bangalore"
    assert fields(bound, "disclosed")["bind"] == "reservation"


def test_silence_after_the_whole_offer_calls_the_worker_and_their_answer_joins_the_caller() -> None:
    asked = at("bangalore").turn.actions[1]
    assert isinstance(asked, Ask)
    bound = at("bangalore", asked.then, Silence())
    assert bound.join and not bound.cancel and bound.turn.actions == []
    assert fields(bound, "consented")["center"] == "bangalore"
    # while the worker is called: the offer and music, the key live; the key goes home
    waiting = bind.holding(FLOW, asked.then, reservation("bangalore"), FACTS, Silence())
    assert waiting.hold and not waiting.cancel and waiting.turn.events == []
    lines = bind.hold_lines(FLOW, FACTS, asked.then)
    assert isinstance(lines[0], Speak) and "press 1 at any time" in lines[0].text
    home = bind.holding(FLOW, asked.then, reservation("bangalore"), FACTS, Heard("1"))
    assert home.cancel and isinstance(home.turn.actions[-1], Connect) and home.turn.actions[-1].domestic
    assert fields(home, "transfer_requested")["by"] == "hold"
    joined = bind.joined(asked.then, reservation("bangalore"), FACTS)
    assert dict(joined.events[0].fields) == {
        "center": "bangalore",
        "city": "Bangalore",
        "country": "IN",
        "region": "",
        "conference": "WR" + "3" * 32,
        "worker": "WK" + "4" * 32,
    }


@pytest.mark.parametrize("reply", [Heard("1"), Heard(speech="agent please")])
def test_the_caller_asking_for_home_at_the_reservation_goes_home_and_the_task_is_canceled(
    reply: Heard,
) -> None:
    asked = at("bangalore").turn.actions[1]
    assert isinstance(asked, Ask)
    bound = at("bangalore", asked.then, reply)
    assert bound.cancel == "the caller asked for the domestic line" and not bound.join
    (connect,) = bound.turn.actions
    assert isinstance(connect, Connect) and connect.center == "scranton" and connect.domestic
    assert fields(bound, "transfer_requested")["by"] in ("key", "voice")


def test_a_key_that_is_not_the_transfer_hears_the_offer_again_then_goes_home() -> None:
    asked = at("bangalore").turn.actions[1]
    assert isinstance(asked, Ask)
    call = asked.then
    for _ in range(2):  # the disclosure's retries
        bound = at("bangalore", call, Heard("5"))
        (again,) = bound.turn.actions
        assert isinstance(again, Ask)
        call = again.then
    bound = at("bangalore", call, Heard("5"))
    assert bound.cancel == "no consent at the reservation's offer"
    assert isinstance(bound.turn.actions[0], Connect) and bound.turn.actions[0].domestic


def test_the_site_already_heard_is_not_said_twice() -> None:
    bound = at("manila")
    assert bound.join and bound.turn.actions == []
    assert fields(bound, "exempt")["reason"] == "already-disclosed"


def test_a_domestic_worker_needs_no_disclosure() -> None:
    bound = at("scranton")
    assert bound.join and bound.turn.actions == []
    assert fields(bound, "exempt")["reason"] == "domestic-center"
    assert fields(bound, "reserved")["domestic"] == "true"


@pytest.mark.parametrize("site", ["", "lagos", "anywhere"])
def test_a_site_onshore_cannot_place_is_refused_safely(site: str) -> None:
    centers = {**CENTERS, "lagos": center("lagos", "Lagos", "NG")}  # a center, but not a site
    bound = at(site, facts=Facts(FACTS.call_sid, NOW, centers))
    assert bound.cancel and not bound.join
    assert steps(bound)[0] == "reservation_refused"
    assert isinstance(bound.turn.actions[0], Connect) and bound.turn.actions[0].center == "scranton"


def test_each_reservation_keys_its_evidence_apart() -> None:
    first = at("bangalore")
    second = bind.at_reservation(FLOW, CALL, bind.Reservation(**_other()), FACTS, None)
    assert not {e.key for e in first.turn.events} & {e.key for e in second.turn.events}


def _other() -> dict[str, str]:
    return {
        "workspace": "WS" + "1" * 32,
        "task": "WT" + "2" * 32,
        "reservation": "WR" + "5" * 32,
        "worker": "WK" + "6" * 32,
        "site": "bangalore",
        "number": "+18005550100",
        "bridge": "bridge",
    }


def test_the_conference_ending_ends_the_call_and_a_failed_one_goes_home() -> None:
    res = reservation("bangalore")

    done = bind.conference_ended(FLOW, CALL, res, FACTS, BridgeEnded("answered"))
    assert isinstance(done.actions[-1], End)
    assert dict(done.events[0].fields)["center"] == "bangalore"
    failed = bind.conference_ended(FLOW, CALL, res, FACTS, BridgeEnded("failed"))
    assert isinstance(failed.actions[0], Connect) and failed.actions[0].domestic


# --- the proof and the engine before a shared center's bridge ---------------------------


def shared_flow(disclose: bool, sites: tuple[str, ...] = SITES) -> tuple[Flow, Config]:
    centers = {
        **CENTERS,
        "anywhere": center("anywhere", "Scranton", "US", Target("workflow", "WW" + "1" * 32, sites=sites)),
    }
    states = {
        "route": Route("route", ("anywhere",), "disclose" if disclose else "bridge", "home"),
        "disclose": FLOW.states["disclose"],
        "bridge": Bridge("bridge", on_failure="home"),
        "home": Domestic("home"),
    }
    flow = Flow("support", 1, "route", "scranton", states, languages=FLOW.languages)
    return flow, Config(centers, {}, {"support": flow})


def test_the_proof_refuses_a_bridge_into_a_shared_center_with_an_offshore_site_without_a_disclosure() -> None:
    flow, config = shared_flow(disclose=False)
    found = [(w, m) for w, _, m in flow_problems(flow, config, "US") if "without a disclosure" in m]
    assert found and "state 'bridge'" in found[0][0]
    flow, config = shared_flow(disclose=True)
    assert not [m for _, _, m in flow_problems(flow, config, "US") if "disclosure" in m]
    flow, config = shared_flow(disclose=False, sites=("scranton",))  # every site at home
    assert not [m for _, _, m in flow_problems(flow, config, "US") if "disclosure" in m]


def test_the_engine_names_every_site_before_a_shared_bridge_and_refuses_one_without_it() -> None:
    flow, config = shared_flow(disclose=True)
    facts = Facts(FACTS.call_sid, NOW, config.centers)
    turn = begin(flow, facts)
    said = [a.text for a in turn.actions if isinstance(a, Speak)]
    assert said == [
        "Your call will be answered by one of our teams in Manila, the Philippines, "
        "Bangalore, India, or Scranton, the United States."
    ]
    disclosed = next(dict(e.fields) for e in turn.events if e.step == "disclosed")
    assert disclosed["sites"] == "manila.bangalore.scranton"
    asked = turn.actions[-1]
    assert isinstance(asked, Ask) and asked.then.heard == "anywhere|shared"
    bridged = resume(flow, asked.then, Silence(), facts)
    connect = bridged.actions[-1]
    assert isinstance(connect, Connect) and connect.target.kind == "workflow" and not connect.domestic
    undisclosed, config = shared_flow(disclose=False)
    with pytest.raises(UnsafeBridge):
        bridge(
            undisclosed,
            Turn(Call("support", 1, "bridge", center="anywhere")),
            facts,
            undisclosed.states["bridge"],
            None,
        )  # type: ignore[arg-type]


def test_the_fallback_document_names_the_countries_of_a_shared_center_s_sites() -> None:
    config, _, errors = check_folder(Path(__file__).resolve().parent / "taskrouter_flows", "US")
    assert not errors
    pooled = config.numbers["+18005550111"]
    lines, _ = fallback._notice(config.flows[pooled.flow], pooled, config, "US")
    assert "India and the Philippines" in lines[0].text


def test_the_task_s_age_dates_the_caller_s_wait_and_travels_in_the_reservation_url() -> None:
    form = {**callback("bangalore"), "TaskAge": "42"}
    parsed = bind.assignment(form, NOW.timestamp())
    assert parsed is not None
    res = parsed[0]
    assert res.created == int(NOW.timestamp()) - 42
    url = bind.reserved_url("https://ivr.example.com", CALL, res)
    query = dict(pair.split("=", 1) for pair in url.split("?", 1)[1].split("&"))
    assert bind.Reservation.from_query(query) == res
    assert bind.assignment(form)[0].created == 0  # type: ignore[index]  # no clock: unknown
    assert bind.assignment({**form, "TaskAge": "soon"}, NOW.timestamp())[0].created == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("flow_limit", "center_limit", "age", "home"),
    [
        (0, 0, 10_000, False),  # no limit anywhere
        (600, 0, 599, False),
        (600, 0, 600, True),  # the flow's max_wait
        (600, 120, 121, True),  # the workflow center's own comes first
        (0, 120, 100, False),
    ],
)
def test_a_wait_for_a_reserved_worker_past_max_wait_goes_home_and_cancels_the_task(
    flow_limit: int, center_limit: int, age: int, home: bool
) -> None:
    from dataclasses import replace

    flow = replace(FLOW, max_wait=flow_limit)
    anywhere = replace(CENTERS["anywhere"], max_wait=center_limit)
    facts = Facts(FACTS.call_sid, NOW, {**CENTERS, "anywhere": anywhere})
    waited = replace(reservation("bangalore"), created=int(NOW.timestamp()) - age)
    call = CALL._replace(state=waited.state)
    bound = bind.holding(flow, call, waited, facts, Silence())
    assert bound.hold is not home and bool(bound.cancel) is home
    if home:
        limit = fields(bound, "wait_limit")
        assert (limit["queue_time"], limit["max_wait"], limit["bind"]) == (
            str(age),
            str(center_limit or flow_limit),
            "reservation",
        )
        assert isinstance(bound.turn.actions[-1], Connect) and bound.turn.actions[-1].domestic
    else:
        assert bound.turn.events == []
