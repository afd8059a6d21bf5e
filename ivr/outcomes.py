"""What each way a bridge can end means: the one table the engine, the simulator, the test
phone and the reports read. Pure: no I/O.

Twilio reports the end of a bridge in the action request of the verb that made it:
``<Dial>`` posts ``DialCallStatus``, ``<Enqueue>`` posts ``QueueResult`` (and ``QueueTime``).
Each value means one of five things for Onshore:

* ``answered``: an agent took the call. The bridge is done; the call is over for Onshore.
* ``gone``: the caller hung up before anyone answered (an abandoned call). Never answered,
  and never overflowed: there is nobody left to send to the next center.
* ``failed``: nobody answered and the caller is still there: the flow's ``on_failure``.
* ``left``: the caller left the queue through Onshore's own ``<Leave/>``; the flow decides
  what comes next (the wait handler records why it asked).
* ``moved``: someone else took the call out of Onshore's hands (a REST API redirect while
  waiting): not answered, and not Onshore's to route any further.

A caller who hung up is also told by the action request's own ``CallStatus`` (the parent
call's status, one of the standard request parameters,
https://www.twilio.com/docs/voice/twiml#request-parameters): ``completed`` when the caller's
leg has ended. So a Dial that did not connect, reported while the caller's leg is already
over, is ``gone`` whatever its ``DialCallStatus`` says.
"""

from __future__ import annotations

from typing import Final, Literal

Meaning = Literal["answered", "gone", "failed", "left", "moved"]
ANSWERED: Final = "answered"
GONE: Final = "gone"
FAILED: Final = "failed"
LEFT: Final = "left"
MOVED: Final = "moved"

# https://www.twilio.com/docs/voice/twiml/enqueue#attributes-action-parameters-queueresult
QUEUE_RESULT: Final[dict[str, Meaning]] = {
    "bridged": ANSWERED,  # "dequeued and bridged to the dequeuer"
    "bridging-in-process": ANSWERED,  # "Twilio has been instructed to bridge the enqueued party"
    "redirected-from-bridged": ANSWERED,  # "queued and then successfully bridged ... transferred out"
    "hangup": GONE,  # "the enqueued caller hung up before connecting to a dequeued call"
    "error": FAILED,  # "the TwiML contained an error", in <Enqueue> or from the waitUrl
    "queue-full": FAILED,  # "the targeted queue was full, thus the enqueue attempt was rejected"
    "system-error": FAILED,  # "the Twilio system malfunctioned during the enqueue process"
    "leave": LEFT,  # "exited the queue via the <Leave> verb": only Onshore's wait URL sends it
    "redirected": MOVED,  # "while in the queue, ... redirected out of the queue" (REST API)
}
# https://www.twilio.com/docs/voice/twiml/dial#dialcallstatus
DIAL_CALL_STATUS: Final[dict[str, Meaning]] = {
    "completed": ANSWERED,  # "the called party answered the call and was connected"
    "answered": ANSWERED,  # the same, "when calling a conference"
    "busy": FAILED,  # "Twilio received a busy signal"
    "no-answer": FAILED,  # "did not pick up before the timeout period passed"
    "failed": FAILED,  # "Twilio was unable to route to the given phone number"
    "canceled": FAILED,  # "canceled via the REST API before it was answered" (not by Onshore)
}
MEANINGS: Final[dict[str, Meaning]] = {**QUEUE_RESULT, **DIAL_CALL_STATUS}
VERBS: Final = {"dial": DIAL_CALL_STATUS, "enqueue": QUEUE_RESULT}
HELD: Final = ("queue", "workflow")  # targets a caller waits on: <Enqueue>; the rest: <Dial>
HANGS_UP: Final = "hangup"  # a scenario's word for a caller who hangs up before an answer
# What a scenario (or ``ivr call --outcome``) may say instead of Twilio's own value, per verb.
# Twilio documents no DialCallStatus for a caller who hangs up while the dialed party rings;
# the action request's CallStatus=completed says it, so the stand-ins send "no-answer" with it.
# declined, voicemail: a Dial whose answering side picks up but is never connected (a
# confirm whisper declined, or met by a voicemail that presses nothing) ends "completed"
# with DialBridged=false; a Dial without the whisper connects the caller to that voicemail.
WORDS: Final = {
    "dial": {
        "answered": "completed",
        HANGS_UP: "no-answer",
        "declined": "completed",
        "voicemail": "completed",
    },
    # no busy, no no-answer: an <Enqueue> has no timeout and waits until an agent answers,
    # the caller leaves or hangs up (https://www.twilio.com/docs/voice/twiml/enqueue)
    "enqueue": {"answered": "bridged", "failed": "error", "hold-transfer": "leave", "completed": "bridged"},
}


def meaning(status: str, caller_ended: bool = False, connected: bool | None = None) -> Meaning:
    """What a reported status means; ``caller_ended``: the action request's CallStatus says
    the caller's leg is over; ``connected=False``: the bridge is known not to have reached an
    agent (Twilio's ``DialBridged=false``, a declined whisper), whatever the status says.
    An unknown status is a failure: never counted as answered, and the flow goes on."""
    read = MEANINGS.get(status, FAILED)
    if read == ANSWERED and connected is False:
        read = FAILED
    return GONE if caller_ended and read == FAILED else read


def words(kind: str) -> list[str]:
    """Every word a scenario may use for the end of a bridge to a target of this kind."""
    name = verb(kind)
    return sorted(set(WORDS[name]) | set(VERBS[name]))


def verb(kind: str) -> str:
    """The TwiML verb that bridges a target of this kind."""
    return "enqueue" if kind in HELD else "dial"


def reported(word: str, kind: str) -> str | None:
    """How Twilio reports this end of a bridge to a target of this kind: Twilio's own value,
    or a scenario word translated; None when that verb never reports it."""
    name = verb(kind)
    value = WORDS[name].get(word, word)
    return value if value in VERBS[name] else None
