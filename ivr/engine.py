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

No I/O here: no Flask, no Redis, no Twilio.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any

from ivr import outcomes
from ivr.errors import UnsafeBridge
from ivr.flow import (
    Bridge,
    Center,
    Disclose,
    Domestic,
    Flow,
    Handoff,
    Hangup,
    Hours,
    Language,
    LanguageMenu,
    Menu,
    Overflow,
    Route,
    Say,
    State,
    Text,
    translation,
)
from ivr.places import country_name
from ivr.vocabulary import (
    AFTER_CAUTION,
    CAUTIOUS,
    INTERNAL_ERROR,
    TRANSFER,
    UNKNOWN,
    WAIT_LIMIT,
    Ask,
    BridgeEnded,
    Call,
    Connect,
    End,
    Facts,
    Handover,
    Heard,
    Play,
    Reply,
    Speak,
    Turn,
)

MAX_HOPS = 64
CAUTION_RETRIES, CAUTION_TIMEOUT = 2, 5  # the cautious offer has no state to set them


def fill(
    template: Text, flow: Flow, facts: Facts, center: Center | None, language: str = "", **more: object
) -> str:
    """The template in the language with this code (default: the flow's), with the center's
    city and country as that language says them (and ``more`` placeholders, on hold)."""
    lang = flow.speaking(language)
    text = translation(template, lang.code, flow.codes[0]) or translation(
        template, flow.codes[0], flow.codes[0]
    )
    return text.format(
        city=center.city if center else "",
        country=country_name(center.country, lang.tag) if center else "",
        center=center.name if center else "",
        home_country=country_name(facts.home, lang.tag),
        key=flow.transfer_key,
        **more,
    )


def is_open(center: Center, now: datetime) -> bool:
    """True when the center takes calls at this moment: its hours, holidays and closures."""
    return center.schedule.is_open(now)


def opening(flow: Flow, facts: Facts) -> tuple[bool, ...]:
    """Whether each center the flow may route to, and each of its hours states, is open at
    ``facts.now``: the only way the clock enters a turn (``_pick`` and ``_hours_open``), so
    two first turns with the same flow, centers and opening are the same turn."""
    centers, now = facts.centers, facts.now
    return (
        *[c in centers and is_open(centers[c], now) for c in flow.routable],
        *[_hours_open(state, facts) for state in flow.hours_states],
    )


def first_call(flow: Flow, facts: Facts) -> Call:
    """Where a new call starts: the flow's start, in the number's language if the flow has it."""
    language = facts.language if facts.language in flow.codes[1:] else ""
    return Call(flow.id, flow.version, flow.start, exempt=facts.exempt or "", language=language)


def hold_offer(flow: Flow, facts: Facts, language: str = "") -> Speak:
    """The transfer offer a caller on hold hears, in the call's language (its code)."""
    return _spoken(flow, facts, flow.hold_offer, language)


def begin(flow: Flow, facts: Facts) -> Turn:
    """The first webhook of a call."""
    return _run(flow, Turn(first_call(flow, facts)), facts)


def resume(flow: Flow, call: Call, reply: Reply, facts: Facts) -> Turn:
    """A later webhook: the caller or Twilio answered the state the call waits in."""
    turn = Turn(call)
    if call.state == TRANSFER:
        return _domestic_ended(flow, turn, facts, reply, on_failure="")
    if call.state == AFTER_CAUTION:
        return _offer_answered(flow, turn, facts, reply, None)
    state = flow.states[call.state]
    if isinstance(state, Disclose):
        return _offer_answered(flow, turn, facts, reply, state)
    if isinstance(state, (Menu, LanguageMenu)):
        return _answer(flow, turn, facts, state, reply)
    if isinstance(state, Bridge):
        return _bridge(flow, turn, facts, state, reply)
    if isinstance(state, Domestic) and isinstance(reply, BridgeEnded):
        return _domestic_ended(flow, turn, facts, reply, on_failure=state.on_failure)
    return _run(flow, turn, facts)


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
    if flow.on_lookup_failure == "cautious" and not call.domestic:
        center = call.center or _pick(flow, facts, _all_centers(flow), call)
        if center:
            return _caution(flow, turn, facts, center)
    return _transfer(flow, turn, facts, how="")


def _run(flow: Flow, turn: Turn, facts: Facts) -> Turn:
    for _ in range(MAX_HOPS):
        call = turn.call
        state = flow.states[call.state]
        if isinstance(state, Say):
            if state.text:
                turn.actions.append(
                    _spoken(flow, facts, state.text, call.language, facts.centers.get(call.center))
                )
            if state.play:
                turn.actions.append(Play(state.play))
            turn.call = call._replace(state=state.next)
        elif isinstance(state, (Route, Overflow)):
            if not facts.fresh and not facts.exempt:
                return _degraded(flow, turn, facts)
            _route(flow, turn, facts, state)
        elif isinstance(state, Disclose):
            if not facts.fresh and not facts.exempt:
                return _degraded(flow, turn, facts)
            if _disclose(flow, turn, facts, state):
                return turn
        elif isinstance(state, Hours):
            opened = _hours_open(state, facts)
            turn.note("hours", state=state.name, open=str(opened).lower(), center=state.center)
            turn.call = call._replace(state=state.open if opened else state.closed)
        elif isinstance(state, (Menu, LanguageMenu)):
            return _ask(flow, turn, facts, state)
        elif isinstance(state, Bridge):
            return _bridge(flow, turn, facts, state, None)
        elif isinstance(state, Domestic):
            return _transfer(flow, turn, facts, how="", state=state.name)
        elif isinstance(state, Handoff):
            return _hand_off(flow, turn, facts, state)
        elif isinstance(state, Hangup):
            if state.text:
                turn.actions.append(_spoken(flow, facts, state.text, call.language))
            return _end(turn)
    raise RuntimeError(f"flow {flow.id} did not wait for the caller within {MAX_HOPS} states")


def _spoken(flow: Flow, facts: Facts, template: Text, language: str, center: Center | None = None) -> Speak:
    """A template as a caller hears it in a language (its code): its words, tag and voice."""
    lang = flow.speaking(language)
    return Speak(fill(template, flow, facts, center, lang.code), lang.tag, lang.voice)


def _waiting(call: Call, **changes: Any) -> Call:
    """The call as the next webhook will carry it: one wait further."""
    return call._replace(seq=call.seq + 1, **changes)


def _route(flow: Flow, turn: Turn, facts: Facts, state: Route | Overflow) -> None:
    """Choose an open center (route: afresh; overflow: one not tried yet), or go on closed."""
    call = turn.call
    fresh_start = isinstance(state, Route)
    tried = () if fresh_start else call.tried
    center = _pick(
        flow,
        facts,
        state.centers,
        call._replace(tried=tried),
        weights=state.weights if isinstance(state, Route) and state.strategy == "weight" else None,
    )
    if not center:
        turn.note("no_center", state=state.name)
        turn.call = call._replace(state=state.closed if isinstance(state, Route) else state.exhausted)
        return
    chosen = facts.centers[center]
    turn.note(
        "routed",
        center=center,
        city=chosen.city,
        country=chosen.country,
        by="route" if fresh_start else "overflow",
    )
    turn.call = call._replace(state=state.next, center=center, tried=tried + (center,))


def _hours_open(state: Hours, facts: Facts) -> bool:
    """Open by the named center's schedule (closed when it is unknown) or the state's own."""
    if state.schedule is not None:
        return state.schedule.is_open(facts.now)
    center = facts.centers.get(state.center)
    return center is not None and is_open(center, facts.now)


def _disclose(flow: Flow, turn: Turn, facts: Facts, state: Disclose) -> bool:
    """Speak the location, then ask with the offer (True: wait), or move on to state.next
    (False: exempt, or this location was already heard)."""
    call = turn.call
    center = facts.centers.get(call.center)
    if center is None:
        raise UnsafeBridge(f"state {state.name} has no chosen center to disclose")
    reason = facts.exempt or ("domestic-center" if center.country == facts.home else "")
    if reason:
        turn.note("exempt", reason=reason, center=center.id)
        if reason == "domestic-center" and state.courtesy:
            turn.actions.append(_spoken(flow, facts, state.courtesy, call.language, center))
        turn.call = call._replace(state=state.next)
        return False
    if call.heard == center.location:  # already told, e.g. re-entering after a menu
        turn.call = call._replace(state=state.next)
        return False
    lang = flow.speaking(call.language)
    disclosure = _spoken(flow, facts, state.text, call.language, center)
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
    )
    turn.actions.append(disclosure)
    turn.call = call._replace(heard=center.location, misses=0)
    _offer(flow, turn, facts, fill(state.offer, flow, facts, center, lang.code), state.timeout)
    return True


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
    turn.call = _waiting(turn.call)
    turn.actions.append(
        Ask(text, lang.tag, lang.voice, flow.transfer_key, _hints(flow, lang), timeout, turn.call)
    )
    return turn


def _offer_answered(flow: Flow, turn: Turn, facts: Facts, reply: Reply, state: Disclose | None) -> Turn:
    """The caller answered a transfer offer (a disclosure's, or the cautious one without a
    state): the transfer, silence after the whole offer (consent to ``next``), or a miss,
    which hears the offer again until the retries are used up and then goes to ``invalid``."""
    call = turn.call
    matched = _matched(flow, reply)
    ended = (
        "speech"
        if isinstance(reply, Heard) and reply.speech.strip()
        else "key"
        if isinstance(reply, Heard) and reply.digits
        else "silence"
    )
    retries = state.retries if state else CAUTION_RETRIES
    result = (
        "transfer"
        if matched
        else "next"
        if ended == "silence"
        else "again"
        if call.misses < retries
        else "invalid"
    )
    turn.note(
        "offer_ended",
        ended=ended,
        matched=matched or ("" if ended == "silence" else "unrecognised"),
        attempt=call.misses + 1,
        result=result,
    )
    if result == "transfer":
        return _transfer(flow, turn, facts, how=matched)
    if result == "next":
        if state is None:
            return _bridge(flow, turn, facts, Bridge(AFTER_CAUTION, ""), reply)
        turn.call = call._replace(state=state.next, misses=0)
        return _run(flow, turn, facts)
    if result == "again":
        turn.call = call._replace(misses=call.misses + 1)
        center = facts.centers.get(call.center)
        if state is None:
            return _offer(flow, turn, facts, _caution_text(flow, facts, call.language), CAUTION_TIMEOUT)
        text = fill(state.offer, flow, facts, center, flow.speaking(call.language).code)
        return _offer(flow, turn, facts, text, state.timeout)
    # Not understood, again and again: never consent. The call leaves the disclosure with no
    # center and nothing heard, so only a new route and disclosure can lead offshore.
    if state is None or not state.invalid:
        return _transfer(flow, turn, facts, how="")
    turn.call = call._replace(state=state.invalid, center="", heard="", misses=0)
    return _run(flow, turn, facts)


def _ask(flow: Flow, turn: Turn, facts: Facts, state: Menu | LanguageMenu) -> Turn:
    """Prompt for a menu choice; after a disclosure the transfer key and words stay live."""
    call = turn.call
    lang = flow.speaking(call.language)
    live = bool(call.heard)
    if isinstance(state, LanguageMenu):  # each language's line in its own voice, the call's first
        order = [lang] + [other for other in flow.languages if other != lang]
        lines = [_spoken(flow, facts, state.prompt, other.code) for other in order]
        words = tuple(state.words)
    else:
        lines = [_spoken(flow, facts, state.prompt, lang.code)]
        words = tuple(state.words.get(lang.code, {}))
    hints = (_hints(flow, lang) if live else ()) + words
    turn.call = _waiting(call)
    first = lines[0]
    turn.actions.append(
        Ask(
            first.text,
            first.language,
            first.voice,
            flow.transfer_key if live else "",
            tuple(dict.fromkeys(hints)),
            state.timeout,
            turn.call,
            tuple(lines[1:]),
        )
    )
    return turn


def _answer(flow: Flow, turn: Turn, facts: Facts, state: Menu | LanguageMenu, reply: Reply) -> Turn:
    """The caller answered a menu: the transfer (when live), an option, or a miss. A miss
    prompts again until the retries are used up; then a menu branches (no_input, invalid) and a
    language menu goes on in the language the call already has."""
    call = turn.call
    if call.heard and _asks_for_transfer(flow, reply):
        return _transfer(flow, turn, facts, how=_transfer_input(flow, reply))
    words = _words(state, flow.speaking(call.language).code)
    heard = _input(reply, words) or "silence"
    choice = _choice(state, reply, words)
    if not choice and call.misses < state.retries:
        turn.note("menu", state=state.name, input=heard, result="retry")
        turn.call = call._replace(misses=call.misses + 1)
        return _ask(flow, turn, facts, state)
    if isinstance(state, LanguageMenu):
        language = choice or call.language or flow.codes[0]
        turn.note("language", state=state.name, language=language, input=heard)
        turn.call = call._replace(
            state=state.next, misses=0, language="" if language == flow.codes[0] else language
        )
    else:
        target = choice or (state.no_input if heard == "silence" else state.invalid)
        turn.note("menu", state=state.name, input=heard, result=target)
        turn.call = call._replace(state=target, misses=0)
    return _run(flow, turn, facts)


def _words(state: Menu | LanguageMenu, code: str) -> Mapping[str, str]:
    """The words a menu listens for in the call's language (a language menu: in all of
    them), each with the option it chooses."""
    return state.words if isinstance(state, LanguageMenu) else state.words.get(code, {})


def _choice(state: Menu | LanguageMenu, reply: Reply, words: Mapping[str, str]) -> str:
    """The option the caller chose by key or by word ("" for none)."""
    if not isinstance(reply, Heard):
        return ""
    key = reply.digits.strip()[:1]
    if key:
        return state.options.get(key, "")
    word = _word(reply.speech, words)
    return words[word] if word else ""


def _hand_off(flow: Flow, turn: Turn, facts: Facts, state: Handoff) -> Turn:
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


def _bridge(flow: Flow, turn: Turn, facts: Facts, state: Bridge, reply: Reply) -> Turn:
    call = turn.call
    if isinstance(reply, BridgeEnded):
        read = reply.meaning()
        left = reply.left if read == outcomes.LEFT else ""
        if read == outcomes.LEFT and left not in (WAIT_LIMIT, UNKNOWN):
            return _transfer(flow, turn, facts, how="key during hold")  # the key on hold
        domestic = str(
            call.center in facts.centers and facts.centers[call.center].country == facts.home
        ).lower()
        _ended(turn, reply, read, domestic)
        if read not in (outcomes.FAILED, outcomes.LEFT):  # answered, gone, or not ours
            return _end(turn)
        if left == UNKNOWN:  # the key or the wait limit: the domestic line is right for both
            return _transfer(flow, turn, facts, how="")
        then = (state.on_wait_limit if left else "") or state.on_failure
        if then:  # the failed center is no longer the call's center
            turn.call = call._replace(state=then, center="")
            return _run(flow, turn, facts)
        if left or state.name == AFTER_CAUTION:
            return _transfer(flow, turn, facts, how="")
        return _unavailable(flow, turn, facts, f"bridge {reply.status}, no on_failure")
    center = facts.centers.get(call.center)
    if center is None:
        raise UnsafeBridge(f"state {state.name} has no chosen center")
    offshore = center.country != facts.home
    if call.domestic and offshore:
        raise UnsafeBridge("a caller who asked for a domestic agent may not be sent offshore")
    if offshore and not facts.exempt and call.heard not in (center.location, CAUTIOUS):
        raise UnsafeBridge(f"center {center.id} in {center.location} was not disclosed")
    return _connect(flow, turn, center, domestic=not offshore, then=call._replace(state=state.name))


def _domestic_ended(flow: Flow, turn: Turn, facts: Facts, reply: Reply, on_failure: str) -> Turn:
    """A bridge to the domestic destination ended: done, on_failure, or unavailable."""
    call = turn.call
    if not isinstance(reply, BridgeEnded):
        return _end(turn)
    read = reply.meaning()
    _ended(turn, reply, read, "true")
    if read in (outcomes.ANSWERED, outcomes.GONE, outcomes.MOVED):
        return _end(turn)
    if on_failure:
        turn.call = call._replace(state=on_failure, domestic=True)
        return _run(flow, turn, facts)
    return _unavailable(flow, turn, facts, "domestic bridge failed")


def _ended(turn: Turn, reply: BridgeEnded, read: str, domestic: str) -> None:
    """Record how the bridge ended, what that means, and the wait Twilio reported."""
    extra = {"wait": reply.wait} if reply.wait else {}
    if reply.left and read == outcomes.LEFT:
        extra["left"] = reply.left
    if reply.connected is not None:
        extra["bridged"] = str(reply.connected).lower()
    turn.note(
        "bridge_ended", status=reply.status, outcome=read, center=turn.call.center, domestic=domestic, **extra
    )


def _transfer(flow: Flow, turn: Turn, facts: Facts, how: str, state: str = TRANSFER) -> Turn:
    """Bridge to the flow's domestic destination, verified to be in the home country now."""
    call = turn.call
    if how:
        by = "hold" if "hold" in how else "key" if how.startswith("key") else "voice"
        turn.note("transfer_requested", how=how, by=by, center=call.center)
    center = _domestic_center(flow, facts)
    if center is None:
        return _unavailable(flow, turn, facts, "no domestic center")
    return _connect(
        flow,
        turn,
        center,
        domestic=True,
        then=call._replace(state=state, domestic=True, center=center.id, misses=0),
    )


def _connect(flow: Flow, turn: Turn, center: Center, domestic: bool, then: Call) -> Turn:
    language = flow.speaking(then.language).tag
    confirm = center.target.confirms(domestic)
    turn.note(
        "bridged",
        then.state,
        center=center.id,
        city=center.city,
        country=center.country,
        region=center.region,
        target=center.target.kind,
        domestic=str(domestic).lower(),
        **({"confirm": "true"} if confirm else {}),
    )
    attributes = (
        ("center", center.id),
        ("country", center.country),
        ("language", language),
        ("domestic", str(domestic).lower()),
    )
    turn.call = _waiting(then)
    held = center.target.kind in outcomes.HELD
    turn.actions.append(
        Connect(
            center.id,
            center.target,
            domestic,
            turn.call,
            attributes,
            max_wait=(center.max_wait or flow.max_wait) if held else 0,
            confirm=confirm,
        )
    )
    return turn


def _degraded(flow: Flow, turn: Turn, facts: Facts) -> Turn:
    """Redis could not be read: the flow's policy decides, never an undisclosed bridge."""
    safe = safe_answer(flow, turn.call, facts, reason="center lookup unavailable")
    safe.actions[:0] = turn.actions
    safe.events[:0] = turn.events
    return safe


def _caution(flow: Flow, turn: Turn, facts: Facts, center: str) -> Turn:
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
    return fill(flow.cautious_text, flow, facts, None, flow.speaking(language).code)


def _unavailable(flow: Flow, turn: Turn, facts: Facts, reason: str) -> Turn:
    turn.note("unavailable", reason=reason)
    turn.actions.append(_spoken(flow, facts, flow.unavailable_text, turn.call.language))
    return _end(turn)


def _end(turn: Turn) -> Turn:
    turn.actions.append(End())
    return turn


def _pick(
    flow: Flow,
    facts: Facts,
    candidates: tuple[str, ...],
    call: Call,
    weights: Mapping[str, int] | None = None,
) -> str:
    """The open center to take the call; deterministic per CallSid so replays agree."""
    usable = [
        c
        for c in candidates
        if c in facts.centers
        and c not in call.tried
        and is_open(facts.centers[c], facts.now)
        and not (call.domestic and facts.centers[c].country != facts.home)
    ]
    if not usable:
        return ""
    if weights is None:
        return usable[0]
    total = sum(weights.get(c, 1) for c in usable)
    if total <= 0:
        return usable[0]
    digest = hashlib.sha256(f"{facts.call_sid}:{len(call.tried)}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for c in usable:
        point -= weights.get(c, 1)
        if point < 0:
            return c
    return usable[-1]


def _domestic_center(flow: Flow, facts: Facts) -> Center | None:
    """The flow's domestic destination, or another home-country center of the flow."""
    preferred = facts.centers.get(flow.domestic)
    if preferred is not None and preferred.country == facts.home:
        return preferred
    for center_id in _all_centers(flow):
        center = facts.centers.get(center_id)
        if center is not None and center.country == facts.home:
            return center
    return None


def _all_centers(flow: Flow) -> tuple[str, ...]:
    """Every center the flow names, in the order a call meets them from the start (so the
    cautious answer picks the flow's first choice, not the first state by name)."""
    found: dict[str, None] = {}
    queue, seen = deque([flow.start]), {flow.start}
    while queue:
        state = flow.states.get(queue.popleft())
        if state is None:
            continue
        found.update(dict.fromkeys(getattr(state, "centers", ())))
        for target in _names_in(state):
            if target in flow.states and target not in seen:
                seen.add(target)
                queue.append(target)
    for state in flow.states.values():  # states no path reaches, last
        found.update(dict.fromkeys(getattr(state, "centers", ())))
    return tuple(found)


def _names_in(state: State) -> Iterator[str]:
    """Every text a state holds in a field or a table: among them, the states it leads to."""
    for f in fields(state):
        value = getattr(state, f.name)
        if isinstance(value, str):
            yield value
        elif isinstance(value, Mapping):
            yield from (v for v in value.values() if isinstance(v, str))


def _hints(flow: Flow, lang: Language) -> tuple[str, ...]:
    """Speech hints for the transfer: the call's language first, then the flow's others."""
    return tuple(dict.fromkeys(lang.words + flow.transfer_words))


_NOT_WORD = re.compile(r"[^\w\s]")


def _normalized(text: str) -> str:
    """Lower case, accents and punctuation removed, padded: " estados unidos "."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return f" {' '.join(_NOT_WORD.sub(' ', plain).split())} "


def heard_as(text: str) -> str:
    """The form ``says`` compares: lower case, no accents or punctuation, padded by spaces."""
    return _normalized(text)


def says(speech: str, word: str) -> bool:
    """True when the word or phrase is in the speech as whole words (case, accents and
    punctuation aside): "América, por favor" says "america"; "agency" does not say "agent"."""
    return _normalized(word) in _normalized(speech)


def _asks_for_transfer(flow: Flow, reply: Reply) -> bool:
    """The transfer key pressed, or a transfer word of any of the flow's languages heard."""
    if not isinstance(reply, Heard):
        return False
    if reply.digits and reply.digits.strip().startswith(flow.transfer_key):
        return True
    return any(says(reply.speech, word) for word in flow.transfer_words)


def _word(speech: str, words: Iterable[str]) -> str:
    """The longest of the words heard in the speech ("tech support" before "support"); ""."""
    return next((w for w in sorted(words, key=len, reverse=True) if says(speech, w)), "")


def _input(reply: Reply, words: Iterable[str], key: str = "") -> str:
    """What the engine made of the caller's input, for the evidence: "key 1" (``key`` when
    the digits start with it, else the one key a menu reads), "said 'agent'" (the word it
    matched, as the flow spells it), "unrecognised" (speech without any of ``words``), or ""
    for nothing. Never the rest: callers type and say phone and card numbers."""
    if not isinstance(reply, Heard):
        return ""
    digits = reply.digits.strip()
    if digits:
        return f"key {key if key and digits.startswith(key) else digits[:1]}"
    if not reply.speech.strip():
        return ""
    word = _word(reply.speech, words)
    return f"said '{word}'" if word else "unrecognised"


def _transfer_input(flow: Flow, reply: Reply) -> str:
    """How the caller asked for the transfer, for the evidence: the key or the word."""
    return _input(reply, flow.transfer_words, flow.transfer_key)


def _matched(flow: Flow, reply: Reply) -> str:
    """What asked for the transfer at an offer: "key 1", "said 'agent'" (the transfer word,
    never the rest of the speech), or "" when nothing did. Speech below the flow's
    ``min_confidence`` asks for nothing."""
    if not _asks_for_transfer(flow, reply):
        return ""
    assert isinstance(reply, Heard)
    if not reply.digits.strip() and reply.confidence < flow.min_confidence:
        return ""
    return _transfer_input(flow, reply)
