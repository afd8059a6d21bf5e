"""Flows as real IVRs, in the engine and in TwiML: menus, business hours, hand-offs, audio.

Plain table tests like test_engine: flows are built as data, the clock is fixed, and the
engine's actions and evidence are read directly; each TwiML answer is rendered and checked
against the SDK's vocabulary. The rule that runs through them: after a disclosure the
transfer key and words win over any menu (R7, R9). The last tests play the shipped support
line through the webhooks with the phone that signs like Twilio.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest

from ivr.caller import Caller
from ivr.engine import begin, resume
from ivr.flow import (
    Bridge,
    Center,
    Disclose,
    Domestic,
    Flow,
    Handoff,
    Hangup,
    Hours,
    Menu,
    Route,
    Say,
    Target,
)
from ivr.hours import Closure, Schedule, parse_hours
from ivr.twiml import render
from ivr.vocabulary import (
    TRANSFER,
    Ask,
    BridgeEnded,
    Call,
    Connect,
    End,
    Facts,
    Handover,
    Heard,
    Play,
    Silence,
    Speak,
    Turn,
)
from tests.conftest import SUPPORT as SUPPORT_LINE
from tests.twiml_check import assert_valid_twiml

# Wednesday 4 March 2026, 17:00 UTC: already 01:00 on Thursday in Manila, noon in New York.
NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
MANILA = Center(
    "manila",
    "Acme Manila",
    "Manila",
    "PH",
    ZoneInfo("Asia/Manila"),
    parse_hours("24/7"),
    Target("queue", "acme-manila"),
)
SCRANTON = Center(
    "scranton",
    "Acme Scranton",
    "Scranton",
    "US",
    ZoneInfo("America/New_York"),
    parse_hours("24/7"),
    Target("number", "+15705550123"),
)
CENTERS = {c.id: c for c in (MANILA, SCRANTON)}

PROMPT = "For billing, press 2 or say billing. For technical support, press 3."
MAIN = Menu(
    "main",
    PROMPT,
    {"2": "billing", "3": "support"},
    no_input="quiet",
    invalid="lost",
    words={"en": {"billing": "billing", "support": "support", "tech support": "tech"}},
)
STATES = {
    s.name: s
    for s in (
        MAIN,
        Say("billing", "Billing.", "route"),
        Say("support", "Support.", "route"),
        Say("tech", "Technical support.", "route"),
        Hangup("quiet", "We did not hear you."),
        Hangup("lost", "We did not understand."),
        Route("route", ("manila", "scranton"), "disclose", "sorry"),
        Disclose(
            "disclose",
            "Your agent is in {city}, {country}.",
            "For an agent in {home_country}, press {key} or say 'agent'.",
            "bridge",
        ),
        Bridge("bridge", on_failure="sorry"),
        Domestic("domestic", on_failure="sorry"),
        Hangup("sorry", "Sorry."),
    )
}
FLOW = Flow("ivr", 2, "main", "scranton", STATES)


def facts(**kw) -> Facts:
    return Facts("CA" + "0" * 32, NOW, kw.pop("centers", CENTERS), "US", **kw)


def of_kind(turn: Turn, kind: type) -> list:
    return [a for a in turn.actions if isinstance(a, kind)]


def fields(turn: Turn, step: str) -> list[dict[str, str]]:
    return [dict(e.fields) for e in turn.events if e.step == step]


def twiml(turn: Turn) -> ET.Element:
    """The turn as Twilio gets it, checked to be valid TwiML."""
    return assert_valid_twiml(render(tuple(turn.actions)))


def with_states(*states, start: str = "main") -> Flow:
    return replace(FLOW, start=start, states={**STATES, **{s.name: s for s in states}})


# --- menus -----------------------------------------------------------------------------------


def test_menu_asks_for_keys_and_words_with_the_words_as_hints():
    turn = begin(FLOW, facts())

    ask = turn.actions[-1]
    assert isinstance(ask, Ask)
    assert (ask.text, ask.key) == (PROMPT, "")  # no disclosure yet: the transfer is not live
    assert ask.hints == ("billing", "support", "tech support")
    assert ask.then == turn.call and (turn.call.state, turn.call.seq) == ("main", 1)
    root = twiml(turn)
    gather = root.find("Gather")
    assert gather.get("input") == "dtmf speech" and gather.get("numDigits") == "1"
    assert gather.get("hints") == "billing, support, tech support"
    assert gather.find("Say").text == PROMPT
    assert root.find("Redirect").text == gather.get("action")  # no input: the step sees Silence


@pytest.mark.parametrize(
    "reply, to, heard",
    [
        (Heard(digits="2"), "Billing.", "key 2"),
        (Heard(digits="3"), "Support.", "key 3"),
        (Heard(speech="Billing, please."), "Billing.", "said 'billing'"),
        (Heard(speech="I need tech support"), "Technical support.", "said 'tech support'"),
        (Heard(speech="billing, my number is 570 555 0123"), "Billing.", "said 'billing'"),
        (Heard(digits="2345"), "Billing.", "key 2"),
        (Heard(speech="support"), "Support.", "said 'support'"),
    ],
)
def test_menu_choice_by_key_or_word_goes_to_its_state(reply, to, heard):
    turn = resume(FLOW, begin(FLOW, facts()).call, reply, facts())

    assert of_kind(turn, Speak)[0].text == to
    assert fields(turn, "menu")[0]["input"] == heard
    assert turn.call.misses == 0


@pytest.mark.parametrize(
    "reply, branch, text, heard",
    [
        (Silence(), "quiet", "We did not hear you.", "silence"),
        (Heard(digits="7"), "lost", "We did not understand.", "key 7"),
        (Heard(speech="my bill is wrong"), "lost", "We did not understand.", "unrecognised"),
        (Heard(speech="my card is 4111 1111 1111 1111"), "lost", "We did not understand.", "unrecognised"),
    ],
)
def test_menu_prompts_again_until_its_retries_are_used_then_branches(reply, branch, text, heard):
    turn = begin(FLOW, facts())
    for attempt in range(1, MAIN.retries + 1):
        turn = resume(FLOW, turn.call, reply, facts())
        assert of_kind(turn, Ask)[0].text == PROMPT
        assert (turn.call.state, turn.call.misses) == ("main", attempt)
        assert fields(turn, "menu")[0] == {"state": "main", "input": heard, "result": "retry"}

    turn = resume(FLOW, turn.call, reply, facts())

    assert turn.actions == [Speak(text, "en-US", ""), End()]
    assert fields(turn, "menu")[0] == {"state": "main", "input": heard, "result": branch}


def test_menu_without_retries_branches_at_once():
    flow = with_states(replace(MAIN, retries=0))
    turn = resume(flow, begin(flow, facts()).call, Silence(), facts())

    assert of_kind(turn, Speak)[0].text == "We did not hear you."


def test_transfer_key_is_an_ordinary_option_before_any_disclosure():
    flow = with_states(replace(MAIN, options={"1": "billing"}))
    turn = resume(flow, begin(flow, facts()).call, Heard(digits="1"), facts())

    assert of_kind(turn, Speak)[0].text == "Billing."
    assert "transfer_requested" not in [e.step for e in turn.events]


def after_disclosure_flow() -> Flow:
    """route -> disclose -> hold_menu -> bridge: a menu the caller reaches after hearing Manila."""
    hold_menu = Menu(
        "hold_menu",
        "To wait for the next agent, press 2.",
        {"2": "bridge"},
        no_input="bridge",
        invalid="bridge",
        words={"en": {"wait": "bridge"}},
    )
    disclose = replace(STATES["disclose"], next="hold_menu")
    return with_states(hold_menu, disclose, start="route")


def at_the_menu_after_disclosure(flow: Flow) -> Turn:
    disclosed = begin(flow, facts())
    assert disclosed.call.heard == "Manila|PH"
    return resume(flow, disclosed.call, Silence(), facts())


def test_menu_after_a_disclosure_listens_for_the_transfer_too():
    flow = after_disclosure_flow()
    ask = at_the_menu_after_disclosure(flow).actions[-1]

    assert isinstance(ask, Ask) and ask.key == "1"
    assert ask.hints == ("agent", "united states", "america", "wait")


@pytest.mark.parametrize(
    "reply, how",
    [
        (Heard(digits="1"), "key 1"),
        (Heard(speech="an agent in America"), "said 'america'"),
    ],
)
def test_after_a_disclosure_the_transfer_wins_over_the_menu(reply, how):
    flow = after_disclosure_flow()
    turn = resume(flow, at_the_menu_after_disclosure(flow).call, reply, facts())

    connect = of_kind(turn, Connect)[0]
    assert (connect.center, connect.domestic) == ("scranton", True)
    assert fields(turn, "transfer_requested")[0]["how"] == how
    assert (turn.call.state, turn.call.domestic) == (TRANSFER, True)
    twiml(turn)


def test_menu_after_a_disclosure_still_bridges_the_disclosed_center():
    flow = after_disclosure_flow()
    turn = resume(flow, at_the_menu_after_disclosure(flow).call, Heard(digits="2"), facts())

    connect = of_kind(turn, Connect)[0]
    assert (connect.center, connect.domestic) == ("manila", False)
    assert of_kind(turn, Ask) == []  # Manila was disclosed already


def test_evidence_keys_stay_unique_when_a_menu_is_visited_again_and_again():
    loop = Say("lost", "Let us try again.", "main")
    flow = with_states(replace(MAIN, retries=0), loop)
    turns = [begin(flow, facts())]
    for _ in range(5):
        turns.append(resume(flow, turns[-1].call, Heard(digits="8"), facts()))
    keys = [e.key for t in turns for e in t.events]

    assert len(keys) == 5 and len(set(keys)) == 5, keys


# --- business hours ----------------------------------------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")
OFFICE = parse_hours({"mon-fri": "09:00-17:00"})


def hours_flow(state: Hours) -> Flow:
    return with_states(
        state, Say("open", "We are open.", "main"), Hangup("closed", "We are closed."), start=state.name
    )


@pytest.mark.parametrize(
    "schedule, is_open",
    [
        (Schedule(NEW_YORK, OFFICE), True),  # noon on a Wednesday
        (Schedule(NEW_YORK, parse_hours({"sat-sun": "09:00-17:00"})), False),
        (Schedule(NEW_YORK, OFFICE, holidays=frozenset({date(2026, 3, 4)})), False),
        (
            Schedule(
                NEW_YORK,
                OFFICE,
                closures=(Closure(datetime(2026, 3, 4, 11, 30), datetime(2026, 3, 4, 12, 30)),),
            ),
            False,
        ),
        (
            Schedule(
                NEW_YORK, OFFICE, closures=(Closure(datetime(2026, 3, 4, 8, 0), datetime(2026, 3, 4, 12, 0)),)
            ),
            True,
        ),  # ended
    ],
)
def test_hours_state_branches_on_its_own_schedule(schedule, is_open):
    turn = begin(hours_flow(Hours("office", "open", "closed", schedule=schedule)), facts())

    assert of_kind(turn, Speak)[0].text == ("We are open." if is_open else "We are closed.")
    assert fields(turn, "hours") == [{"state": "office", "open": str(is_open).lower(), "center": ""}]


@pytest.mark.parametrize(
    "holiday, is_open",
    [
        (date(2026, 3, 4), True),  # the 4th is over in Manila
        (date(2026, 3, 5), False),  # Manila's own date
    ],
)
def test_hours_state_uses_the_centers_holidays_in_the_centers_time_zone(holiday, is_open):
    manila = replace(MANILA, holidays=frozenset({holiday}))
    turn = begin(
        hours_flow(Hours("office", "open", "closed", center="manila")),
        facts(centers={**CENTERS, "manila": manila}),
    )

    assert of_kind(turn, Speak)[0].text == ("We are open." if is_open else "We are closed.")


def test_hours_state_naming_a_center_the_store_lacks_is_closed():
    turn = begin(
        hours_flow(Hours("office", "open", "closed", center="manila")), facts(centers={"scranton": SCRANTON})
    )

    assert of_kind(turn, Speak)[0].text == "We are closed."


def test_routing_skips_a_center_on_holiday():
    manila = replace(MANILA, holidays=frozenset({date(2026, 3, 4), date(2026, 3, 5)}))
    turn = begin(FLOW, facts(centers={**CENTERS, "manila": manila}))
    turn = resume(FLOW, turn.call, Heard(digits="2"), facts(centers={**CENTERS, "manila": manila}))

    assert of_kind(turn, Connect)[0].center == "scranton"
    assert fields(turn, "routed")[0]["center"] == "scranton"


# --- hand-off and audio ------------------------------------------------------------------------

LEGACY = "https://ivr.acme.example.com/twiml/orders?from=onshore&lang=en"


def test_handoff_redirects_to_the_companys_application_and_records_it():
    flow = with_states(Handoff("orders", LEGACY), replace(MAIN, options={"2": "orders"}))
    turn = resume(flow, begin(flow, facts()).call, Heard(digits="2"), facts())

    assert turn.actions == [Handover(LEGACY)]
    assert fields(turn, "handoff") == [{"url": LEGACY, "center": "", "heard": "", "language": "en-US"}]
    root = twiml(turn)
    assert [(v.tag, v.text, v.get("method")) for v in root] == [("Redirect", LEGACY, "POST")]


def test_handoff_after_a_disclosure_records_what_the_caller_heard():
    flow = after_disclosure_flow()
    flow = with_states(
        flow.states["hold_menu"], flow.states["disclose"], Handoff("bridge", LEGACY), start="route"
    )
    turn = resume(flow, at_the_menu_after_disclosure(flow).call, Heard(digits="2"), facts())

    assert fields(turn, "handoff")[0] | {"url": ""} == {
        "url": "",
        "center": "manila",
        "heard": "Manila|PH",
        "language": "en-US",
    }


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Welcome.", ["Say", "Play", "Gather", "Redirect"]),
        ("", ["Play", "Gather", "Redirect"]),
    ],
)
def test_say_state_plays_audio_after_its_text(text, expected):
    chime = "https://media.acme.example.com/chime.mp3"
    flow = with_states(Say("hello", text, "main", play=chime), start="hello")
    turn = begin(flow, facts())

    assert Play(chime) in turn.actions
    root = twiml(turn)
    assert [v.tag for v in root] == expected
    assert root.find("Play").text == chime


# --- step URLs -----------------------------------------------------------------------------------


def test_call_with_language_seq_and_misses_round_trips_through_the_step_url():
    call = Call("ivr", 2, "main", language="es", seq=12, misses=1)

    assert call.to_query() == {"f": "ivr", "v": "2", "s": "main", "l": "es", "n": "12", "m": "1"}
    assert Call.from_query(call.to_query()) == call


def test_failed_domestic_state_goes_on_failure_with_unique_keys():
    flow = with_states(replace(MAIN, options={"2": "domestic"}))
    asked = resume(flow, begin(flow, facts()).call, Heard(digits="2"), facts())
    failed = resume(flow, asked.call, BridgeEnded("busy"), facts())

    assert failed.actions == [Speak("Sorry.", "en-US", ""), End()]
    keys = [e.key for t in (asked, failed) for e in t.events]
    assert len(keys) == len(set(keys))


# --- the shipped support line, through the webhooks, as Twilio plays it ------------------------

MANILA_CALL = "CA" + "0" * 31 + "1"  # the support route's weighted choice for this CallSid: Manila


def test_support_line_in_spanish_discloses_filipinas_and_transfers_on_agente(phone):
    transcript = phone.call(Caller(SUPPORT_LINE, press="2,1", say="agente", call_sid=MANILA_CALL))

    assert "Gracias por llamar al soporte de Acme Wireless." in transcript.heard
    heard = transcript.heard
    at = heard.index("Su llamada será atendida por nuestro equipo en Manila, Filipinas.")
    assert heard[at + 1] == "Para hablar con un agente en Estados Unidos, oprima 1 o diga 'agente'."
    assert transcript.bridges == [("number", "+15705550123")]
    for document in transcript.documents:
        assert_valid_twiml(document)


def test_support_line_hands_order_questions_to_the_companys_own_application(phone):
    transcript = phone.call(Caller(SUPPORT_LINE, press="1,2"))

    assert transcript.handoffs == ["https://ivr.acme.example.com/twiml/orders"]
    assert transcript.bridges == []
