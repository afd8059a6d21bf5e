"""Automated agents (R9, issue 15) and lines held at home (R19), on the engine as plain
tables, with the exact TwiML Twilio gets for a hand-off to a ConversationRelay bot."""

from __future__ import annotations

from dataclasses import replace
from xml.sax.saxutils import escape

from ivr.engine import begin, resume
from ivr.flow import Automated, Hangup, Route
from ivr.twiml import render, step_url
from ivr.vocabulary import BridgeEnded, Call, Connect, Relay, RelayEnded, Silence, Speak
from ivr.webhooks import _reply
from tests.test_engine import GREETING, SCRANTON, facts, fields, make_flow, only_connect, steps
from tests.twiml_check import assert_valid_twiml

NOTICE = (
    "You are speaking with an automated assistant, run from {city}, {country}. "
    "Say 'agent' at any time for a person in {home_country}."
)
HEARD = (
    "You are speaking with an automated assistant, run from Manila, the Philippines. "
    "Say 'agent' at any time for a person in the United States."
)
BOT = Automated("bot", "wss://bots.acme.example.com/relay", NOTICE, "PH", "Manila", next="thanks")


def bot_flow(bot: Automated = BOT):
    flow = make_flow(extra_states=(bot, Hangup("thanks", "Goodbye.")))
    return replace(flow, states={**flow.states, "greet": replace(flow.states["greet"], next="bot")})


def test_the_notice_comes_first_then_the_caller_talks_with_the_bot():
    turn = begin(bot_flow(), facts())

    assert [type(a).__name__ for a in turn.actions] == ["Speak", "Speak", "Relay"]
    assert turn.actions[1] == Speak(HEARD, "en-US")
    relay = turn.actions[2]
    assert isinstance(relay, Relay)
    assert (relay.url, relay.language, relay.then.state, relay.then.seq) == (BOT.relay, "en-US", "bot", 1)
    assert fields(turn, "automated") == [
        {
            "relay": BOT.relay,
            "country": "PH",
            "city": "Manila",
            "notice": HEARD,
            "language": "en-US",
        }
    ]


def test_the_hand_off_is_a_connect_with_the_relay_and_the_words_that_bring_a_human():
    turn = begin(bot_flow(), facts())
    document = render(tuple(turn.actions))

    step = escape(step_url(turn.call))
    assert document == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Say language="en-US">{GREETING}</Say>'
        f'<Say language="en-US">{HEARD}</Say>'
        f'<Connect action="{step}" method="POST">'
        '<ConversationRelay language="en-US" url="wss://bots.acme.example.com/relay">'
        '<Parameter name="transfer_words" value="agent|united states|america" />'
        '<Parameter name="language" value="en-US" />'
        '<Parameter name="home_country" value="US" />'
        "</ConversationRelay></Connect></Response>"
    )
    assert_valid_twiml(document)


def test_a_bot_that_hands_the_caller_back_reaches_a_human_at_home():
    flow = bot_flow()
    waiting = begin(flow, facts()).call

    turn = resume(flow, waiting, RelayEnded('{"reason": "agent"}', "ended"), facts())

    assert steps(turn) == ["automated_ended", "transfer_requested", "bridged"]
    assert fields(turn, "automated_ended") == [{"handoff": "true", "status": "ended"}]
    assert fields(turn, "transfer_requested")[0]["by"] == "automated"
    connect = only_connect(turn)
    assert (connect.center, connect.domestic) == (SCRANTON.id, True)


def test_a_session_that_ends_without_a_hand_off_goes_on_to_next():
    flow = bot_flow()
    waiting = begin(flow, facts()).call

    for ended in (RelayEnded("", "ended"), Silence()):
        turn = resume(flow, waiting, ended, facts())
        assert steps(turn) == ["automated_ended"]
        assert turn.actions[0] == Speak("Goodbye.", "en-US")
        assert not any(isinstance(a, Connect) for a in turn.actions)


def test_a_bot_without_a_notice_says_nothing_before_it():
    turn = begin(bot_flow(replace(BOT, notice="")), facts())

    assert [type(a).__name__ for a in turn.actions] == ["Speak", "Relay"]
    assert fields(turn, "automated")[0]["notice"] == ""


def test_twilios_connect_action_after_a_relay_is_read_as_the_sessions_end():
    assert _reply({"HandoffData": '{"reason":"agent"}', "SessionStatus": "ended"}) == RelayEnded(
        '{"reason":"agent"}', "ended"
    )
    assert _reply({"SessionStatus": "completed", "SessionId": "VX1"}) == RelayEnded("", "completed")


def test_a_home_only_call_is_never_routed_abroad_and_the_refusal_is_recorded():
    flow = make_flow(route=("manila", "scranton"))

    turn = begin(flow, facts(home_only=True))

    assert turn.call.home_only
    assert fields(turn, "kept_home") == [
        {"state": "route", "center": "manila", "city": "Manila", "country": "PH"}
    ]
    connect = only_connect(turn)
    assert (connect.center, connect.domestic) == ("scranton", True)
    assert "disclosed" not in steps(turn)


def test_a_home_only_call_whose_route_has_only_centers_abroad_goes_to_the_domestic_line():
    flow = make_flow(route=("manila",))

    turn = begin(flow, facts(home_only=True))

    assert [f["center"] for f in fields(turn, "kept_home")] == ["manila"]
    connect = only_connect(turn)
    assert (connect.center, connect.domestic) == ("scranton", True)


def test_a_home_only_call_never_reaches_a_bot_run_from_abroad():
    turn = begin(bot_flow(), facts(home_only=True))

    assert fields(turn, "kept_home") == [{"state": "bot", "center": "", "city": "Manila", "country": "PH"}]
    assert not any(isinstance(a, Relay) for a in turn.actions)
    assert only_connect(turn).domestic


def test_a_home_only_call_keeps_its_flag_in_the_step_url_and_overflows_only_at_home():
    flow = make_flow(route=("scranton",), overflow=("bangalore", "scranton"))
    first = begin(flow, facts(home_only=True))
    assert first.call.home_only

    again = Call.from_query(first.call.to_query())
    turn = resume(flow, again, BridgeEnded("busy"), facts())

    assert [f["center"] for f in fields(turn, "kept_home")] == ["bangalore"]
    assert all(c.domestic for c in turn.actions if isinstance(c, Connect))


def test_a_route_state_without_home_only_still_goes_abroad():
    flow = make_flow(route=("manila", "scranton"))
    assert isinstance(flow.states["route"], Route)

    turn = begin(flow, facts())

    assert "kept_home" not in steps(turn)
    assert "disclosed" in steps(turn)
