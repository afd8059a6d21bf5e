"""A signed request re-split into other names is refused (issue 10, point 7): over real
HTTP to gunicorn, and the table of ivr/parameters.py on its own."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from ivr import parameters
from ivr.caller import Caller, Phone
from tests.conftest import FLOWS, SUPPORT, TOKEN, http_transport, serving, stream_entries


def first_params(caller: Caller) -> dict[str, str]:
    return {
        "CallSid": caller.call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": caller.from_,
        "To": caller.to,
        "FromCountry": "US",
        "ToCountry": "US",
        "Direction": "inbound",
        "CallStatus": "ringing",
        "ApiVersion": "2010-04-01",
    }


def gather_action(twiml: str) -> str:
    gather = ET.fromstring(twiml).find("Gather")
    assert gather is not None, twiml
    return gather.get("action", "")


def test_a_captured_gather_answer_re_split_into_other_names_is_refused(tmp_path):
    with serving(FLOWS, tmp_path / "spool") as (redis_server, gunicorn):
        phone = Phone(gunicorn.base_url, TOKEN, http_transport())
        caller = Caller(SUPPORT, from_="+12025550143")
        base = first_params(caller)
        status, _, body = phone.post("/voice", base)
        assert status == 200
        url = gunicorn.base_url + gather_action(body)
        captured = {**base, "CallStatus": "in-progress", "Digits": "1"}
        re_split = {k: v for k, v in captured.items() if k not in ("Digits", "Direction")}
        re_split["Digit"] = "s1Directioninbound"  # "Digits"+"1"+"Direction"+"inbound"
        signature = RequestValidator(TOKEN).compute_signature(url, captured)
        # Twilio's signature, and the SDK's check, cannot tell the two apart
        assert RequestValidator(TOKEN).validate(url, re_split, signature)
        client = redis_server.client()
        before = len(stream_entries(client))
        status, _, _ = phone.transport(url, re_split, {"X-Twilio-Signature": signature})
        assert status == 403
        assert len(stream_entries(client)) == before  # a refusal is not evidence
        status, _, _ = phone.transport(url, captured, {"X-Twilio-Signature": signature})
        assert status == 200  # the request as Twilio sent it is served and recorded
        assert len(stream_entries(client)) > before
        gunicorn.stop()
        lines = [line for line in gunicorn.output().splitlines() if "refused a signed" in line]
        assert len(lines) == 1 and "there: Digit " in lines[0], lines
        assert "s1Direction" not in lines[0] and "+1202" not in lines[0]  # names, never values


def test_a_parameter_twilio_adds_later_is_served_once_the_operator_lists_it(tmp_path):
    with serving(FLOWS, tmp_path / "spool", IVR_EXTRA_PARAMETERS="CallerType, Whatever") as (_, gunicorn):
        phone = Phone(gunicorn.base_url, TOKEN, http_transport())
        params = {**first_params(Caller(SUPPORT, from_="+12025550143")), "CallerType": "x"}
        assert phone.post("/voice", params)[0] == 200
        assert phone.post("/voice", {**params, "CallerKind": "x"})[0] == 403


def test_every_name_the_stand_in_twilio_sends_is_in_the_table():
    sent = {
        "CallSid",
        "AccountSid",
        "From",
        "To",
        "FromCountry",
        "ToCountry",
        "Direction",
        "CallStatus",
        "ApiVersion",
    }
    assert parameters.unknown("/voice", sent) == []
    assert (
        parameters.unknown(
            "/voice/step",
            sent | {"Digits", "SpeechResult", "Confidence", "DialCallStatus", "QueueResult", "QueueTime"},
        )
        == []
    )
    assert parameters.unknown("/voice/wait", sent | {"QueuePosition", "Digits"}) == []
    assert (
        parameters.unknown(
            "/voice/status", sent | {"CallDuration", "SequenceNumber", "Timestamp", "CallbackSource"}
        )
        == []
    )


@pytest.mark.parametrize(
    "route, names, refused",
    [
        ("/voice", ["CallSid", "Digit", "s1Directioninbound"], ["Digit", "s1Directioninbound"]),
        ("/voice", ["CallSid", "QueueResult"], ["QueueResult"]),  # not sent to a call's start
        (
            "/voice/step",
            ["CallSid", "Digits", "SipHeader_X-Agent", "DialSipHeader_X-Y"],
            ["missing AccountSid"],
        ),
        (
            "/voice/step",
            [
                "AccountSid",
                "StirVerstat",
                "StirPassportToken",
                "AddOns",
                "CallToken",
                "FromCity",
                "CalledZip",
                "CallerName",
                "ForwardedFrom",
                "ParentCallSid",
            ],
            [],
        ),
        ("/voice/whisper", ["AccountSid", "DequeingCallSid"], []),  # a route the table lacks
    ],
)
def test_names_outside_the_route_vocabulary_are_named(route, names, refused):
    assert parameters.unknown(route, names) == refused


def test_each_refusal_is_counted_and_logged_by_name(caplog):
    before = parameters.refusals["/voice"]
    parameters.record_refusal("/voice", ["Digit", "x" * 500])
    assert parameters.refusals["/voice"] == before + 1
    assert "Digit" in caplog.text and "x" * 65 not in caplog.text
