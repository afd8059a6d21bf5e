"""What an offshore center learns about the caller (issue 15): a center may be shown the
number the caller dialed instead of the caller's own; `ivr check` says what each center
abroad receives, and each bridge's evidence records the data class it passed."""

from __future__ import annotations

from dataclasses import replace
from xml.etree import ElementTree as ET

from ivr import caller_data
from ivr.caller_ids import substitute
from ivr.engine import begin, resume
from ivr.flow import Target
from ivr.twiml import render
from ivr.vocabulary import Silence
from tests.test_check import CENTERS, check, edit, the_error
from tests.test_engine import BANGALORE, facts, fields, make_flow, only_connect
from tests.test_engine import CENTERS as ENGINE_CENTERS

MASKED = replace(BANGALORE, caller_id="called")


def test_a_masked_center_is_shown_the_number_dialed_and_the_record_says_so():
    centers = {**ENGINE_CENTERS, "bangalore": MASKED}
    flow = make_flow(route=("bangalore",))
    f = facts(centers=centers, now=facts().now)
    told = begin(flow, f)
    turn = substitute(resume(flow, told.call, Silence(), f), "+12025550143", "+18005550100", "hash")

    connect = only_connect(turn)
    assert (connect.center, connect.caller_id, connect.masked) == ("bangalore", "+18005550100", True)
    assert fields(turn, "caller_id") == [
        {"reason": "masked", "shown": "called-number", "center": "bangalore"}
    ]
    assert fields(turn, "bridged")[0]["shares"] == "called-number"
    dial = ET.fromstring(render(tuple(turn.actions))).find("Dial")
    assert dial is not None and dial.get("callerId") == "+18005550100"


def test_an_unmasked_center_gets_the_callers_number_and_the_record_says_so():
    flow = make_flow(route=("bangalore",))
    told = begin(flow, facts())
    turn = substitute(resume(flow, told.call, Silence(), facts()), "+12025550143", "+18005550100")

    assert only_connect(turn).caller_id == ""
    assert "caller_id" not in [e.step for e in turn.events]
    assert fields(turn, "bridged")[0]["shares"] == "caller-number"


def test_what_each_kind_of_center_receives():
    assert caller_data.received_by(MASKED).startswith("the number the caller dialed")
    assert caller_data.received_by(BANGALORE).startswith("the caller's own number")
    queue = replace(BANGALORE, target=Target("queue", "q"), caller_id="called")
    assert not caller_data.masked(queue)  # a queue cannot be masked: check refuses it
    assert "TaskRouter adds from" in caller_data.received_by(
        replace(BANGALORE, target=Target("workflow", "WW"))
    )


def test_a_queue_center_cannot_be_shown_the_number_dialed(tmp_path):
    centers = edit(
        CENTERS,
        'connect = { queue = "acme-manila" }',
        'connect = { queue = "acme-manila" }\ncaller_id = "called"',
    )

    errors = check(tmp_path, centers=centers)

    error = the_error(errors, tmp_path / "centers.toml", "center 'manila'", "caller_id")
    assert error.message.startswith("a queue center receives the caller's number from Twilio")


def test_a_sip_center_may_be_shown_the_number_dialed(tmp_path):
    centers = edit(
        CENTERS,
        'connect = { sip = "sip:agents@bangalore.acme.example.com" }',
        'connect = { sip = "sip:agents@bangalore.acme.example.com" }\ncaller_id = "called"',
    )

    assert check(tmp_path, centers=centers) == []
    assert (
        check(tmp_path, centers=centers.replace('caller_id = "called"', 'caller_id = "nobody"'))[0].field
        == "caller_id"
    )
