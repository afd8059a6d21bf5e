"""The disclosure's TwiML, exactly, as twilio-python tests its own builders.

What is asserted is the document Twilio gets: the location as a ``<Say>`` of its own before
the ``<Gather>`` (a nested prompt stops at the caller's first key or speech; a top-level one
cannot be cut), the offer nested in the ``<Gather>`` that listens for its answer, every key
heard as input (``finishOnKey=""``: with Twilio's default a lone ``#`` would end the
``<Gather>`` as silence), and the ``<Redirect>`` that brings silence back to the same step.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from ivr.engine import begin, resume
from ivr.twiml import render, step_url
from ivr.vocabulary import Call, Heard, Silence
from tests.test_engine import facts, make_flow
from tests.twiml_check import assert_valid_twiml

HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
LOCATION = "Your call will be answered by our team in Manila, the Philippines."
OFFER = "To speak with an agent in the United States, press 1 or say 'agent'."


def step(call: Call) -> str:
    """The step URL as it stands in the document (its form is the step URLs' own business)."""
    return escape(step_url(call))


def gather(step: str) -> str:
    return (
        f'<Gather action="{step}" finishOnKey="" hints="agent, united states, america" '
        'input="dtmf speech" language="en-US" method="POST" numDigits="1" '
        'speechTimeout="auto" timeout="5">'
        f'<Say language="en-US">{OFFER}</Say></Gather>'
        f'<Redirect method="POST">{step}</Redirect>'
    )


def test_a_disclosure_is_the_location_alone_then_the_offer_in_the_gather():
    turn = begin(make_flow(), facts())
    document = render(tuple(turn.actions))

    assert (turn.call.state, turn.call.seq, turn.call.misses) == ("disclose", 1, 0)
    assert document == (
        f"{HEAD}<Response>"
        '<Say language="en-US">Thank you for calling Acme.</Say>'
        f'<Say language="en-US">{LOCATION}</Say>'
        f"{gather(step(turn.call))}</Response>"
    )
    assert_valid_twiml(document)


def test_unrecognised_input_gets_exactly_the_offer_again_one_attempt_later():
    flow = make_flow()
    again = resume(flow, begin(flow, facts()).call, Heard(speech="hello?"), facts())
    document = render(tuple(again.actions))

    assert (again.call.state, again.call.seq, again.call.misses) == ("disclose", 2, 1)
    assert document == f"{HEAD}<Response>{gather(step(again.call))}</Response>"
    assert_valid_twiml(document)


def test_the_cautious_disclosure_is_one_prompt_that_only_silence_gets_past():
    flow = make_flow(policy="cautious")
    turn = begin(flow, facts(fresh=False))
    document = render(tuple(turn.actions))

    assert (turn.call.state, turn.call.seq) == ("@bridge", 1)
    cautious = (
        "Your call may be answered by an agent outside the United States. To speak with "
        "an agent in the United States, press 1 or say 'agent'."
    )
    assert document == (
        f"{HEAD}<Response>"
        '<Say language="en-US">Thank you for calling Acme.</Say>'
        + gather(step(turn.call)).replace(OFFER, cautious)
        + "</Response>"
    )
    retried = resume(flow, turn.call, Heard(digits="3"), facts(fresh=False))
    assert [type(a).__name__ for a in retried.actions] == ["Ask"]
    bridged = resume(flow, retried.call, Silence(), facts(fresh=False))
    assert [type(a).__name__ for a in bridged.actions] == ["Connect"]
