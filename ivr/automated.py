"""Automated agents (R9): the notice before the bot, the hand-off to it, and its end. Pure.

A flow's ``automated`` state hands the caller to the company's bot through Twilio's
``<Connect><ConversationRelay>`` (``ivr.vocabulary.Relay``). Before it, where the line's rule
set asks for it (``ivr check`` proves the notice is there), the caller hears the state's
``notice`` in the call's language: that the agent is automated, where its operator sits
when that is abroad, and that saying the transfer word reaches a human at home. The words
that must bring a human go to the bot as a ``<Parameter>`` (``transfer_words``), with the
call's language and the home country: the bot's side of the contract is to end its session
with ``handoffData`` when it hears them (ConversationRelay's "end" message; Twilio then
requests the ``<Connect>`` action with ``HandoffData``). A session that ends with a hand-off
goes to a human at home (the engine's domestic transfer); one without goes to the state's
``next``. The evidence records the notice as heard, and how the session ended.
"""

from __future__ import annotations

from ivr.flow import Automated, Flow, translation
from ivr.places import country_name
from ivr.vocabulary import Call, Facts, Relay, RelayEnded, Reply, Speak, Turn


def notice(flow: Flow, facts: Facts, state: Automated, language: str) -> Speak | None:
    """The notice as the caller hears it in the call's language (its code), or None when
    the state has none."""
    lang = flow.speaking(language)
    template = translation(state.notice, lang.code, flow.codes[0]) or translation(
        state.notice, flow.codes[0], flow.codes[0]
    )
    if not template:
        return None
    text = template.format(
        city=state.city,
        country=country_name(state.country or facts.home, lang.tag),
        center="",
        home_country=country_name(facts.home, lang.tag),
        key=flow.transfer_key,
    )
    return Speak(text, lang.tag, lang.voice)


def hand_over(flow: Flow, turn: Turn, facts: Facts, state: Automated, waiting: Call) -> Turn:
    """Speak the notice, then connect the caller to the bot; its end comes back to this
    state (``waiting``: the call one wait further, at this state)."""
    lang = flow.speaking(turn.call.language)
    said = notice(flow, facts, state, turn.call.language)
    turn.note(
        "automated",
        relay=state.relay,
        country=state.country or facts.home,
        city=state.city,
        notice=said.text if said else "",
        language=lang.tag,
    )
    if said is not None:
        turn.actions.append(said)
    turn.call = waiting
    parameters = (
        ("transfer_words", "|".join(flow.transfer_words)),
        ("language", lang.tag),
        ("home_country", facts.home),
    )
    turn.actions.append(Relay(state.relay, lang.tag, waiting, parameters))
    return turn


def wants_a_human(turn: Turn, reply: Reply) -> bool:
    """Record how the bot's session ended; True when the bot handed the caller back."""
    handoff = isinstance(reply, RelayEnded) and bool(reply.handoff.strip())
    status = reply.status if isinstance(reply, RelayEnded) else ""
    # Never the HandoffData itself in the record: the bot may put what the caller said in it.
    turn.note("automated_ended", handoff=str(handoff).lower(), status=status)
    return handoff
