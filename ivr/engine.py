"""The flow engine: a pure function from (flow, call, reply, facts) to a turn.

Theory of operation. A call is a position in a flow graph (``Call``), carried between
webhooks in the step URL that Twilio signs, so any worker can serve any step and a
replayed webhook gets the same answer. Each webhook gives the engine what the caller or
Twilio just did (``Reply``) and what is true now (``Facts``: the centers read from Redis at
this moment, the time, the number's exemption and starting language). The engine walks
states that need no answer (say, route, overflow, hours) until it reaches one that waits
for the caller or for Twilio (a disclosure prompt, a menu, a bridge), or ends Onshore's part
(a hang-up, a hand-off to the company's own TwiML application), and returns a ``Turn``:
what to send to Twilio (``actions``) and what to record (``events``).

The call carries its language: every prompt is spoken in it, with its voice, and the
disclosure names the city and the country as that language says it ("Filipinas").

The one rule it never breaks: a bridge to a center outside the home country happens only
after the caller heard that center's location and the transfer offer in this call (or a
cautious disclosure while the lookup was impossible), unless the number is exempt. When
a flow would break it, the engine raises UnsafeBridge and the webhook gives the safe answer.
After a disclosure the transfer stays live wherever the caller can answer: at the
disclosure, in every menu (checked before the menu's own options) and on hold.

Consent is silence after the whole offer, nothing else. The location sentence is spoken on
its own, before the prompt that listens; the offer is that prompt. A key or words that are
not the transfer (or speech below the flow's ``min_confidence``) hear the offer again, up
to the state's ``retries``; then the call goes to the state's ``invalid`` (default: the
domestic destination) with no center chosen and nothing heard, so no offshore bridge can
follow without a new route and disclosure.

Evidence keys are ``step:seq:state``: ``seq`` counts the call's waits (each prompt or bridge
sends it one higher), and a state runs at most once between two waits, so each event has
one key and a replayed webhook repeats the keys it recorded before.

Where each part lives, in the order a call meets them: ``ivr.routing`` (which center, and
whether it is open), ``ivr.disclosure`` (the location, the offer and its answer, the cautious
disclosure), ``ivr.menus``, ``ivr.bridges`` (a center, the domestic transfer, how a bridge
ended); ``ivr.wording`` fills the prompts and ``ivr.hearing`` reads what the caller pressed
or said. The words they share are ``ivr.vocabulary``. This module walks the states: each
handler returns the turn when it is over (``Turn.over``: it waits or it ended), or leaves
the call in its next state and the walk goes on.

No I/O here: no Flask, no Redis, no Twilio.
"""

from __future__ import annotations

from collections.abc import Callable

from ivr import automated, bridges, disclosure, domestic, menus, routing, wording
from ivr.flow import (
    Automated,
    Bridge,
    Disclose,
    Domestic,
    Flow,
    Handoff,
    Hangup,
    Hours,
    LanguageMenu,
    Menu,
    Overflow,
    Route,
    Say,
    State,
)
from ivr.vocabulary import (
    AFTER_CAUTION,
    AUTOMATED_HANDOFF,
    INTERNAL_ERROR,
    TRANSFER,
    BridgeEnded,
    Call,
    Facts,
    Handover,
    Play,
    Reply,
    Speak,
    Turn,
)

MAX_HOPS = 64


def begin(flow: Flow, facts: Facts) -> Turn:
    """The first webhook of a call (a caller with an open callback is asked about it first)."""
    if facts.callback_pending and flow.callback is not None:
        return domestic.pending(flow, Turn(first_call(flow, facts)), facts)
    return _run(flow, Turn(first_call(flow, facts)), facts)


def resume(flow: Flow, call: Call, reply: Reply, facts: Facts) -> Turn:
    """A later webhook: the caller or Twilio answered the state the call waits in."""
    turn = _answered(flow, Turn(call), facts, reply)
    return turn if turn.over else _run(flow, turn, facts)


def _answered(flow: Flow, turn: Turn, facts: Facts, reply: Reply) -> Turn:
    """The reply read by the state the call waits in."""
    call = turn.call
    if call.state == TRANSFER:
        return bridges.domestic_ended(flow, turn, facts, reply, on_failure="")
    if call.state in domestic.STATES:
        return domestic.answered(flow, turn, facts, reply)
    if call.state == AFTER_CAUTION:
        return disclosure.offer_answered(flow, turn, facts, reply, None)
    state = flow.states[call.state]
    if isinstance(state, Disclose):
        return disclosure.offer_answered(flow, turn, facts, reply, state)
    if isinstance(state, (Menu, LanguageMenu)):
        return menus.answer(flow, turn, facts, state, reply)
    if isinstance(state, Bridge):
        return bridges.bridge(flow, turn, facts, state, reply)
    if isinstance(state, Domestic) and isinstance(reply, BridgeEnded):
        return bridges.domestic_ended(flow, turn, facts, reply, on_failure=state.on_failure)
    if isinstance(state, Automated):
        if automated.wants_a_human(turn, reply):
            return bridges.transfer(flow, turn, facts, how=AUTOMATED_HANDOFF)
        if not state.next:
            return bridges.end(turn)
        turn.call = call._replace(state=state.next)
    return turn


def first_call(flow: Flow, facts: Facts) -> Call:
    """Where a new call starts: the flow's start, in the number's language if the flow has it."""
    language = facts.language if facts.language in flow.codes[1:] else ""
    return Call(
        flow.id,
        flow.version,
        flow.start,
        exempt=facts.exempt or "",
        language=language,
        home_only=facts.home_only,
    )


def opening(flow: Flow, facts: Facts) -> tuple[bool, ...]:
    """Whether each center the flow may route to, and each of its hours states, is open at
    ``facts.now``: the only way the clock enters a turn (``routing.pick`` and
    ``routing.hours_open``), so two first turns with the same flow, centers and opening are
    the same turn."""
    centers, now = facts.centers, facts.now
    return (
        *[c in centers and routing.is_open(centers[c], now) for c in flow.routable],
        *[routing.hours_open(state, facts) for state in flow.hours_states],
    )


def hold_offer(flow: Flow, facts: Facts, language: str = "") -> Speak:
    """The transfer offer a caller on hold hears, in the call's language (its code)."""
    return wording.spoken(flow, facts, flow.hold_offer, language)


def turn_or_safe_answer(
    decide: Callable[[], Turn], flow: Flow, call: Call, facts: Facts, failed: Callable[[Exception], None]
) -> Turn:
    """decide(), or the flow's safe answer when it raises (after telling ``failed``): the
    caller must never hear Twilio's "application error"."""
    try:
        return decide()
    except Exception as exc:  # noqa: BLE001 - any failure gets the safe answer
        failed(exc)  # the exception is logged there; the record names where, in words
        return safe_answer(flow, call, facts, reason=f"{INTERNAL_ERROR} at state '{call.state}'"[:200])


def safe_answer(flow: Flow, call: Call, facts: Facts, reason: str) -> Turn:
    """What a caller gets when the normal path cannot run: the flow's lookup-failure policy."""
    turn = Turn(call)
    turn.note("safe_answer", reason=reason, policy=flow.on_lookup_failure)
    if flow.on_lookup_failure == "cautious" and not call.domestic and not call.home_only:
        center = call.center or routing.pick(flow, facts, routing.all_centers(flow), call)
        if center:
            return disclosure.caution(flow, turn, facts, center)
    return bridges.transfer(flow, turn, facts, how="")


def _run(flow: Flow, turn: Turn, facts: Facts) -> Turn:
    """Walk the states from the call's until the turn is over."""
    for _ in range(MAX_HOPS):
        turn = _enter(flow, turn, facts, flow.states[turn.call.state])
        if turn.over:
            return turn
    raise RuntimeError(f"flow {flow.id} did not wait for the caller within {MAX_HOPS} states")


def _enter(flow: Flow, turn: Turn, facts: Facts, state: State) -> Turn:
    """Run one state: the turn is over (it waits or it ended), or the call is in the next."""
    call = turn.call
    if isinstance(state, (Route, Overflow, Disclose)) and not facts.fresh and not facts.exempt:
        return _degraded(flow, turn, facts)
    if isinstance(state, Say):
        if state.text:
            turn.actions.append(
                wording.spoken(flow, facts, state.text, call.language, facts.centers.get(call.center))
            )
        if state.play:
            turn.actions.append(Play(state.play))
        turn.call = call._replace(state=state.next)
    elif isinstance(state, (Route, Overflow)):
        if routing.route(flow, turn, facts, state):  # a home_only line, and only centers abroad open
            return bridges.transfer(flow, turn, facts, how="")
    elif isinstance(state, Disclose):
        return disclosure.disclose(flow, turn, facts, state)
    elif isinstance(state, Hours):
        opened = routing.hours_open(state, facts)
        turn.note("hours", state=state.name, open=str(opened).lower(), center=state.center)
        turn.call = call._replace(state=state.open if opened else state.closed)
    elif isinstance(state, (Menu, LanguageMenu)):
        return menus.ask(flow, turn, facts, state)
    elif isinstance(state, Bridge):
        return bridges.bridge(flow, turn, facts, state, None)
    elif isinstance(state, Domestic):
        return bridges.transfer(flow, turn, facts, how="", state=state.name)
    elif isinstance(state, Handoff):
        return _hand_off(flow, turn, state)
    elif isinstance(state, Automated):
        if call.home_only and state.country and state.country != facts.home:
            routing.kept_home(turn, state.name, "", state.city, state.country)
            return bridges.transfer(flow, turn, facts, how="")
        return automated.hand_over(flow, turn, facts, state, call.waiting())
    elif isinstance(state, Hangup):
        if state.text:
            turn.actions.append(wording.spoken(flow, facts, state.text, call.language))
        return bridges.end(turn)
    return turn


def _degraded(flow: Flow, turn: Turn, facts: Facts) -> Turn:
    """Redis could not be read: the flow's policy decides, never an undisclosed bridge."""
    safe = safe_answer(flow, turn.call, facts, reason="center lookup unavailable")
    safe.actions[:0] = turn.actions
    safe.events[:0] = turn.events
    return safe


def _hand_off(flow: Flow, turn: Turn, state: Handoff) -> Turn:
    """Redirect the call to the company's own application; what happens there is not ours."""
    call = turn.call
    turn.note(
        "handoff",
        url=state.url,
        center=call.center,
        heard=call.heard,
        language=flow.speaking(call.language).tag,
    )
    turn.actions.append(Handover(state.url))
    return turn
