"""``ivr check``: everything an operator file must satisfy before it may be published.

Beyond the field-level checks of ``ivr.flowfile`` this module checks references between
files, the folder's allowlists and each flow's languages, and proves, over each flow's
graph, two things a violation of which it names by its path, state by state:

1. No path reaches a bridge into an offshore center without passing a disclosure (which
   always carries the transfer offer) after the center was chosen. A shared queue or a
   workflow with any offshore site counts as offshore: the caller hears, before it, every
   place they may be answered from, and at the bridge the site of the agent actually
   reserved or dequeuing (``ivr.bind``); ``site_problems`` makes sure every such agent's
   site is one of the centers the file describes.
2. After a disclosure the domestic request stays live wherever the caller can answer: no
   menu reachable after a disclosure uses the transfer key or a transfer word as an option.

Languages need no dimension of their own in the walk: every text, and every disclosure's
{city} and {country}, must exist in every language the flow offers, so a disclosure on any
path is complete in whatever language the call speaks.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import phonenumbers

from ivr.errors import FlowError
from ivr.flow import (
    Automated,
    Bridge,
    Center,
    Config,
    Disclose,
    Domestic,
    Flow,
    Handoff,
    Hours,
    LanguageMenu,
    Menu,
    Overflow,
    Policy,
    Route,
    Say,
    State,
    Text,
    answers_abroad,
    edges,
    translation,
)
from ivr.flowfile import Sources, build, read_folder
from ivr.hearing import heard_as, says
from ivr.limits import limit_problems
from ivr.progress import Progress
from ivr.rulesets import RuleSet, combined, in_force
from ivr.table_fields import DTMF_KEYS, VOICE_NAME, sip_host, url_host
from ivr.voices import language_problem, voice_problem

Problem = tuple[str, str, str]  # where, field, message
# What may be current and undisclosed: nothing offshore, no center at all, or an offshore one.
NOTHING, NO_CENTER, OFFSHORE = "", "<none>", "<offshore>"
# Twilio's <Gather> ends the input at finishOnKey, "#" by default, and a lone "#" is no
# input at all (https://www.twilio.com/docs/voice/twiml/gather). Onshore's own prompts turn
# that off, but not every <Gather> a call meets does (hold, a fallback document, the
# company's own application): a key a caller must press is never "#".
FINISH_KEY = "#"
FINISH_KEY_PROBLEM = (
    "'#' ends the caller's input in Twilio's <Gather> (finishOnKey): pressed "
    "alone it is no key at all; use 0-9 or *"
)
# The abstract state of a call: state name, what may be current and undisclosed, whether
# the caller asked for the domestic transfer, whether a disclosure was heard.
Node = tuple[str, str, bool, bool]


def check_folder(
    folder: Path, home_country: str, progress: Progress | None = None
) -> tuple[Config, Sources, list[FlowError]]:
    """Read, parse and check a folder; return the config, its sources and every problem."""
    progress = progress or Progress(io.StringIO())
    with progress.phase("read {size} numbers"):
        sources, errors = read_folder(folder)
        progress.size = len(sources.numbers)
    with progress.phase("parsed {size} numbers, their centers and flows"):
        config, parse_errors = build(sources, progress)
    errors += parse_errors
    if not sources.numbers and not errors:  # an empty or truncated folder takes every call offline
        errors.append(
            FlowError(
                str(folder),
                "",
                "numbers",
                "no number is defined: published, this would leave every number without a flow",
            )
        )
    with progress.phase("checked {size} numbers, their centers and flows"):
        errors += check_config(config, sources, home_country)
    return config, sources, errors


def check_config(config: Config, sources: Sources, home_country: str) -> list[FlowError]:
    """Cross-file references, allowlists, and the proofs for every flow."""
    errors: list[FlowError] = []
    leaving: dict[str, list[tuple[str, str]]] = {}  # per flow: how a call could leave home
    for e164, number in config.numbers.items():
        file, where = sources.numbers[e164][0], f"number '{e164}'"
        flow = config.flows.get(number.flow)
        if number.flow and flow is None:
            errors.append(FlowError(file, where, "flow", f"names unknown flow '{number.flow}'"))
        if number.home_only and flow is not None:
            if flow.id not in leaving:
                leaving[flow.id] = list(home_only_problems(flow, config, home_country))
            errors += [FlowError(file, where, field, msg) for field, msg in leaving[flow.id]]
        if flow is not None and number.language and number.language not in flow.codes:
            errors.append(
                FlowError(
                    file,
                    where,
                    "language",
                    f"'{number.language}' is not a language of flow '{flow.id}' ({', '.join(flow.codes)})",
                )
            )
    rule_sets = flow_rule_sets(config)
    for flow_id, flow in config.flows.items():
        file, raw = sources.flows[flow_id]
        errors += [
            FlowError(file, where, field, msg)
            for where, field, msg in flow_problems(flow, config, home_country, rule_sets[flow_id])
        ]
        errors += [
            FlowError(file, f"flow '{flow_id}'", field, msg) for field, msg in _voice_problems(flow, raw)
        ]
    errors += [
        FlowError(sources.centers[center_id][0], f"center '{center_id}'", field, msg)
        for center_id, field, msg in site_problems(config)
    ]
    if config.policy is not None and sources.policy is not None:
        policy_file = sources.policy[0]
        errors += [
            FlowError(policy_file, "policy", "transfer_numbers", msg)
            for msg in _foreign_numbers(config.policy, home_country)
        ]
        for center_id, center in config.centers.items():
            errors += [
                FlowError(sources.centers[center_id][0], f"center '{center_id}'", field, msg)
                for field, msg in _target_problems(center, config.policy)
            ]
    return errors


def offshore_centers(centers: Mapping[str, Center], home: str) -> frozenset[str]:
    """Centers a bridge may reach an agent outside the home country through: the center's
    own country, or any site of a shared queue or workflow (who answers is known only at
    the bridge)."""
    return frozenset(c for c, center in centers.items() if answers_abroad(center, centers, home))


def site_problems(config: Config) -> Iterator[tuple[str, str, str]]:
    """(center, field, message): where the agents behind each path sit must be known. A
    workflow names the centers its workers sit in (a worker's ``site`` attribute is one of
    them); a named queue that centers in different countries use is one queue that any of
    their agents may dequeue, so it must be declared shared (``sites``) by each of them."""
    centers = config.centers
    for center_id, center in centers.items():
        target = center.target
        if target.kind == "workflow" and not target.sites:
            yield (
                center_id,
                "connect.sites",
                "is missing: a workflow's workers may sit anywhere; list the centers they sit in "
                "(each worker's 'site' attribute names one) so the disclosure at reservation "
                "names the worker's own city and country",
            )
        if target.sites and target.kind not in ("queue", "workflow"):
            yield center_id, "connect.sites", f"needs a queue or workflow target, not a {target.kind}"
        for site in target.sites:
            if site not in centers:
                yield center_id, "connect.sites", f"names unknown center '{site}'"
            elif centers[site].target.sites:
                yield center_id, "connect.sites", f"'{site}' is itself shared; a site is one place"
    by_queue: dict[str, list[str]] = {}
    for center_id, center in centers.items():
        if center.target.kind == "queue":
            by_queue.setdefault(center.target.value, []).append(center_id)
    for queue, users in sorted(by_queue.items()):
        countries = {
            centers[c].country for user in users for c in (user, *centers[user].target.sites) if c in centers
        }
        if len(countries) < 2:
            continue
        for user in users:
            if not centers[user].target.sites:
                others = ", ".join(f"'{o}' ({centers[o].country})" for o in users if o != user)
                yield (
                    user,
                    "connect.queue",
                    f"queue '{queue}' is also the queue of {others}: any of their agents may "
                    "dequeue a caller, so declare it shared (sites = [...]) and dequeue it with "
                    "Onshore's /voice/dequeue URL",
                )


def _voice_problems(flow: Flow, raw: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Each language must be one Twilio's <Gather> listens in, and its voice one Twilio's
    <Say> speaks it with (ivr.voices); named by the field the flow's table gives them in."""
    several = "languages" in raw
    for i, lang in enumerate(flow.languages):
        problem = language_problem(lang.tag)
        if problem:
            yield (f"languages[{i}]" if several else "language"), problem
        elif VOICE_NAME.match(lang.voice) and (problem := voice_problem(lang.voice, lang.tag)):
            yield ("voice" if "voice" in raw else f"voices.{lang.code}"), problem


def _foreign_numbers(policy: Policy, home: str) -> Iterator[str]:
    """Allowlisted numbers outside the home country: dialing abroad is not a transfer home."""
    for number in sorted(policy.transfer_numbers):
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
        except phonenumbers.NumberParseException:
            continue  # already refused as not E.164
        if region is not None and region != home:  # None: no country's, refused as not E.164
            yield f"{number} is a {region} number; only numbers in the home country {home} may be listed"


def _target_problems(center: Center, policy: Policy) -> Iterator[tuple[str, str]]:
    """A center's connect target must be on the policy's allowlist of its kind."""
    kind, value = center.target.kind, center.target.value
    listed, allowlist = {
        "number": (value in policy.transfer_numbers, "transfer_numbers"),
        "queue": (value in policy.queues, "queues"),
        "sip": (sip_host(value) in policy.sip_domains, "sip_domains"),
        "workflow": (value in policy.workflows, "workflows"),
    }[kind]
    if not listed:
        shown = sip_host(value) if kind == "sip" else value
        yield f"connect.{kind}", f"'{shown}' is not on the policy's {allowlist} allowlist"


def flow_problems(flow: Flow, config: Config, home: str, rules: RuleSet | None = None) -> Iterator[Problem]:
    """(where, field, message) for every problem in one flow, under the rule set its
    numbers follow (default: as ``flow_rule_sets`` finds it in ``config``)."""
    where = f"flow '{flow.id}'"
    if rules is None:
        rules = flow_rule_sets(config).get(flow.id) or _policy_rules(config.policy)
    if flow.start and flow.start not in flow.states:
        yield where, "start", f"names unknown state '{flow.start}'"
    named = [("domestic", flow.domestic)] + [
        (f"domestic.{c}", d) for c, d in flow.domestic_by_language.items()
    ]
    for field_name, center_id in named:
        domestic = config.centers.get(center_id)
        if center_id and domestic is None:
            yield where, field_name, f"names unknown center '{center_id}'"
        elif domestic is not None and domestic.country != home:
            yield (
                where,
                field_name,
                (
                    f"center '{center_id}' is in {domestic.country}, not the home country {home}; "
                    "a domestic transfer must reach an agent in the home country"
                ),
            )
    if flow.transfer_key not in DTMF_KEYS:
        yield where, "transfer_key", f"{flow.transfer_key!r} must be one key: 0-9, * or #"
    elif flow.transfer_key == FINISH_KEY:
        yield where, "transfer_key", FINISH_KEY_PROBLEM
    for language in flow.languages:
        if not language.words:
            yield (
                where,
                f"transfer_words.{language.code}",
                (f"is missing: there are no built-in transfer words in '{language.code}'"),
            )
    yield from _translation_problems(flow)
    yield from _url_problems(flow, config.policy)
    for name, state in flow.states.items():
        state_where = f"{where} state '{name}'"
        yield from ((state_where, f, m) for f, m in _state_problems(flow, state, config, rules, home))
    yield from limit_problems(flow, config, home)
    yield from _path_problems(flow, config, home)
    if rules.timing == "call-start":
        yield from _timing_problems(flow, config, home, rules)


def _state_problems(
    flow: Flow, state: State, config: Config, rules: RuleSet, home: str
) -> Iterator[tuple[str, str]]:
    """(field, message) for what is wrong in one state on its own."""
    if isinstance(state, (Menu, LanguageMenu)) and FINISH_KEY in state.options:
        yield f"options.{FINISH_KEY}", FINISH_KEY_PROBLEM
    for field, target in edges(state):
        if target not in flow.states:
            yield field, f"names unknown state '{target}'"
    for center in getattr(state, "centers", ()):
        if center not in config.centers:
            yield "centers", f"names unknown center '{center}'"
    if isinstance(state, Route):
        for center, weight in state.weights.items():
            if center not in state.centers:
                yield f"weights.{center}", "is not one of this state's centers"
            elif not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
                yield f"weights.{center}", "must be a whole number >= 0"
    if isinstance(state, (Disclose, Menu, LanguageMenu)) and not 1 <= state.timeout <= 30:
        yield "timeout", "must be between 1 and 30 seconds"
    if isinstance(state, (Disclose, Menu, LanguageMenu)) and not 0 <= state.retries <= 5:
        yield "retries", "must be between 0 and 5"
    if isinstance(state, Disclose):
        yield from _disclosure_problems(flow, state, rules)
    if isinstance(state, Automated):
        yield from _notice_problems(flow, state, rules, home)
    if isinstance(state, LanguageMenu):
        choices = [(f"options.{k}", c) for k, c in state.options.items()]
        for field, code in choices + [(f"words.{w}", c) for w, c in state.words.items()]:
            if code not in flow.codes:
                yield field, f"'{code}' is not a language of this flow ({', '.join(flow.codes)})"
    if isinstance(state, Hours) and state.center and state.center not in config.centers:
        yield "center", f"names unknown center '{state.center}'"


def _disclosure_problems(flow: Flow, state: Disclose, rules: RuleSet) -> Iterator[tuple[str, str]]:
    """What the line's rule set asks of a disclosure's words, in every language: the place
    it must name (R1, R2) and, where the offer must be part of it (R8), how to ask."""
    shown = f" (rule set {rules.name})"
    for code in flow.codes:
        text = translation(state.text, code, flow.codes[0])
        missing = [p for p in rules.place if "{" + p + "}" not in text]
        if text and missing:
            needed = " and ".join("{" + p + "}" for p in rules.place)
            yield _field("text", state.text, code), f"must name the agent's {needed}{shown}"
        offer = translation(state.offer, code, flow.codes[0])
        if rules.offer_in_disclosure and offer and "{key}" not in offer and flow.transfer_key not in offer:
            yield (
                _field("offer", state.offer, code),
                f"must say how to reach an agent in the home country: name the transfer key "
                f"({{key}} or '{flow.transfer_key}'){shown}, whose disclosure itself offers the transfer",
            )


def _notice_problems(flow: Flow, state: Automated, rules: RuleSet, home: str) -> Iterator[tuple[str, str]]:
    """Where the rule set asks for it (R9), an automated agent's notice, in every language:
    it exists, names where the bot's operator sits when that is abroad, and says the
    transfer word that reaches a human in the home country."""
    if not rules.automated_notice:
        return
    shown = f" (rule set {rules.name})"
    if not state.notice:
        yield (
            "notice",
            "is required: the caller must hear that the agent is automated, and how to reach "
            f"a human in the home country, before it answers{shown}",
        )
        return
    for lang in flow.languages:
        text = translation(state.notice, lang.code, flow.codes[0])
        if not text:
            continue  # refused as a missing translation
        field = _field("notice", state.notice, lang.code)
        if state.country and state.country != home and "{country}" not in text:
            yield field, f"must name where the bot's operator sits, {{country}}: it is abroad{shown}"
        if lang.words and not any(says(text, word) for word in lang.words):
            yield (
                field,
                f"must say '{lang.words[0]}', the word that reaches a human in the home country{shown}",
            )


def _policy_rules(policy: Policy | None) -> RuleSet:
    """The rule set of a line that names none: the policy's, else the default; a policy's
    ``timing`` may make it stricter, never looser."""
    rules = combined(in_force((), policy.rules if policy else ()))
    return _tightened(rules, policy)


def _tightened(rules: RuleSet, policy: Policy | None) -> RuleSet:
    if policy is not None and policy.timing == "call-start" and rules.timing != "call-start":
        return replace(rules, timing="call-start")
    return rules


def flow_rule_sets(config: Config) -> dict[str, RuleSet]:
    """The rule set each flow is checked under: every rule set of every number it answers
    (a flow no number names: the policy's), so a flow shared by lines under different rule
    sets meets the strictest of each."""
    policy_rules = config.policy.rules if config.policy else ()
    names: dict[str, dict[str, None]] = {}
    for number in config.numbers.values():
        names.setdefault(number.flow, {}).update(dict.fromkeys(in_force(number.rules, policy_rules)))
    return {
        flow_id: _tightened(combined(names[flow_id]), config.policy)
        if flow_id in names
        else _policy_rules(config.policy)
        for flow_id in config.flows
    }


def number_rule_sets(config: Config) -> dict[str, RuleSet]:
    """The rule set each number's calls follow, as ``ivr check`` reports it."""
    policy_rules = config.policy.rules if config.policy else ()
    return {
        e164: _tightened(combined(in_force(number.rules, policy_rules)), config.policy)
        for e164, number in config.numbers.items()
    }


def home_only_problems(flow: Flow, config: Config, home: str) -> Iterator[tuple[str, str]]:
    """(field, message) for each way a call of a ``home_only`` number could leave the home
    country (R19): a route or overflow that names a center abroad, or a hand-off to an
    application Onshore cannot follow; each by the shortest path from the start."""
    if flow.start not in flow.states:
        return
    parent: dict[str, str | None] = {flow.start: None}
    queue = deque([flow.start])
    while queue:
        name = queue.popleft()
        state = flow.states[name]
        path = _state_path(name, parent)
        for center_id in getattr(state, "centers", ()):
            center = config.centers.get(center_id)
            if center is not None and answers_abroad(center, config.centers, home):
                where = (
                    f"in {center.city}, {center.country}"
                    if center.country != home
                    else f"shared with sites abroad ({', '.join(center.target.sites)})"
                )
                yield (
                    "home_only",
                    f"flow '{flow.id}' can reach center '{center_id}' {where}, outside the home "
                    f"country {home}, on the path {path}",
                )
        if isinstance(state, Automated) and state.country and state.country != home:
            yield (
                "home_only",
                f"flow '{flow.id}' hands the call to an automated agent operated from "
                f"{state.country}, outside the home country {home}, on the path {path}",
            )
        if isinstance(state, Handoff):
            yield (
                "home_only",
                f"flow '{flow.id}' hands the call to {state.url}, where Onshore cannot see who "
                f"answers, on the path {path}",
            )
        for _, target in edges(state):
            if target in flow.states and target not in parent:
                parent[target] = name
                queue.append(target)


def _state_path(name: str, parent: Mapping[str, str | None], shown: int = 12) -> str:
    names: list[str] = []
    at: str | None = name
    while at is not None:
        names.append(at)
        at = parent[at]
    if len(names) > shown:
        names = [*names[: shown - 1], "...", names[-1]]
    return " -> ".join(reversed(names))


def _timing_problems(flow: Flow, config: Config, home: str, rules: RuleSet) -> Iterator[Problem]:
    """Under a rule set whose disclosure comes at the beginning of the call: no menu may come
    before the disclosure on a path to a route that can choose a center abroad (a language
    choice may: the caller must understand the disclosure)."""
    if flow.start not in flow.states:
        return
    offshore = {c for c, center in config.centers.items() if answers_abroad(center, config.centers, home)}
    parent: dict[str, str | None] = {flow.start: None}
    queue = deque([flow.start])
    menus: list[str] = []
    while queue:  # what the call can reach before any disclosure
        name = queue.popleft()
        state = flow.states[name]
        if isinstance(state, Disclose):
            continue
        if isinstance(state, Menu):
            menus.append(name)
        for _, target in edges(state):
            if target in flow.states and target not in parent:
                parent[target] = name
                queue.append(target)
    for menu in menus:
        after: dict[str, str | None] = {menu: None}
        queue = deque([menu])
        while queue:  # from the menu, without a disclosure, to a route abroad
            name = queue.popleft()
            state = flow.states[name]
            if isinstance(state, (Route, Overflow)) and offshore & set(state.centers):
                path = _state_path(menu, parent) + _state_path(name, after).removeprefix(menu)
                yield (
                    f"flow '{flow.id}' state '{menu}'",
                    "",
                    f"comes before the disclosure of a center abroad on the path {path}; under "
                    f"rule set {rules.name} the disclosure comes at the beginning of the call, "
                    "before any menu",
                )
                break
            if isinstance(state, Disclose):
                continue
            for _, target in edges(state):
                if target in flow.states and target not in after:
                    after[target] = name
                    queue.append(target)


def _field(name: str, text: Text, code: str) -> str:
    """The field a text problem is in: "text" for a plain string, "text.es" in a table."""
    return name if isinstance(text, str) else f"{name}.{code}"


def _translation_problems(flow: Flow) -> Iterator[Problem]:
    """Every text the flow may speak must exist in every language it offers."""
    where = f"flow '{flow.id}'"
    texts = [(where, name, getattr(flow, name)) for name in Flow.TEXTS]
    menus = []
    for name, state in flow.states.items():
        state_where = f"{where} state '{name}'"
        texts += [(state_where, field, getattr(state, field)) for field in state.TEXTS]
        if isinstance(state, Menu) and any(state.words.values()):
            menus.append((state_where, state))
    offered = ", ".join(flow.codes)
    for text_where, field, text in texts:
        if not text:
            continue
        for code in flow.codes:
            if not translation(text, code, flow.codes[0]).strip():
                yield text_where, f"{field}.{code}", f"is missing; the flow offers {offered}"
    for menu_where, menu in menus:
        for code in flow.codes:
            if not menu.words.get(code):
                yield menu_where, f"words.{code}", f"is missing; the flow offers {offered}"


def _url_problems(flow: Flow, policy: Policy | None) -> Iterator[Problem]:
    """Hand-off and audio URLs must be on the policy's url_hosts. Hold music predates
    policies: without a [policy] it needs only to be https, as before."""
    where = f"flow '{flow.id}'"
    urls = [(where, "hold_music", url) for url in flow.hold_music]
    for name, state in flow.states.items():
        if isinstance(state, (Say, Handoff)):
            field = "play" if isinstance(state, Say) else "url"
            urls.append((f"{where} state '{name}'", field, getattr(state, field)))
        elif isinstance(state, Automated):
            urls.append((f"{where} state '{name}'", "relay", state.relay))
    for url_where, field, url in urls:
        if not url:
            continue
        if policy is None:
            if field != "hold_music":
                yield url_where, field, "needs a [policy] table whose url_hosts lists its host"
        elif url_host(url) not in policy.url_hosts:
            yield url_where, field, f"host '{url_host(url)}' is not on the policy's url_hosts allowlist"


def _path_problems(flow: Flow, config: Config, home: str) -> Iterator[Problem]:
    """Walk every path of abstract call states (``Node``), breadth first; report each
    violation once, with the first (shortest) path that reaches it. A flow has at most
    twelve nodes per state, so the walk is linear in the flow's size."""
    if flow.start not in flow.states:
        return
    offshore = offshore_centers(config.centers, home)
    start: Node = (flow.start, NO_CENTER, False, False)
    parent: dict[Node, tuple[Node | None, int]] = {start: (None, 1)}  # and the path's length
    named = {start: ""}  # the offshore center an OFFSHORE node's first path chose
    queue = deque([start])
    reported: set[tuple[str, str]] = set()
    while queue:
        node = queue.popleft()
        name, state = node[0], flow.states[node[0]]
        for field, message in _violations(flow, state, node, named[node]):
            if (name, field) not in reported:
                reported.add((name, field))
                yield (
                    f"flow '{flow.id}' state '{name}'",
                    field,
                    f"{message} on the path {_path(node, parent)}",
                )
        for nxt, center in _successors(state, node, named[node], offshore):
            if nxt[0] in flow.states and nxt not in parent:
                parent[nxt] = (node, parent[node][1] + 1)
                named[nxt] = center
                queue.append(nxt)


def _path(node: Node, parent: dict[Node, tuple[Node | None, int]], shown: int = 12) -> str:
    """The states from the start to this node; a long path by its start and last states."""
    names: list[str] = []
    at: Node | None = node
    while at is not None and len(names) < shown:
        names.append(at[0])
        at = parent[at][0]
    if at is not None:  # longer than shown: the start (every path's first node), then "..."
        first = next(iter(parent))
        names += ["...", first[0]] if parent[node][1] > shown + 1 else [first[0]]
    return " -> ".join(reversed(names))


def _successors(state: State, node: Node, center: str, offshore: frozenset[str]) -> list[tuple[Node, str]]:
    """Where a call in this abstract state can go next, what it then knows, and which
    offshore center it may not have heard about."""
    _, pending, domestic, heard = node
    if isinstance(state, (Route, Overflow)):
        # After a domestic request only home-country centers can be chosen.
        chosen = sorted(c for c in state.centers if c in offshore and not domestic)
        other = state.closed if isinstance(state, Route) else state.exhausted
        return [
            ((state.next, OFFSHORE if chosen else NOTHING, domestic, heard), chosen[0] if chosen else ""),
            ((other, pending, domestic, heard), center),
        ]
    if isinstance(state, Disclose):
        # Only silence after the offer goes to next. Input not understood, retries times,
        # goes to invalid with no center chosen and nothing heard (the engine clears both).
        told = [((state.next, NOTHING, domestic, heard or pending == OFFSHORE), "")]
        return told + ([((state.invalid, NO_CENTER, domestic, False), "")] if state.invalid else [])
    if isinstance(state, Bridge):  # a failed bridge leaves the call without a center
        return [((state.on_failure, NO_CENTER, domestic, heard), "")] if state.on_failure else []
    if isinstance(state, Domestic):  # the domestic center is the call's center
        return [((state.on_failure, NOTHING, True, heard), "")] if state.on_failure else []
    return [((target, pending, domestic, heard), center) for _, target in edges(state)]


def _violations(flow: Flow, state: State, node: Node, center: str) -> Iterator[tuple[str, str]]:
    """(field, message) for what this state would do wrong in this abstract state."""
    _, pending, _, heard = node
    if isinstance(state, Bridge):
        if pending == NO_CENTER:
            yield "", "bridges before any center is chosen"
        elif pending == OFFSHORE:
            yield "", f"can bridge to offshore center '{center}' without a disclosure and transfer offer"
    elif isinstance(state, Disclose) and pending == NO_CENTER:
        yield "", "discloses before any center is chosen"
    elif isinstance(state, (Menu, LanguageMenu)) and heard:
        yield from _shadowed(flow, state)


def _shadowed(flow: Flow, state: Menu | LanguageMenu) -> Iterator[tuple[str, str]]:
    """Menu options that take the transfer key or a transfer word: after a disclosure they
    ask for the domestic agent (R7, R9), so the option could never be chosen."""
    why = "after a disclosure, where it asks for an agent in the home country"
    if flow.transfer_key in state.options:
        yield f"options.{flow.transfer_key}", f"uses the transfer key '{flow.transfer_key}' {why}"
    words = (
        [(f"words.{w}", w) for w in state.words]
        if isinstance(state, LanguageMenu)
        else [(f"words.{code}.{w}", w) for code, ws in state.words.items() for w in ws]
    )
    # A word holds a transfer word when that word's words run inside it (``says``): look
    # each run of the menu word up, rather than trying every transfer word on every word.
    transfer: dict[str, int] = {}
    for index, word in enumerate(flow.transfer_words):
        transfer.setdefault(heard_as(word), index)
    for field, word in words:
        tokens = heard_as(word).split()
        runs = (
            " " + " ".join(tokens[i:j]) + " "
            for i in range(len(tokens))
            for j in range(i + 1, len(tokens) + 1)
        )
        found = [transfer[run] for run in runs if run in transfer]
        if found:
            yield field, f"holds the transfer word '{flow.transfer_words[min(found)]}' {why}"
