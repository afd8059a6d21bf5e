"""The flow engine: a pure function from (flow, call, reply, facts) to a turn.

Theory of operation. A call is a position in a flow graph (``Call``), carried between
webhooks in the step URL that Twilio signs, so any worker can serve any step and a
replayed webhook gets the same answer. Each webhook gives the engine what the caller or
Twilio just did (``Reply``) and what is true now (``Facts``: the centers read from Redis at
this moment, the time, the number's exemption). The engine walks states that need no
answer (say, route, overflow) until it reaches one that waits for the caller or for
Twilio (a disclosure prompt, a bridge, a hang-up) and returns a ``Turn``: what to send to
Twilio (``actions``) and what to record (``events``).

The one rule it never breaks: a bridge to a center outside the home country happens only
after the caller heard that center's location and the transfer offer in this call (or a
cautious disclosure while the lookup was impossible), unless the number is exempt. When
a flow would break it, the engine raises UnsafeBridge and the webhook gives the safe answer.

No I/O here: no Flask, no Redis, no Twilio.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from ivr.errors import UnsafeBridge
from ivr.flow import (
    Bridge,
    Center,
    Disclose,
    Domestic,
    Exemption,
    Flow,
    Hangup,
    Overflow,
    Route,
    Say,
    Target,
)
from ivr.places import country_name

AFTER_CAUTION = "@bridge"  # built-in: bridge the chosen center after a cautious disclosure
TRANSFER = "@domestic"  # built-in: the caller asked for an agent in the home country
CAUTIOUS = "*"  # heard: a cautious "may be answered outside" disclosure
ANSWERED = frozenset({"completed", "answered", "bridged", "hangup", "redirected"})
MAX_HOPS = 64


@dataclass(frozen=True)
class Call:
    """Where one call is in its flow; serialized into the step URLs."""

    flow: str
    version: int
    state: str
    center: str = ""
    tried: tuple[str, ...] = ()
    heard: str = ""  # location last disclosed, CAUTIOUS, or ""
    domestic: bool = False  # the caller asked for the domestic transfer
    exempt: str = ""  # the number's exemption (R5, R6), fixed for the whole call

    def to_query(self) -> dict[str, str]:
        """Compact query parameters for a step URL."""
        query = {"f": self.flow, "v": str(self.version), "s": self.state}
        if self.center:
            query["c"] = self.center
        if self.tried:
            query["t"] = ",".join(self.tried)
        if self.heard:
            query["h"] = self.heard
        if self.domestic:
            query["d"] = "1"
        if self.exempt:
            query["x"] = self.exempt
        return query

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Call:
        """Inverse of to_query; raises KeyError or ValueError on a malformed URL."""
        tried = query.get("t", "")
        return cls(
            flow=query["f"],
            version=int(query["v"]),
            state=query["s"],
            center=query.get("c", ""),
            tried=tuple(tried.split(",")) if tried else (),
            heard=query.get("h", ""),
            domestic=query.get("d") == "1",
            exempt=query.get("x", ""),
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


@dataclass(frozen=True)
class Heard:
    """The caller pressed keys or spoke during a prompt."""

    digits: str = ""
    speech: str = ""


@dataclass(frozen=True)
class Silence:
    """A prompt ended with no input."""


@dataclass(frozen=True)
class BridgeEnded:
    """Twilio reported how a bridge ended (DialCallStatus or QueueResult)."""

    status: str


Reply = Heard | Silence | BridgeEnded | None


@dataclass(frozen=True)
class Speak:
    text: str
    language: str
    voice: str = ""


@dataclass(frozen=True)
class Ask:
    """Play a prompt while listening for the transfer key or words; then continue."""

    text: str
    language: str
    voice: str
    key: str
    hints: tuple[str, ...]
    timeout: int
    then: Call


@dataclass(frozen=True)
class Connect:
    """Bridge the caller to a center."""

    center: str
    target: Target
    domestic: bool
    then: Call
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class End:
    """Hang up."""


Action = Speak | Ask | Connect | End


@dataclass(frozen=True)
class Event:
    """One step of evidence; ``key`` is unique per step within a call."""

    key: str
    step: str
    fields: tuple[tuple[str, str], ...]


@dataclass
class Turn:
    """What the engine decided for one webhook."""

    call: Call
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def record(self, key: str, step: str, /, **fields: object) -> None:
        self.events.append(Event(key, step, tuple((k, str(v)) for k, v in fields.items())))


def fill(template: str, flow: Flow, facts: Facts, center: Center | None) -> str:
    """Put the center's city and country, as spoken in the flow's language, into a template."""
    return template.format(
        city=center.city if center else "",
        country=country_name(center.country, flow.language) if center else "",
        center=center.name if center else "",
        home_country=country_name(facts.home, flow.language),
    )


def is_open(center: Center, now: datetime) -> bool:
    """True when the center takes calls at this moment, in its own time zone."""
    return center.hours.is_open(now.astimezone(center.zone))


def begin(flow: Flow, facts: Facts) -> Turn:
    """The first webhook of a call."""
    turn = Turn(Call(flow.id, flow.version, flow.start, exempt=facts.exempt or ""))
    return _run(flow, turn, facts)


def resume(flow: Flow, call: Call, reply: Reply, facts: Facts) -> Turn:
    """A later webhook: the caller or Twilio answered the state the call waits in."""
    turn = Turn(call)
    if call.state == TRANSFER:
        if isinstance(reply, BridgeEnded) and reply.status not in ANSWERED:
            turn.record(f"bridge_ended:{TRANSFER}", "bridge_ended", status=reply.status,
                        center=call.center, domestic="true")
            return _unavailable(flow, turn, facts, "domestic bridge failed")
        if isinstance(reply, BridgeEnded):
            turn.record(f"bridge_ended:{TRANSFER}", "bridge_ended", status=reply.status,
                        center=call.center, domestic="true")
        return _end(turn)
    if call.state == AFTER_CAUTION:
        if isinstance(reply, Heard) and _asks_for_transfer(reply, "1", _default_keywords()):
            return _transfer(flow, turn, facts, how=_how(reply))
        return _bridge(flow, turn, facts, Bridge(AFTER_CAUTION, ""), reply)
    state = flow.states[call.state]
    if isinstance(state, Disclose) and isinstance(reply, Heard):
        if _asks_for_transfer(reply, state.key, state.keywords):
            return _transfer(flow, turn, facts, how=_how(reply))
        turn.call = replace(call, state=state.next)
        return _run(flow, turn, facts)
    if isinstance(state, Disclose):
        turn.call = replace(call, state=state.next)
        return _run(flow, turn, facts)
    if isinstance(state, Bridge):
        return _bridge(flow, turn, facts, state, reply)
    if isinstance(state, Domestic):
        if isinstance(reply, BridgeEnded) and reply.status not in ANSWERED:
            turn.record(f"bridge_ended:{state.name}", "bridge_ended", status=reply.status,
                        center=call.center, domestic="true")
            if state.on_failure:
                turn.call = replace(call, state=state.on_failure, domestic=True)
                return _run(flow, turn, facts)
            return _unavailable(flow, turn, facts, "domestic bridge failed")
        if isinstance(reply, BridgeEnded):
            turn.record(f"bridge_ended:{state.name}", "bridge_ended", status=reply.status,
                        center=call.center, domestic="true")
            return _end(turn)
    return _run(flow, turn, facts)


def safe_answer(flow: Flow, call: Call, facts: Facts, reason: str) -> Turn:
    """What a caller gets when the normal path cannot run: the flow's lookup-failure policy."""
    turn = Turn(call)
    turn.record(f"safe_answer:{call.state}", "safe_answer", reason=reason,
                policy=flow.on_lookup_failure)
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
            turn.actions.append(Speak(fill(state.text, flow, facts, facts.centers.get(call.center)),
                                      flow.language, flow.voice))
            turn.call = replace(call, state=state.next)
        elif isinstance(state, (Route, Overflow)):
            if not facts.fresh and not facts.exempt:
                return _degraded(flow, turn, facts)
            fresh_start = isinstance(state, Route)
            tried = () if fresh_start else call.tried
            center = _pick(flow, facts, state.centers, replace(call, tried=tried),
                           weights=state.weights if isinstance(state, Route)
                           and state.strategy == "weight" else None)
            if not center:
                turn.record(f"no_center:{state.name}:{len(tried)}", "no_center", state=state.name)
                turn.call = replace(call, state=state.closed if isinstance(state, Route)
                                    else state.exhausted)
                continue
            chosen = facts.centers[center]
            tried = tried + (center,)
            turn.record(f"routed:{len(tried)}", "routed", center=center, city=chosen.city,
                        country=chosen.country, by="overflow" if not fresh_start else "route")
            turn.call = replace(call, state=state.next, center=center, tried=tried)
        elif isinstance(state, Disclose):
            if not facts.fresh and not facts.exempt:
                return _degraded(flow, turn, facts)
            if _disclose(flow, turn, facts, state):
                return turn
        elif isinstance(state, Bridge):
            return _bridge(flow, turn, facts, state, None)
        elif isinstance(state, Domestic):
            return _transfer(flow, turn, facts, how="", state=state.name)
        elif isinstance(state, Hangup):
            if state.text:
                turn.actions.append(Speak(fill(state.text, flow, facts, None), flow.language,
                                          flow.voice))
            return _end(turn)
    raise RuntimeError(f"flow {flow.id} did not wait for the caller within {MAX_HOPS} states")


def _disclose(flow: Flow, turn: Turn, facts: Facts, state: Disclose) -> bool:
    """Ask with the disclosure and offer (True: wait), or move on to state.next (False)."""
    call = turn.call
    center = facts.centers.get(call.center)
    attempt = len(call.tried)
    if center is None:
        raise UnsafeBridge(f"state {state.name} has no chosen center to disclose")
    reason = facts.exempt or ("domestic-center" if center.country == facts.home else "")
    if reason:
        turn.record(f"exempt:{attempt}", "exempt", reason=reason, center=center.id)
        if reason == "domestic-center" and state.courtesy:
            turn.actions.append(Speak(fill(state.courtesy, flow, facts, center), flow.language,
                                      flow.voice))
        turn.call = replace(call, state=state.next)
        return False
    if call.heard == center.location:  # already told, e.g. re-entering after a menu
        turn.call = replace(call, state=state.next)
        return False
    disclosure = fill(state.text, flow, facts, center)
    offer = fill(state.offer, flow, facts, center)
    turn.record(f"disclosed:{attempt}", "disclosed", center=center.id, city=center.city,
                country=center.country, text=disclosure, language=flow.language)
    turn.record(f"offered:{attempt}", "offered", text=offer, key=state.key,
                keywords="|".join(state.keywords))
    turn.call = replace(call, heard=center.location)
    turn.actions.append(Ask(f"{disclosure} {offer}", flow.language, flow.voice, state.key,
                            state.keywords, state.timeout, turn.call))
    return True


def _bridge(flow: Flow, turn: Turn, facts: Facts, state: Bridge, reply: Reply) -> Turn:
    call = turn.call
    # Bridges after a cautious disclosure get their own evidence keys.
    attempt = f"{CAUTIOUS if state.name == AFTER_CAUTION else ''}{len(call.tried)}"
    if isinstance(reply, BridgeEnded):
        if reply.status == "leave":  # the caller pressed the transfer key while on hold
            return _transfer(flow, turn, facts, how="key during hold")
        domestic = str(call.center in facts.centers
                       and facts.centers[call.center].country == facts.home).lower()
        turn.record(f"bridge_ended:{attempt}", "bridge_ended", status=reply.status,
                    center=call.center, domestic=domestic)
        if reply.status in ANSWERED:
            return _end(turn)
        if state.on_failure:  # the failed center is no longer the call's center
            turn.call = replace(call, state=state.on_failure, center="")
            return _run(flow, turn, facts)
        if state.name == AFTER_CAUTION:
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
    return _connect(turn, center, domestic=not offshore, attempt=attempt,
                    then=replace(call, state=state.name), language=flow.language)


def _transfer(flow: Flow, turn: Turn, facts: Facts, how: str, state: str = TRANSFER) -> Turn:
    """Bridge to the flow's domestic destination, verified to be in the home country now."""
    call = turn.call
    if how:
        by = "hold" if "hold" in how else "key" if how.startswith("key") else "voice"
        turn.record("transfer_requested", "transfer_requested", how=how, by=by, center=call.center)
    center = _domestic_center(flow, facts)
    if center is None:
        return _unavailable(flow, turn, facts, "no domestic center")
    return _connect(turn, center, domestic=True, attempt=state,
                    then=replace(call, state=state, domestic=True, center=center.id),
                    language=flow.language)


def _connect(turn: Turn, center: Center, domestic: bool, attempt: str, then: Call,
             language: str) -> Turn:
    turn.record(f"bridged:{attempt}", "bridged", center=center.id, city=center.city,
                country=center.country, region=center.region, target=center.target.kind,
                domestic=str(domestic).lower())
    attributes = (("center", center.id), ("country", center.country), ("language", language),
                  ("domestic", str(domestic).lower()))
    turn.call = then
    turn.actions.append(Connect(center.id, center.target, domestic, then, attributes))
    return turn


def _degraded(flow: Flow, turn: Turn, facts: Facts) -> Turn:
    """Redis could not be read: the flow's policy decides, never an undisclosed bridge."""
    safe = safe_answer(flow, turn.call, facts, reason="center lookup unavailable")
    safe.actions[:0] = turn.actions
    safe.events[:0] = turn.events
    return safe


def _caution(flow: Flow, turn: Turn, facts: Facts, center: str) -> Turn:
    tried = turn.call.tried if center in turn.call.tried else turn.call.tried + (center,)
    call = replace(turn.call, state=AFTER_CAUTION, center=center, heard=CAUTIOUS, tried=tried)
    text = fill(flow.cautious_text, flow, facts, None)
    attempt = f"{CAUTIOUS}{len(tried)}"
    turn.record(f"disclosed:{attempt}", "disclosed", center="", city="", country="",
                text=text, language=flow.language, cautious="true")
    turn.record(f"offered:{attempt}", "offered", text=text, key="1",
                keywords="|".join(_default_keywords()))
    turn.call = call
    turn.actions.append(Ask(text, flow.language, flow.voice, "1", _default_keywords(), 5, call))
    return turn


def _unavailable(flow: Flow, turn: Turn, facts: Facts, reason: str) -> Turn:
    turn.record(f"unavailable:{turn.call.state}", "unavailable", reason=reason)
    turn.actions.append(Speak(fill(flow.unavailable_text, flow, facts, None), flow.language,
                              flow.voice))
    return _end(turn)


def _end(turn: Turn) -> Turn:
    turn.actions.append(End())
    return turn


def _pick(flow: Flow, facts: Facts, candidates: tuple[str, ...], call: Call,
          weights: Mapping[str, int] | None = None) -> str:
    """The open center to take the call; deterministic per CallSid so replays agree."""
    usable = [
        c for c in candidates
        if c in facts.centers and c not in call.tried and is_open(facts.centers[c], facts.now)
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
    seen: dict[str, None] = {}
    for state in flow.states.values():
        for c in getattr(state, "centers", ()):
            seen[c] = None
    return tuple(seen)


_WORDS = re.compile(r"[^\w\s]")


def _default_keywords() -> tuple[str, ...]:
    return Disclose.keywords


def _asks_for_transfer(reply: Heard, key: str, keywords: tuple[str, ...]) -> bool:
    """The transfer key pressed, or a transfer keyword heard as whole words."""
    if reply.digits and reply.digits.strip().startswith(key):
        return True
    spoken = f" {_WORDS.sub(' ', reply.speech.lower())} "
    return any(f" {word} " in spoken for word in keywords)


def _how(reply: Heard) -> str:
    return f"key {reply.digits}" if reply.digits else f"said '{reply.speech}'"
