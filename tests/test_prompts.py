"""How a <Gather> hears keys (ivr.prompts), and the phone that plays Twilio's part using it.

Twilio ends a <Gather>'s input at finishOnKey ("#" unless set), which is not part of the
input, so a lone "#" is no input: the <Gather> ends as if the caller had said nothing and
Twilio goes on to the next verb (https://www.twilio.com/docs/voice/twiml/gather).
"""

from __future__ import annotations

import pytest

from ivr.caller import Caller, Phone
from ivr.prompts import keys_heard


@pytest.mark.parametrize(
    "pressed, finish_on_key, num_digits, digits",
    [
        ("#", "#", 0, ""),  # a lone "#": no input
        ("3#", "#", 0, "3"),  # the keys before "#"
        ("12#4", "#", 0, "12"),
        ("#", "", 1, "#"),  # finishOnKey="": "#" is a key like any other
        ("34", "", 1, "3"),  # numDigits=1 ends at the first key
        ("*3", "*", 0, ""),
    ],
)
def test_keys_end_as_twilio_ends_them(pressed, finish_on_key, num_digits, digits):
    assert keys_heard(pressed, finish_on_key, num_digits) == digits


HOLD = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/pressed" '
    'input="dtmf" numDigits="1"><Say>Press 1 at any time.</Say></Gather>'
    '<Redirect method="POST">/again</Redirect></Response>'
)
PROMPT = HOLD.replace('input="dtmf"', 'finishOnKey="" input="dtmf"')


@pytest.mark.parametrize(
    "document, posted",
    [
        (HOLD, ("/again", None)),  # Twilio's default finishOnKey: "#" is silence
        (PROMPT, ("/pressed", "#")),  # finishOnKey="": the step hears the key
    ],
)
def test_the_phone_plays_finish_on_key_from_the_document(document, posted):
    sent: list[tuple[str, str | None]] = []

    def transport(url, params, headers, method="POST"):
        if url.endswith("/voice"):
            return 200, "text/xml", document
        sent.append((url.removeprefix("http://localhost"), params.get("Digits")))
        return 200, "text/xml", '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'

    Phone("http://localhost", "token", transport).call(Caller("+18005550100", press="#"))

    assert sent[0] == posted
