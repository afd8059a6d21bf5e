"""Calls without a phone, Redis or Flask: the core of ``ivr test`` and ``ivr preview``.

Theory of operation. ``simulate`` drives the engine as the webhooks do: ``begin`` for the
first webhook, then ``resume`` with what Twilio would post back. At a prompt that is the
scenario's next input (silence once they run out), as Twilio's ``<Gather>`` would post it
(``ivr.prompts``: every key is input, since the prompts are rendered with
``finishOnKey=""``; input given during a prompt cuts it, and the transcript shows where);
at a bridge it is how the scenario says
that center's next bridge ends (answered once its list runs out), as Twilio reports it for
the target's kind (DialCallStatus or QueueResult). The facts are built as the webhooks build
them: the scenario's moment for every webhook, the configuration's centers with their hours
overridden where the scenario says so, Redis readable or not. An engine error gives the
flow's safe answer, as on the webhooks, and fails the scenario.

A weighted route draws by CallSid. A scenario that names ``picks`` is played with CallSids
of its own until the weighted routes draw those centers; otherwise with one CallSid derived
from its name, so a run repeats. ``verify`` compares the outcome with what the scenario
expects. Pure: no files, no Redis, no Flask; ``ivr.cli`` reads the files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

from ivr import bind, whisper
from ivr.bind import Reservation
from ivr.caller_ids import substitute
from ivr.engine import begin, first_call, resume, turn_or_safe_answer
from ivr.evidence import received
from ivr.flow import Center, Config, Flow, Route
from ivr.hold import Queued, hold, wait_limit
from ivr.hours import ALWAYS, WeeklyHours
from ivr.outcomes import ANSWERED, GONE, HANGS_UP, HELD, meaning, reported
from ivr.prompts import keys_heard
from ivr.rulesets import in_force, labels
from ivr.scenarios import SILENCE, CenterState, Expect, Input, Interrupting, Scenario
from ivr.twiml import FINISH_ON_KEY, HOLD_SILENCE
from ivr.vocabulary import (
    WAIT_LIMIT,
    Ask,
    BridgeEnded,
    Call,
    Connect,
    End,
    Event,
    Facts,
    Handover,
    Heard,
    Play,
    Record,
    Recorded,
    Relay,
    RelayEnded,
    Reply,
    RequestCallback,
    Silence,
    Speak,
    Turn,
)

MAX_TURNS = 40  # webhooks in one call; a flow that needs more is looping
MAX_DRAWS = 500  # CallSids tried to make the weighted routes draw a scenario's picks
MAX_HOLDS = 2000  # hold documents in one queued bridge: a day of 45 s segments
NEVER = WeeklyHours(days=tuple(() for _ in range(7)))
ENDED = {ANSWERED: "answered", GONE: "abandoned"}  # how a call ends after its last bridge
SHOWN_LATER = ("text", "keywords")  # event fields the transcript already shows as heard


@dataclass(frozen=True)
class Connection:
    """One bridge of a simulated call and how it ended (the scenario's word)."""

    center: str
    kind: str
    target: str
    domestic: bool
    ended: str


@dataclass
class Outcome:
    """What happened on one simulated call: its transcript and what it is checked against."""

    call_sid: str
    lines: list[str] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    bridges: list[Connection] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    handoff: str = ""
    ended: str = ""  # answered, hangup, handoff, abandoned; "" when the call did not end
    language: str = ""  # the tag of the language the call speaks at its end
    unused: tuple[Input, ...] = ()  # inputs the call ended before asking for
    drawn: list[str] = field(default_factory=list)  # centers the weighted routes drew
    errors: list[str] = field(default_factory=list)  # the simulation itself went wrong

    def note(self, line: str) -> None:
        self.lines.append(line)

    def hear(self, text: str, language: str, how: str = "hears") -> None:
        self.heard.append(text)
        self.note(f"  {how} [{language}]: {text}")

    def fields(self, step: str) -> list[dict[str, str]]:
        """The fields of each event of this step, in order."""
        return [dict(e.fields) for e in self.events if e.step == step]

    @property
    def steps(self) -> list[str]:
        return [e.step for e in self.events]

    @property
    def transfer(self) -> str:
        """How the caller asked for the domestic transfer: key, voice, hold, or none."""
        asked = self.fields("transfer_requested")
        return asked[0]["by"] if asked else "none"

    def __str__(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Result:
    """A scenario, what happened on its call, and each expectation that failed."""

    scenario: Scenario
    outcome: Outcome
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def run(config: Config, scenarios: Iterable[Scenario], home: str = "US") -> list[Result]:
    """Simulate and verify each scenario."""
    results = []
    for scenario in scenarios:
        outcome = simulate(config, scenario, home)
        results.append(Result(scenario, outcome, tuple(verify(outcome, scenario.expect))))
    return results


def simulate(config: Config, scenario: Scenario, home: str = "US") -> Outcome:
    """Play one scenario's call; with ``picks``, on a CallSid whose weighted draws give them."""
    if not scenario.picks:
        return play(config, scenario, home, scenario.call_sid)
    wanted = list(scenario.picks)
    first = None
    for attempt in range(MAX_DRAWS):
        sid = "CA" + hashlib.sha256(f"{scenario.name}#{attempt}".encode()).hexdigest()[:32]
        outcome = play(config, scenario, home, sid)
        if outcome.drawn[: len(wanted)] == wanted:
            return outcome
        first = first or outcome
    assert first is not None
    first.errors.append(
        f"picks: no CallSid of {MAX_DRAWS} made the weighted routes draw "
        f"{', '.join(wanted)} (they drew {', '.join(first.drawn) or 'nothing'}); "
        "are those centers open and in the route?"
    )
    return first


def play(config: Config, scenario: Scenario, home: str, call_sid: str) -> Outcome:
    """One simulated call on one CallSid, webhook by webhook."""
    number = config.numbers[scenario.number]
    flow = config.flows[number.flow]
    centers = {cid: _as_set(center, scenario.centers.get(cid)) for cid, center in config.centers.items()}
    pending = {cid: list(state.bridges) for cid, state in scenario.centers.items()}
    inputs = list(scenario.inputs)
    bots = list(scenario.bots)
    now = scenario.at
    facts = Facts(
        call_sid,
        now,
        centers,
        home,
        number.exempt,
        scenario.fresh,
        scenario.language or number.language,
        number.home_only,
        caller=scenario.caller,
        domestic_waits=scenario.domestic_waits,
        callback_pending=scenario.callback_pending,
    )
    rules = in_force(number.rules, config.policy.rules if config.policy else ())
    out = Outcome(call_sid)
    _header(out, scenario, flow, facts)
    out.events.append(
        received(
            scenario.number,
            scenario.from_country,
            scenario.from_state,
            "inbound",
            facts.fresh,
            flow,
            facts.exempt or "",
            labels(rules),
            facts.home_only,
        )
    )
    call = first_call(flow, facts)
    turn = substitute(
        _decide(partial(begin, flow, facts), flow, call, facts, out), scenario.caller, scenario.number
    )  # as the webhooks do
    last_end = ""  # what the last bridge's end meant (ivr.outcomes)
    reserves = list(scenario.reserve)  # TaskRouter's reservations, in turn
    for _ in range(MAX_TURNS):
        last = turn.actions[-1] if turn.actions else None
        given = inputs[0] if inputs and isinstance(last, Ask) else None
        _show(out, turn, flow, given.heard if isinstance(given, Interrupting) else None)
        reply: Reply
        if isinstance(last, Ask):
            reply = _posted(inputs.pop(0) if inputs else Silence(), last.digits)
            out.note(_did(reply))
            call = last.then
        elif isinstance(last, Connect) and last.target.kind == "workflow" and reserves:
            turn, last_end = _reserved(out, flow, facts, last, reserves, inputs, scenario.number)
            continue
        elif isinstance(last, Relay):
            how = bots.pop(0) if bots else "done"
            # the bot's "end" message: with handoffData when it hands the caller back
            reply = RelayEnded('{"reason":"agent"}' if how == "agent" else "", "ended")
            out.note(
                "  the automated agent hands the caller back (they asked for a person)"
                if how == "agent"
                else "  the automated agent ends its session"
            )
            call = last.then
        elif isinstance(last, Connect):
            word = pending[last.center].pop(0) if pending.get(last.center) else "answered"
            reply = _bridge(out, flow, facts, last, word, scenario.wait)
            last_end = reply.meaning()
            call = last.then
        elif isinstance(last, Record):  # the caller leaves a message of half the longest
            seconds = max(1, last.max_length // 2)
            out.note(f"  (beep) leaves a message of {seconds} s")
            sid = "RE" + call_sid[2:34]
            reply = Recorded(sid, f"https://api.twilio.com/2010-04-01/Recordings/{sid}", str(seconds))
            call = last.then
        else:
            out.ended = "handoff" if isinstance(last, Handover) else ENDED.get(last_end, "hangup")
            if last_end == GONE:
                out.note("  (the caller had hung up already: nobody hears Onshore's answer)")
            if not isinstance(last, (Handover, End)):
                out.note("  (the answer ends without hanging up; Twilio hangs up)")
            break
        step_facts = Facts(
            call_sid,
            now,
            centers,
            home,
            call.exempt or None,  # type: ignore[arg-type]
            scenario.fresh,
            caller=scenario.caller,
            domestic_waits=scenario.domestic_waits,
        )
        turn = substitute(
            _decide(partial(resume, flow, call, reply, step_facts), flow, call, step_facts, out),
            scenario.caller,
            scenario.number,
        )
    else:
        out.errors.append(f"the call did not end within {MAX_TURNS} webhooks")
        out.note(f"  (stopped after {MAX_TURNS} webhooks)")
    out.language = flow.speaking(turn.call.language).tag
    out.unused = tuple(inputs)
    out.drawn = _drawn(flow, out.events)
    return out


def verify(outcome: Outcome, expect: Expect) -> list[str]:
    """Each way the call differs from what was expected, as one line; [] when it passed."""
    failures = list(outcome.errors)
    disclosures = outcome.fields("disclosed")
    heard_disclosures = [d["text"] for d in disclosures]
    if expect.disclosed is not None:
        matched = len(expect.disclosed) == len(heard_disclosures) and all(
            want.matches(got) for want, got in zip(expect.disclosed, heard_disclosures, strict=True)
        )
        if not matched:
            wanted = [("exactly " if d.exact else "") + repr(d.text) for d in expect.disclosed]
            failures.append(
                f"disclosed: expected [{', '.join(wanted) or 'no disclosure'}], "
                f"heard {heard_disclosures or 'no disclosure'}"
            )
    if expect.language:
        spoken = [("the call", outcome.language)] + [("a disclosure", d["language"]) for d in disclosures]
        wrong = [f"{what} spoke {tag}" for what, tag in spoken if not _same_language(expect.language, tag)]
        if wrong:
            failures.append(f"language: expected {expect.language}, {', '.join(dict.fromkeys(wrong))}")
    if expect.offer:
        offers = [o["text"] for o in outcome.fields("offered")]
        if not offers or any(expect.offer not in o for o in offers):
            failures.append(
                f"offer: expected every offer to hold {expect.offer!r}, heard {offers or 'no offer'}"
            )
    if expect.bridged is not None:
        got = [(b.center, b.domestic) for b in outcome.bridges]
        want = expect.bridged
        if len(got) != len(want) or any(
            w.center != g[0] or w.domestic not in (None, g[1]) for w, g in zip(want, got, strict=False)
        ):
            expected = ", ".join(_bridged(w.center, w.domestic) for w in want) or "no bridge"
            failures.append(
                f"bridged: expected [{expected}], "
                f"got [{', '.join(_bridged(c, d) for c, d in got) or 'no bridge'}]"
            )
    checks: list[tuple[str, str, str]] = [
        ("transfer", expect.transfer, outcome.transfer),
        ("handoff", expect.handoff, outcome.handoff),
        ("ends", expect.ends, outcome.ended or "(did not end)"),
    ]
    for name, want_text, got_text in checks:
        if want_text and want_text != got_text:
            failures.append(f"{name}: expected {want_text}, got {got_text or 'none'}")
    for words in expect.heard:
        if not any(words in line for line in outcome.heard):
            failures.append(f"heard: expected to hear {words!r}")
    for words in expect.not_heard:
        if any(words in line for line in outcome.heard):
            failures.append(f"not_heard: heard {words!r}")
    steps = set(outcome.steps)
    missing = [s for s in expect.steps if s not in steps]
    present = [s for s in expect.not_steps if s in steps]
    if missing:
        failures.append(f"steps: no evidence of {', '.join(missing)}")
    if present:
        failures.append(f"not_steps: evidence of {', '.join(present)}")
    if outcome.unused:
        shown = ", ".join(_input_text(i) for i in outcome.unused)
        failures.append(f"inputs: the call ended before asking for {shown}")
    return failures


def explain(result: Result) -> str:
    """What failed and the call's transcript, for a failing scenario."""
    about = [f"  ({result.scenario.description})"] if result.scenario.description else []
    lines = about + [f"  {failure}" for failure in result.failures]
    lines += ["  transcript:", *(f"  {line}" for line in result.outcome.lines)]
    return "\n".join(lines)


def _as_set(center: Center, state: CenterState | None) -> Center:
    """The center with its hours as the scenario sets them."""
    if state is None or not state.hours:
        return center
    hours = ALWAYS if state.hours == "open" else NEVER
    return replace(center, hours=hours, holidays=frozenset(), closures=())


def _decide(decide: Callable[[], Turn], flow: Flow, call: Call, facts: Facts, out: Outcome) -> Turn:
    """The engine's turn or, as the webhooks do when it fails, the flow's safe answer."""

    def failed(exc: Exception) -> None:  # the webhooks answer with the safe answer; here it also fails
        reason = f"{type(exc).__name__}: {exc}"
        out.errors.append(f"the engine failed going on from state {call.state}: {reason}")
        out.note(f"  ! the engine failed ({reason}): the caller gets the safe answer")

    return turn_or_safe_answer(decide, flow, call, facts, failed)


def _posted(given: Input, num_digits: int = 1) -> Reply:
    """What Twilio posts for the caller's input at one of Onshore's prompts (numDigits=1, or
    a phone number's up to "#")."""
    heard = given.heard if isinstance(given, Interrupting) else given
    if not isinstance(heard, Heard) or heard.speech:
        return heard
    finish = "#" if num_digits > 1 else FINISH_ON_KEY
    digits = keys_heard(heard.digits, finish, num_digits=num_digits)
    return replace(heard, digits=digits) if digits else Silence()


def _show(out: Outcome, turn: Turn, flow: Flow, interrupted_by: Heard | None = None) -> None:
    """A turn's evidence, then what the caller hears of it (its prompt cut short by input
    given while it plays: barge-in)."""
    for event in turn.events:
        out.events.append(event)
        shown = " ".join(f"{k}={v}" for k, v in event.fields if k not in SHOWN_LATER and v)
        out.note(f"  · {event.step} {shown}".rstrip())
    for action in turn.actions:
        if isinstance(action, Speak):
            out.hear(action.text, action.language)
        elif isinstance(action, Play):
            out.note(f"  hears audio: {action.url}")
        elif isinstance(action, Ask) and interrupted_by is not None:  # the rest is never played
            by = f"key {interrupted_by.digits}" if interrupted_by.digits else "speech"
            out.hear(action.text, action.language)
            out.note(f"    ^ cut off by {by} while it played (barge-in)")
        elif isinstance(action, Ask):
            out.hear(action.text, action.language)
            for line in action.also:
                out.hear(line.text, line.language)
        elif isinstance(action, Relay):
            out.note(f"  talks with the automated agent at {action.url}")
        elif isinstance(action, Handover):
            out.handoff = action.url
            out.note(f"  handed off to {action.url}")
        elif isinstance(action, End):
            out.note("  hangs up")
        elif isinstance(action, RequestCallback):
            out.note(f"  a callback from {action.center} is requested: its place kept in the line")
        elif isinstance(action, Record):
            out.note(f"  <Record> at most {action.max_length} s, after a beep")


def _reserved(
    out: Outcome,
    flow: Flow,
    facts: Facts,
    connect: Connect,
    reserves: list[str],
    inputs: list[Input],
    number: str,
) -> tuple[Turn, str]:
    """TaskRouter reserves workers at these sites in turn (each but the last does not
    answer): the caller's leg at each reservation (``ivr.bind``), until a worker answers
    (the conference's end is the turn returned) or the caller goes home (the domestic
    bridge is). The second item is what the bridge's end meant ("" for none yet)."""
    call = connect.then
    for k in range(1, MAX_TURNS):
        site = reserves.pop(0)
        res = Reservation(
            "WS" + "0" * 32, "WT" + "0" * 32, f"WR{k:032x}", f"WK{k:032x}", site, number, call.state
        )
        out.note(f"  TaskRouter reserves a worker at {site or '(no site)'}: the call leaves the queue")
        bound = bind.at_reservation(flow, call, res, facts, None)
        while not (bound.join or bound.cancel):
            ask = bound.turn.actions[-1]
            assert isinstance(ask, Ask)
            given = inputs[0] if inputs else None
            _show(out, bound.turn, flow, given.heard if isinstance(given, Interrupting) else None)
            reply = _posted(inputs.pop(0) if inputs else Silence())
            out.note(_did(reply))
            bound = bind.at_reservation(flow, ask.then, res, facts, reply)
        if bound.cancel:
            out.note(f"  TaskRouter: the task is canceled ({bound.cancel}); no worker accepted it")
            return bound.turn, ""
        _show(out, bound.turn, flow)
        out.note(f"  TaskRouter calls the worker at {site}; meanwhile, the transfer key live:")
        for line in bind.hold_lines(flow, facts, call):
            if isinstance(line, Speak):
                out.hear(line.text, line.language)
        if reserves:
            out.note(f"  the worker at {site} does not answer: the reservation times out")
            continue
        out.note(f"  the worker at {site} answers: the reservation is accepted, the caller is moved to them")
        _show(out, bind.joined(bound.turn.call, res, facts), flow)
        domestic = facts.centers[site].country == facts.home
        out.bridges.append(Connection(site, "workflow", connect.target.value, domestic, "answered"))
        return bind.conference_ended(flow, bound.turn.call, res, facts, BridgeEnded("answered")), ANSWERED
    raise RuntimeError(f"more than {MAX_TURNS} reservations")


def _bridge(out: Outcome, flow: Flow, facts: Facts, connect: Connect, word: str, wait: int) -> BridgeEnded:
    """Play one bridge and say how Twilio reports its end; a queue, as Twilio plays it."""
    center = facts.centers[connect.center]
    where = "domestic" if connect.domestic else "offshore"
    out.note(
        f"  bridged to {center.id} ({connect.target.kind} {connect.target.value}; "
        f"{center.city}, {center.country}; {where})"
    )
    if connect.caller_id:
        out.note(f"  the called side sees caller ID {connect.caller_id}, the number dialed")
    reply = BridgeEnded(_status(connect, word), word == HANGS_UP)
    if connect.target.kind in HELD and word in ("answered", "hold-transfer", HANGS_UP):
        reply = _hold(out, flow, facts, connect, word, wait)
    elif word == HANGS_UP:
        out.note("  hangs up before an agent answers")
    if connect.target.kind not in HELD:  # a <Dial> says whether it connected the caller
        reply = replace(reply, connected=_answering_side(out, flow, connect, word, facts.home))
    ended = reply.left if reply.left == WAIT_LIMIT else word
    out.bridges.append(
        Connection(center.id, connect.target.kind, connect.target.value, connect.domestic, ended)
    )
    bridged = "" if reply.connected is None else f", DialBridged={str(reply.connected).lower()}"
    out.note(f"  the bridge ends: {ended} ({reply.status}{bridged})")
    return reply


def _answering_side(out: Outcome, flow: Flow, connect: Connect, word: str, home: str) -> bool:
    """Whether the caller is connected to whoever answers a <Dial>: with the confirm
    whisper, only when they press the accept key (ivr.whisper); a voicemail presses nothing.
    Without it, whoever picks up is connected, a voicemail too."""
    if meaning(_status(connect, word)) != ANSWERED:
        return False
    if not connect.confirm:
        if word == "declined":
            out.errors.append(
                f"centers.{connect.center}: 'declined' needs a bridge that "
                "confirms (connect.confirm), and this one does not"
            )
        elif word == "voicemail":
            out.note("  a voicemail answers, and with no confirm the caller is connected to it")
        return True
    line = whisper.line(flow, connect.then, home)
    out.note(f"  the called side hears [{line.language}]: {line.text}")
    key = {"declined": "2", "voicemail": ""}.get(word, whisper.ACCEPT_KEY)
    if not key:
        out.note("  the called side presses nothing (a voicemail): that leg hangs up")
        return False
    accepted, event = whisper.answer(connect.then, key, "")
    out.events.append(event)
    out.note(f"  the called side presses {key}" + ("" if accepted else ": that leg hangs up"))
    out.note(f"  · confirm outcome={dict(event.fields)['outcome']} center={connect.center}")
    return accepted


def _hold(out: Outcome, flow: Flow, facts: Facts, connect: Connect, word: str, wait: int) -> BridgeEnded:
    """The waitUrl loop: Twilio requests it again each time a document ends, QueueTime
    growing, until after ``wait`` seconds the agent answers (answered), the caller presses
    the transfer key (hold-transfer) or hangs up, or a document says <Leave/> (max_wait)."""
    then, elapsed = connect.then, 0
    for _ in range(MAX_HOLDS):
        queued = Queued(elapsed, 1)
        document = hold(flow, facts, queued, connect.max_wait, then.language)
        if document.leave:
            event = wait_limit(str(then.seq), then.state, connect.center, queued, connect.max_wait)
            out.events.append(event)
            out.note(f"  · wait_limit queue_time={elapsed} max_wait={connect.max_wait}")
            out.note(f"  on hold {_clock(elapsed)}: the wait handler answers <Leave/>")
            return BridgeEnded("leave", wait=str(elapsed), left=WAIT_LIMIT)
        if word == "hold-transfer" and elapsed >= wait:
            out.note(f"  on hold {_clock(elapsed)}: presses {flow.transfer_key}")
            return BridgeEnded("leave", wait=str(elapsed), left="key")
        for line in document.lines:
            if isinstance(line, Speak):
                out.hear(line.text, line.language, how=f"on hold {_clock(elapsed)} hears")
            else:
                out.heard.append(line.url)
                out.note(f"  on hold {_clock(elapsed)} hears music: {line.url}")
        length = (
            sum(
                _spoken_seconds(line.text) if isinstance(line, Speak) else flow.offer_every
                for line in document.lines
            )
            + HOLD_SILENCE
        )
        if word != "hold-transfer" and elapsed + length > wait:
            gone = word == HANGS_UP
            out.note(
                f"  on hold {_clock(wait)}: "
                + ("hangs up before an agent answers" if gone else "an agent answers")
            )
            return BridgeEnded(_status(connect, word), gone, str(wait))
        elapsed += length
    raise RuntimeError(f"a hold of {wait} s needs more than {MAX_HOLDS} hold documents")


def _spoken_seconds(text: str) -> int:
    """How long Twilio takes to say a text, about: 150 words a minute."""
    return max(1, round(len(text.split()) / 2.5))


def _clock(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def _status(connect: Connect, word: str) -> str:
    """How Twilio reports this end of this kind of bridge (the scenario checked the word)."""
    return reported(word, connect.target.kind) or word


def _header(out: Outcome, scenario: Scenario, flow: Flow, facts: Facts) -> None:
    origin = scenario.from_country + (f"-{scenario.from_state}" if scenario.from_state else "")
    out.note(
        f"call {out.call_sid} to {scenario.number} (flow {flow.id} v{flow.version}) from "
        f"{origin} at {_when(facts.now)}"
    )
    states = []
    for center in facts.centers.values():
        local = facts.now.astimezone(center.zone)
        opened = "open" if center.schedule.is_open(facts.now) else "closed"
        forced = " by the scenario" if scenario.centers.get(center.id, CenterState()).hours else ""
        states.append(f"{center.id} {opened}{forced} ({local:%a %H:%M} local)")
    out.note(f"  centers: {', '.join(states)}")
    if not facts.fresh:
        out.note(
            f"  Redis unreadable: centers from memory; the flow's on_lookup_failure is "
            f"{flow.on_lookup_failure}"
        )


def _when(moment: datetime) -> str:
    return f"{moment:%a %Y-%m-%d %H:%M} {moment.tzname() or ''}".rstrip()


def _drawn(flow: Flow, events: list[Event]) -> list[str]:
    """The centers weighted routes drew, in order (a routed event's key names its state)."""
    drawn = []
    for event in events:
        state = flow.states.get(event.key.split(":", 2)[-1]) if event.step == "routed" else None
        if isinstance(state, Route) and state.strategy == "weight":
            drawn.append(dict(event.fields)["center"])
    return drawn


def _did(reply: Reply) -> str:
    if isinstance(reply, Heard) and reply.digits:
        return f"  presses {reply.digits}"
    if isinstance(reply, Heard):
        sure = f" (confidence {reply.confidence:g})" if reply.confidence < 0.9 else ""
        return f"  says '{reply.speech}'{sure}"
    return "  (stays silent)"


def _input_text(reply: Input) -> str:
    if isinstance(reply, Interrupting):
        return _input_text(reply.heard)
    if isinstance(reply, Silence):
        return SILENCE
    return reply.digits or repr(reply.speech)


def _bridged(center: str, domestic: bool | None) -> str:
    return center if domestic is None else f"{center} ({'domestic' if domestic else 'offshore'})"


def _same_language(expected: str, tag: str) -> bool:
    """ "es" matches "es-US"; a whole tag must match whole."""
    expected, tag = expected.lower(), tag.lower()
    return expected == tag or "-" not in expected and expected == tag.split("-")[0]
