"""Which center takes a call: an open one of a route (by priority, or shared by weight per
CallSid so a replayed webhook agrees), one not tried yet on overflow, the domestic
destination for a transfer; and whether an hours state is open. The clock enters a turn
only here. Pure: no I/O."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import fields
from datetime import datetime

from ivr.flow import Center, Flow, Hours, Overflow, Route, State, answers_abroad
from ivr.vocabulary import Call, Facts, Turn


def is_open(center: Center, now: datetime) -> bool:
    """True when the center takes calls at this moment: its hours, holidays and closures."""
    return center.schedule.is_open(now)


def route(flow: Flow, turn: Turn, facts: Facts, state: Route | Overflow) -> bool:
    """Choose an open center (route: afresh; overflow: one not tried yet), or go on closed.
    A ``home_only`` call (R19) never gets a center abroad: each one refused is recorded
    (``kept_home``), and True says that only such centers were open: the call goes to the
    domestic destination rather than to ``closed``."""
    call = turn.call
    fresh_start = isinstance(state, Route)
    tried = () if fresh_start else call.tried
    refused: list[str] = []
    center = pick(
        flow,
        facts,
        state.centers,
        call._replace(tried=tried),
        weights=state.weights if isinstance(state, Route) and state.strategy == "weight" else None,
        refused=refused,
    )
    for abroad in refused:
        kept_home(turn, state.name, abroad, facts.centers[abroad].city, facts.centers[abroad].country)
    if not center and refused:
        return True
    if not center:
        turn.note("no_center", state=state.name)
        turn.call = call._replace(state=state.closed if isinstance(state, Route) else state.exhausted)
        return False
    chosen = facts.centers[center]
    turn.note(
        "routed",
        center=center,
        city=chosen.city,
        country=chosen.country,
        by="route" if fresh_start else "overflow",
    )
    turn.call = call._replace(state=state.next, center=center, tried=tried + (center,))
    return False


def kept_home(turn: Turn, state: str, center: str, city: str, country: str) -> None:
    """Record that a home_only call was not sent abroad, where it would have gone."""
    turn.note("kept_home", state=state, center=center, city=city, country=country)


def hours_open(state: Hours, facts: Facts) -> bool:
    """Open by the named center's schedule (closed when it is unknown) or the state's own."""
    if state.schedule is not None:
        return state.schedule.is_open(facts.now)
    center = facts.centers.get(state.center)
    return center is not None and is_open(center, facts.now)


def pick(
    flow: Flow,
    facts: Facts,
    candidates: tuple[str, ...],
    call: Call,
    weights: Mapping[str, int] | None = None,
    refused: list[str] | None = None,
) -> str:
    """The open center to take the call; deterministic per CallSid so replays agree. Only
    home-country centers after a domestic request or on a ``home_only`` line; the open
    centers abroad a home_only line would otherwise have had go into ``refused``."""
    usable = [
        c
        for c in candidates
        if c in facts.centers and c not in call.tried and is_open(facts.centers[c], facts.now)
    ]
    if call.domestic or call.home_only:
        abroad = [c for c in usable if answers_abroad(facts.centers[c], facts.centers, facts.home)]
        if call.home_only and refused is not None:
            refused.extend(abroad)
        usable = [c for c in usable if c not in abroad]
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


def domestic_center(flow: Flow, facts: Facts, language: str = "") -> Center | None:
    """The flow's domestic destination: the one for the call's language (its code) when the
    flow names one and it is open, else the flow's own, else another home-country center."""
    own = facts.centers.get(flow.domestic_for(language)) if language in flow.domestic_by_language else None
    if own is not None and own.country == facts.home and is_open(own, facts.now):
        return own
    preferred = facts.centers.get(flow.domestic)
    if preferred is not None and preferred.country == facts.home:
        return preferred
    for center_id in all_centers(flow):
        center = facts.centers.get(center_id)
        if center is not None and center.country == facts.home:
            return center
    return None


def all_centers(flow: Flow) -> tuple[str, ...]:
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
