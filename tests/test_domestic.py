"""The domestic request when the domestic destination cannot take the call now (ivr.domestic),
as plain tables on the shipped flows: no Flask, no Redis, no Twilio; the clock is fixed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr import domestic, twiml
from ivr.check import check_folder
from ivr.engine import begin, resume
from ivr.vocabulary import (
    TRANSFER,
    Ask,
    BridgeEnded,
    CancelCallback,
    Connect,
    End,
    Facts,
    Heard,
    Record,
    Recorded,
    RequestCallback,
    Silence,
    Turn,
)

FLOWS = Path(__file__).resolve().parent.parent / "flows"
MONDAY_10_NY = datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("America/New_York"))
CALLER = "+12025550143"
CONFIG, _, ERRORS = check_folder(FLOWS, "US")
SUPPORT = CONFIG.flows["support"]


def facts(closed: bool = False, **more: object) -> Facts:
    centers = dict(CONFIG.centers)
    if closed:  # Scranton closed all week (its hours are 24/7 in the shipped file)
        from ivr.hours import parse_hours

        centers["scranton"] = replace(centers["scranton"], hours=parse_hours({"sun": "00:00-00:01"}))
    return Facts("CA" + "1" * 32, MONDAY_10_NY, centers, "US", caller=CALLER, **more)  # type: ignore[arg-type]


def asked_for_home(f: Facts) -> Turn:
    """English, phone help, Manila's disclosure, then key 1: the domestic request."""
    turn = begin(SUPPORT, f)
    for key in ("1", "1"):
        turn = resume(SUPPORT, turn.actions[-1].then, Heard(digits=key), f)
    assert any(e.step == "disclosed" for e in turn.events)  # weighted: Manila or Bangalore
    return resume(SUPPORT, turn.actions[-1].then, Heard(digits="1"), f)


def steps(turn: Turn) -> list[str]:
    return [e.step for e in turn.events]


def said(turn: Turn) -> str:
    return " ".join(
        [getattr(a, "text", "") for a in turn.actions]
        + [s.text for a in turn.actions if isinstance(a, Ask) for s in a.also]
    )


def test_the_shipped_flows_check():
    assert ERRORS == []
    assert SUPPORT.callback is not None and SUPPORT.voicemail is not None and SUPPORT.voicemail.consent


def test_an_open_destination_with_a_short_wait_is_bridged_and_the_wait_said():
    turn = asked_for_home(facts(domestic_waits={"scranton": 600.0}))
    assert isinstance(turn.actions[-1], Connect) and turn.actions[-1].center == "scranton"
    assert "The wait for an agent in the United States is about 10 minutes." in said(turn)
    assert "domestic_wait_announced" in steps(turn)


def test_under_the_estimators_minimum_nothing_is_said_about_time():
    turn = asked_for_home(facts())
    assert isinstance(turn.actions[-1], Connect) and "minutes" not in said(turn)
    assert "domestic_wait_announced" not in steps(turn)


@pytest.mark.parametrize(
    ("closed", "waits", "reason", "keep"),
    [(True, {}, "closed", False), (False, {"scranton": 1500.0}, "wait", True)],
)
def test_closed_or_too_long_offers_callback_voicemail_and_waiting_only_when_open(closed, waits, reason, keep):
    turn = asked_for_home(facts(closed, domestic_waits=waits))
    ask = turn.actions[-1]
    assert isinstance(ask, Ask) and ask.then.state == domestic.CHOICE and ask.then.center == "scranton"
    assert not any(isinstance(a, Connect) for a in turn.actions)  # no bridge to a line nobody answers
    choice = [dict(e.fields) for e in turn.events if e.step == "domestic_choice"]
    assert choice[0]["reason"] == reason
    assert ("To keep waiting, press 3" in said(turn)) is keep
    assert "press 1 or say 'callback'" in said(turn) and "press 2 or say 'message'" in said(turn)


def test_a_callback_at_the_callers_own_number_is_requested_and_confirmed():
    f = facts(closed=True)
    choice = asked_for_home(f)
    number = resume(SUPPORT, choice.actions[-1].then, Heard(speech="callback please"), f)
    assert "ending in 0 1 4 3" in said(number)
    done = resume(SUPPORT, number.actions[-1].then, Heard(digits="1"), f)
    (request,) = [a for a in done.actions if isinstance(a, RequestCallback)]
    assert (request.center, request.number, request.policy.attempts) == ("scranton", CALLER, 3)
    assert isinstance(done.actions[-1], End) and "will call you back" in said(done)
    requested = [dict(e.fields) for e in done.events if e.step == "callback_requested"]
    assert requested == [{"center": "scranton", "number": "caller-id", "attempts": "3"}]
    assert CALLER not in str(done.events)  # the evidence never holds the number


@pytest.mark.parametrize(
    ("keyed", "problem"), [("9005550143", "premium-rate"), ("44207946", "invalid"), ("", "not-e164")]
)
def test_a_keyed_number_that_may_not_be_called_is_asked_again_and_never_requested(keyed, problem):
    f = facts(closed=True)
    choice = asked_for_home(f)
    number = resume(SUPPORT, choice.actions[-1].then, Heard(digits="1"), f)
    keyed_prompt = resume(SUPPORT, number.actions[-1].then, Heard(digits="2"), f)
    assert keyed_prompt.actions[-1].digits == 15  # a phone number's worth of keys, up to "#"
    again = resume(SUPPORT, keyed_prompt.actions[-1].then, Heard(digits=keyed) if keyed else Silence(), f)
    assert [dict(e.fields)["reason"] for e in again.events if e.step == "callback_number_refused"] == [
        problem
    ]
    assert not any(isinstance(a, RequestCallback) for a in again.actions)
    good = resume(SUPPORT, again.actions[-1].then, Heard(digits="3125550111"), f)
    (request,) = [a for a in good.actions if isinstance(a, RequestCallback)]
    assert request.number == "+13125550111"


def test_a_caller_without_a_callable_number_is_asked_to_key_one():
    f = replace(facts(closed=True), caller="anonymous")
    choice = asked_for_home(f)
    turn = resume(SUPPORT, choice.actions[-1].then, Heard(digits="1"), f)
    assert turn.actions[-1].then.state == domestic.KEYED and "enter the phone number" in said(turn)


def test_voicemail_says_the_notice_records_and_keeps_the_sid_not_the_audio():
    f = facts(closed=True)
    choice = asked_for_home(f)
    box = resume(SUPPORT, choice.actions[-1].then, Heard(digits="2"), f)
    assert said(box).startswith("Your message will be recorded.")
    record = box.actions[-1]
    assert isinstance(record, Record) and record.max_length == 120
    document = twiml.render(tuple(box.actions))
    assert '<Record action="/voice/step?' in document and 'maxLength="120"' in document
    assert 'playBeep="true"' in document
    left = resume(SUPPORT, record.then, Recorded("RE" + "a" * 32, "https://api.twilio.com/x", "17"), f)
    (event,) = [dict(e.fields) for e in left.events if e.step == "voicemail_left"]
    assert (event["recording"], event["duration"], event["center"]) == ("RE" + "a" * 32, "17", "scranton")
    nothing = resume(SUPPORT, record.then, Silence(), f)
    assert steps(nothing) == ["voicemail_empty"] and isinstance(nothing.actions[-1], End)


def test_silence_at_the_choice_never_ends_in_silence():
    for closed, last in ((True, Record), (False, Connect)):
        f = facts(closed, domestic_waits={} if closed else {"scranton": 1500.0})
        turn = asked_for_home(f)
        for _ in range(3):
            turn = resume(SUPPORT, turn.actions[-1].then, Silence(), f)
        assert isinstance(turn.actions[-1], last)  # voicemail when closed, waiting when open


def test_a_failed_domestic_bridge_offers_the_choice_instead_of_the_apology():
    f = facts()
    turn = asked_for_home(f)
    connect = turn.actions[-1]
    assert isinstance(connect, Connect) and connect.then.state == TRANSFER
    failed = resume(SUPPORT, connect.then, BridgeEnded("busy"), f)
    assert "domestic_choice" in steps(failed) and "unavailable" not in steps(failed)


def test_redis_unable_to_take_the_callback_gives_voicemail_instead():
    f = facts(closed=True)
    choice = asked_for_home(f)
    number = resume(SUPPORT, choice.actions[-1].then, Heard(digits="1"), f)
    down = resume(SUPPORT, number.actions[-1].then, Heard(digits="1"), replace(f, callbacks_down=True))
    assert "callback_unrecorded" in steps(down) and isinstance(down.actions[-1], Record)
    assert "will call you back" not in said(down)


def test_a_caller_with_an_open_callback_keeps_it_or_cancels_it_and_goes_on():
    f = replace(facts(), callback_pending=True)
    first = begin(SUPPORT, f)
    assert "To keep your callback, press 1." in said(first)
    kept = resume(SUPPORT, first.actions[-1].then, Heard(digits="1"), f)
    assert steps(kept) == ["callback_kept"] and isinstance(kept.actions[-1], End)
    cancelled = resume(SUPPORT, first.actions[-1].then, Heard(digits="2"), f)
    assert any(isinstance(a, CancelCallback) for a in cancelled.actions)
    assert "For English, press 1." in said(cancelled)  # the flow goes on from its start


def test_a_spanish_caller_reaches_the_spanish_destination_when_it_is_open(tmp_path):
    text = (FLOWS / "acme.toml").read_text()
    text = text.replace(
        'domestic = "scranton"                 #', 'domestic = { en = "scranton", es = "elpaso" }  #', 1
    )
    text += """
[centers.elpaso]
name = "Acme El Paso"
city = "El Paso"
region = "TX"
country = "US"
timezone = "America/Denver"
hours = "24/7"
connect = { number = "+19155550123" }
"""
    text = text.replace(
        'transfer_numbers = ["+15705550123"]', 'transfer_numbers = ["+15705550123", "+19155550123"]'
    )
    (tmp_path / "acme.toml").write_text(text)
    config, _, errors = check_folder(tmp_path, "US")
    assert errors == []
    flow = config.flows["support"]
    assert flow.domestic_by_language == {"es": "elpaso"} and "elpaso" in flow.reach
    f = Facts("CA" + "2" * 32, MONDAY_10_NY, config.centers, "US", caller=CALLER)
    turn = begin(flow, f)
    for key in ("2", "1"):
        turn = resume(flow, turn.actions[-1].then, Heard(digits=key), f)
    home = resume(flow, turn.actions[-1].then, Heard(speech="agente"), f)
    assert isinstance(home.actions[-1], Connect) and home.actions[-1].center == "elpaso"


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        (
            'domestic = "scranton"                 #',
            'domestic = { es = "scranton" }  #',
            "domestic",
            "default language",
        ),
        (
            'domestic = "scranton"                 #',
            'domestic = { en = "scranton", fr = "scranton" }  #',
            "domestic.fr",
            "is not a language of this flow",
        ),
        ("attempts = 3 ", "attempts = 0 ", "attempts", "must be from 1 to 10"),
        ("spacing = 600", "spacing = 5", "spacing", "must be from 60"),
        ("max_length = 120", "max_length = 5000", "max_length", "must be from 10 to 600"),
        ("max_length = 120", "max_length = 120\nbeep = true", "beep", "is not a known field"),
    ],
)
def test_bad_domestic_settings_name_the_field(tmp_path, old, new, field, message):
    text = (FLOWS / "acme.toml").read_text()
    assert old in text
    (tmp_path / "acme.toml").write_text(text.replace(old, new, 1))
    _, _, errors = check_folder(tmp_path, "US")
    assert any(f"field '{field}'" in str(e) and message in str(e) for e in errors), errors
