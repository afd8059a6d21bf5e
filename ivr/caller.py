"""A phone without a phone: plays Twilio's part of a call against Onshore.

It posts the webhooks Twilio would post, signed exactly as Twilio signs them, follows the
TwiML it gets back (Say, Gather, Redirect, Dial, Enqueue, Hangup) and writes down what the
caller hears and where the call is bridged. A ``<Number url>`` or ``<Sip url>`` it plays on
the answering side's leg (the confirm whisper); the status callback goes as the number is
configured (POST or GET). A ``<Gather>`` hears keys as Twilio does
(``finishOnKey``, ``numDigits``: ``ivr.prompts``), and a caller who answers while its nested
prompt plays cuts that prompt when ``bargeIn`` is on, as it is by default. ``ivr call`` and
the end-to-end tests use it; Twilio's own cloud cannot run here, so this is the one
stand-in for it.

A queue is played as Twilio plays it (https://www.twilio.com/docs/voice/twiml/enqueue): an
<Enqueue> is never busy or unanswered. The phone requests the waitUrl, plays the document
(speech at 150 words a minute, each <Play> as ``music_seconds``, then the Gather's timeout),
and requests it again with QueueTime grown by that, until the agent answers after the
caller's ``wait``, the caller presses ``hold_press`` then, or a document says <Leave/>.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode, urljoin, urlsplit

from twilio.request_validator import HMAC_SHA256, SIGNATURE_SETTINGS_HEADER, RequestValidator

from ivr.outcomes import ANSWERED, HANGS_UP, meaning, reported
from ivr.prompts import DEFAULT_FINISH_ON_KEY, keys_heard

ACCOUNT_SID = "AC" + "0" * 32  # the stand-in account


class TaskRouterSide(Protocol):
    """What TaskRouter does to a call in a workflow (tests/taskrouter_standin.py plays it):
    the URL a reservation redirects an enqueued call to (None: it stays on hold), where the
    call was moved between two documents (a later reservation, or Onshore bringing it to
    the worker who answered), and how a conference named after a reservation goes:
    ("answered", ""), ("hangup", "") when nobody is in it."""

    def enqueued(self, verb: ET.Element, t: Transcript, base: dict[str, str]) -> str | None: ...

    def between(self, t: Transcript) -> str | None:
        """Where the call was moved to while its last document played (None: nowhere; "":
        the caller hung up meanwhile)."""
        ...

    def conference(self, name: str, t: Transcript) -> tuple[str, str]: ...


class Transport(Protocol):
    """Sends one request: (url, form, headers, method) -> (status, content type, body). A
    GET carries no form: its parameters are already in the URL."""

    def __call__(
        self, url: str, params: dict[str, str], headers: dict[str, str], method: str = "POST"
    ) -> tuple[int, str, str]: ...


MAX_REQUESTS = 40
MAX_HOLDS = 2000  # waitUrl requests in one queued bridge


class ImpossibleOutcome(ValueError):
    """A bridge outcome Twilio never reports for this kind of bridge."""


@dataclass
class Transcript:
    """What happened on one simulated call, in order."""

    call_sid: str
    caller: str = ""  # the caller's From
    lines: list[str] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    bridges: list[tuple[str, str]] = field(default_factory=list)  # (kind, target)
    held: list[str] = field(default_factory=list)  # what the caller hears on hold
    handoffs: list[str] = field(default_factory=list)  # URLs of the company's own applications
    documents: list[str] = field(default_factory=list)
    whispers: list[str] = field(default_factory=list)  # what the answering sides heard
    statuses: list[int] = field(default_factory=list)
    # requests Twilio sends after the call (a recording's status, its transcript): (url, form)
    later: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.lines.append(line)

    def __str__(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Caller:
    """What the caller does: keys to press or words to say when asked, bridge outcomes.

    ``press`` answers successive prompts, comma-separated ("2,,1": 2 at the first prompt,
    silence at the second, 1 at the third); ``say`` answers the prompt after those, with
    Twilio's ``confidence``. With ``barge_in`` every answer comes while the prompt plays.
    """

    to: str
    from_: str = "+12025550143"
    from_country: str = "US"
    press: str = ""
    say: str = ""
    outcomes: list[str] = field(default_factory=list)  # per bridge; default: completed
    barge_in: bool = False
    confidence: float = 0.9
    call_sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    wait: int = 0  # seconds on hold before a queue's agent answers (or hold_press is pressed)
    hold_press: str = ""  # a key pressed on hold once ``wait`` seconds passed
    music_seconds: int = 45  # how long each hold-music <Play> lasts
    bot: str = "done"  # how an automated agent's session ends: "agent" (handed back) or "done"
    message: str = ""  # the words of a voicemail left (its transcript; none: transcription fails)


def first_post(caller: Caller) -> dict[str, str]:
    """The form Twilio posts to the number's URL when this caller's call comes in."""
    return {
        "CallSid": caller.call_sid,
        "AccountSid": ACCOUNT_SID,
        "From": caller.from_,
        "To": caller.to,
        "FromCountry": caller.from_country,
        "ToCountry": "US",
        "Direction": "inbound",
        "CallStatus": "ringing",
        "ApiVersion": "2010-04-01",
    }


class Phone:
    """Posts signed webhooks to base_url through a transport and follows the TwiML.

    ``shared_key`` (id, secret) signs as a Webhook Rule whose Setting names that SharedKey
    does: HMAC-SHA256 under the key, and the settings header naming it
    (https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys). ``status_method`` is
    how the number's "Call status changes" callback is configured.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        transport: Transport,
        shared_key: tuple[str, str] | None = None,
        status_method: str = "POST",
        taskrouter: TaskRouterSide | None = None,
    ) -> None:
        self.taskrouter = taskrouter
        self.base_url = base_url.rstrip("/") + "/"
        self.validator = RequestValidator(token)
        self.transport = transport
        self.shared_key = shared_key
        self.status_method = status_method

    def signed(self, url: str, params: dict[str, str]) -> dict[str, str]:
        """The headers Twilio sends with a request to this URL with these POST parameters."""
        if self.shared_key is None:
            return {"X-Twilio-Signature": self.validator.compute_signature(url, params)}
        key_id, secret = self.shared_key
        signature = RequestValidator(secret).compute_signature(url, params, HMAC_SHA256)
        return {
            "X-Twilio-Signature": signature,
            SIGNATURE_SETTINGS_HEADER: f"key={key_id},algorithm={HMAC_SHA256}",
        }

    def post(self, path_or_url: str, params: dict[str, str]) -> tuple[int, str, str]:
        """One signed request, as Twilio sends it: with the account's id, which Twilio puts
        in every request (https://www.twilio.com/docs/voice/twiml#request-parameters)."""
        url = urljoin(self.base_url, path_or_url)
        params = {"AccountSid": ACCOUNT_SID, **params}
        return self.transport(url, params, self.signed(url, params))

    def get(self, path_or_url: str, params: dict[str, str]) -> tuple[int, str, str]:
        """A GET as Twilio sends it: the parameters in the query string, the URL signed
        with them and nothing after it."""
        url = urljoin(self.base_url, path_or_url)
        url += ("&" if "?" in url else "?") + urlencode(params)
        return self.transport(url, {}, self.signed(url, {}), "GET")

    def call(self, caller: Caller, first: str = "/voice", method: str = "POST") -> Transcript:
        """Play a whole call and return its transcript; ``first`` and ``method`` are how the
        number's URL (or its Fallback URL) is configured."""
        t = Transcript(caller.call_sid, caller.from_)
        base = first_post(caller)
        inputs = {
            "press": caller.press.split(",") if caller.press else [],
            "say": [caller.say] if caller.say else [],
        }
        t.note(f"call {caller.call_sid} from {caller.from_country} to {caller.to}")
        self._play(t, first, base, caller, inputs, method)
        callback = self.get if self.status_method == "GET" else self.post
        status = callback(
            "/voice/status", {**base, "CallStatus": "completed", "CallDuration": "60", "SequenceNumber": "0"}
        )[0]
        if status != 200:  # Twilio logs it (error 11200); the call itself is over
            t.note(f"the status callback ({self.status_method}) got HTTP {status}")
        t.note("call ended")
        for url, form in t.later:
            got = self.post(url, form)[0]
            t.statuses.append(got)
            t.note(f"after the call: {urlsplit(url).path} got HTTP {got}")
        return t

    def answer(self, url: str, form: dict[str, str], caller: Caller) -> Transcript:
        """Play the answered leg of an outbound call (REST API Calls): Twilio requests the
        call's Url with ``form`` and follows the TwiML; the keys are the called person's.
        Its status callbacks are the caller's to send (they go where the call was told)."""
        t = Transcript(form.get("CallSid", caller.call_sid), form.get("From", ""))
        inputs = {
            "press": caller.press.split(",") if caller.press else [],
            "say": [caller.say] if caller.say else [],
        }
        t.note(f"outbound call {t.call_sid} to {form.get('To', '')} answered")
        self._play(t, url, dict(form), caller, inputs, "POST")
        t.note("call ended")
        return t

    def _play(
        self,
        t: Transcript,
        first: str,
        base: dict[str, str],
        caller: Caller,
        inputs: dict[str, list[str]],
        method: str,
    ) -> None:
        outcomes = list(caller.outcomes)
        url: str = first
        extra: dict[str, str] = {}
        request = self.get if method == "GET" else self.post
        for _ in range(MAX_REQUESTS):
            status, _, body = request(url, {**base, **extra})
            request = self.post  # later requests are actions and redirects, posted
            t.statuses.append(status)
            t.documents.append(body)
            base["CallStatus"] = "in-progress"
            if status != 200:
                t.note(f"Twilio got HTTP {status}: the caller hears an application error")
                break
            if extra.get("CallStatus") == "completed":
                t.note("  (the caller has hung up: Twilio plays nothing more)")
                break
            nxt = self._follow(body, t, inputs, outcomes, caller, base)
            moved = self.taskrouter.between(t) if self.taskrouter is not None and nxt is not None else None
            if moved is not None:  # TaskRouter or the REST API moved the call meanwhile ("": hung up)
                nxt = (moved, {}) if moved else None
            if nxt is None:
                break
            url, extra = nxt
        else:
            t.note(f"stopped after {MAX_REQUESTS} requests")
        unused = [
            *(f"key {p}" if p else "a silence" for p in inputs["press"]),
            *(f"the words '{w}'" for w in inputs["say"]),
        ]
        if unused:  # an answer the call never asked for must not pass for one it heard
            t.note(f"  (never asked for: {', '.join(unused)}; no prompt was left to answer)")

    def _follow(
        self,
        body: str,
        t: Transcript,
        inputs: dict[str, list[str]],
        outcomes: list[str],
        caller: Caller,
        base: dict[str, str],
    ) -> tuple[str, dict[str, str]] | None:
        root = ET.fromstring(body)
        for verb in root:
            if verb.tag == "Say":
                t.heard.append(verb.text or "")
                t.note(f"  hears: {verb.text}")
            elif verb.tag == "Play":
                t.note(f"  hears audio: {verb.text}")
            elif verb.tag == "Gather":
                answer = self._gather(verb, t, inputs, caller)
                if answer is not None:
                    return answer
            elif verb.tag == "Redirect":
                target = (verb.text or "").strip()
                if urlsplit(target).netloc and not target.startswith(self.base_url):
                    t.handoffs.append(target)  # the company's own application takes over
                    t.note(f"  handed off to {target}")
                    return None
                return target, {}
            elif verb.tag in ("Dial", "Enqueue") and self.taskrouter is not None and _bound(verb):
                return self._workflow(verb, t, base)
            elif verb.tag in ("Dial", "Enqueue"):
                outcome, result = self._bridge(verb, t, outcomes, caller, base)
                if result is None:
                    return None  # the caller hung up on hold
                action = verb.get("action")
                if action:
                    return action, result
                if outcome in ("completed", "answered", HANGS_UP):
                    return None  # they talked, and the caller hangs up at the end
                # No action: Twilio goes on with this document when the bridge ends
                # (https://www.twilio.com/docs/voice/twiml/dial)
            elif verb.tag == "Connect":
                return self._relay(verb, t, caller)
            elif verb.tag == "Hangup":
                t.note("  hangs up")
                return None
            elif verb.tag == "Record":
                # https://www.twilio.com/docs/voice/twiml/record: after the beep the caller
                # speaks; the action gets the recording's SID, URL and length
                seconds = max(1, int(verb.get("maxLength", "3600")) // 2)
                t.note(f"  (beep) leaves a message of {seconds} s")
                sid = "RE" + secrets.token_hex(16)
                recording = {
                    "RecordingSid": sid,
                    "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}",
                }
                self._after_record(verb, t, base, caller, recording, seconds)
                return verb.get("action", ""), {**recording, "RecordingDuration": str(seconds)}
        return None

    @staticmethod
    def _after_record(
        verb: ET.Element,
        t: Transcript,
        base: dict[str, str],
        caller: Caller,
        recording: dict[str, str],
        seconds: int,
    ) -> None:
        """What Twilio sends once a <Record> is processed, after the call: the
        recordingStatusCallback for the events asked (default completed:
        https://www.twilio.com/docs/voice/twiml/record#recordingstatuscallback), then the
        transcribeCallback with the text, or failed when nothing could be transcribed."""
        events = (verb.get("recordingStatusCallbackEvent") or "completed").split()
        target = verb.get("recordingStatusCallback")
        if target and "completed" in events:
            t.later.append(
                (
                    target,
                    {
                        "CallSid": base["CallSid"],
                        **recording,
                        "RecordingStatus": "completed",
                        "RecordingDuration": str(seconds),
                        "RecordingChannels": "1",
                        "RecordingSource": "RecordVerb",
                        "RecordingStartTime": "Tue, 08 Dec 2026 04:00:00 +0000",
                    },
                )
            )
        target = verb.get("transcribeCallback")
        if target and verb.get("transcribe") == "true":
            tr = "TR" + secrets.token_hex(16)
            standard = ("CallSid", "From", "To", "Direction", "ApiVersion")
            t.later.append(
                (
                    target,
                    {
                        **{k: base[k] for k in standard if k in base},
                        "CallStatus": "completed",
                        **recording,
                        "TranscriptionSid": tr,
                        "TranscriptionText": caller.message,
                        "TranscriptionStatus": "completed" if caller.message else "failed",
                        "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording['RecordingSid']}/Transcriptions/{tr}",
                    },
                )
            )

    def _workflow(
        self, verb: ET.Element, t: Transcript, base: dict[str, str]
    ) -> tuple[str, dict[str, str]] | None:
        """A TaskRouter bridge: the enqueued call until a reservation redirects it (Twilio
        then posts the <Enqueue> action with QueueResult=redirected, whose TwiML it no
        longer plays), or a conference named after a reservation."""
        assert self.taskrouter is not None
        action = verb.get("action", "")
        if verb.tag == "Enqueue":
            workflow = verb.get("workflowSid", "")
            t.bridges.append(("workflow", workflow))
            t.note(f"  enqueued in workflow {workflow}")
            url = self.taskrouter.enqueued(verb, t, base)
            if url is None:
                t.note("  nobody is reserved: the caller hangs up on hold")
                return (
                    (action, {"QueueResult": "hangup", "QueueTime": "60", "CallStatus": "completed"})
                    if action
                    else None
                )
            if action:
                status, _, body = self.post(action, {**base, "QueueResult": "redirected", "QueueTime": "5"})
                t.statuses.append(status)
                t.documents.append(body)
            return url, {}
        name = "".join(inner.text or "" for inner in verb if inner.tag == "Conference").strip()
        t.bridges.append(("conference", name))
        t.note(f"  joins conference {name}")
        outcome, url = self.taskrouter.conference(name, t)
        if outcome == "redirected":
            return url, {}
        if outcome == "answered":
            t.note("  talks with the worker; the conference ends")
            return (action, {"DialCallStatus": "answered"}) if action else None
        t.note("  nobody joins: the caller hangs up")
        return (action, {"DialCallStatus": "answered", "CallStatus": "completed"}) if action else None

    def _relay(self, verb: ET.Element, t: Transcript, caller: Caller) -> tuple[str, dict[str, str]] | None:
        """A <Connect><ConversationRelay>: the caller talks with the company's bot; the bot
        ends the session (its "end" message, with handoffData when it hands the caller
        back) and Twilio requests the <Connect> action with the session's parameters
        (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay)."""
        relay = verb.find("ConversationRelay")
        if relay is None:
            t.note("  <Connect> without <ConversationRelay>: this phone cannot play it")
            return None
        words = {p.get("name"): p.get("value") for p in relay.findall("Parameter")}
        t.bridges.append(("relay", relay.get("url", "")))
        t.note(f"  talks with the automated agent at {relay.get('url')} ({words.get('language', '')})")
        action = verb.get("action")
        if not action:
            return None  # no action: Twilio goes on with the document, here none
        ended = {"SessionId": "VX" + secrets.token_hex(16), "SessionStatus": "ended", "SessionDuration": "30"}
        if caller.bot == "agent":
            t.note("  the automated agent hands the caller back: they asked for a person")
            ended["HandoffData"] = '{"reason":"agent"}'
        return action, ended

    def _gather(
        self, verb: ET.Element, t: Transcript, inputs: dict[str, list[str]], caller: Caller
    ) -> tuple[str, dict[str, str]] | None:
        """Play a <Gather> as Twilio does: its nested prompts (cut at the caller's input
        when it comes while they play and bargeIn is on), then the keys or words it hears.
        None: no input, and Twilio goes on to the next verb."""
        pressed = inputs["press"].pop(0) if inputs["press"] else ""
        words = inputs["say"].pop() if inputs["say"] and not inputs["press"] and not pressed else ""
        num_digits = int(verb.get("numDigits", "0") or 0)
        digits = keys_heard(pressed, verb.get("finishOnKey", DEFAULT_FINISH_ON_KEY), num_digits)
        cut = (pressed or words) and caller.barge_in and verb.get("bargeIn", "true") != "false"
        prompt = [inner.text or "" for inner in verb if inner.tag == "Say"]
        if prompt and inputs.pop("said_at", None) == prompt:
            t.note("  (the words said were not understood there: the same prompt again)")
        for inner in verb:
            if inner.tag == "Say":
                t.heard.append(inner.text or "")
                t.note(f"  hears: {inner.text}")
            if cut:  # Twilio stops the prompt there; nothing after it is played
                t.note(
                    f"    ^ cut off by {'key ' + pressed[0] if pressed else 'speech'} "
                    "while it played (barge-in)"
                )
                break
        if pressed:
            t.note(f"  presses {pressed}" + ("" if digits else ": no input (finishOnKey)"))
        if digits:
            return verb.get("action", ""), {"Digits": digits}
        if words:
            t.note(f"  says '{words}'")
            inputs["said_at"] = prompt
            return verb.get("action", ""), {"SpeechResult": words, "Confidence": f"{caller.confidence:g}"}
        if not pressed:
            t.note("  (stays silent)")
        return None

    def _bridge(
        self, verb: ET.Element, t: Transcript, outcomes: list[str], caller: Caller, base: dict[str, str]
    ) -> tuple[str, dict[str, str] | None]:
        """Play the bridge's outcome: (outcome, the parameters Twilio posts to its action;
        None when the caller hung up on hold)."""
        outcome = outcomes.pop(0) if outcomes else "completed"
        shown = ""
        result: dict[str, str] | None
        if verb.tag == "Dial":
            inner = verb[0]
            kind, target = inner.tag.lower(), (inner.text or "").strip()
            status = reported(outcome, kind) or outcome
            if verb.get("callerId"):
                shown = f" (shows caller ID {verb.get('callerId')})"
            t.note(f"  dials {kind} {target}{shown}")
            # Whoever answers is connected, unless the noun's url (the whisper) hangs up
            # their leg first (https://www.twilio.com/docs/voice/twiml/number#url).
            bridged = meaning(status) == ANSWERED and (
                not inner.get("url") or self._answering_leg(inner, verb, outcome, t)
            )
            result = {"DialCallStatus": status, "DialBridged": str(bridged).lower()}
        else:
            workflow = verb.get("workflowSid")
            kind, target = ("workflow", workflow) if workflow else ("queue", (verb.text or "").strip())
            queue_result = reported(outcome, kind)
            if queue_result is None:
                raise ImpossibleOutcome(
                    f"a {kind} bridge is never {outcome}: Twilio's <Enqueue> has no timeout; "
                    "the caller waits (--wait SECONDS) until an agent answers, the caller "
                    "leaves (the transfer key, the queue's max_wait) or hangs up"
                )
            result = {"QueueResult": queue_result, "QueueTime": "12"}
        if outcome == HANGS_UP:  # the action request then carries the caller's ended leg
            result["CallStatus"] = "completed"
        t.bridges.append((kind, target))
        t.note(f"  bridged to {kind} {target}{shown}: {outcome}")
        wait_url = verb.get("waitUrl")
        if verb.tag == "Enqueue" and wait_url and result["QueueResult"] == "bridged":
            result = self._hold(wait_url, t, caller, base)
        return outcome, result

    def _answering_leg(self, noun: ET.Element, dial: ET.Element, outcome: str, t: Transcript) -> bool:
        """Play the called party's leg of a <Number url> or <Sip url>: Twilio requests the
        url on that leg, and the parties are connected only if its TwiML ends without
        hanging up. An agent accepts (presses 1), declines (presses 2) or, as a voicemail
        does, presses nothing."""
        params = {
            "CallSid": "CA" + secrets.token_hex(16),
            "ParentCallSid": t.call_sid,
            "AccountSid": ACCOUNT_SID,
            "From": dial.get("callerId") or t.caller,
            "To": (noun.text or "").strip(),
            "Direction": "outbound-dial",
            "CallStatus": "in-progress",
            "ApiVersion": "2010-04-01",
        }
        key = {"declined": "2", "voicemail": ""}.get(outcome, "1")
        url, extra = noun.get("url", ""), dict[str, str]()
        for _ in range(4):
            status, _, body = self.post(url, {**params, **extra})
            t.statuses.append(status)
            if status != 200:
                t.note(f"  the called side's whisper got HTTP {status}: that leg is not connected")
                return False
            nxt = None
            for verb in ET.fromstring(body):
                if verb.tag == "Hangup":
                    t.note("  the called side's leg hangs up: the caller is not connected to it")
                    return False
                if verb.tag != "Gather":
                    continue
                for say in verb.iter("Say"):
                    t.whispers.append(say.text or "")
                    t.note(f"  the called side hears: {say.text}")
                if key:
                    t.note(f"  the called side presses {key}")
                    # no action: Gather posts to the document's own URL
                    nxt = verb.get("action") or url, {"Digits": key}
                    break
                t.note("  the called side presses nothing")
            if nxt is None:
                return True  # the document ended: Twilio connects the parties
            url, extra = nxt
        return False

    def _hold(
        self, wait_url: str, t: Transcript, caller: Caller, base: dict[str, str]
    ) -> dict[str, str] | None:
        """The waitUrl loop; what Twilio then posts to the <Enqueue> action (None: hung up)."""
        elapsed = 0
        for _ in range(MAX_HOLDS):
            queue = {
                "QueueSid": "QU" + "0" * 32,
                "QueueTime": str(elapsed),
                "QueuePosition": "1",
                "CurrentQueueSize": "1",
                "AvgQueueTime": "0",
            }
            status, _, body = self.post(wait_url, {**base, **queue})
            t.statuses.append(status)
            t.documents.append(body)
            if status != 200:
                t.note(f"  on hold {_clock(elapsed)}: Twilio got HTTP {status} from the waitUrl")
                return {"QueueResult": "error", "QueueTime": str(elapsed)}
            verbs = list(ET.fromstring(body))
            tags = [v.tag for v in verbs]
            if "Leave" in tags:
                t.note(f"  on hold {_clock(elapsed)}: leaves the queue")
                return {"QueueResult": "leave", "QueueTime": str(elapsed)}
            if "Hangup" in tags:  # the call ends in the queue, as a caller hanging up would
                t.note(f"  on hold {_clock(elapsed)}: hangs up")
                return {"QueueResult": "hangup", "QueueTime": str(elapsed), "CallStatus": "completed"}
            gather = next((v for v in verbs if v.tag == "Gather"), None)
            if caller.hold_press and elapsed >= caller.wait and gather is not None:
                t.note(f"  on hold {_clock(elapsed)}: presses {caller.hold_press}")
                status, _, pressed = self.post(
                    gather.get("action", wait_url), {**base, **queue, "Digits": caller.hold_press}
                )
                t.statuses.append(status)
                t.documents.append(pressed)
                if status == 200 and [v.tag for v in ET.fromstring(pressed)] == ["Leave"]:
                    t.note(f"  on hold {_clock(elapsed)}: leaves the queue")
                    return {"QueueResult": "leave", "QueueTime": str(elapsed)}
            length = 0
            for inner in gather if gather is not None else verbs:
                if inner.tag == "Say":
                    t.held.append(inner.text or "")
                    t.note(f"  on hold {_clock(elapsed)} hears: {inner.text}")
                    length += max(1, round(len((inner.text or "").split()) / 2.5))
                elif inner.tag == "Play":
                    t.note(f"  on hold {_clock(elapsed)} hears audio: {inner.text}")
                    length += caller.music_seconds
                elif inner.tag == "Pause":
                    length += int(inner.get("length", "1"))
            length += int(gather.get("timeout", "5")) if gather is not None else 0
            if not caller.hold_press and elapsed + max(length, 1) > caller.wait:
                t.note(f"  on hold {_clock(caller.wait)}: an agent answers")
                return {"QueueResult": "bridged", "QueueTime": str(caller.wait)}
            elapsed += max(length, 1)
        t.note(f"  on hold: stopped after {MAX_HOLDS} waitUrl requests")
        return None


def _bound(verb: ET.Element) -> bool:
    """A bridge TaskRouter plays: an <Enqueue workflowSid> or a <Dial><Conference>."""
    if verb.tag == "Enqueue":
        return bool(verb.get("workflowSid"))
    return any(inner.tag == "Conference" for inner in verb)


def _clock(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"
