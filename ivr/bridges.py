"""Bridges: to the center a call was routed to (only after its location was disclosed,
unless the number is exempt or the center is at home), to the domestic destination when
the caller asks for the transfer, and what happens when Twilio reports how a bridge ended
(``ivr.outcomes`` says what each end means). Pure: no I/O.

A handler here returns the turn when it is over (a ``Connect`` or an ``End`` is its last
action) or, when it only moved the call to another state, leaves ``turn.call`` there and
returns the turn for the engine to go on from it.
"""

from __future__ import annotations

from ivr import caller_data, domestic, outcomes, routing, wording
from ivr.errors import UnsafeBridge
from ivr.flow import Bridge, Center, Flow, answers_abroad
from ivr.vocabulary import (
    AFTER_CAUTION,
    AUTOMATED_HANDOFF,
    CAUTIOUS,
    TRANSFER,
    UNKNOWN,
    WAIT_LIMIT,
    BridgeEnded,
    Call,
    Connect,
    End,
    Facts,
    Reply,
    Turn,
)


def bridge(flow: Flow, turn: Turn, facts: Facts, state: Bridge, reply: Reply) -> Turn:
    """Bridge the call's center (refusing an undisclosed offshore one), or read how it ended."""
    call = turn.call
    if isinstance(reply, BridgeEnded):
        read = reply.meaning()
        left = reply.left if read == outcomes.LEFT else ""
        if read == outcomes.LEFT and left not in (WAIT_LIMIT, UNKNOWN):
            return transfer(flow, turn, facts, how="key during hold")  # the key on hold
        domestic = str(
            call.center in facts.centers and facts.centers[call.center].country == facts.home
        ).lower()
        _ended(turn, reply, read, domestic)
        if read not in (outcomes.FAILED, outcomes.LEFT):  # answered, gone, or not ours
            return end(turn)
        if left == UNKNOWN:  # the key or the wait limit: the domestic line is right for both
            return transfer(flow, turn, facts, how="")
        then = (state.on_wait_limit if left else "") or state.on_failure
        if then:  # the failed center is no longer the call's center
            turn.call = call._replace(state=then, center="")
            return turn
        if left or state.name == AFTER_CAUTION:
            return transfer(flow, turn, facts, how="")
        return unavailable(flow, turn, facts, f"bridge {reply.status}, no on_failure")
    center = facts.centers.get(call.center)
    if center is None:
        raise UnsafeBridge(f"state {state.name} has no chosen center")
    offshore = answers_abroad(center, facts.centers, facts.home)
    if call.domestic and offshore:
        raise UnsafeBridge("a caller who asked for a domestic agent may not be sent offshore")
    if call.home_only and offshore:
        raise UnsafeBridge(f"a home_only line may not be sent to {center.id} in {center.country}")
    if offshore and not facts.exempt and call.heard not in (center.location, CAUTIOUS):
        raise UnsafeBridge(f"center {center.id} in {center.location} was not disclosed")
    return _connect(flow, turn, center, domestic=not offshore, then=call._replace(state=state.name))


def domestic_ended(flow: Flow, turn: Turn, facts: Facts, reply: Reply, on_failure: str) -> Turn:
    """A bridge to the domestic destination ended: done, on_failure, or unavailable."""
    call = turn.call
    if not isinstance(reply, BridgeEnded):
        return end(turn)
    read = reply.meaning()
    _ended(turn, reply, read, "true")
    if read in (outcomes.ANSWERED, outcomes.GONE, outcomes.MOVED):
        return end(turn)
    if on_failure:
        turn.call = call._replace(state=on_failure, domestic=True)
        return turn
    center = facts.centers.get(call.center)
    if flow.offers_choice and center is not None and center.country == facts.home:
        return domestic.offer(flow, turn, facts, center, f"bridge {reply.status}", None)
    return unavailable(flow, turn, facts, "domestic bridge failed")


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


def transfer(flow: Flow, turn: Turn, facts: Facts, how: str, state: str = TRANSFER) -> Turn:
    """Bridge to the flow's domestic destination, verified to be in the home country now."""
    call = turn.call
    if how:
        by = (
            "hold"
            if "hold" in how
            else "key"
            if how.startswith("key")
            else "automated"
            if how.startswith(AUTOMATED_HANDOFF)
            else "voice"
        )
        turn.note("transfer_requested", how=how, by=by, center=call.center)
    center = routing.domestic_center(flow, facts, flow.speaking(call.language).code)
    if center is None:
        return unavailable(flow, turn, facts, "no domestic center")
    why, estimate = domestic.unable(flow, facts, center)
    if why:  # closed, or too long a wait: a callback, voicemail or waiting (ivr.domestic)
        return domestic.offer(flow, turn, facts, center, why, estimate)
    domestic.announce(flow, turn, facts, center, estimate)
    return to_domestic(flow, turn, center, state)


def to_domestic(flow: Flow, turn: Turn, center: Center, state: str = TRANSFER) -> Turn:
    """Bridge to this domestic center now (the caller asked, and chose to wait)."""
    return _connect(
        flow,
        turn,
        center,
        domestic=True,
        then=turn.call._replace(state=state, domestic=True, center=center.id, misses=0),
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
        shares=caller_data.shares(center),
        **({"confirm": "true"} if confirm else {}),
    )
    attributes = (
        ("center", center.id),
        ("country", center.country),
        ("language", language),
        ("domestic", str(domestic).lower()),
    )
    turn.call = then.waiting()
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
            masked=caller_data.masked(center),
        )
    )
    return turn


def unavailable(flow: Flow, turn: Turn, facts: Facts, reason: str) -> Turn:
    """Nobody can take the call: the flow's apology, then the end."""
    turn.note("unavailable", reason=reason)
    turn.actions.append(wording.spoken(flow, facts, flow.unavailable_text, turn.call.language))
    return end(turn)


def end(turn: Turn) -> Turn:
    """Hang up."""
    turn.actions.append(End())
    return turn
