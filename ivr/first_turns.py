"""The first turn of a call, decided once for all the calls that would get the same one.

A call's first webhook runs the engine from the flow's start. Its turn (what the caller
hears, the step URL, the routed/disclosed/offered events) depends only on the flow, the
centers as published, the number's exemption and language, the home country and which
centers and hours are open at that moment (``engine.opening``): never on the CallSid or
the caller, unless a route shares calls by weight. So calls to one number, on one
configuration, while the same centers are open, all start the same way, and the engine's
work (about an eighth of a worker's CPU per webhook under load) is done once for them.

The key holds the digest of the view it was decided on (``ivr.config_view.View``: the
number's entry, its flow's live version and every center that version can reach, exactly
as Redis held them; nothing else goes into a first turn), so a published change to any of
them, or a center that opens or closes, is a new key: nothing here can outlive what it was
decided on.
Turns decided without Redis (``fresh`` false) and weighted flows are never remembered.

The key is derived from ``Facts`` itself, not listed by hand: every field goes in as it is,
but for the three that ``STAND_INS`` replaces (the CallSid, read only by weighted routes;
the clock, which enters a turn only through ``engine.opening``; the centers, which the
digest covers). A field added to ``Facts`` is therefore part of the key until someone says
what stands in for it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import fields

from ivr import engine
from ivr.flow import Flow
from ivr.vocabulary import Action, Call, Event, Facts, Turn

MAX_TURNS = 512  # numbers x published versions x open-hour patterns actually seen

# What stands in the key for a field of Facts that cannot go in as it is (digest, flow, facts).
STAND_INS: dict[str, Callable[[str, Flow, Facts], Hashable]] = {
    "call_sid": lambda digest, flow, facts: None,  # read only by weighted routes: never remembered
    "now": lambda digest, flow, facts: engine.opening(flow, facts),  # the clock's only way in
    "centers": lambda digest, flow, facts: digest,  # the view's digest covers every reachable center
    # the caller's number and the domestic waits are read only by ivr.domestic, whose flows
    # (offers_choice, announce_domestic_wait) are never remembered; in the key all the same
    "caller": lambda digest, flow, facts: facts.caller if flow.offers_choice else None,
    "domestic_waits": lambda digest, flow, facts: tuple(sorted(facts.domestic_waits.items())),
}
_FACTS = tuple(f.name for f in fields(Facts))  # tests/test_first_turns.py: STAND_INS names only these


def key(flow: Flow, facts: Facts, digest: str) -> tuple[Hashable, ...]:
    """What a first turn depends on: the flow, and each field of the facts or its stand-in."""
    return (
        flow.id,
        flow.version,
        *[
            STAND_INS[name](digest, flow, facts) if name in STAND_INS else getattr(facts, name)
            for name in _FACTS
        ],
    )


class FirstTurns:
    """``engine.begin``, remembered per configuration digest and opening."""

    def __init__(self) -> None:
        self._turns: dict[tuple[Hashable, ...], tuple[Flow, Call, tuple[Action, ...], tuple[Event, ...]]] = {}

    def begin(self, flow: Flow, facts: Facts, digest: str) -> Turn:
        """The call's first turn: what ``engine.begin(flow, facts)`` returns."""
        # a flow that offers domestic choices reads the caller's callbacks and the domestic
        # waits: its first turn is not the same for every caller
        if (
            not digest
            or not facts.fresh
            or flow.weighted
            or flow.offers_choice
            or flow.announce_domestic_wait
        ):
            return engine.begin(flow, facts)
        known = self._turns.get(remembered := key(flow, facts, digest))
        if known is None or known[0] is not flow:
            turn = engine.begin(flow, facts)
            if len(self._turns) >= MAX_TURNS:
                self._turns.clear()
            known = self._turns[remembered] = (flow, turn.call, tuple(turn.actions), tuple(turn.events))
        _, call, actions, events = known
        return Turn(call, list(actions), list(events))
