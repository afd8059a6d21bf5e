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
"""

from __future__ import annotations

from typing import Any

from ivr import engine
from ivr.flow import Flow
from ivr.vocabulary import Action, Call, Event, Facts, Turn

MAX_TURNS = 512  # numbers x published versions x open-hour patterns actually seen


class FirstTurns:
    """``engine.begin``, remembered per configuration digest and opening."""

    def __init__(self) -> None:
        self._turns: dict[tuple[Any, ...], tuple[Flow, Call, tuple[Action, ...], tuple[Event, ...]]] = {}

    def begin(self, flow: Flow, facts: Facts, digest: str) -> Turn:
        """The call's first turn: what ``engine.begin(flow, facts)`` returns."""
        if not digest or not facts.fresh or flow.weighted:
            return engine.begin(flow, facts)
        key = (
            digest,
            flow.id,
            flow.version,
            facts.home,
            facts.exempt,
            facts.language,
            engine.opening(flow, facts),
        )
        known = self._turns.get(key)
        if known is None or known[0] is not flow:
            turn = engine.begin(flow, facts)
            if len(self._turns) >= MAX_TURNS:
                self._turns.clear()
            known = self._turns[key] = (flow, turn.call, tuple(turn.actions), tuple(turn.events))
        _, call, actions, events = known
        return Turn(call, list(actions), list(events))
