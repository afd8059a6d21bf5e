"""Turning the engine's actions into TwiML, only through the twilio SDK's VoiceResponse.

Rendering is pure and memoized: the same actions (which carry no CallSid) always give the
same document, so a busy number renders each distinct answer once per process.
"""

from __future__ import annotations

import json
from functools import lru_cache
from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, Enqueue, Gather, VoiceResponse

from ivr.bind import task_attributes
from ivr.flow import Target
from ivr.table_fields import XML_ILLEGAL
from ivr.vocabulary import Action, Ask, Call, Connect, End, Handover, Play, Record, Relay, Speak

STEP_PATH = "/voice/step"
WAIT_PATH = "/voice/wait"
CONFIRM_PATH = "/voice/confirm"
TRANSCRIPT_PATH = "/voice/voicemail/transcript"  # a voicemail's transcribeCallback
RECORDING_PATH = "/voice/voicemail/recording"  # its recordingStatusCallback
DIAL_TIMEOUT = 30
# Every key the caller presses at a prompt is input, "#" included: Twilio's default
# finishOnKey="#" would end the <Gather> on a lone "#" as if nothing were pressed (the step
# would see silence, after a nested prompt cut short); "" turns that off and numDigits=1
# still ends the input at the first key (https://www.twilio.com/docs/voice/twiml/gather).
FINISH_ON_KEY = ""
WHISPER_TIMEOUT = 6  # seconds, after the whisper ends, to press the accept key


def step_url(call: Call, path: str = STEP_PATH, extra: tuple[tuple[str, str], ...] = ()) -> str:
    """The URL Twilio requests when the caller or a bridge answers the call's current state
    (``path`` and ``extra``: a reservation's own URL, ``ivr.bind``)."""
    return f"{path}?{urlencode([*call.to_query().items(), *extra])}"


def confirm_url(call: Call, caller: str = "") -> str:
    """The whisper URL of a confirm bridge: what the answering side hears, then its answer;
    ``i``: the caller's keyed hash when the bridge shows the number dialed (ivr.caller_ids)."""
    return f"{CONFIRM_PATH}?{urlencode(call.to_query())}" + (f"&i={caller}" if caller else "")


def wait_url(call: Call, max_wait: int = 0) -> str:
    """The hold URL of a queued call: its flow version, center, step (``n``, ``s``: where the
    wait handler's evidence goes) and, when set, its language and wait limit in seconds."""
    query = {
        "f": call.flow,
        "v": call.version,
        "c": call.center,
        "n": call.seq,
        "s": call.state,
        **({"l": call.language} if call.language else {}),
        **({"w": max_wait} if max_wait else {}),
    }
    return f"{WAIT_PATH}?{urlencode(query)}"


def _clean(text: str) -> str:
    # Operator text is refused by `ivr check`; this guards text that reached Redis otherwise.
    return XML_ILLEGAL.sub("", text)


def _say(parent: VoiceResponse | Gather, text: str, language: str, voice: str) -> None:
    if voice:
        parent.say(_clean(text), language=language, voice=voice)
    else:
        parent.say(_clean(text), language=language)


@lru_cache(maxsize=4096)
def render(
    actions: tuple[Action, ...], path: str = STEP_PATH, extra: tuple[tuple[str, str], ...] = ()
) -> str:
    """The TwiML document for one turn; its answers go to ``path`` with ``extra`` added to
    the call's step (by default the step URL)."""
    response = VoiceResponse()
    for action in actions:
        if isinstance(action, Speak):
            _say(response, action.text, action.language, action.voice)
        elif isinstance(action, Play):
            response.play(_clean(action.url))
        elif isinstance(action, Ask):
            # A nested prompt stops at the caller's first key or detected speech (bargeIn
            # is on by default) and the timeout starts once it has played: silence reaches
            # the step only after the whole prompt. That is why a disclosure's location is
            # a <Say> of its own before this <Gather>, where no input can cut it, while the
            # offer is nested here, so that the transfer key works at once
            # (https://www.twilio.com/docs/voice/twiml/gather).
            url = step_url(action.then, path, extra)
            number = action.digits > 1  # a phone number: keys until "#", no speech
            gather = Gather(
                input="dtmf" if number else "dtmf speech",
                action=url,
                method="POST",
                num_digits=action.digits,
                finish_on_key="#" if number else FINISH_ON_KEY,
                timeout=action.timeout,
                speech_timeout="auto",
                language=action.language,
                hints=", ".join(action.hints),
            )
            _say(gather, action.text, action.language, action.voice)
            for line in action.also:
                _say(gather, line.text, line.language, line.voice)
            response.append(gather)
            response.redirect(url, method="POST")  # no input: the step sees Silence
        elif isinstance(action, Connect):
            response.append(_connect(action, path, extra))
        elif isinstance(action, Relay):
            # <Connect><ConversationRelay>: the caller talks to the company's bot over its
            # WebSocket; when the bot ends the session (its "end" message, with handoffData
            # when it hands the caller back) Twilio requests the <Connect> action
            # (https://www.twilio.com/docs/voice/twiml/connect,
            # https://www.twilio.com/docs/voice/twiml/connect/conversationrelay).
            connect = response.connect(action=step_url(action.then), method="POST")
            relay = connect.conversation_relay(url=_clean(action.url), language=action.language)
            for name, value in action.parameters:
                relay.parameter(name=name, value=_clean(value))
        elif isinstance(action, Handover):
            response.redirect(_clean(action.url), method="POST")
        elif isinstance(action, End):
            response.hangup()
        elif isinstance(action, Record):
            # Voicemail (https://www.twilio.com/docs/voice/twiml/record): a beep, at most
            # maxLength seconds, any key ends it; the action gets RecordingSid, RecordingUrl
            # and RecordingDuration. With nothing recorded Twilio goes on to the next verb:
            # the step then hears no recording. The action's RecordingUrl may not serve the
            # file yet: recordingStatusCallback says when it does (completed) or that there is
            # none (absent); transcribeCallback brings the text (ivr.webhooks.voicemail_callback).
            url = step_url(action.then, path, extra)
            response.record(
                action=url,
                method="POST",
                max_length=action.max_length,
                play_beep=True,
                timeout=5,
                transcribe=action.transcribe or None,
                recording_status_callback=RECORDING_PATH,
                recording_status_callback_method="POST",
                recording_status_callback_event="completed absent",
                transcribe_callback=TRANSCRIPT_PATH if action.transcribe else None,
            )
            response.redirect(url, method="POST")
        # RequestCallback and CancelCallback are the webhook edge's to carry out: no TwiML
    return str(response)


def dial_target(dial: Dial, target: Target, **noun: str) -> Dial:
    """``dial`` with the number or SIP address of a number or sip target as its noun
    (``noun``: the noun's attributes, e.g. the whisper's url)."""
    if target.kind == "number":
        dial.number(target.value, **noun)
    else:
        dial.sip(target.value, **noun)
    return dial


def _connect(
    action: Connect, path: str = STEP_PATH, extra: tuple[tuple[str, str], ...] = ()
) -> Dial | Enqueue:
    url = step_url(action.then, path, extra)
    target = action.target
    if target.kind in ("number", "sip"):
        dial = Dial(action=url, method="POST", timeout=DIAL_TIMEOUT, caller_id=action.caller_id or None)
        # the whisper runs on the answering leg before the bridge (ivr.whisper)
        whisper = {"url": confirm_url(action.then, action.caller), "method": "POST"} if action.confirm else {}
        return dial_target(dial, target, **whisper)
    wait = wait_url(action.then, action.max_wait)
    if target.kind == "workflow":
        enqueue = Enqueue(
            action=url, method="POST", wait_url=wait, wait_url_method="POST", workflow_sid=target.value
        )
        # The Task carries the call's step: the assignment callback sends the call on from
        # there (ivr.bind); TaskRouter adds call_sid, from, to to these attributes
        # (https://www.twilio.com/docs/taskrouter/twiml-queue-calls).
        enqueue.task(task_attributes(action.attributes, action.then))
        return enqueue
    return Enqueue(target.value, action=url, method="POST", wait_url=wait, wait_url_method="POST")


def static_bridge(
    lines: tuple[Speak, ...],
    target: Target,
    caller_id: str,
    attributes: tuple[tuple[str, str], ...],
    closing: tuple[Speak, ...],
) -> str:
    """A document that needs no server (``ivr.fallback``): the lines, a bridge with no
    action or wait URL (Twilio then goes on to the next verb), the closing lines, hang up."""
    response = VoiceResponse()
    for line in lines:
        _say(response, line.text, line.language, line.voice)
    if target.kind in ("number", "sip"):
        # The number called as the caller ID: the caller's own may be withheld (13214).
        response.append(dial_target(Dial(timeout=DIAL_TIMEOUT, caller_id=caller_id or None), target))
    elif target.kind == "workflow":
        enqueue = Enqueue(workflow_sid=target.value)
        enqueue.task(json.dumps(dict(attributes), sort_keys=True))
        response.append(enqueue)
    else:
        response.append(Enqueue(target.value))
    for line in closing:
        _say(response, line.text, line.language, line.voice)
    response.hangup()
    return str(response)


# A hold document ends 1 s after its music: then Twilio requests the waitUrl again. Gather's
# timeout starts when its nested Say and Play end (https://www.twilio.com/docs/voice/twiml/gather),
# so no more than that of silence in a row; the key stays live throughout.
HOLD_SILENCE = 1


def _hold_gather(lines: tuple[Speak | Play, ...], url: str) -> Gather:
    """The lines inside a <Gather> for one key posting to ``url``, HOLD_SILENCE after them."""
    gather = Gather(input="dtmf", num_digits=1, timeout=HOLD_SILENCE, action=url, method="POST")
    for line in lines:
        if isinstance(line, Speak):
            _say(gather, line.text, line.language, line.voice)
        else:
            gather.play(_clean(line.url))
    return gather


@lru_cache(maxsize=1024)
def hold(lines: tuple[Speak | Play, ...], pressed_url: str) -> str:
    """TwiML played to a caller waiting in a queue: announcements, the offer, music, all
    listening for the transfer key, which posts to ``pressed_url``."""
    response = VoiceResponse()
    response.append(_hold_gather(lines, pressed_url))
    return str(response)


@lru_cache(maxsize=256)
def whisper(line: Speak) -> str:
    """The confirm whisper on the answering leg: the line, listening for one key; no key
    hangs that leg up, so the caller is not connected to a voicemail. The key goes to the
    whisper's own URL, <Gather>'s default action ("current document URL",
    https://www.twilio.com/docs/voice/twiml/gather#action), so one document serves every call."""
    response = VoiceResponse()
    gather = Gather(input="dtmf", num_digits=1, timeout=WHISPER_TIMEOUT, method="POST")
    _say(gather, line.text, line.language, line.voice)
    response.append(gather)
    response.hangup()
    return str(response)


@lru_cache(maxsize=2)
def whisper_answered(accepted: bool) -> str:
    """After the key: an empty document connects the parties; a hang-up refuses the call."""
    response = VoiceResponse()
    if not accepted:
        response.hangup()
    return str(response)


@lru_cache(maxsize=1)
def leave() -> str:
    """Take the caller out of the queue; the Enqueue action then sees QueueResult=leave."""
    response = VoiceResponse()
    response.leave()
    return str(response)


@lru_cache(maxsize=1)
def empty() -> str:
    """An empty document, for callbacks that need no instructions (every status callback:
    rendered once, it cost 50 µs of the SDK's ElementTree each time)."""
    return str(VoiceResponse())


def apology(text: str) -> str:
    """Last resort when no flow is known at all: say so and hang up."""
    response = VoiceResponse()
    response.say(_clean(text), language="en-US")
    response.hangup()
    return str(response)


def join(lines: tuple[Speak, ...], room: str, action: str) -> str:
    """The caller's leg joins the conference named after a reservation (ivr.bind): hold
    music until the worker is in (``startConferenceOnEnter`` false: the conference waits for
    them), no beep, and the conference ends when the caller leaves; ``action`` hears how it
    ended (https://www.twilio.com/docs/voice/twiml/conference)."""
    response = VoiceResponse()
    for line in lines:
        _say(response, line.text, line.language, line.voice)
    dial = Dial(action=action, method="POST")
    dial.conference(room, beep=False, start_conference_on_enter=False, end_conference_on_exit=True)
    response.append(dial)
    return str(response)


def agent_leg(lines: tuple[Speak, ...], room: str) -> str:
    """The worker's leg: the whisper (when the flow has one), then the conference, which
    starts when they enter and ends when they leave."""
    response = VoiceResponse()
    for line in lines:
        _say(response, line.text, line.language, line.voice)
    dial = Dial()
    dial.conference(room, beep=False, start_conference_on_enter=True, end_conference_on_exit=True)
    response.append(dial)
    return str(response)


def hangup() -> str:
    """End this leg."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def holding(lines: tuple[Speak | Play, ...], url: str) -> str:
    """A caller waiting for a reserved worker: the lines inside a <Gather> for one key (the
    transfer key works throughout), then the same URL again: a document that loops until
    Onshore moves the call (REST) when the worker answers."""
    response = VoiceResponse()
    response.append(_hold_gather(lines, url))
    response.redirect(url, method="POST")
    return str(response)
