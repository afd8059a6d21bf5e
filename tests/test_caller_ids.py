"""A withheld or invalid caller ID never goes to the number Onshore dials (Twilio 13214)."""

from __future__ import annotations

import pytest

from ivr import twiml
from ivr.caller_ids import problem, substitute
from ivr.flow import Target
from ivr.vocabulary import TRANSFER, Call, Connect, Event, Speak, Turn

CALLED = "+18005550100"


@pytest.mark.parametrize(
    "caller, reason",
    [
        ("+12025550143", ""),
        ("+442071838750", ""),
        ("", "withheld"),
        ("  ", "withheld"),
        ("anonymous", "anonymous"),
        ("Anonymous", "anonymous"),
        ("RESTRICTED", "restricted"),
        ("private", "private"),
        ("unknown", "unknown"),
        ("2025550143", "not-e164"),
        ("sip:alice@example.com", "not-e164"),
        ("+1 202 555 0143", "not-e164"),
        ("+19995550143", "invalid"),
        ("+1202555014", "invalid"),
    ],
)
def test_a_caller_id_that_cannot_be_passed_on_says_why(caller, reason):
    assert problem(caller) == reason


def bridge(kind: str, value: str) -> Turn:
    then = Call("support", 1, TRANSFER, "scranton", domestic=True, seq=3)
    return Turn(
        then,
        [Speak("One moment.", "en-US"), Connect("scranton", Target(kind, value), True, then)],
        [Event("bridged:2:@domestic", "bridged", (("center", "scranton"),))],
    )


def test_a_bridge_to_a_number_shows_the_number_dialed_when_the_callers_id_is_withheld():
    turn = substitute(bridge("number", "+15705550123"), "anonymous", CALLED)

    assert twiml.render(tuple(turn.actions)) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Say language="en-US">One moment.</Say>'
        '<Dial action="/voice/step?f=support&amp;v=1&amp;s=~QGRvbWVzdGlj&amp;c=scranton&amp;d=1'
        '&amp;n=3" callerId="+18005550100" method="POST" timeout="30">'
        "<Number>+15705550123</Number></Dial></Response>"
    )
    assert [(e.key, e.step, dict(e.fields)) for e in turn.events[1:]] == [
        (
            "caller_id:3:@domestic",
            "caller_id",
            {"reason": "anonymous", "shown": "called-number", "center": "scranton"},
        )
    ]


@pytest.mark.parametrize(
    "kind, value, caller",
    [
        ("number", "+15705550123", "+12025550143"),  # a valid ID goes through as it is
        ("queue", "acme-manila", "anonymous"),  # only <Dial><Number> passes the caller's ID on
        ("sip", "sip:agents@bangalore.acme.example.com", "anonymous"),
    ],
)
def test_everything_else_is_left_as_it_was(kind, value, caller):
    turn = bridge(kind, value)
    assert substitute(turn, caller, CALLED) is turn
    assert "callerId" not in twiml.render(tuple(turn.actions))
