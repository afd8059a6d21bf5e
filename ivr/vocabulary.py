"""The engine's vocabulary: what a call is, what the engine is told and what it answers.

A call's position in its flow (``Call``) travels in the step URL Twilio signs; each webhook
brings what is true now (``Facts``) and what the caller or Twilio just did (a ``Reply``:
``Heard``, ``Silence``, ``BridgeEnded``, or nothing on the first webhook). The engine
(``ivr.engine``) answers with a ``Turn``: the ``Action``s to send to Twilio (``Speak``,
``Play``, ``Ask``, ``Connect``, ``Handover``, ``End``) and the ``Event``s to record. The
webhook edge, the TwiML renderer, the simulator and the evidence all speak these words.

Plain values, no behaviour beyond their own encoding: no I/O, no Flask, no Redis, no Twilio.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from ivr import outcomes, step_query
from ivr.callbacks import CallbackPolicy
from ivr.flow import Center, Exemption, Target

AFTER_CAUTION = "@bridge"  # built-in: bridge the chosen center after a cautious disclosure
TRANSFER = "@domestic"  # built-in: the caller asked for an agent in the home country
CAUTIOUS = "*"  # heard: a cautious "may be answered outside" disclosure
WAIT_LIMIT, UNKNOWN = "wait-limit", "unknown"  # why a caller left a queue (BridgeEnded.left)
AUTOMATED_HANDOFF = "automated agent hand-off"  # how: the bot handed the caller back (R9)
INTERNAL_ERROR = "internal error"  # a safe answer's reason when the engine itself failed


class Call(NamedTuple):
    """Where one call is in its flow; serialized into the step URLs. A named tuple rather
    than a frozen dataclass: the engine moves it on several times a webhook (``_replace``
    costs a fifth of ``dataclasses.replace``)."""

    flow: str
    version: int
    state: str
    center: str = ""
    tried: tuple[str, ...] = ()
    heard: str = ""  # location last disclosed, CAUTIOUS, or ""
    domestic: bool = False  # the caller asked for the domestic transfer
    exempt: str = ""  # the number's exemption (R5, R6), fixed for the whole call
    language: str = ""  # language code the call speaks; "" = the flow's default
    seq: int = 0  # how many times the call has waited for the caller or a bridge
    misses: int = 0  # unanswered or unmatched prompts of the current menu
    home_only: bool = False  # the number's calls never leave the home country (R19)

    def waiting(self) -> Call:
        """The call as the next webhook will carry it: one wait further."""
        return self._replace(seq=self.seq + 1)

    def to_query(self) -> dict[str, str]:
        """Compact query parameters for a step URL, in unreserved characters only."""
        encode = step_query.encode
        query = {"f": encode(self.flow), "v": str(self.version), "s": encode(self.state)}
        optional = {
            "c": self.center,
            "t": step_query.LIST_SEPARATOR.join(self.tried),
            "h": self.heard,
            "d": "1" if self.domestic else "",
            "x": self.exempt,
            "l": self.language,
            "n": str(self.seq or ""),
            "m": str(self.misses or ""),
            "o": "1" if self.home_only else "",
        }
        query.update((k, encode(v)) for k, v in optional.items() if v)
        return query

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Call:
        """Inverse of to_query, and reads the URLs given out before it (percent-escaped);
        raises KeyError or ValueError on a malformed URL."""
        decode = step_query.decode
        return cls(
            flow=decode(query["f"]),
            version=int(query["v"]),
            state=decode(query["s"]),
            center=decode(query.get("c", "")),
            tried=step_query.split(decode(query.get("t", ""))),
            heard=decode(query.get("h", "")),
            domestic=query.get("d") == "1",
            exempt=decode(query.get("x", "")),
            language=decode(query.get("l", "")),
            seq=int(query.get("n", "0")),
            misses=int(query.get("m", "0")),
            home_only=query.get("o") == "1",
        )


@dataclass(frozen=True)
class Facts:
    """What is true for this webhook; read at the edge."""

    call_sid: str
    now: datetime  # timezone-aware
    centers: Mapping[str, Center]
    home: str = "US"
    exempt: Exemption | None = None
    fresh: bool = True  # centers were read from Redis in this request
    language: str = ""  # the number's starting language code (begin only)
    home_only: bool = False  # the number's calls never leave the home country (begin only)
    caller: str = ""  # the caller's number as Twilio posts it (From): only ever called back
    domestic_waits: Mapping[str, float] = field(default_factory=dict)  # center -> estimate, s
    callback_pending: bool = False  # the caller has an open callback (begin only)
    callbacks_down: bool = False  # the edge could not record a callback: ivr.domestic's other way


@dataclass(frozen=True)
class Heard:
    """The caller pressed keys or spoke during a prompt (``confidence``: Twilio's, for speech)."""

    digits: str = ""
    speech: str = ""
    confidence: float = 1.0


@dataclass(frozen=True)
class Silence:
    """A prompt ended with no input."""


@dataclass(frozen=True)
class BridgeEnded:
    """Twilio reported how a bridge ended (DialCallStatus or QueueResult); ``caller_ended``:
    the caller's own leg was over by then; ``wait``: seconds in the queue (QueueTime);
    ``connected``: whether the Dial reached the party (DialBridged; None when not said). For
    a caller who left a queue (QueueResult=leave), ``left`` says why, as the wait handler
    recorded it: "wait-limit" (max_wait passed), "key" (the transfer key on hold), "unknown"
    (the record could not be read)."""

    status: str
    caller_ended: bool = False
    wait: str = ""
    connected: bool | None = None
    left: str = ""

    def meaning(self) -> outcomes.Meaning:
        """What this end means (ivr.outcomes)."""
        return outcomes.meaning(self.status, self.caller_ended, self.connected)


@dataclass(frozen=True)
class RelayEnded:
    """An automated agent's session ended (Twilio requested the ``<Connect>`` action):
    ``handoff`` is the bot's HandoffData ("" when it sent none): the bot handed the caller
    back, e.g. because they said the transfer word, and a human at home takes the call."""

    handoff: str = ""
    status: str = ""


@dataclass(frozen=True)
class Recorded:
    """Twilio's <Record> action: the recording's SID, URL and length in seconds ("" when the
    caller left nothing)."""

    sid: str = ""
    url: str = ""
    duration: str = ""


Reply = Heard | Silence | BridgeEnded | RelayEnded | Recorded | None


@dataclass(frozen=True)
class Speak:
    text: str
    language: str
    voice: str = ""


@dataclass(frozen=True)
class Play:
    """Play an audio file (an https URL on the folder's allowlist)."""

    url: str


@dataclass(frozen=True)
class Ask:
    """Play a prompt while listening for keys and words; then continue at ``then``.

    ``key`` is the transfer key when the transfer is live ("" before any disclosure);
    ``also`` holds more lines of the same prompt, e.g. each language of a language menu.
    """

    text: str
    language: str
    voice: str
    key: str
    hints: tuple[str, ...]
    timeout: int
    then: Call
    also: tuple[Speak, ...] = ()
    digits: int = 1  # keys to read: more than one (a phone number) ends on "#"


@dataclass(frozen=True)
class Connect:
    """Bridge the caller to a center."""

    center: str
    target: Target
    domestic: bool
    then: Call
    attributes: tuple[tuple[str, str], ...] = ()
    caller_id: str = ""  # the callerId a <Dial> shows ("": the caller's own, see caller_ids)
    max_wait: int = 0  # a queue's wait limit in seconds (0: none), for the wait handler
    confirm: bool = False  # the answering side hears the whisper first (ivr.whisper)
    caller: str = ""  # the caller's keyed hash, for the whisper's evidence, when caller_id is set
    masked: bool = False  # the center is shown the number dialed, never the caller's (ivr.caller_data)


@dataclass(frozen=True)
class Relay:
    """Hand the caller to an automated agent (``<Connect><ConversationRelay>``) at a wss://
    URL; when the session ends Twilio requests ``then``'s step. ``parameters`` go to the bot
    as ``<Parameter>``s (the words that must bring a human, the call's language)."""

    url: str
    language: str
    then: Call
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Handover:
    """Give the call to the company's own TwiML application at this URL; Onshore's part ends."""

    url: str


@dataclass(frozen=True)
class End:
    """Hang up."""


@dataclass(frozen=True)
class Record:
    """Voicemail: a beep, then ``<Record>`` of at most ``max_length`` seconds; the recording
    comes back to ``then``'s step."""

    max_length: int
    transcribe: bool
    then: Call


@dataclass(frozen=True)
class RequestCallback:
    """For the edge: keep a callback's place in the domestic destination's line (not TwiML)."""

    center: str
    number: str
    language: str
    voice: str
    policy: CallbackPolicy


@dataclass(frozen=True)
class CancelCallback:
    """For the edge: cancel the caller's open callback (not TwiML)."""


Action = Speak | Play | Ask | Connect | Relay | Handover | End | Record | RequestCallback | CancelCallback


class Event(NamedTuple):
    """One step of evidence; ``key`` is unique per step within a call. A named tuple, as
    ``Call`` is: a webhook makes several, and a frozen dataclass costs five times as much."""

    key: str
    step: str
    fields: tuple[tuple[str, str], ...]


@dataclass
class Turn:
    """What the engine decided for one webhook."""

    call: Call
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def over(self) -> bool:
        """True once the last action waits for the caller, Twilio or a bot (``Ask``,
        ``Connect``, ``Relay``, ``Record``) or ends Onshore's part (``Handover``, ``End``):
        nothing more happens in this webhook."""
        return bool(self.actions) and isinstance(
            self.actions[-1], (Ask, Connect, Relay, Handover, End, Record)
        )

    def note(self, step: str, where: str = "", /, **fields: object) -> None:
        """Record a step of the current wait, keyed by the state it happened in (``where``,
        default: the call's state)."""
        call = self.call
        self.events.append(
            Event(
                f"{step}:{call.seq}:{where or call.state}",
                step,
                tuple([(name, str(value)) for name, value in fields.items()]),
            )
        )
