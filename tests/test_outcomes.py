"""The one table of what a bridge's end means, value by value, as Twilio's pages define them."""

import pytest

from ivr import outcomes
from ivr.outcomes import ANSWERED, FAILED, GONE, LEFT, MOVED, meaning, reported

# https://www.twilio.com/docs/voice/twiml/enqueue#attributes-action-parameters-queueresult
QUEUE_RESULTS = {
    "bridged": ANSWERED, "bridging-in-process": ANSWERED, "redirected-from-bridged": ANSWERED,
    "hangup": GONE, "error": FAILED, "queue-full": FAILED, "system-error": FAILED,
    "leave": LEFT, "redirected": MOVED,
}
# https://www.twilio.com/docs/voice/twiml/dial#dialcallstatus
DIAL_CALL_STATUSES = {
    "completed": ANSWERED, "answered": ANSWERED, "busy": FAILED, "no-answer": FAILED,
    "failed": FAILED, "canceled": FAILED,
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


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled", "queue-full",
                                    "error", "system-error"])
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


@pytest.mark.parametrize("word, kind, value", [
    ("answered", "queue", "bridged"), ("answered", "workflow", "bridged"),
    ("answered", "sip", "completed"), ("answered", "number", "completed"),
    ("hangup", "queue", "hangup"), ("hangup", "sip", "no-answer"),
    ("hold-transfer", "queue", "leave"), ("busy", "number", "busy"),
    *[(value, "queue", value) for value in QUEUE_RESULTS],
    *[(value, "number", value) for value in DIAL_CALL_STATUSES if value != "answered"],
])
def test_a_scenario_word_is_reported_as_the_targets_verb_reports_it(word, kind, value):
    assert reported(word, kind) == value


@pytest.mark.parametrize("word, kind", [
    ("queue-full", "sip"), ("leave", "number"), ("hold-transfer", "sip"), ("bridged", "number"),
    ("canceled", "queue"), ("bogus", "queue"), ("bogus", "sip"),
])
def test_a_word_the_targets_verb_never_reports_is_refused(word, kind):
    assert reported(word, kind) is None
