"""The parameter names Twilio sends to each webhook: one table, and the check that refuses a
signed request carrying any other name.

Why: Twilio signs the URL followed by every name and value concatenated, names sorted
(https://www.twilio.com/docs/usage/webhooks/webhooks-security), so the signature cannot
tell where one name ends and its value begins. A captured ``Digits=1&Direction=inbound``
verifies as ``Digit=s1Directioninbound`` too (the twilio SDK accepts both, and the check
stays identical to the SDK's). Any re-split of signed pairs either yields a name that is not
Twilio's (``Digit``, ``s1Directioninbound``, ``Sid`` from a shifted ``AccountSid``) or
merges whole pairs into the value before them; refusing unknown names stops the first, and
the second can only make a value longer by text that starts with a Twilio name, which no
value the engine acts on (digits, enumerations, CallSid, numbers) matches. A shift across the
URL and the body moves whole pairs into the step URL's last value; Twilio sends AccountSid
with every request and it sorts first, so a step or hold request without it is refused.

Twilio adds parameters over time (StirVerstat, CallToken), and refusing a real call is the
worse failure: the caller hears an application error and no disclosure. So the table takes
every documented parameter, optional ones included, and whole documented families
(``SipHeader_*``), a route this table does not list takes the names of every route, an
operator can add names at once with ``IVR_EXTRA_PARAMETERS`` without a release, and every
refusal is logged as an error naming the unknown names (never their values) and counted,
so a new Twilio parameter is seen on the first call it costs. A refusal is not evidence:
the request's CallSid is not proven to be the call's.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable

log = logging.getLogger(__name__)

# Every TwiML request (https://www.twilio.com/docs/voice/twiml#request-parameters and
# https://www.twilio.com/docs/usage/webhooks/voice-webhooks): the call, where its numbers
# are (From*/To*, and the older Caller*/Called* copies), caller ID lookup, SHAKEN/STIR,
# Add-ons (https://www.twilio.com/docs/add-ons), SIP (https://www.twilio.com/docs/voice/api/sending-sip).
CALL = frozenset(
    {
        "CallSid",
        "AccountSid",
        "From",
        "To",
        "CallStatus",
        "ApiVersion",
        "Direction",
        "ForwardedFrom",
        "CallerName",
        "ParentCallSid",
        "CallToken",
        "ApplicationSid",
        "FromCity",
        "FromState",
        "FromZip",
        "FromCountry",
        "ToCity",
        "ToState",
        "ToZip",
        "ToCountry",
        "Caller",
        "CallerCity",
        "CallerState",
        "CallerZip",
        "CallerCountry",
        "Called",
        "CalledCity",
        "CalledState",
        "CalledZip",
        "CalledCountry",
        "StirVerstat",
        "StirPassportToken",
        "AddOns",
        "SipDomain",
        "SipDomainSid",
        "SipCallId",
        "SipSourceIp",
    }
)
# <Gather action> (https://www.twilio.com/docs/voice/twiml/gather#action); "msg" is what
# Twilio adds ("Gather End") on the action request.
GATHER = frozenset({"Digits", "FinishedOnKey", "SpeechResult", "Confidence", "msg"})
# <Dial action> (https://www.twilio.com/docs/voice/twiml/dial#action), with recording and SIP.
DIAL = frozenset(
    {
        "DialCallStatus",
        "DialCallSid",
        "DialCallDuration",
        "DialBridged",
        "DialSipCallId",
        "DialSipResponseCode",
        "RecordingUrl",
        "RecordingSid",
        "RecordingDuration",
    }
)
# <Enqueue action> and its waitUrl (https://www.twilio.com/docs/voice/twiml/enqueue), and a
# <Dial><Queue url> (https://www.twilio.com/docs/voice/twiml/queue).
ENQUEUE = frozenset({"QueueResult", "QueueSid", "QueueTime"})
WAIT = frozenset(
    {"QueueSid", "QueueTime", "QueuePosition", "AvgQueueTime", "CurrentQueueSize", "MaxQueueSize"}
)
DEQUEUE = frozenset({"QueueSid", "QueueTime", "DequeingCallSid"})
# <Record transcribeCallback> (https://www.twilio.com/docs/voice/twiml/record#transcribecallback):
# the transcription's SID, text, status (completed or failed) and URL, and its recording's.
TRANSCRIPTION = frozenset(
    {
        "TranscriptionSid",
        "TranscriptionText",
        "TranscriptionStatus",
        "TranscriptionUrl",
        "RecordingSid",
        "RecordingUrl",
    }
)
# <Record recordingStatusCallback> (https://www.twilio.com/docs/voice/twiml/record and
# .../voice/api/recording#recordingstatuscallback): the recording once its file is there
# (completed), or that there is none (absent), or failed.
RECORDING_STATUS = frozenset(
    {
        "CallSid",
        "AccountSid",
        "RecordingSid",
        "RecordingUrl",
        "RecordingStatus",
        "RecordingDuration",
        "RecordingChannels",
        "RecordingStartTime",
        "RecordingSource",
        "RecordingTrack",
        "ErrorCode",
    }
)
# <Connect action> after <ConversationRelay> (https://www.twilio.com/docs/voice/twiml/connect
# and .../connect/conversationrelay): the session's id, status and length, and the bot's
# handoffData from its "end" message, which Onshore reads (to be confirmed on a live account).
RELAY = frozenset({"SessionId", "SessionStatus", "SessionDuration", "HandoffData"})
# Status callbacks (https://www.twilio.com/docs/voice/api/call-resource#statuscallback),
# answering machine detection included (https://www.twilio.com/docs/voice/answering-machine-detection).
STATUS = frozenset(
    {
        "CallDuration",
        "Duration",
        "SipResponseCode",
        "RecordingUrl",
        "RecordingSid",
        "RecordingDuration",
        "Timestamp",
        "CallbackSource",
        "SequenceNumber",
        "AnsweredBy",
        "MachineDetectionDuration",
    }
)
# TaskRouter's assignment callback (https://www.twilio.com/docs/taskrouter/handle-assignment-callbacks).
ASSIGNMENT = frozenset(
    {
        "Timestamp",
        "AccountSid",
        "WorkspaceSid",
        "WorkflowSid",
        "TaskQueueSid",
        "WorkerSid",
        "WorkerAttributes",
        "TaskSid",
        "TaskAttributes",
        "TaskAge",
        "TaskPriority",
        "ReservationSid",
    }
)
# Families: one name per SIP header Twilio passes on (sending-sip and dial#action).
FAMILIES = ("SipHeader_", "DialSipHeader_")

# Each route: what Twilio may send it. /voice/step is the action of every Gather, Dial and
# Enqueue the engine gives; /voice/wait is a waitUrl and its hold Gather's action.
VOCABULARY: dict[str, frozenset[str]] = {
    "/voice": CALL,
    "/voice/step": CALL | GATHER | DIAL | ENQUEUE | RELAY,
    "/voice/wait": CALL | WAIT | GATHER,
    "/voice/status": CALL | STATUS | DIAL,
    # a callback's outbound leg (ivr.callback_calls): its Url, Gather and Dial/Enqueue actions
    "/voice/callback": CALL | GATHER | DIAL | ENQUEUE,
    "/voice/callback/status": CALL | STATUS,
    "/voice/voicemail/transcript": CALL | TRANSCRIPTION,
    "/voice/voicemail/recording": RECORDING_STATUS,
    "/voice/assignment": ASSIGNMENT,
    "/voice/reserved": CALL | GATHER | DIAL | ENQUEUE,
    "/voice/agent": CALL,
    "/voice/dequeue": CALL | DEQUEUE,
    "/voice/home": CALL,
}
EVERY = frozenset().union(*VOCABULARY.values(), DEQUEUE)
# Routes whose step URL the engine reads: a shift across URL and body needs AccountSid gone.
REQUIRED = {
    "/voice/step": ("AccountSid",),
    "/voice/wait": ("AccountSid",),
    "/voice/callback": ("AccountSid",),
    "/voice/callback/status": ("AccountSid",),
    "/voice/voicemail/transcript": ("AccountSid", "RecordingSid"),
    "/voice/voicemail/recording": ("AccountSid", "RecordingSid"),
    "/voice/reserved": ("AccountSid",),
    "/voice/assignment": ("AccountSid",),
}

refusals: Counter[str] = Counter()  # per route, since the process started
_lock = threading.Lock()


def extra_names(setting: str) -> frozenset[str]:
    """IVR_EXTRA_PARAMETERS ("Name,Name") as names."""
    return frozenset(filter(None, (name.strip() for name in setting.split(","))))


def unknown(route: str, names: Iterable[str], extra: frozenset[str] = frozenset()) -> list[str]:
    """The names Twilio does not send to this route (and the operator did not add), and
    any required name that is missing, as "missing NAME"."""
    seen = set(names)
    rest = seen.difference(VOCABULARY.get(route, EVERY), extra)  # in C: usually empty
    out = sorted(name for name in rest if not name.startswith(FAMILIES))
    return out + [f"missing {name}" for name in REQUIRED.get(route, ()) if name not in seen]


def record_refusal(route: str, names: list[str]) -> None:
    """A signed request refused for its names: an error log line and the counter."""
    with _lock:
        refusals[route] += 1
        total = refusals[route]
    log.error(
        "refused a signed request to %s: parameters Twilio does not send there: %s "
        "(refusal %d on this route since start; if Twilio added a parameter, add it to "
        "IVR_EXTRA_PARAMETERS)",
        route,
        ", ".join(name[:64] for name in names[:8]),
        total,
    )
