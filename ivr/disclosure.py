"""Where the disclosure is decided: the location sentence, the transfer offer, and what the
caller's answer to the offer means; and the cautious disclosure, when the centers could not
be read. Pure: no I/O.

The location is spoken on its own, before the prompt that listens; the offer is that
prompt. Consent is silence after the whole offer, nothing else: a key or words that are not
the transfer (or speech below the flow's ``min_confidence``) hear the offer again, up to the
state's ``retries``; then the call goes to the state's ``invalid`` (default: the domestic
destination) with no center chosen and nothing heard.

A handler returns the turn when it is over (its last action is an ``Ask``, a ``Connect`` or
an ``End``), or leaves ``turn.call`` in the next state for the engine to go on from.
"""

from __future__ import annotations

from ivr import bridges, hearing, wording
from ivr.errors import UnsafeBridge
from ivr.flow import Bridge, Disclose, Flow, answers_abroad
from ivr.vocabulary import AFTER_CAUTION, CAUTIOUS, Ask, Facts, Heard, Reply, Speak, Turn

CAUTION_RETRIES, CAUTION_TIMEOUT = 2, 5  # the cautious offer has no state to set them


def disclose(flow: Flow, turn: Turn, facts: Facts, state: Disclose) -> Turn:
    """Speak the location, then ask with the offer (the turn is over), or move on to
    state.next (exempt, or this location was already heard)."""
    call = turn.call
    center = facts.centers.get(call.center)
    if center is None:
        raise UnsafeBridge(f"state {state.name} has no chosen center to disclose")
    abroad = answers_abroad(center, facts.centers, facts.home)
    reason = facts.exempt or ("" if abroad else "domestic-center")
    if reason:
        turn.note("exempt", reason=reason, center=center.id)
        if reason == "domestic-center" and state.courtesy:
            turn.actions.append(wording.spoken(flow, facts, state.courtesy, call.language, center))
        turn.call = call._replace(state=state.next)
        return turn
    if call.heard == center.location:  # already told, e.g. re-entering after a menu
        turn.call = call._replace(state=state.next)
        return turn
    lang = flow.speaking(call.language)
    if center.target.shared:  # who answers is known at the bridge: every place they may be
        sites = wording.sites_named(center, facts, lang.tag)
        text = wording.fill(flow.shared_text, flow, facts, center, lang.code, sites=sites)
        disclosure, where = Speak(text, lang.tag, lang.voice), {"sites": ".".join(center.target.sites)}
    else:
        disclosure, where = wording.spoken(flow, facts, state.text, call.language, center), {}
    # The location is a prompt of its own, before the one that listens for the offer's
    # answer: nothing the caller presses or says can cut it short (see ivr.twiml.render).
    turn.note(
        "disclosed",
        center=center.id,
        city=center.city,
        country=center.country,
        text=disclosure.text,
        language=lang.tag,
        prompt="alone",
        **where,
    )
    turn.actions.append(disclosure)
    turn.call = call._replace(heard=center.location, misses=0)
    return _offer(flow, turn, facts, wording.fill(state.offer, flow, facts, center, lang.code), state.timeout)


def offer(flow: Flow, turn: Turn, facts: Facts, text: str, timeout: int) -> Turn:
    """Ask with a transfer offer; the answer comes back to the call's state (``ivr.bind``
    asks it at a reservation)."""
    return _offer(flow, turn, facts, text, timeout)


def _offer(flow: Flow, turn: Turn, facts: Facts, text: str, timeout: int) -> Turn:
    """Ask with the transfer offer (again, after a miss); the answer comes back to this state."""
    lang = flow.speaking(turn.call.language)
    turn.note(
        "offered",
        text=text,
        key=flow.transfer_key,
        keywords="|".join(flow.transfer_words),
        prompt="gather",
        attempt=turn.call.misses + 1,
    )
    turn.call = turn.call.waiting()
    turn.actions.append(
        Ask(
            text,
            lang.tag,
            lang.voice,
            flow.transfer_key,
            hearing.transfer_hints(flow, lang),
            timeout,
            turn.call,
        )
    )
    return turn


def answer_noted(flow: Flow, turn: Turn, reply: Reply, retries: int, **where: str) -> tuple[str, str]:
    """What the caller's answer to a transfer offer means, noted as ``offer_ended`` (with
    ``where``): (the transfer words or key matched, result): ``transfer``, ``next``
    (silence after the whole offer: consent), ``again`` (a miss with retries left) or
    ``invalid``. ``ivr.bind`` asks it at a reservation."""
    misses = turn.call.misses
    matched = hearing.matched(flow, reply)
    ended = (
        "speech"
        if isinstance(reply, Heard) and reply.speech.strip()
        else "key"
        if isinstance(reply, Heard) and reply.digits
        else "silence"
    )
    result = (
        "transfer"
        if matched
        else "next"
        if ended == "silence"
        else "again"
        if misses < retries
        else "invalid"
    )
    turn.note(
        "offer_ended",
        ended=ended,
        matched=matched or ("" if ended == "silence" else "unrecognised"),
        attempt=misses + 1,
        result=result,
        **where,
    )
    return matched, result


def offer_answered(flow: Flow, turn: Turn, facts: Facts, reply: Reply, state: Disclose | None) -> Turn:
    """The caller answered a transfer offer (a disclosure's, or the cautious one without a
    state): the transfer, silence after the whole offer (consent to ``next``), or a miss,
    which hears the offer again until the retries are used up and then goes to ``invalid``."""
    call = turn.call
    matched, result = answer_noted(flow, turn, reply, state.retries if state else CAUTION_RETRIES)
    if result == "transfer":
        return bridges.transfer(flow, turn, facts, how=matched)
    if result == "next":
        if state is None:
            return bridges.bridge(flow, turn, facts, Bridge(AFTER_CAUTION, ""), reply)
        turn.call = call._replace(state=state.next, misses=0)
        return turn
    if result == "again":
        turn.call = call._replace(misses=call.misses + 1)
        center = facts.centers.get(call.center)
        if state is None:
            return _offer(flow, turn, facts, _caution_text(flow, facts, call.language), CAUTION_TIMEOUT)
        text = wording.fill(state.offer, flow, facts, center, flow.speaking(call.language).code)
        return _offer(flow, turn, facts, text, state.timeout)
    # Not understood, again and again: never consent. The call leaves the disclosure with no
    # center and nothing heard, so only a new route and disclosure can lead offshore.
    if state is None or not state.invalid:
        return bridges.transfer(flow, turn, facts, how="")
    turn.call = call._replace(state=state.invalid, center="", heard="", misses=0)
    return turn


def caution(flow: Flow, turn: Turn, facts: Facts, center: str) -> Turn:
    """The cautious disclosure: one prompt, both sentences; only silence after all of it
    lets the bridge go ahead (a key or words cut it, and are the transfer or a miss)."""
    lang = flow.speaking(turn.call.language)
    tried = turn.call.tried if center in turn.call.tried else turn.call.tried + (center,)
    text = _caution_text(flow, facts, turn.call.language)
    turn.note(
        "disclosed",
        center="",
        city="",
        country="",
        text=text,
        language=lang.tag,
        cautious="true",
        prompt="gather",
    )
    turn.call = turn.call._replace(state=AFTER_CAUTION, center=center, heard=CAUTIOUS, tried=tried, misses=0)
    return _offer(flow, turn, facts, text, CAUTION_TIMEOUT)


def _caution_text(flow: Flow, facts: Facts, language: str) -> str:
    return wording.fill(flow.cautious_text, flow, facts, None, flow.speaking(language).code)
