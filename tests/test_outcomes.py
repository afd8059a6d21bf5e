"""The one table of what a bridge's end means, value by value, as Twilio's pages define them."""

from datetime import UTC, datetime

import pytest

from ivr import outcomes, webhooks
from ivr.caller import Caller, Phone
from ivr.outcomes import ANSWERED, FAILED, GONE, LEFT, MOVED, meaning, reported
from ivr.vocabulary import BridgeEnded
from tests.conftest import BILLING, stream_entries

# https://www.twilio.com/docs/voice/twiml/enqueue#attributes-action-parameters-queueresult
QUEUE_RESULTS = {
    "bridged": ANSWERED,
    "bridging-in-process": ANSWERED,
    "redirected-from-bridged": ANSWERED,
    "hangup": GONE,
    "error": FAILED,
    "queue-full": FAILED,
    "system-error": FAILED,
    "leave": LEFT,
    "redirected": MOVED,
}
# https://www.twilio.com/docs/voice/twiml/dial#dialcallstatus
DIAL_CALL_STATUSES = {
    "completed": ANSWERED,
    "answered": ANSWERED,
    "busy": FAILED,
    "no-answer": FAILED,
    "failed": FAILED,
    "canceled": FAILED,
}


def test_the_table_holds_every_value_twilio_documents_and_no_other():
    assert outcomes.QUEUE_RESULT == QUEUE_RESULTS
    assert outcomes.DIAL_CALL_STATUS == DIAL_CALL_STATUSES


@pytest.mark.parametrize("status, expected", [*QUEUE_RESULTS.items(), *DIAL_CALL_STATUSES.items()])
def test_each_status_means_one_thing(status, expected):
    assert meaning(status) == expected


@pytest.mark.parametrize("status", ["hangup", "redirected", "leave", "queue-full"])
def test_a_caller_who_left_the_queue_without_an_agent_is_never_answered(status):
    assert meaning(status) != ANSWERED


@pytest.mark.parametrize(
    "status", ["busy", "no-answer", "failed", "canceled", "queue-full", "error", "system-error"]
)
def test_a_failure_reported_after_the_caller_hung_up_is_an_abandon(status):
    assert meaning(status, caller_ended=True) == GONE


@pytest.mark.parametrize("status", ["completed", "bridged", "redirected-from-bridged"])
def test_an_answered_bridge_the_caller_ended_later_stays_answered(status):
    assert meaning(status, caller_ended=True) == ANSWERED


@pytest.mark.parametrize("status", ["completed", "answered", "bridged"])
def test_a_bridge_known_not_to_have_connected_is_a_failure(status):
    # e.g. DialBridged=false, or the agent's side declined a confirm whisper
    assert meaning(status, connected=False) == FAILED


@pytest.mark.parametrize("status", ["", "COMPLETED", "in-progress", "ringing", "bogus"])
def test_an_unknown_status_is_a_failure_never_an_answer(status):
    assert meaning(status) == FAILED


@pytest.mark.parametrize(
    "word, kind, value",
    [
        ("answered", "queue", "bridged"),
        ("answered", "workflow", "bridged"),
        ("answered", "sip", "completed"),
        ("answered", "number", "completed"),
        ("hangup", "queue", "hangup"),
        ("hangup", "sip", "no-answer"),
        ("hold-transfer", "queue", "leave"),
        ("busy", "number", "busy"),
        *[(value, "queue", value) for value in QUEUE_RESULTS],
        *[(value, "number", value) for value in DIAL_CALL_STATUSES if value != "answered"],
    ],
)
def test_a_scenario_word_is_reported_as_the_targets_verb_reports_it(word, kind, value):
    assert reported(word, kind) == value


@pytest.mark.parametrize(
    "word, kind",
    [
        ("queue-full", "sip"),
        ("leave", "number"),
        ("hold-transfer", "sip"),
        ("bridged", "number"),
        ("canceled", "queue"),
        ("bogus", "queue"),
        ("bogus", "sip"),
    ],
)
def test_a_word_the_targets_verb_never_reports_is_refused(word, kind):
    assert reported(word, kind) is None


# -- the stand-ins play every value: the test phone and the simulator ------------------------

ENQUEUE = '<Response><Enqueue action="/voice/step?s=1" waitUrl="/voice/wait">q</Enqueue></Response>'
DIAL = '<Response><Dial action="/voice/step?s=1"><Sip>sip:a@b.example.com</Sip></Dial></Response>'


def played(document: str, outcome: str) -> list[tuple[str, dict[str, str]]]:
    """What the test phone posts when Onshore answers with this bridge and it ends so."""
    posted: list[tuple[str, dict[str, str]]] = []

    def transport(url, params, headers, method="POST"):
        posted.append((url, dict(params)))
        if "/voice/wait" in url:  # hold: Twilio loops the waitUrl until the agent answers
            return (
                200,
                "text/xml",
                "<Response><Gather><Play>https://a.example.com/m.wav</Play></Gather></Response>",
            )
        return 200, "text/xml", document if url.endswith("/voice") else "<Response><Hangup/></Response>"

    Phone("http://localhost", "token", transport).call(Caller("+18005550100", outcomes=[outcome]))
    return [(url.rpartition("localhost")[2], params) for url, params in posted]


@pytest.mark.parametrize("result", sorted(QUEUE_RESULTS))
def test_the_phone_posts_every_queue_result_to_the_enqueue_action(result):
    posted = played(ENQUEUE, result)
    action = [params for url, params in posted if url.startswith("/voice/step")]
    waited = "0" if result == "bridged" else "12"  # bridged: after the caller's wait (0 s)
    assert [(p["QueueResult"], p["QueueTime"]) for p in action] == [(result, waited)]


# "answered" is the scenario word for an answer (sent as "completed"); Twilio sends the value
# "answered" only for a <Dial><Conference>, which Onshore never makes.
@pytest.mark.parametrize("status", sorted(set(DIAL_CALL_STATUSES) - {"answered"}))
def test_the_phone_posts_every_dial_call_status_to_the_dial_action(status):
    posted = played(DIAL, status)
    assert [p["DialCallStatus"] for url, p in posted if url.startswith("/voice/step")] == [status]


@pytest.mark.parametrize(
    "document, field, value", [(ENQUEUE, "QueueResult", "hangup"), (DIAL, "DialCallStatus", "no-answer")]
)
def test_a_caller_who_hangs_up_is_posted_with_their_leg_completed_and_hears_nothing_more(
    document, field, value
):
    posted = played(document, "hangup")
    url, action = posted[1]
    assert url.startswith("/voice/step") and (action[field], action["CallStatus"]) == (value, "completed")
    assert meaning(action[field], caller_ended=action["CallStatus"] == "completed") == GONE
    assert [url for url, _ in posted[2:]] == ["/voice/status"]  # nothing followed but the status


def test_a_dial_the_caller_ended_is_recorded_as_an_abandon_and_not_overflowed(client, phone, redis_client):
    # Billing dials Bangalore (SIP) first; a failed Dial would go on to Scranton; a caller who
    # hung up goes nowhere. The billing office keeps hours (mon-sat 07:00-23:00 New York), so
    # the call is placed on a Tuesday at 10:00 there (20:30 in Bangalore, open too).
    client.application.extensions["onshore"].clock = lambda: datetime(2026, 12, 8, 15, tzinfo=UTC)
    t = phone.call(Caller(BILLING, outcomes=["hangup"]))
    evs = [e for _, e in stream_entries(redis_client) if e.get("call") == t.call_sid]

    assert len(t.bridges) == 1 and t.bridges[0][0] == "sip", t
    bridged = [e["center"] for e in evs if e["step"] == "bridged"]
    ended = [(e["center"], e["status"], e["outcome"]) for e in evs if e["step"] == "bridge_ended"]
    assert len(bridged) == 1 and ended == [(bridged[0], "no-answer", "gone")]


@pytest.mark.parametrize(
    "form, meant",
    [
        ({"QueueResult": "hangup", "QueueTime": "95", "CallStatus": "completed"}, GONE),
        ({"QueueResult": "bridged", "QueueTime": "30", "CallStatus": "completed"}, ANSWERED),
        ({"DialCallStatus": "no-answer", "CallStatus": "completed", "DialBridged": "false"}, GONE),
        ({"DialCallStatus": "no-answer", "CallStatus": "in-progress", "DialBridged": "false"}, FAILED),
        ({"DialCallStatus": "completed", "CallStatus": "in-progress", "DialBridged": "false"}, FAILED),
        ({"DialCallStatus": "completed", "CallStatus": "completed", "DialBridged": "true"}, ANSWERED),
        ({"QueueResult": "redirected", "CallStatus": "in-progress"}, MOVED),
    ],
)
def test_the_webhook_reads_twilios_action_parameters_into_what_the_bridge_meant(form, meant):
    reply = webhooks._reply(form)
    assert isinstance(reply, BridgeEnded) and reply.meaning() == meant
    assert reply.wait == form.get("QueueTime", "")
