"""Voicemail is not an answer: a confirm bridge connects the caller only to someone who pressed
the accept key at the whisper (https://www.twilio.com/docs/voice/twiml/number#url)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ivr import twiml, whisper
from ivr.engine import begin, resume
from ivr.flow import Target
from ivr.vocabulary import TRANSFER, BridgeEnded, Call, Connect, Speak
from tests.test_check import CENTERS, check, edit, the_error
from tests.test_engine import CENTERS as ENGINE_CENTERS
from tests.test_engine import SCRANTON, facts, fields, make_flow, only_connect


def test_a_confirm_bridge_names_the_whisper_on_its_number():
    then = Call("support", 1, TRANSFER, "scranton", ("manila",), "Manila|PH", domestic=True, seq=3)
    connect = Connect("scranton", Target("number", "+15705550123"), True, then, confirm=True)
    query = (
        "f=support&amp;v=1&amp;s=~QGRvbWVzdGlj&amp;c=scranton&amp;t=manila"
        "&amp;h=~TWFuaWxhfFBI&amp;d=1&amp;n=3"
    )
    assert twiml.render((connect,)) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Dial action="/voice/step?{query}" method="POST" timeout="30">'
        f'<Number method="POST" url="/voice/confirm?{query}">+15705550123</Number>'
        "</Dial></Response>"
    )
    sip = replace(connect, target=Target("sip", "sip:agents@bangalore.acme.example.com"))
    assert f'<Sip method="POST" url="/voice/confirm?{query}">' in twiml.render((sip,))


def test_the_whisper_listens_for_one_key_and_hangs_up_that_leg_without_one():
    # the key goes to the whisper's own URL (Gather's default action), which carries the step
    line = Speak("Onshore call. Press 1 to take the call.", "en-US", "Polly.Joanna")
    assert twiml.whisper(line) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Gather input="dtmf" method="POST" numDigits="1" timeout="6">'
        '<Say language="en-US" voice="Polly.Joanna">Onshore call. Press 1 to take the call.</Say>'
        "</Gather><Hangup /></Response>"
    )
    assert twiml.whisper_answered(True) == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    assert twiml.whisper_answered(False) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'
    )


@pytest.mark.parametrize(
    "call, expected",
    [
        (
            Call("support", 1, TRANSFER, "scranton", domestic=True),
            "Onshore call. The caller speaks English. They asked for an agent in the United States. "
            "Press 1 to take the call.",
        ),
        (
            Call("support", 1, "bridge", "bangalore", heard="Bangalore|IN", language="es"),
            "Onshore call. The caller speaks Spanish. They were told where you are and offered an agent "
            "in the United States. Press 1 to take the call.",
        ),
        (
            Call("support", 1, "bridge", "scranton"),
            "Onshore call. The caller speaks English. Press 1 to take the call.",
        ),
    ],
)
def test_the_whisper_names_the_callers_language_and_what_they_were_offered(call, expected):
    flow = make_flow()
    flow = replace(flow, languages=(flow.speaking(""), replace(flow.speaking(""), tag="es-US")))
    assert whisper.line(flow, call, "US") == Speak(expected, "en-US")


@pytest.mark.parametrize("digits, outcome", [("1", "accepted"), ("2", "declined"), ("*", "declined")])
def test_only_the_accept_key_takes_the_call(digits, outcome):
    call = Call("support", 1, "bridge", "bangalore", seq=4)
    accepted, event = whisper.answer(call, digits, "CA" + "2" * 32)
    assert accepted is (outcome == "accepted")
    assert (event.key, event.step, dict(event.fields)) == (
        "confirm:4:bridge",
        "confirm",
        {"outcome": outcome, "key": digits, "center": "bangalore", "leg": "CA" + "2" * 32},
    )


def test_a_domestic_number_confirms_by_default_and_a_center_can_say_otherwise():
    flow = make_flow(route=("scranton",))
    assert only_connect(begin(flow, facts())).confirm
    assert fields(begin(flow, facts()), "bridged")[0]["confirm"] == "true"
    no = replace(SCRANTON, target=Target("number", "+15705550123", confirm=False))
    assert not only_connect(begin(flow, facts(centers={**ENGINE_CENTERS, "scranton": no}))).confirm
    sip = Target("sip", "sip:agents@bangalore.acme.example.com")
    assert (sip.confirms(False), sip.confirms(True)) == (False, False)  # only when it says so
    assert replace(sip, confirm=True).confirms(False)
    assert not Target("number", "+442071838750").confirms(False)  # a number abroad: same


@pytest.mark.parametrize(
    "bridged, read, next_center",
    [
        (False, "failed", "bangalore"),  # declined, or a voicemail that pressed nothing
        (True, "answered", None),
        (None, "answered", None),  # Twilio did not say: as DialCallStatus reads
    ],
)
def test_a_dial_that_never_connected_the_caller_is_a_failed_bridge(bridged, read, next_center):
    flow = make_flow(route=("scranton",), overflow=("bangalore",))
    call = only_connect(begin(flow, facts())).then
    turn = resume(flow, call, BridgeEnded("completed", connected=bridged), facts())
    ended = fields(turn, "bridge_ended")[0]
    assert ended["outcome"] == read
    assert ended.get("bridged") == (None if bridged is None else str(bridged).lower())
    assert [e["center"] for e in fields(turn, "routed")] == ([next_center] if next_center else [])


@pytest.mark.parametrize(
    "connect, message",
    [
        ('{ queue = "acme-manila", confirm = true }', "needs a number or sip target, not a queue"),
        ('{ number = "+15705550123", confirm = "yes" }', "must be true or false"),
    ],
)
def test_confirm_is_only_for_number_and_sip_bridges(tmp_path, connect, message):
    centers = edit(CENTERS, 'connect = { number = "+15705550123" }', f"connect = {connect}")
    errors = check(tmp_path, centers=centers)
    assert (
        message
        in the_error(errors, tmp_path / "centers.toml", "center 'scranton'", "connect.confirm").message
    )
