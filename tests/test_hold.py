"""Hold as Twilio plays it: one document per waitUrl request, from QueueTime alone.

The documents are pure (``ivr.hold``) and rendered by ``ivr.twiml.hold``; exact XML for
one, then the schedule: the place in line on entry and every few minutes, the offer
between music segments, Twilio's music unless the flow has its own, <Leave/> past max_wait.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.errors import FlowError
from ivr.flow import TWILIO_HOLD_MUSIC, Flow
from ivr.flowfile import Problems, parse_center, parse_flow
from ivr.hold import ANNOUNCE_EVERY, WAIT_LIMIT, Queued, announcing, hold, music
from ivr.twiml import hold as render
from ivr.vocabulary import Facts, Play, Speak
from tests.twiml_check import assert_valid_twiml

FLOWS = Path(__file__).resolve().parent.parent / "flows"
FACTS = Facts("CA" + "0" * 32, datetime(2026, 11, 30, 15, tzinfo=UTC), {}, "US")
OFFER = "To speak with an agent in the United States, press 1 at any time."
WAIT_URL = "/voice/wait?f=support&v=3&c=manila&n=2&s=bridge&w=300"


def flow(**changes: object) -> Flow:
    problems = Problems("test")
    raw = {
        "start": "bye",
        "domestic": "scranton",
        "languages": ["en-US", "es-US"],
        "voices": {"en": "Polly.Joanna", "es": "Polly.Lupe"},
        "states": {"bye": {"type": "hangup"}},
        **changes,
    }
    parsed = parse_flow("support", raw, problems)
    assert not problems.errors, problems.errors
    return parsed


def texts(document) -> list[str]:
    return [line.text if isinstance(line, Speak) else line.url for line in document.lines]


def test_the_first_document_says_the_place_in_line_the_offer_then_twilios_music():
    document = hold(flow(), FACTS, Queued(0, 3), 300, "")

    assert render(document.lines, WAIT_URL) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Gather action="/voice/wait?f=support&amp;v=3&amp;c=manila&amp;n=2&amp;s=bridge&amp;w=300" '
        'input="dtmf" method="POST" numDigits="1" timeout="1">'
        '<Say language="en-US" voice="Polly.Joanna">You are number 3 in line.</Say>'
        f'<Say language="en-US" voice="Polly.Joanna">{OFFER}</Say>'
        f"<Play>{TWILIO_HOLD_MUSIC[0]}</Play>"
        "</Gather></Response>"
    )
    assert_valid_twiml(render(document.lines, WAIT_URL), "text/xml")


def test_no_document_holds_a_pause_or_more_than_one_second_of_silence():
    for seconds in range(0, 3600, 7):
        root = assert_valid_twiml(
            render(hold(flow(), FACTS, Queued(seconds, 2), 0, "").lines, WAIT_URL), "text/xml"
        )
        assert root.find(".//Pause") is None and root.find(".//Hangup") is None
        assert [v.tag for v in root] == ["Gather"] and root.find("Gather").get("timeout") == "1"
        assert root.find("Gather/Play") is not None and OFFER in [s.text for s in root.iter("Say")]


def test_the_place_in_line_is_said_on_entry_and_every_few_minutes():
    f = flow()
    said = [t for t in range(0, 900) if announcing(f, Queued(t))]
    windows = sorted({t // ANNOUNCE_EVERY for t in said})
    assert windows == [0, 1, 2, 3, 4]  # each 3-minute window: its first offer_every seconds
    assert all(t % ANNOUNCE_EVERY < f.offer_every for t in said)
    assert texts(hold(f, FACTS, Queued(100, 4), 0, ""))[0] == OFFER  # between: offer, music


@pytest.mark.parametrize(
    "language, expected",
    [
        ("", ["You are number 2 in line.", "Your expected wait is about 7 minutes."]),
        ("es", ["Usted es el número 2 en la fila.", "Su tiempo de espera estimado es de unos 7 minutos."]),
    ],
)
def test_the_estimated_wait_is_said_in_the_calls_language(language, expected):
    document = hold(flow(), FACTS, Queued(0, 2), 0, language, expected=420.0)

    assert texts(document)[:2] == expected
    assert {line.voice for line in document.lines if isinstance(line, Speak)} == {
        "Polly.Lupe" if language else "Polly.Joanna"
    }


@pytest.mark.parametrize("expected", [None, 30.0, 89.0])
def test_without_an_estimate_worth_saying_nothing_is_said_about_time(expected):
    said = texts(hold(flow(), FACTS, Queued(0, 2), 0, "", expected=expected))
    assert said == ["You are number 2 in line.", OFFER, TWILIO_HOLD_MUSIC[0]]


def test_past_max_wait_the_caller_leaves_the_queue():
    f = flow()
    assert hold(f, FACTS, Queued(299, 1), 300, "").leave == ""
    assert hold(f, FACTS, Queued(300, 1), 300, "") == replace(
        hold(f, FACTS, Queued(0), 0, ""), lines=(), leave=WAIT_LIMIT
    )
    assert hold(f, FACTS, Queued(10_000, 1), 0, "").leave == ""  # no limit: the wait goes on


def test_the_flows_own_music_segments_play_in_turn():
    segments = ["https://media.acme.example.com/hold/1.wav", "https://media.acme.example.com/hold/2.wav"]
    f = flow(hold_music=segments, offer_every=30)
    assert [music(f, Queued(t)) for t in (0, 29, 30, 61, 90)] == [
        segments[0],
        segments[0],
        segments[1],
        segments[0],
        segments[1],
    ]
    assert Play(segments[0]) in hold(f, FACTS, Queued(0), 0, "").lines
    assert flow(hold_music=segments[0]).hold_music == (segments[0],)


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"hold_music": ["http://media.acme.example.com/a.wav"]}, "hold_music[0]", "is not an https:// URL"),
        ({"hold_music": [3]}, "hold_music", "must be an https URL or a list of them"),
        ({"offer_every": 5}, "offer_every", "must be at least 10 seconds"),
        ({"max_wait": 10}, "max_wait", "must be at least 30 seconds"),
        (
            {"queue_wait": {"en": "About {minutes} min, {city}.", "es": "{nope}"}},
            "queue_wait.es",
            "uses unknown placeholder {nope}",
        ),
        (
            {"hold_offer": "Press {key}, you are {position}."},
            "hold_offer",
            "uses unknown placeholder {position}",
        ),
    ],
)
def test_bad_hold_settings_are_named(changes, field, message):
    problems = Problems("test.toml")
    parse_flow(
        "support",
        {
            "start": "bye",
            "domestic": "scranton",
            "languages": ["en-US", "es-US"],
            "states": {"bye": {"type": "hangup"}},
            **changes,
        },
        problems,
    )
    assert [(e.field, message in e.message) for e in problems.errors] == [(field, True)], problems.errors


def test_max_wait_is_for_queue_and_workflow_centers_only():
    raw = {"city": "Manila", "country": "PH", "timezone": "Asia/Manila", "max_wait": 300}
    problems = Problems("test.toml")
    assert parse_center("manila", {**raw, "connect": {"queue": "acme-manila"}}, problems).max_wait == 300
    assert problems.errors == []
    parse_center("manila", {**raw, "connect": {"number": "+639171234567"}}, problems)
    assert [str(e) for e in problems.errors] == [
        str(
            FlowError(
                "test.toml",
                "center 'manila'",
                "max_wait",
                "applies to queue and workflow centers; a "
                "number bridge is a <Dial>, which gives up after its own timeout",
            )
        )
    ]
