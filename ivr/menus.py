"""Menus and language menus: the prompt, and what the caller's key or word chooses. After a
disclosure the transfer key and words stay live in every menu, checked before the menu's
own options. Pure: no I/O.

``answer`` returns the turn when it is over (the transfer's ``Connect``, or the prompt asked
again), or leaves ``turn.call`` at the chosen state for the engine to go on from.
"""

from __future__ import annotations

from collections.abc import Mapping

from ivr import bridges, hearing, wording
from ivr.flow import Flow, LanguageMenu, Menu
from ivr.vocabulary import Ask, Facts, Heard, Reply, Turn


def ask(flow: Flow, turn: Turn, facts: Facts, state: Menu | LanguageMenu) -> Turn:
    """Prompt for a menu choice; after a disclosure the transfer key and words stay live."""
    call = turn.call
    lang = flow.speaking(call.language)
    live = bool(call.heard)
    if isinstance(state, LanguageMenu):  # each language's line in its own voice, the call's first
        order = [lang] + [other for other in flow.languages if other != lang]
        lines = [wording.spoken(flow, facts, state.prompt, other.code) for other in order]
        words = tuple(state.words)
    else:
        lines = [wording.spoken(flow, facts, state.prompt, lang.code)]
        words = tuple(state.words.get(lang.code, {}))
    hints = (hearing.transfer_hints(flow, lang) if live else ()) + words
    turn.call = call.waiting()
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


def answer(flow: Flow, turn: Turn, facts: Facts, state: Menu | LanguageMenu, reply: Reply) -> Turn:
    """The caller answered a menu: the transfer (when live), an option, or a miss. A miss
    prompts again until the retries are used up; then a menu branches (no_input, invalid) and a
    language menu goes on in the language the call already has."""
    call = turn.call
    if call.heard and hearing.asks_for_transfer(flow, reply):
        return bridges.transfer(flow, turn, facts, how=hearing.transfer_input(flow, reply))
    words = _words(state, flow.speaking(call.language).code)
    heard = hearing.described(reply, words) or "silence"
    choice = _choice(state, reply, words)
    if not choice and call.misses < state.retries:
        turn.note("menu", state=state.name, input=heard, result="retry")
        turn.call = call._replace(misses=call.misses + 1)
        return ask(flow, turn, facts, state)
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
    return turn


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
    word = hearing.word_in(reply.speech, words)
    return words[word] if word else ""
