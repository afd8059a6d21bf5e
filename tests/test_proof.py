"""The proof of ``ivr check`` against the engine, on random flows (issue 3, "Proof before
publishing").

Hypothesis builds random flow graphs over every state kind, three offshore and domestic
centers and one or two languages. For every graph ``flow_problems`` accepts, it plays many
random calls through the engine (random keys, words and silences, random bridge outcomes,
centers closed at random by holidays, Redis readable or not) and checks what the caller
experiences: no offshore bridge unless the last place they were told, in the language they
heard it in and together with the offer, is where that agent sits (or they heard the
cautious disclosure), and never after they asked for a domestic agent. An accepted flow
must also run: the engine raises nothing on it.

A ``home_only`` line (R19, issue 15) is played on the same graphs, some of them built from
home-country centers only: whatever the flow, no call of such a line is ever bridged abroad
(the engine refuses the center and records it); and on a flow ``ivr check`` accepts for
such a line, the engine never has to refuse one, since no path reaches a center abroad.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings, target
from hypothesis import strategies as st

from ivr.check import flow_problems, home_only_problems
from ivr.engine import begin, resume
from ivr.first_turns import FirstTurns
from ivr.flow import (
    TRANSFER_WORDS,
    Automated,
    Bridge,
    Center,
    Config,
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
    Policy,
    Route,
    Say,
    Target,
)
from ivr.hours import Schedule, parse_hours
from ivr.places import country_name
from ivr.vocabulary import (
    Ask,
    BridgeEnded,
    Connect,
    End,
    Facts,
    Handover,
    Heard,
    Relay,
    RelayEnded,
    Silence,
    Speak,
    Turn,
)
from ivr.wording import fill


def center(cid: str, city: str, country: str, zone: str, hours: object = "24/7") -> Center:
    return Center(cid, cid, city, country, ZoneInfo(zone), parse_hours(hours), Target("queue", cid))


CENTERS = {
    c.id: c
    for c in (
        center("manila", "Manila", "PH", "Asia/Manila"),
        center("bangalore", "Bangalore", "IN", "Asia/Kolkata", {"mon-fri": "07:00-23:00"}),
        center("scranton", "Scranton", "US", "America/New_York"),
        center("dallas", "Dallas", "US", "America/Chicago", {"mon-sat": "08:00-20:00"}),
    )
}
CONFIG = Config(CENTERS, {}, {}, Policy(url_hosts=frozenset({"ivr.example.com"})))
EN = Language("en-US", "Polly.Joanna", TRANSFER_WORDS["en"])
ES = Language("es-US", "Polly.Lupe", TRANSFER_WORDS["es"])
NAMES = [f"s{i}" for i in range(9)]

GOOD_DISCLOSURE = {"en": "Your agent is in {city}, {country}.", "es": "Su agente está en {city}, {country}."}
DISCLOSURES = st.sampled_from(
    [
        GOOD_DISCLOSURE,
        GOOD_DISCLOSURE,
        GOOD_DISCLOSURE,
        {"en": GOOD_DISCLOSURE["en"]},  # no Spanish
        {"en": GOOD_DISCLOSURE["en"], "es": "Su agente está en {city}."},  # Spanish without country
        "Your agent is in {city}, {country}.",  # the default language only
    ]
)
OFFER = {
    "en": "To speak with an agent in {home_country}, press {key} or say 'agent'.",
    "es": "Para hablar con un agente en {home_country}, oprima {key} o diga 'agente'.",
}
# An automated agent's notice: whole in both languages, or wanting something ivr check asks for.
GOOD_NOTICE = {
    "en": "An automated assistant run from {city}, {country} will help you. Say 'agent' for a person.",
    "es": "Un asistente automático en {city}, {country} le ayudará. Diga 'agente' para una persona.",
}
NOTICES = st.sampled_from(
    [
        GOOD_NOTICE,
        GOOD_NOTICE,
        "",  # none at all
        {"en": "An automated assistant will help you. Say 'agent' for a person.", "es": GOOD_NOTICE["es"]},
        {"en": "An automated assistant in {city}, {country} will help you.", "es": GOOD_NOTICE["es"]},
    ]
)
TEXTS = st.sampled_from([{"en": "Hello.", "es": "Hola."}] * 4 + [{"en": "Hello."}])
CENTER_SETS = st.lists(
    st.sampled_from(["manila", "bangalore", "scranton", "dallas"]), min_size=1, max_size=3, unique=True
)
# Mostly home-country centers, now and then one abroad: graphs a home_only line may take.
HOME_SETS = st.lists(
    st.sampled_from(["scranton", "dallas", "scranton", "dallas", "dallas", "manila"]),
    min_size=1,
    max_size=2,
    unique=True,
)


def state(
    name: str,
    kind: str,
    draw: st.DrawFn,
    target: st.SearchStrategy[str],
    center_sets: st.SearchStrategy[list[str]] = CENTER_SETS,
) -> object:
    """One random state of the given kind whose edges lead to random state names."""
    maybe = st.one_of(st.just(""), target)
    if kind == "say":
        return Say(name, draw(TEXTS), draw(target))
    if kind in ("route", "overflow"):
        cls = Route if kind == "route" else Overflow
        return cls(name, tuple(draw(center_sets)), draw(target), draw(target))
    if kind == "disclose":
        return Disclose(
            name, draw(DISCLOSURES), OFFER, draw(target), retries=draw(st.integers(0, 2)), invalid=draw(maybe)
        )
    if kind == "bridge":
        return Bridge(name, draw(maybe))
    if kind == "domestic":
        return Domestic(name, draw(maybe))
    if kind == "hangup":
        return Hangup(name, draw(TEXTS))
    if kind == "menu":
        keys = draw(st.lists(st.sampled_from("1239"), min_size=1, max_size=3, unique=True))
        word = draw(st.sampled_from(["billing", "billing", "agent"]))
        to = draw(target)
        return Menu(
            name,
            draw(TEXTS),
            {k: draw(target) for k in keys},
            draw(target),
            draw(target),
            {"en": {word: to}, "es": {"facturación": to}},
            retries=draw(st.integers(0, 2)),
        )
    if kind == "language":
        return LanguageMenu(
            name,
            {"en": "For English, press 1.", "es": "Para español, oprima 2."},
            {"1": "en", "2": "es"},
            draw(target),
            {"español": "es"},
            retries=draw(st.integers(0, 1)),
        )
    if kind == "automated":
        return Automated(
            name,
            "wss://ivr.example.com/bot",
            draw(NOTICES),
            draw(st.sampled_from(["", "US", "PH"])),
            "Manila",
            draw(maybe),
        )
    if kind == "hours":
        by_center = draw(st.booleans())
        schedule = (
            None
            if by_center
            else Schedule(ZoneInfo("America/New_York"), parse_hours({"mon-fri": "09:00-17:00"}))
        )
        return Hours(name, draw(target), draw(target), "bangalore" if by_center else "", schedule)
    return Handoff(name, "https://ivr.example.com/legacy")


# Disclosures come mostly with a route -> disclose -> bridge spine; "disclose" alone is rarer.
KINDS = [
    "say",
    "route",
    "overflow",
    "bridge",
    "domestic",
    "hangup",
    "menu",
    "menu",
    "language",
    "hours",
    "handoff",
    "say",
    "overflow",
    "disclose",
    "automated",
]
IMMEDIATE = {"say", "route", "overflow", "disclose", "hours"}  # run without waiting


@st.composite
def flows(draw: st.DrawFn, center_sets: st.SearchStrategy[list[str]] = CENTER_SETS) -> Flow:
    """A random graph. Edges mostly lead on to the next state, sometimes anywhere (loops
    included); most graphs hold somewhere a route -> disclose -> bridge -> overflow spine
    wired as operators do, whose other edges are random like the rest. Routes and
    overflows choose among ``center_sets``."""
    languages = draw(st.sampled_from([(EN,), (EN, ES), (EN, ES)]))
    size = draw(st.integers(4, len(NAMES)))
    names = NAMES[:size] + ["end"]
    offered = [k for k in KINDS if k != "language" or len(languages) > 1]
    kinds = [draw(st.sampled_from(offered)) for _ in range(size)]
    kinds[0] = draw(st.sampled_from([k for k in offered if k in IMMEDIATE | {"menu", "language"}]))
    states: dict[str, object] = {"end": Hangup("end")}
    targets = {}
    for i, kind in enumerate(kinds):
        following, later, anywhere = (
            st.just(names[i + 1]),
            st.sampled_from(names[i + 1 :]),
            st.sampled_from(names),
        )
        targets[names[i]] = st.one_of(*[following] * (4 if kind in IMMEDIATE else 2), later, anywhere)
        states[names[i]] = state(names[i], kind, draw, targets[names[i]], center_sets)
    if draw(st.integers(0, 3)):
        route, disclose, bridge, overflow = names[(at := draw(st.integers(0, size - 4))) : at + 4]
        states[route] = Route(route, tuple(draw(center_sets)), disclose, draw(targets[route]))
        states[disclose] = Disclose(
            disclose,
            draw(DISCLOSURES),
            OFFER,
            bridge,
            retries=draw(st.integers(0, 2)),
            invalid=draw(st.one_of(st.just(""), targets[disclose])),
        )
        states[bridge] = Bridge(bridge, overflow)
        states[overflow] = Overflow(overflow, tuple(draw(center_sets)), disclose, draw(targets[overflow]))
    return Flow(
        "random",
        1,
        "s0",
        "scranton",
        states,  # type: ignore[arg-type]
        languages=languages,
        on_lookup_failure=draw(st.sampled_from(["domestic", "cautious"])),
    )


REPLIES = st.one_of(
    st.just(Silence()),
    st.sampled_from(["1", "2", "3", "9", "#"]).map(lambda d: Heard(digits=d)),
    st.sampled_from(["billing", "facturación", "agent", "agente", "español", "hello?", ""]).map(
        lambda s: Heard(speech=s)
    ),
    st.sampled_from(["agent", "hello?"]).map(lambda s: Heard(speech=s, confidence=0.2)),
)
ENDINGS = st.sampled_from(["busy", "no-answer", "failed", "queue-full", "completed", "leave"]).map(
    BridgeEnded
)
# One webhook: the caller's answer to a prompt, a bridge's ending, which centers are closed
# for a holiday today, and whether Redis could be read.
# How an automated agent's session ends: handed back (the caller asked for a person) or not.
RELAY_ENDINGS = st.sampled_from([RelayEnded('{"reason":"agent"}', "ended"), RelayEnded("", "ended")])
WEBHOOKS = st.tuples(
    REPLIES, ENDINGS, st.sets(st.sampled_from(sorted(CENTERS))), st.booleans(), RELAY_ENDINGS
)
CALLS = st.lists(
    st.tuples(st.integers(0, 7 * 24 * 60 - 1), st.sampled_from(["", "es"]), st.lists(WEBHOOKS, max_size=12)),
    min_size=1,
    max_size=6,
)
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def on_holiday(closed: set[str], now: datetime) -> dict[str, Center]:
    """The centers, with those named closed for a holiday on their own local date."""
    return {
        cid: replace(c, holidays=frozenset({now.astimezone(c.zone).date()})) if cid in closed else c
        for cid, c in CENTERS.items()
    }


Played = list[tuple[Turn, Facts, object]]  # each turn, its facts, the reply it answered


def play(flow: Flow, minute: int, language: str, webhooks: list, home_only: bool = False) -> Played:
    """One call through the engine, as the webhooks would drive it."""
    now = MONDAY + timedelta(minutes=minute)
    start = Facts(f"CA{minute:032x}", now, CENTERS, "US", language=language, home_only=home_only)
    played: Played = [(begin(flow, start), start, None)]
    for reply, ending, closed, fresh, relay_ended in webhooks:
        turn = played[-1][0]
        last = turn.actions[-1]
        if isinstance(last, (End, Handover)):
            break
        facts = replace(start, centers=on_holiday(closed, now), fresh=fresh)
        answer = ending if isinstance(last, Connect) else relay_ended if isinstance(last, Relay) else reply
        played.append((resume(flow, turn.call, answer, facts), facts, answer))
    return played


def assert_caller_was_told(flow: Flow, played: Played) -> None:
    """At each offshore bridge the caller was last told, whole, where this agent sits, then
    heard the whole offer in the same language and stayed silent: no key, no words, nothing
    below the confidence floor ever counts as consent. Or the same with the cautious one."""
    told: object = None  # the place of the last offer the caller let pass in silence
    spoken: object = None  # the place of the last location line, not yet offered
    offer: object = None  # the place of the offer the current prompt makes, if it is one
    asked_for_domestic = False
    for turn, facts, reply in played:
        if offer is not None:  # this turn answers an offer; nothing heard is silence
            said = isinstance(reply, Heard) and (reply.digits or reply.speech.strip())
            told = None if said else offer
            offer = None
        asked_for_domestic |= any(e.step == "transfer_requested" for e in turn.events)
        for action in turn.actions:
            if isinstance(action, Speak):
                spoken = _place(action, facts) or spoken
            elif isinstance(action, Ask):
                offer = _offered(flow, action, facts, spoken)
                if offer is not None:
                    spoken = offer
            elif isinstance(action, Connect):
                c = facts.centers[action.center]
                if c.country == "US":
                    assert action.domestic
                    continue
                assert not asked_for_domestic, "offshore bridge after a transfer request"
                assert told in ((c.city, c.country), "cautious"), (
                    f"bridged to {c.city}, {c.country}; the caller last consented to {told!r}"
                )


def assert_bots_were_announced(flow: Flow, played: Played) -> None:
    """Every hand-off to an automated agent comes right after its notice, in the call's
    language, naming the operator's country when it is abroad and the word that brings a
    human; a session the bot hands back goes to an agent at home (a domestic bridge or the
    apology), never abroad nor to a bot again."""
    for turn, _, reply in played:
        if isinstance(reply, RelayEnded) and reply.handoff:
            assert any(e.step == "transfer_requested" for e in turn.events), "nobody took the caller home"
            assert not any(
                isinstance(a, Relay) or isinstance(a, Connect) and not a.domestic for a in turn.actions
            )
        for i, action in enumerate(turn.actions):
            if not isinstance(action, Relay):
                continue
            state = flow.states[action.then.state]
            assert isinstance(state, Automated)
            notice = turn.actions[i - 1] if i else None
            assert isinstance(notice, Speak), "an automated agent answered without its notice"
            assert notice.language == action.language
            words = flow.speaking(action.language.split("-")[0]).words
            assert any(w in notice.text.lower() for w in words)
            if state.country not in ("", "US"):
                assert country_name(state.country, action.language) in notice.text


def _place(said: Speak, facts: Facts) -> object:
    for c in CENTERS.values():
        if f"{c.city}, {country_name(c.country, said.language)}" in said.text:
            return (c.city, c.country)
    return None


def _offered(flow: Flow, ask: Ask, facts: Facts, spoken: object) -> object:
    """The place a prompt offers the transfer away from ("cautious" for the cautious one),
    or None when it is no offer."""
    code = ask.language.split("-")[0]
    if ask.text == fill(flow.cautious_text, flow, facts, None, code):
        return "cautious"
    for c in CENTERS.values():
        if spoken == (c.city, c.country) and ask.text == fill(OFFER, flow, facts, c, code):
            assert ask.key == flow.transfer_key
            return spoken
    return None


@settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(flow=flows(), calls=CALLS)
def test_every_flow_check_accepts_discloses_before_every_offshore_bridge(flow, calls):
    assume(not list(flow_problems(flow, CONFIG, "US")))

    offshore = 0
    for minute, language, webhooks in calls:
        played = play(flow, minute, language, webhooks)
        assert_caller_was_told(flow, played)
        assert_bots_were_announced(flow, played)
        offshore += sum(
            isinstance(a, Connect) and not a.domestic for turn, _, _ in played for a in turn.actions
        )
    target(float(offshore), label="offshore bridges")  # steer towards flows that reach them


# A call's first turn is remembered per configuration and opening (ivr.first_turns): on any
# flow, at any time, with any centers closed, any exemption or language, it must be exactly
# the engine's own first turn. The digest stands for the centers as published: a holiday is
# part of a center, so it changes the digest; the hours of the day do not.
FIRST_CALLS = st.lists(
    st.tuples(
        st.integers(0, 7 * 24 * 60 - 1),
        st.sets(st.sampled_from(sorted(CENTERS))),
        st.sampled_from(["", "es"]),
        st.sampled_from([None, "emergency", "foreign-business"]),
        st.booleans(),  # a home_only line
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(flow=flows(), calls=FIRST_CALLS, weighted=st.booleans())
def test_a_remembered_first_turn_is_the_engines_own(flow, calls, weighted):
    assume(not list(flow_problems(flow, CONFIG, "US")))
    if weighted:  # a route that shares calls by weight picks by CallSid: never remembered
        flow = replace(
            flow,
            states={
                name: replace(s, strategy="weight", weights={c: 1 + i for i, c in enumerate(s.centers)})
                if isinstance(s, Route)
                else s
                for name, s in flow.states.items()
            },
        )
    first_turns = FirstTurns()
    for minute, closed, language, exempt, home_only in calls:
        now = MONDAY + timedelta(minutes=minute)
        digest = "published:" + ",".join(sorted(closed))
        for caller in range(3):  # alike calls but for the CallSid
            facts = Facts(
                f"CA{minute:028x}{caller:04x}",
                now,
                on_holiday(closed, now),
                "US",
                exempt,  # type: ignore[arg-type]
                language=language,
                home_only=home_only,
            )
            assert first_turns.begin(flow, facts, digest) == begin(flow, facts)


@settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(flow=st.one_of(flows(), flows(HOME_SETS)), calls=CALLS)
def test_a_home_only_line_is_never_bridged_abroad_and_check_proves_it_never_has_to_refuse(flow, calls):
    assume(not list(flow_problems(flow, CONFIG, "US")))
    accepted = not list(home_only_problems(flow, CONFIG, "US"))

    refused = 0
    for minute, language, webhooks in calls:
        played = play(flow, minute, language, webhooks, home_only=True)
        for turn, facts, _ in played:
            for action in turn.actions:
                if isinstance(action, Connect):
                    assert facts.centers[action.center].country == "US", "a home_only call went abroad"
                    assert action.domestic
            kept = [e for e in turn.events if e.step == "kept_home"]
            refused += len(kept)
            for event in kept:
                fields = dict(event.fields)
                assert fields["country"] != "US"
                assert not fields["center"] or CENTERS[fields["center"]].country == fields["country"]
            assert not any(
                isinstance(a, Relay) and flow.states[a.then.state].country not in ("", "US")  # type: ignore[union-attr]
                for a in turn.actions
            ), "a home_only call went to a bot run from abroad"
        if accepted:
            assert refused == 0, "ivr check accepted a home_only flow the engine had to keep home"
    target(float(refused), label="centers abroad refused")  # steer towards flows that try
