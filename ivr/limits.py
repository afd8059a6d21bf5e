"""What the engine or Twilio would refuse at run time, found by ``ivr check`` instead.

Within one webhook the engine walks the states that need no answer (say, route, overflow,
hours, and a disclosure that has nothing to disclose) until it reaches one that waits for
the caller or for Twilio, or ends its part; the TwiML document it answers with holds what
that walk said and the final state's prompt or bridge. So, over the graph of those
passing states:

- a loop among them never waits (the engine would walk it forever);
- a walk longer than ``MAX_HOPS`` states makes the engine give up (``ivr.engine``);
- the heaviest walk from a place a webhook can start (the flow's start, or wherever a
  caller's answer or a bridge's end leads) gives the largest document; Twilio refuses a
  document over 64 kB (error 11750) and a ``<Gather>`` with more than 500 speech hints
  (warning 13330: the hints are not used, so a transfer word may not be heard).

The sizes are measured, not estimated: each state's part is rendered by ``ivr.twiml`` with
the longest values its placeholders can take (the longest city, country name in that
language and center name of the folder), the longest step URL its call can carry, and
its texts in each language. One depth-first pass finds the loops and orders the passing
states so that every walk is measured once: linear in the flow's states and edges.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from ivr.engine import MAX_HOPS
from ivr.flow import (
    Bridge,
    Center,
    Config,
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
    Target,
    Text,
    edges,
    translation,
)
from ivr.places import country_name
from ivr.twiml import render
from ivr.vocabulary import Action, Ask, Call, Connect, End, Facts, Handover, Play, Speak
from ivr.wording import fill

# https://www.twilio.com/docs/api/errors/11750: "the response body is larger than 64 kB".
TWIML_LIMIT = 64_000
# https://www.twilio.com/docs/api/errors/13330: hints are "a comma-separated list of up to
# 500 entries".
HINTS_LIMIT = 500
PASSING = (Say, Route, Overflow, Disclose, Hours)
Problem = tuple[str, str, str]  # where, field, message


def limit_problems(flow: Flow, config: Config, home: str) -> Iterator[Problem]:
    """(where, field, message) for loops, over-long walks, documents and hint lists."""
    where = f"flow '{flow.id}'"
    if len(flow.transfer_words) > HINTS_LIMIT:
        yield (
            where,
            "transfer_words",
            (
                f"holds {len(flow.transfer_words)} words; a prompt listens for at most "
                f"{HINTS_LIMIT} (Twilio's limit on speech hints)"
            ),
        )
    transfer = frozenset(flow.transfer_words)
    for name, state in flow.states.items():  # (each menu's own words, once the flow's fit)
        if isinstance(state, (Menu, LanguageMenu)) and len(transfer) <= HINTS_LIMIT:
            yield from _hint_problems(flow, name, state, transfer)
    following = {name: _following(flow, state) for name, state in flow.states.items()}
    loop, order = _passing_order(flow, following)
    if loop:
        yield (
            f"{where} state '{loop[0]}'",
            "next",
            "loops without waiting for the caller: " + " -> ".join(loop),
        )
        return
    hops: dict[str, tuple[int, str]] = {}  # state -> (states walked, the next on the longest)
    for name in order:
        longest = max(((hops.get(t, (1, ""))[0], t) for t in following[name]), default=(0, ""))
        hops[name] = (1 + longest[0], longest[1])
    entries = _entries(flow)
    for entry in entries:
        walked = hops.get(entry, (1, ""))[0]
        if walked > MAX_HOPS:
            yield (
                f"{where} state '{entry}'",
                "",
                f"the engine walks {walked} states from here before it waits for the caller "
                f"({_path(entry, hops)}); it gives up after {MAX_HOPS}",
            )
    yield from _size_problems(flow, config, home, following, order, entries)


def _following(flow: Flow, state: State) -> list[str]:
    """The states a walk can go on to from this one without waiting. A disclosure's invalid
    is reached only after the caller answered the offer: a walk of its own starts there."""
    return [
        t
        for f, t in edges(state)
        if t in flow.states and not (isinstance(state, Disclose) and f == "invalid")
    ]


def _hint_problems(
    flow: Flow, name: str, state: Menu | LanguageMenu, transfer: frozenset[str]
) -> Iterator[Problem]:
    per_language = (
        {"": state.words}
        if isinstance(state, LanguageMenu)
        else {f".{code}": words for code, words in state.words.items()}
    )
    for suffix, words in per_language.items():
        count = len(transfer) + sum(word not in transfer for word in words)
        if count > HINTS_LIMIT:
            yield (
                f"flow '{flow.id}' state '{name}'",
                f"words{suffix}",
                f"with the transfer words makes {count} speech hints; a prompt listens for "
                f"at most {HINTS_LIMIT} (Twilio's limit)",
            )


def _passing_order(flow: Flow, following: Mapping[str, list[str]]) -> tuple[list[str], list[str]]:
    """The first loop among passing states (a path back to its first state; [] if none),
    and the passing states ordered so that each comes after every passing state it leads
    to. Iterative depth-first search: a chain of any length, each state and edge once."""
    passing = {n for n, s in flow.states.items() if isinstance(s, PASSING)}
    done: set[str] = set()
    order: list[str] = []
    for root in flow.states:  # file order: the loop reported is the first one met from there
        if root not in passing or root in done:
            continue
        stack = [(root, iter(following[root]))]
        on_stack = {root}
        while stack:
            name, targets = stack[-1]
            for target in targets:
                if target not in passing or target in done:
                    continue
                if target in on_stack:
                    path = [n for n, _ in stack]
                    return path[path.index(target) :] + [target], order
                on_stack.add(target)
                stack.append((target, iter(following[target])))
                break
            else:
                stack.pop()
                on_stack.discard(name)
                done.add(name)
                order.append(name)
    return [], order


def _entries(flow: Flow) -> list[str]:
    """States a webhook can start walking from: the start, and wherever a caller's answer
    or a bridge's end leads (out of a waiting state, or on from a disclosure heard)."""
    found = dict.fromkeys([flow.start] if flow.start in flow.states else [])
    for state in flow.states.values():
        if isinstance(state, Disclose):
            found.update(dict.fromkeys(t for t in (state.next, state.invalid) if t))
        elif not isinstance(state, PASSING):
            found.update(dict.fromkeys(t for _, t in edges(state)))
    return [name for name in found if name in flow.states]


def _path(entry: str, steps: Mapping[str, tuple[int, str]]) -> str:
    """The walk from ``entry`` along the recorded next states, shortened when long."""
    names = [entry]
    while (nxt := steps.get(names[-1], (0, ""))[1]) and len(names) <= len(steps):
        names.append(nxt)
    shown = names if len(names) <= 8 else [*names[:4], "...", *names[-3:]]
    return " -> ".join(shown)


def _size_problems(
    flow: Flow,
    config: Config,
    home: str,
    following: Mapping[str, list[str]],
    order: list[str],
    entries: list[str],
) -> Iterator[Problem]:
    """Entries whose heaviest walk, in some language, answers with more than 64 kB."""
    sizes = _Sizes(flow, config, home)
    worst: dict[str, tuple[int, str]] = {}
    for code in flow.codes:
        best: dict[str, tuple[int, str]] = {}  # state -> (bytes, the next on the heaviest walk)
        for name in order:
            state = flow.states[name]
            longest = max(
                ((best[t][0] if t in best else sizes.end(flow.states[t], code), t) for t in following[name]),
                default=(0, ""),
            )
            passing = sizes.passing(state, code) + longest[0]
            stop = sizes.end(state, code)
            best[name] = (passing, longest[1]) if passing >= stop else (stop, "")
        for entry in entries:
            total = sizes.envelope + (
                best[entry][0] if entry in best else sizes.end(flow.states[entry], code)
            )
            if total > worst.get(entry, (0, ""))[0]:
                worst[entry] = (total, _path(entry, best) if entry in best else entry)
    for entry, (total, walk) in worst.items():
        if total > TWIML_LIMIT:
            yield (
                f"flow '{flow.id}' state '{entry}'",
                "",
                f"a webhook here can answer with a TwiML document of {total:,} bytes "
                f"({walk}); Twilio refuses one over 64 kB (error 11750)",
            )


class _Sizes:
    """The bytes each state adds to a document, rendered with the longest values possible."""

    def __init__(self, flow: Flow, config: Config, home: str) -> None:
        self.flow = flow
        self.facts = Facts("CA" + "0" * 32, datetime(2026, 1, 1, tzinfo=UTC), {}, home)
        self.centers = list(config.centers.values())
        self._worst: dict[str, Center | None] = {}
        ids = [c.id for c in self.centers]
        locations = [c.location for c in self.centers]
        # The longest step URL a call of this flow can carry: every field at its widest.
        self.call = Call(
            flow.id,
            10**9,
            "",
            center=max(ids, key=len, default=""),
            tried=tuple(flow.routable),
            heard=max(locations, key=len, default=""),
            domestic=True,
            exempt="foreign-business",
            language=max(flow.codes, key=len),
            seq=10**6,
            misses=9,
        )
        widest: dict[str, Target] = {}  # per kind, the value that renders longest: a bridge
        for center in self.centers:  # to any other is no larger, and 1,000 centers cost
            target = center.target  # one render per kind, not 1,000 per state
            if target.kind not in widest or (_escaped(target.value) > _escaped(widest[target.kind].value)):
                widest[target.kind] = target
        self.targets = list(widest.values()) or [Target("queue", "")]
        self.tag = max((lang.tag for lang in flow.languages), key=len)
        self._ends: dict[tuple[str, str], int] = {}
        self._transfer_hints: dict[str, int] = {}
        hangup = _bytes((End(),))
        self.envelope = hangup - (_bytes((End(), End())) - hangup)

    def part(self, actions: tuple[Action, ...]) -> int:
        """The bytes these actions add to a document."""
        return _bytes((*actions, End())) - _bytes((End(),))

    def text(self, template: Text, code: str) -> str:
        if not template:
            return ""
        try:
            return fill(template, self.flow, self.facts, self._center(code), code)
        except (KeyError, ValueError, IndexError, AttributeError):  # a broken placeholder,
            return translation(template, code, self.flow.codes[0])  # refused on its own

    def speak(self, template: Text, code: str) -> tuple[Action, ...]:
        lang = self.flow.speaking(code)
        return (Speak(self.text(template, code), lang.tag, lang.voice),) if template else ()

    def asked(
        self,
        text: str,
        code: str,
        state: str,
        timeout: int,
        words: tuple[str, ...] = (),
        also: tuple[Speak, ...] = (),
    ) -> int:
        """The bytes of a prompt that listens for the transfer and these words. The prompt is
        rendered with its own words as hints; the transfer words' share of the hints, the
        same in every prompt of a language, is measured once and added (an overlap between
        the two is counted twice: the bound stays an upper one)."""
        lang = self.flow.speaking(code)
        ask = Ask(
            text,
            lang.tag,
            lang.voice,
            self.flow.transfer_key,
            words,
            timeout,
            self.call._replace(state=state),
            also,
        )
        if code not in self._transfer_hints:
            hints = ", ".join(dict.fromkeys((*lang.words, *self.flow.transfer_words)))
            self._transfer_hints[code] = len(escape(hints, {'"': "&quot;"}).encode())
        transfer = self._transfer_hints[code]
        return self.part((ask,)) + transfer + (len(", ") if words and transfer else 0)

    def passing(self, state: State, code: str) -> int:
        """What a passing state says on its way: a say's text and audio, a courtesy line."""
        if isinstance(state, Say):
            return self.part((*self.speak(state.text, code), *((Play(state.play),) if state.play else ())))
        if isinstance(state, Disclose):
            return self.part(self.speak(state.courtesy, code))
        return 0

    def end(self, state: State, code: str) -> int:
        """The most a walk that stops at this state adds: its prompt, bridge or last words,
        or the safe answer a route or a disclosure gives while Redis cannot be read."""
        known = self._ends.get((state.name, code))
        if known is None:
            known = self._ends[(state.name, code)] = self._end(state, code)
        return known

    def _end(self, state: State, code: str) -> int:
        flow, name = self.flow, state.name
        unavailable = self.part((*self.speak(flow.unavailable_text, code), End()))
        if isinstance(state, (Route, Overflow, Disclose)):
            caution = self.asked(self.text(flow.cautious_text, code), code, "@bridge", 5)
            if isinstance(state, Disclose):  # the location alone, then the offer's prompt
                offer = self.asked(self.text(state.offer, code), code, name, state.timeout)
                caution = max(caution, self.part(self.speak(state.text, code)) + offer)
            return max(caution, self.connect(name), unavailable)
        if isinstance(state, Menu):
            return self.asked(
                self.text(state.prompt, code), code, name, state.timeout, tuple(state.words.get(code, {}))
            )
        if isinstance(state, LanguageMenu):
            lines = tuple(s for c in flow.codes for s in self.speak(state.prompt, c) if isinstance(s, Speak))
            return self.asked(lines[0].text, code, name, state.timeout, tuple(state.words), lines[1:])
        if isinstance(state, (Bridge, Domestic)):
            return max(self.connect(name), unavailable)
        if isinstance(state, Handoff):
            return self.part((Handover(state.url),))
        if isinstance(state, Hangup):
            return self.part((*self.speak(state.text, code), End()))
        return 0

    def connect(self, name: str) -> int:
        """The largest bridge among the folder's centers' targets."""
        then = self.call._replace(state=name)
        attributes = (
            ("center", then.center),
            ("country", "XX"),
            ("language", self.tag),
            ("domestic", "false"),
        )
        return max(
            self.part((Connect(then.center, target, False, then, attributes),)) for target in self.targets
        )

    def _center(self, code: str) -> Center | None:
        """A center with the longest city, center name and country name (in this language)."""
        if code not in self._worst:
            tag = self.flow.speaking(code).tag
            self._worst[code] = (
                dataclasses.replace(
                    self.centers[0],
                    city=max((c.city for c in self.centers), key=_escaped),
                    name=max((c.name for c in self.centers), key=_escaped),
                    country=max(
                        (c.country for c in self.centers),
                        key=lambda country: _escaped(country_name(country, tag)),
                    ),
                )
                if self.centers
                else None
            )
        return self._worst[code]


def _escaped(text: str) -> int:
    """Bytes of a text in an XML document."""
    return len(escape(text).encode())


def _bytes(actions: tuple[Action, ...]) -> int:
    return len(render(actions).encode())
