"""The domestic request kept when the domestic destination cannot take the call now (pure).

Theory of operation. A caller who asks for an agent in the home country is bridged to the
flow's domestic destination (``ivr.bridges.transfer``), the one for the call's language
when the flow names one per language. When the flow offers a callback or voicemail
(``[flows.ID.callback]``, ``[flows.ID.voicemail]``) and that destination is closed (its
hours, holidays, closures), its estimated wait is above ``domestic_max_wait``, or its bridge
failed (busy, no answer, a full queue), the caller is not bridged to a line nobody answers:
they hear why and choose, by key or by voice,

1. a callback (``@callback-number``): at the number they call from when it is a number in
   the home country that may be called back (``ivr.callbacks.number_problem``), or another
   they key in (``@callback-keyed``), checked the same way and asked again when it is not;
   the engine's ``RequestCallback`` action is carried out at the webhook edge (a place in
   the destination's line, ``ivr.callback_store``); if Redis cannot take it, the caller gets
   voicemail, or the domestic bridge;
2. voicemail (``@voicemail``): the recording notice when the flow asks for consent, the
   prompt, a beep and ``<Record>``; the recording's SID and URL go into the evidence;
3. to keep waiting (``@domestic-choice`` key 3), only when the destination is open.

Silence or a key that is none of these hears the choice again (twice); then the caller
keeps waiting when the destination is open, else goes to voicemail, else to a callback at
their own number when it can be called, else the bridge as before: never silence, never a
hang-up without a choice, and never an offshore center (every path here stays on the
domestic destination). A caller who calls again while a callback of theirs is open hears
first that it is waiting: 1 keeps it (and ends the call), 2 cancels it and goes on.
"""

from __future__ import annotations

from collections.abc import Mapping

from ivr import bridges, callbacks, hearing, routing, wording
from ivr.estimate import minutes
from ivr.flow import Center, Flow
from ivr.vocabulary import (
    Ask,
    CancelCallback,
    Facts,
    Heard,
    Record,
    Recorded,
    Reply,
    RequestCallback,
    Speak,
    Turn,
)

CHOICE, NUMBER, KEYED, VOICEMAIL, PENDING = (
    "@domestic-choice",
    "@callback-number",
    "@callback-keyed",
    "@voicemail",
    "@callback-pending",
)
STATES = (CHOICE, NUMBER, KEYED, VOICEMAIL, PENDING)
RETRIES, TIMEOUT, KEYED_TIMEOUT = 2, 6, 10
CALLBACK_KEY, VOICEMAIL_KEY, WAIT_KEY = "1", "2", "3"
WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "callback": CALLBACK_KEY,
        "call me back": CALLBACK_KEY,
        "message": VOICEMAIL_KEY,
        "wait": WAIT_KEY,
    },
    "es": {"llamada": CALLBACK_KEY, "llámenme": CALLBACK_KEY, "mensaje": VOICEMAIL_KEY, "esperar": WAIT_KEY},
}
TEXTS: Mapping[str, Mapping[str, str]] = {
    "wait": {
        "en": "The wait for an agent in {home_country} is about {minutes} minutes.",
        "es": "La espera para un agente en {home_country} es de unos {minutes} minutos.",
    },
    "closed": {
        "en": "Our agents in {home_country} cannot take your call right now.",
        "es": "Nuestros agentes en {home_country} no pueden atender su llamada ahora.",
    },
    "long": {
        "en": "The wait for an agent in {home_country} is more than {minutes} minutes right now.",
        "es": "La espera para un agente en {home_country} es de más de {minutes} minutos ahora.",
    },
    "callback": {
        "en": "To be called back by an agent in {home_country}, keeping your place, "
        "press 1 or say 'callback'.",
        "es": "Para que un agente en {home_country} le llame, sin perder su lugar, "
        "oprima 1 o diga 'llamada'.",
    },
    "voicemail": {
        "en": "To leave a message for our team in {home_country}, press 2 or say 'message'.",
        "es": "Para dejar un mensaje a nuestro equipo en {home_country}, oprima 2 o diga 'mensaje'.",
    },
    "keep": {
        "en": "To keep waiting, press 3 or say 'wait'.",
        "es": "Para seguir esperando, oprima 3 o diga 'esperar'.",
    },
    "number": {
        "en": "To be called back at the number you are calling from, ending in {last4}, press 1. "
        "To enter another number, press 2.",
        "es": "Para que le llamemos al número desde el que llama, que termina en {last4}, oprima 1. "
        "Para dar otro número, oprima 2.",
    },
    "enter": {
        "en": "Please enter the phone number to call back, with its area code, then press the pound key.",
        "es": "Por favor marque el número al que le llamaremos, con su código de área, "
        "y luego la tecla de numeral.",
    },
    "bad_number": {
        "en": "That number cannot be called back.",
        "es": "No podemos llamar a ese número.",
    },
    "confirmed": {
        "en": "Thank you. An agent in {home_country} will call you back at the number ending in "
        "{last4} when it is your turn. You may hang up now.",
        "es": "Gracias. Un agente en {home_country} le llamará al número que termina en {last4} "
        "cuando sea su turno. Puede colgar ahora.",
    },
    "pending": {
        "en": "You already have a callback waiting for an agent in {home_country}. "
        "To keep your callback, press 1. To cancel it and continue, press 2.",
        "es": "Ya tiene una llamada pendiente de un agente en {home_country}. "
        "Para mantenerla, oprima 1. Para cancelarla y continuar, oprima 2.",
    },
    "kept": {
        "en": "Your callback is kept. We will call you when it is your turn. Goodbye.",
        "es": "Su llamada se mantiene. Le llamaremos cuando sea su turno. Adiós.",
    },
    "notice": {
        "en": "Your message will be recorded.",
        "es": "Su mensaje será grabado.",
    },
    "record": {
        "en": "Please leave your message after the tone. Press any key when you are done.",
        "es": "Por favor deje su mensaje después del tono. Oprima cualquier tecla al terminar.",
    },
    "recorded": {
        "en": "Thank you. Your message was left for our team in {home_country}. Goodbye.",
        "es": "Gracias. Su mensaje quedó para nuestro equipo en {home_country}. Adiós.",
    },
}


def line(name: str, flow: Flow, facts: Facts, language: str, **more: object) -> Speak:
    """A built-in line in the call's language (English when the flow's language has none)."""
    lang = flow.speaking(language)
    table = TEXTS[name]
    text = table.get(lang.code, table["en"])
    return Speak(wording.fill(text, flow, facts, None, lang.code, **more), lang.tag, lang.voice)


def unable(flow: Flow, facts: Facts, center: Center) -> tuple[str, float | None]:
    """Why the domestic destination cannot take the call now ("": it can), and its
    estimated wait in seconds when Onshore has one."""
    estimate = facts.domestic_waits.get(center.id)
    if not flow.offers_choice:
        return "", estimate
    if not routing.is_open(center, facts.now):
        return "closed", estimate
    if flow.domestic_max_wait and estimate is not None and estimate > flow.domestic_max_wait:
        return "wait", estimate
    return "", estimate


def announce(flow: Flow, turn: Turn, facts: Facts, center: Center, estimate: float | None) -> None:
    """The domestic wait, said before the bridge when the flow asks and Onshore knows it."""
    said = minutes(estimate)
    if not flow.announce_domestic_wait or not said:  # no estimate is better than a wrong one
        return
    turn.note("domestic_wait_announced", center=center.id, estimate=round(estimate or 0), minutes=said)
    turn.actions.append(line("wait", flow, facts, turn.call.language, minutes=said))


def offer(flow: Flow, turn: Turn, facts: Facts, center: Center, why: str, estimate: float | None) -> Turn:
    """Say why, then ask for the choice (the domestic destination is the call's center)."""
    is_open = routing.is_open(center, facts.now)
    offered = _offered(flow, is_open)
    turn.note(
        "domestic_choice",
        center=center.id,
        reason=why,
        estimate=round(estimate) if estimate is not None else "",
        offered="|".join(offered),
    )
    language = turn.call.language
    if why == "wait" and estimate is not None:
        turn.actions.append(line("long", flow, facts, language, minutes=minutes(flow.domestic_max_wait)))
    else:
        turn.actions.append(line("closed", flow, facts, language))
    turn.call = turn.call._replace(state=CHOICE, center=center.id, domestic=True, misses=0)
    return _ask_choice(flow, turn, facts, is_open)


def _offered(flow: Flow, is_open: bool) -> list[str]:
    return [
        *(["callback"] if flow.callback is not None else []),
        *(["voicemail"] if flow.voicemail is not None else []),
        *(["wait"] if is_open else []),
    ]


def _ask_choice(flow: Flow, turn: Turn, facts: Facts, is_open: bool) -> Turn:
    language = turn.call.language
    lines = [
        line(name, flow, facts, language)
        for name, on in (("callback", flow.callback), ("voicemail", flow.voicemail), ("keep", is_open))
        if on
    ]
    return _ask(flow, turn, lines, _hints(flow, language))


def _ask(flow: Flow, turn: Turn, lines: list[Speak], hints: tuple[str, ...], digits: int = 1) -> Turn:
    first = lines[0]
    turn.call = turn.call._replace(seq=turn.call.seq + 1)
    timeout = KEYED_TIMEOUT if digits > 1 else TIMEOUT
    turn.actions.append(
        Ask(first.text, first.language, first.voice, "", hints, timeout, turn.call, tuple(lines[1:]), digits)
    )
    return turn


def _hints(flow: Flow, language: str) -> tuple[str, ...]:
    return tuple(WORDS.get(flow.speaking(language).code, WORDS["en"]))


def _key(flow: Flow, reply: Reply, language: str) -> str:
    """The choice a reply makes: its first key, or the key of a word it says."""
    if not isinstance(reply, Heard):
        return ""
    if reply.digits.strip():
        return reply.digits.strip()[:1]
    for word, key in WORDS.get(flow.speaking(language).code, WORDS["en"]).items():
        if hearing.says(reply.speech, word):
            return key
    return ""


def answered(flow: Flow, turn: Turn, facts: Facts, reply: Reply) -> Turn:
    """The caller answered one of this module's prompts."""
    state = turn.call.state
    center = facts.centers.get(turn.call.center)
    if state == PENDING:
        return _pending_answered(flow, turn, facts, reply)
    if center is None or center.country != facts.home:  # never anywhere but the home country
        return bridges.transfer(flow, turn, facts, how="")
    if state == CHOICE:
        return _choice_answered(flow, turn, facts, center, reply)
    if state == NUMBER:
        return _number_answered(flow, turn, facts, center, reply)
    if state == KEYED:
        return _keyed(flow, turn, facts, center, reply)
    return _recorded(flow, turn, facts, center, reply)


def _choice_answered(flow: Flow, turn: Turn, facts: Facts, center: Center, reply: Reply) -> Turn:
    call = turn.call
    key = _key(flow, reply, call.language)
    is_open = routing.is_open(center, facts.now)
    choice = {CALLBACK_KEY: "callback", VOICEMAIL_KEY: "voicemail", WAIT_KEY: "wait"}.get(key, "")
    if choice not in _offered(flow, is_open):
        if call.misses < RETRIES:
            turn.note("domestic_chose", choice="none", attempt=call.misses + 1, result="again")
            turn.call = call._replace(misses=call.misses + 1)
            return _ask_choice(flow, turn, facts, is_open)
        choice = (
            "wait" if is_open else "voicemail" if flow.voicemail else "callback" if flow.callback else "wait"
        )
        turn.note("domestic_chose", choice=choice, attempt=call.misses + 1, result="default")
    else:
        turn.note("domestic_chose", choice=choice, attempt=call.misses + 1, result="chosen")
    turn.call = turn.call._replace(misses=0)
    if choice == "callback":
        return ask_number(flow, turn, facts)
    if choice == "voicemail":
        return voicemail(flow, turn, facts, center)
    return bridges.to_domestic(flow, turn, center)


def ask_number(flow: Flow, turn: Turn, facts: Facts) -> Turn:
    """Confirm the caller's own number when it may be called back, else ask for one."""
    if callbacks.number_problem(facts.caller, facts.home):
        turn.call = turn.call._replace(state=KEYED)
        return _ask(flow, turn, [line("enter", flow, facts, turn.call.language)], (), digits=15)
    turn.call = turn.call._replace(state=NUMBER)
    return _ask(flow, turn, [line("number", flow, facts, turn.call.language, last4=_last4(facts.caller))], ())


def _number_answered(flow: Flow, turn: Turn, facts: Facts, center: Center, reply: Reply) -> Turn:
    key = _key(flow, reply, turn.call.language)
    if key == "1" or (not key and turn.call.misses >= RETRIES):
        return request(flow, turn, facts, center, facts.caller, "caller-id")
    if key == "2":
        turn.call = turn.call._replace(state=KEYED, misses=0)
        return _ask(flow, turn, [line("enter", flow, facts, turn.call.language)], (), digits=15)
    turn.call = turn.call._replace(misses=turn.call.misses + 1)
    return _ask(flow, turn, [line("number", flow, facts, turn.call.language, last4=_last4(facts.caller))], ())


def _keyed(flow: Flow, turn: Turn, facts: Facts, center: Center, reply: Reply) -> Turn:
    digits = reply.digits if isinstance(reply, Heard) else ""
    number = callbacks.keyed_number(digits, facts.home)
    problem = callbacks.number_problem(number, facts.home) if number else "not-e164"
    if not problem:
        return request(flow, turn, facts, center, number, "keyed")
    turn.note("callback_number_refused", reason=problem, attempt=turn.call.misses + 1)
    if turn.call.misses < RETRIES:
        turn.call = turn.call._replace(misses=turn.call.misses + 1)
        lines = [
            line("bad_number", flow, facts, turn.call.language),
            line("enter", flow, facts, turn.call.language),
        ]
        return _ask(flow, turn, lines, (), digits=15)
    turn.actions.append(line("bad_number", flow, facts, turn.call.language))
    if flow.voicemail is not None:
        return voicemail(flow, turn, facts, center)
    return bridges.to_domestic(flow, turn, center)


def request(flow: Flow, turn: Turn, facts: Facts, center: Center, number: str, which: str) -> Turn:
    """Ask the edge to keep a callback's place in the destination's line; tell the caller.
    When the edge found Redis unable to take it (``facts.callbacks_down``): voicemail, or
    the domestic bridge."""
    if facts.callbacks_down:
        turn.note("callback_unrecorded", center=center.id, number=which)
        if flow.voicemail is not None:
            return voicemail(flow, turn, facts, center)
        return bridges.to_domestic(flow, turn, center)
    policy = flow.callback or callbacks.CallbackPolicy()
    lang = flow.speaking(turn.call.language)
    turn.note("callback_requested", center=center.id, number=which, attempts=policy.attempts)
    turn.actions.append(RequestCallback(center.id, number, lang.tag, lang.voice, policy))
    turn.actions.append(line("confirmed", flow, facts, turn.call.language, last4=_last4(number)))
    return bridges.end(turn)


def voicemail(flow: Flow, turn: Turn, facts: Facts, center: Center) -> Turn:
    """The recording notice (when consent is asked), the prompt, the beep and <Record>."""
    box = flow.voicemail
    assert box is not None
    language = turn.call.language
    if box.consent:
        turn.actions.append(line("notice", flow, facts, language))
    turn.actions.append(line("record", flow, facts, language))
    turn.call = turn.call._replace(state=VOICEMAIL, seq=turn.call.seq + 1, misses=0)
    turn.note(
        "voicemail_offered", center=center.id, notice=str(box.consent).lower(), max_length=box.max_length
    )
    turn.actions.append(Record(box.max_length, box.transcribe, turn.call))
    return turn


def _recorded(flow: Flow, turn: Turn, facts: Facts, center: Center, reply: Reply) -> Turn:
    if isinstance(reply, Recorded) and reply.sid:
        turn.note(
            "voicemail_left",
            center=center.id,
            recording=reply.sid,
            url=reply.url,
            duration=reply.duration,
            language=flow.speaking(turn.call.language).tag,
        )
        turn.actions.append(line("recorded", flow, facts, turn.call.language))
    else:
        turn.note("voicemail_empty", center=center.id)
    return bridges.end(turn)


def pending(flow: Flow, turn: Turn, facts: Facts) -> Turn:
    """A caller with an open callback calls again: keep it, or cancel it and go on."""
    turn.note("callback_pending")
    turn.call = turn.call._replace(state=PENDING)
    return _ask(flow, turn, [line("pending", flow, facts, turn.call.language)], ())


def _pending_answered(flow: Flow, turn: Turn, facts: Facts, reply: Reply) -> Turn:
    key = _key(flow, reply, turn.call.language)
    if key == "2":
        turn.note("callback_cancelled", by="caller")
        turn.actions.append(CancelCallback())
        turn.call = turn.call._replace(state=flow.start, misses=0)
        return turn  # the walk goes on from the flow's start
    turn.note("callback_kept")
    turn.actions.append(line("kept", flow, facts, turn.call.language))
    return bridges.end(turn)


def _last4(number: str) -> str:
    """The last four digits, spoken one by one."""
    return " ".join(number[-4:])
