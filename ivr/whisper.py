"""The confirm whisper: what the answering side of a bridge hears, and what its key means.

A number or SIP bridge that confirms (``Target.confirms``) names a URL on its ``<Number>`` or
``<Sip>``. Twilio runs that URL's TwiML "on the called party's end, after they answer, but
before the parties are connected", and the called party may decline "using <Gather> and
<Hangup>" (https://www.twilio.com/docs/voice/twiml/number#url). So whoever picks up hears
one line, in the flow's first language: the caller's language, and whether the caller asked
for an agent at home or was told where this agent is and offered one; then a key accepts.
Any other key, or none (a voicemail greeting, an answering machine, someone who says
nothing), hangs up that leg and the caller is never connected to it: Twilio then reports the
``<Dial>`` with ``DialBridged=false`` and ``ivr.outcomes`` reads it as a failed bridge, so the
flow's ``on_failure`` goes on.

The whisper URL carries the call's step (``Call.to_query``): the whisper needs no Redis, and
its answer is recorded on the caller's own call (Twilio's ``ParentCallSid``) as ``confirm``.
Pure: no I/O.
"""

from __future__ import annotations

from ivr.flow import Flow
from ivr.places import country_name, language_name
from ivr.vocabulary import Call, Event, Speak

ACCEPT_KEY = "1"
# {language}: the caller's, named in the whisper's language; {home_country} as in flow texts.
TEXTS = {
    "en": {
        "line": "Onshore call. The caller speaks {language}. {context}Press 1 to take the call.",
        "asked": "They asked for an agent in {home_country}. ",
        "offered": "They were told where you are and offered an agent in {home_country}. ",
    },
    "es": {
        "line": "Llamada de Onshore. La persona que llama habla {language}. {context}"
        "Oprima 1 para atender la llamada.",
        "asked": "Pidió un agente en {home_country}. ",
        "offered": "Se le dijo dónde está usted y se le ofreció un agente en {home_country}. ",
    },
}
FALLBACK = Speak("Onshore call. Press 1 to take the call.", "en-US")  # flow or step unknown


def line(flow: Flow, call: Call, home: str) -> Speak:
    """What the answering side hears: in the flow's first language (English when Onshore has
    no whisper in it), with that language's voice."""
    first = flow.speaking(flow.codes[0])
    texts = TEXTS.get(first.code)
    tag, voice = (first.tag, first.voice) if texts else ("en-US", "")
    texts = texts or TEXTS["en"]
    context = texts["asked"] if call.domestic else texts["offered"] if call.heard else ""
    text = texts["line"].format(
        language=language_name(flow.speaking(call.language).code, tag), context=context
    )
    return Speak(text.format(home_country=country_name(home, tag)), tag, voice)


def answer(call: Call, digits: str, leg: str) -> tuple[bool, Event]:
    """Whether the key pressed accepts the call, and the evidence of it (on the caller's
    call, keyed by the bridge's step so a replayed answer adds nothing)."""
    accepted = digits == ACCEPT_KEY
    return accepted, Event(
        f"confirm:{call.seq}:{call.state}",
        "confirm",
        (
            ("outcome", "accepted" if accepted else "declined"),
            ("key", digits),
            ("center", call.center),
            ("leg", leg),
        ),
    )


# What a TaskRouter worker hears when their leg answers, before the conference (a flow's
# agent_whisper): no key to press, the reservation is accepted already (ivr.bind_routes).
AGENT = {
    "en": {
        "line": "Onshore call. The caller speaks {language}. {context}",
        "declined": "They were told where you are, offered an agent in {home_country}, and stayed.",
        "told": "",
    },
    "es": {
        "line": "Llamada de Onshore. La persona que llama habla {language}. {context}",
        "declined": "Se le dijo dónde está usted, se le ofreció un agente en {home_country} y se quedó.",
        "told": "",
    },
}


def agent_line(flow: Flow, language: str, declined: bool, home: str) -> Speak:
    """The worker's whisper, in the flow's first language (English when Onshore has none in
    it): the caller's language (``language``, its code), and whether they declined the offer."""
    first = flow.speaking(flow.codes[0])
    texts = AGENT.get(first.code)
    tag, voice = (first.tag, first.voice) if texts else ("en-US", "")
    texts = texts or AGENT["en"]
    context = texts["declined"] if declined else texts["told"]
    text = texts["line"].format(language=language_name(flow.speaking(language).code, tag), context=context)
    return Speak(text.format(home_country=country_name(home, tag)).strip(), tag, voice)
