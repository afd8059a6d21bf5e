"""What the person called back hears, as TwiML (pure: no I/O).

When Twilio connects an outbound callback it requests the callback's URL
(``/voice/callback?cb=ID&a=ATTEMPT``) and plays what this module renders: who is calling and
why, then one key to be connected (``greeting``). A voicemail or an answering machine presses
nothing, so no key is an attempt not answered: the callback is tried again later, never
counted as answered. The key connects the person to the domestic destination (``connect``:
a ``<Dial>`` to its number or SIP URI, or an ``<Enqueue>`` for a queue or workflow), whose
end comes back to the same URL with ``s=ended``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, Enqueue, Gather, VoiceResponse

from ivr.callbacks import Callback
from ivr.flow import Center
from ivr.places import country_name
from ivr.twiml import DIAL_TIMEOUT, FINISH_ON_KEY, dial_target

PATH = "/voice/callback"
ANSWER_KEY = "1"
KEY_TIMEOUT = 8  # seconds after the greeting to press the key

TEXTS: Mapping[str, Mapping[str, str]] = {
    "greeting": {
        "en": "Hello, this is {center} calling you back. You asked to speak with an agent in "
        "{home_country}. To be connected now, press 1.",
        "es": "Hola, le llama {center} como usted pidió. Usted pidió hablar con un agente en "
        "{home_country}. Para comunicarse ahora, oprima 1.",
    },
    "no_key": {
        "en": "We will try to reach you again later. Goodbye.",
        "es": "Intentaremos comunicarnos con usted más tarde. Adiós.",
    },
    "connecting": {
        "en": "Thank you. Connecting you now.",
        "es": "Gracias. Le comunicamos ahora.",
    },
    "not_connected": {
        "en": "We are sorry, no agent could take the call. We will call you again.",
        "es": "Lo sentimos, ningún agente pudo atender la llamada. Le llamaremos de nuevo.",
    },
    "over": {
        "en": "This callback is no longer needed. Goodbye.",
        "es": "Esta llamada ya no es necesaria. Adiós.",
    },
}


def text(name: str, language: str, **values: str) -> str:
    """A built-in line in the callback's language (its tag, "es-US"), English otherwise."""
    table = TEXTS[name]
    return table.get(language.split("-")[0].lower(), table["en"]).format(**values)


def url(callback: Callback, stage: str = "") -> str:
    query = {"cb": callback.id, "a": str(callback.attempt), **({"s": stage} if stage else {})}
    return f"{PATH}?{urlencode(query)}"


def _say(parent: VoiceResponse | Gather, line: str, callback: Callback) -> None:
    if callback.voice:
        parent.say(line, language=callback.language, voice=callback.voice)
    else:
        parent.say(line, language=callback.language)


def greeting(callback: Callback, center: Center | None, home: str) -> str:
    """Who is calling and why, listening for the one key that connects; then goodbye."""
    response = VoiceResponse()
    gather = Gather(
        input="dtmf",
        action=url(callback, "key"),
        method="POST",
        num_digits=1,
        finish_on_key=FINISH_ON_KEY,
        timeout=KEY_TIMEOUT,
    )
    name = center.name if center is not None else ""
    _say(
        gather,
        text("greeting", callback.language, center=name, home_country=country_name(home, callback.language)),
        callback,
    )
    response.append(gather)
    _say(response, text("no_key", callback.language), callback)
    response.hangup()
    return str(response)


def connect(callback: Callback, center: Center) -> str:
    """The person pressed 1: to the domestic destination, the end back to ``s=ended``."""
    response = VoiceResponse()
    _say(response, text("connecting", callback.language), callback)
    action = url(callback, "ended")
    target = center.target
    if target.kind in ("number", "sip"):
        dial = Dial(action=action, method="POST", timeout=DIAL_TIMEOUT, caller_id=callback.called or None)
        response.append(dial_target(dial, target))
    elif target.kind == "queue":
        response.append(Enqueue(target.value, action=action, method="POST"))
    else:
        response.append(Enqueue(None, action=action, method="POST", workflow_sid=target.value))
    return str(response)


def said(name: str, callback: Callback, hang_up: bool = True) -> str:
    """One built-in line, then (by default) a hang-up."""
    response = VoiceResponse()
    _say(response, text(name, callback.language), callback)
    if hang_up:
        response.hangup()
    return str(response)
