"""Scenario files: calls described in TOML, with what must happen on them (``ivr test``).

A scenario is a ``[scenarios.NAME]`` table in a ``*.toml`` file of the flows folder (the
example flows keep theirs in ``flows/acme.scenarios.toml``; ``ivr check`` and ``ivr load``
ignore these tables). It gives the call (the number dialed, the caller's country, the time,
what the caller presses or says at each prompt), the world around it (centers open, closed,
busy...; Redis readable or not) and, under ``expect``, what the caller must hear and where
the call must go. Every problem becomes a FlowError naming the file, the scenario and the
field. ``ivr.simulation`` plays the call; this module only reads and checks the description.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ivr import outcomes as ends
from ivr.errors import FlowError
from ivr.flow import Config, Route
from ivr.hours import HoursError, parse_zone
from ivr.table_fields import Fields, Problems
from ivr.vocabulary import Heard, Silence


@dataclass(frozen=True)
class Interrupting:
    """Input given while the prompt still plays: Twilio stops the prompt there (barge-in)."""

    heard: Heard


Input = Heard | Silence | Interrupting
HOURS = ("open", "closed")  # regardless of the center's hours, holidays and closures
MAX_WAIT = 24 * 3600  # seconds a scenario may hold for
ENDINGS = ("answered", "hangup", "handoff", "abandoned")
TRANSFERS = ("key", "voice", "hold", "none")
STEPS = (
    "received",
    "routed",
    "no_center",
    "disclosed",
    "offered",
    "offer_ended",
    "exempt",
    "transfer_requested",
    "bridged",
    "bridge_ended",
    "menu",
    "language",
    "hours",
    "handoff",
    "safe_answer",
    "unavailable",
    "caller_id",
    "wait_limit",
    "confirm",
    "kept_home",
    "automated",
    "automated_ended",
    # a domestic request the domestic destination could not take at once (ivr.domestic)
    "domestic_wait_announced",
    "domestic_choice",
    "domestic_chose",
    "callback_requested",
    "callback_number_refused",
    "callback_unrecorded",
    "callback_pending",
    "callback_kept",
    "callback_cancelled",
    "voicemail_offered",
    "voicemail_left",
    "voicemail_empty",
)
SILENCE = "silence"
# How an automated agent's session ends in a scenario: the bot hands the caller back (they
# said the transfer word: HandoffData), or it ends the session without a hand-off.
BOT_ENDINGS = ("agent", "done")
CALLER = "+12025550143"  # a scenario's caller unless it says `from`
_KEYS = re.compile(r"^[0-9*#]+$")


@dataclass(frozen=True)
class CenterState:
    """A center as a scenario sets it: its hours overridden or not, then how each bridge to
    it ends, in order (bridges past the list are answered)."""

    hours: str = ""  # "", "open" or "closed"
    bridges: tuple[str, ...] = ()


@dataclass(frozen=True)
class Disclosure:
    """An expected disclosure: a piece of its words, or all of them (``exact``)."""

    text: str
    exact: bool = False

    def matches(self, heard: str) -> bool:
        return heard == self.text if self.exact else self.text in heard


@dataclass(frozen=True)
class Bridged:
    """An expected bridge: the center and, when given, whether it is domestic."""

    center: str
    domestic: bool | None = None


@dataclass(frozen=True)
class Expect:
    """What must happen; None and "" mean "not checked"."""

    disclosed: tuple[Disclosure, ...] | None = None
    language: str = ""
    offer: str = ""
    bridged: tuple[Bridged, ...] | None = None
    transfer: str = ""
    handoff: str = ""
    ends: str = ""
    heard: tuple[str, ...] = ()
    not_heard: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    not_steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """One call to simulate, and what must happen on it."""

    name: str
    number: str
    at: datetime  # timezone-aware
    file: str = ""
    description: str = ""
    from_country: str = "US"
    from_state: str = ""
    language: str = ""  # the call's starting language code; "" = the number's
    inputs: tuple[Input, ...] = ()  # one per prompt; prompts past the list hear silence
    centers: Mapping[str, CenterState] = field(default_factory=dict)
    picks: tuple[str, ...] = ()  # centers the weighted routes draw, in order
    fresh: bool = True  # Redis readable
    expect: Expect = field(default_factory=Expect)
    caller: str = CALLER  # what Twilio posts as From: a number, "anonymous", ...
    wait: int = 0  # seconds on hold before a queued bridge's end (an agent, the key)
    reserve: tuple[str, ...] = ()  # sites of the TaskRouter workers reserved in turn (ivr.bind)
    bots: tuple[str, ...] = ()  # how each automated agent's session ends: "agent" or "done"
    domestic_waits: Mapping[str, float] = field(default_factory=dict)  # center -> estimated s
    callback_pending: bool = False  # the caller has an open callback when the call comes in

    @property
    def call_sid(self) -> str:
        """A CallSid of this scenario's own, so that a weighted route draws the same every run."""
        return "CA" + hashlib.sha256(self.name.encode()).hexdigest()[:32]


def read_scenarios(path: Path) -> tuple[list[tuple[str, str, dict[str, Any]]], list[FlowError]]:
    """(file, name, table) of every [scenarios.NAME] in a folder's *.toml files, or in one file."""
    files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
    found: list[tuple[str, str, dict[str, Any]]] = []
    errors: list[FlowError] = []
    seen: dict[str, str] = {}
    for file in files:
        try:
            doc = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            errors.append(FlowError(str(file), "", "", f"cannot be read: {exc}"))
            continue
        tables = doc.get("scenarios", {})
        if not isinstance(tables, dict):
            errors.append(FlowError(str(file), "scenarios", "", "must be a table of [scenarios.NAME]"))
            continue
        for name, raw in tables.items():
            where = f"scenario '{name}'"
            if not isinstance(raw, dict):
                errors.append(FlowError(str(file), where, "", "must be a table"))
            elif name in seen:
                errors.append(FlowError(str(file), where, "", f"is already defined in {seen[name]}"))
            else:
                seen[name] = str(file)
                found.append((str(file), name, raw))
    return found, errors


def parse_scenario(
    name: str, raw: Mapping[str, Any], file: str, config: Config, need_expect: bool = True
) -> tuple[Scenario | None, list[FlowError]]:
    """One [scenarios.NAME] table, checked against the folder's numbers, flows and centers."""
    problems = Problems(file)
    f = Fields(raw, f"scenario '{name}'", problems)
    description = f.name("description", required=False)
    number = f.name("number")
    flow = None
    if number and number not in config.numbers:
        f.add("number", f"'{number}' is not a number of this folder ({', '.join(config.numbers)})")
    elif number:
        flow = config.flows.get(config.numbers[number].flow)
    at = _moment(f)
    from_country = f.name("from_country", required=False) or "US"
    from_state = f.name("from_state", required=False)
    caller = f.get("from", str, False, CALLER)
    language = f.name("language", required=False)
    if language and flow is not None and language not in flow.codes:
        f.add("language", f"'{language}' is not a language of flow '{flow.id}' ({', '.join(flow.codes)})")
    inputs = tuple(
        _input(f, f"inputs[{i}]", value) for i, value in enumerate(f.get("inputs", list, False, []))
    )
    centers = {
        center: _center_state(f, config, center, value)
        for center, value in f.table("centers", required=False).items()
    }
    picks = f.names("picks", required=False)
    for i, center in enumerate(picks):
        if center not in config.centers:
            f.add(f"picks[{i}]", f"names unknown center '{center}'")
    if (
        picks
        and flow is not None
        and not any(isinstance(s, Route) and s.strategy == "weight" for s in flow.states.values())
    ):
        f.add("picks", f"flow '{flow.id}' has no weighted route to draw from")
    reserve = f.names("reserve", required=False)  # any site, known or not: unknown ones are refused
    bots = f.names("bot", required=False)
    for i, how in enumerate(bots):
        if how not in BOT_ENDINGS:
            f.add(f"bot[{i}]", f"must be one of {', '.join(BOT_ENDINGS)}, not {how!r}")
    fresh = f.choice("redis", ("readable", "unreadable"), "readable") == "readable"
    wait = f.integer("wait", 0)
    if not 0 <= wait <= MAX_WAIT:
        f.add("wait", f"must be 0 to {MAX_WAIT} seconds, not {wait}")
    domestic_waits: dict[str, float] = {}
    for center, seconds in f.table("domestic_waits", required=False).items():
        if center not in config.centers:
            f.add(f"domestic_waits.{center}", f"names unknown center '{center}'")
        elif not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 <= seconds <= MAX_WAIT:
            f.add(f"domestic_waits.{center}", f"must be 0 to {MAX_WAIT} seconds, not {seconds!r}")
        else:
            domestic_waits[center] = float(seconds)
    callback_pending = f.get("callback_pending", bool, False, False)
    expect_raw = f.table("expect", required=need_expect)
    if need_expect and "expect" in raw and not expect_raw:
        f.add("expect", "must say what must happen")
    expect = _expect(expect_raw, f, config)
    f.done()
    if problems.errors or at is None:
        return None, problems.errors
    return Scenario(
        name,
        number,
        at,
        file,
        description,
        from_country.upper(),
        from_state,
        language,
        inputs,
        centers,
        picks,
        fresh,
        expect,
        caller=caller,
        wait=wait,
        reserve=reserve,
        bots=bots,
        domestic_waits=domestic_waits,
        callback_pending=bool(callback_pending),
    ), []


def parse_moment(value: object, zone_name: str = "UTC") -> datetime:
    """An ISO 8601 time ("2026-11-30T10:00", "...Z", "...-05:00", or a TOML date-time); one
    without an offset is local time in the zone. Raises ValueError saying what is wrong."""
    if isinstance(value, str):
        if len(value.strip()) <= 10:
            raise ValueError(f"'{value}' needs a time of day, like 2026-11-30T10:00")
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"'{value}' is not a time like 2026-11-30T10:00 or 2026-11-30T15:00Z") from None
    if not isinstance(value, datetime):
        kind = "a date without a time" if isinstance(value, date) else repr(value)
        raise ValueError(f"{kind} is not a time like 2026-11-30T10:00")
    if value.tzinfo is not None:
        return value
    try:
        return value.replace(tzinfo=parse_zone(zone_name))
    except HoursError as exc:
        raise ValueError(str(exc)) from None


def parse_input(value: object) -> Input:
    """What the caller does at one prompt: "2" presses 2, "silence" (or "") says nothing, other
    text is spoken; { press = "2" } and { say = "..." } say it explicitly, and may add
    during = true (given while the prompt plays, which cuts it) and, with say, confidence
    (Twilio's, 0 to 1; default 1). Raises ValueError."""
    if not isinstance(value, dict):
        return _plain_input(value)
    kinds = [k for k in value if k in ("press", "say")]
    if len(kinds) != 1 or not set(value) <= {"press", "say", "during", "confidence"}:
        raise ValueError("a table here takes exactly one of press or say (and during, confidence)")
    kind, text = kinds[0], value[kinds[0]]
    during, confidence = value.get("during", False), value.get("confidence", 1.0)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{kind} must be non-empty text")
    if not isinstance(during, bool):
        raise ValueError(f"during must be true or false, not {during!r}")
    if "confidence" in value and (
        kind != "say"
        or isinstance(confidence, bool)
        or not isinstance(confidence, (int, float))
        or not 0 <= confidence <= 1
    ):
        raise ValueError("confidence goes with say and is a number from 0 to 1")
    if kind == "press" and not _KEYS.match(text):
        raise ValueError(f"press takes keys (0-9, * or #), not {text!r}")
    heard = _plain_input(text) if kind == "press" else Heard(speech=text, confidence=confidence)
    assert isinstance(heard, Heard)
    return Interrupting(heard) if during else heard


def _plain_input(value: object) -> Input:
    if not isinstance(value, str):
        raise ValueError(f'must be keys, words or "{SILENCE}", not {value!r}')
    if value.strip().lower() in ("", SILENCE):
        return Silence()
    if _KEYS.match(value.strip()):
        if len(value.strip()) > 15:  # a prompt for a phone number takes them all, up to "#"
            raise ValueError(f"at most 15 keys at one prompt (a phone number), not {value!r}")
        return Heard(digits=value.strip())
    return Heard(speech=value)


def _moment(f: Fields) -> datetime | None:
    zone = f.name("timezone", required=False) or "UTC"
    value = f.get("at", (str, datetime, date), True, None)
    if value is None:
        return None
    try:
        return parse_moment(value, zone)
    except ValueError as exc:
        f.add("timezone" if "time zone" in str(exc) else "at", str(exc))
        return None


def _input(f: Fields, where: str, value: object) -> Input:
    try:
        return parse_input(value)
    except ValueError as exc:
        f.add(where, str(exc))
        return Silence()


def _center_state(f: Fields, config: Config, center_id: str, value: object) -> CenterState:
    """ "busy", or a list like ["open", "busy", "answered"]: hours, then each bridge's end."""
    where = f"centers.{center_id}"
    center = config.centers.get(center_id)
    if center is None:
        f.add(where, f"names unknown center '{center_id}'")
        return CenterState()
    words = [value] if isinstance(value, str) else value if isinstance(value, list) else None
    if words is None or not all(isinstance(w, str) for w in words):
        f.add(where, f"must be a state or a list of states, not {value!r}")
        return CenterState()
    hours = [w for w in words if w in HOURS]
    outcomes = tuple(w for w in words if w not in HOURS)
    if len(hours) > 1:
        f.add(where, "give open or closed once")
    kind = center.target.kind
    for word in outcomes:
        if ends.reported(word, kind) is None and word in ("busy", "no-answer"):
            f.add(
                where,
                f"{word!r} cannot happen to '{center_id}', a {kind} center: Twilio's "
                "<Enqueue> has no timeout and never ends busy or unanswered; the "
                "caller waits (a scenario's wait, ivr preview --wait) until an agent "
                "answers, the transfer key (hold-transfer), the center's max_wait or "
                "a hang-up; or the queue is full (queue-full)",
            )
        elif ends.reported(word, kind) is None:
            how = (
                "<Enqueue> (a queue or workflow center)"
                if ends.verb(kind) == "enqueue"
                else f"<Dial> (a {kind} center)"
            )
            f.add(
                where,
                f"{word!r} is not one of {', '.join(HOURS + tuple(ends.words(kind)))}: "
                f"how Twilio's {how} can end",
            )
    return CenterState(hours[0] if hours else "", outcomes)


def _expect(raw: Mapping[str, Any], outer: Fields, config: Config) -> Expect:
    """The expect table; its problems are named expect.FIELD."""
    problems = Problems(outer.problems.file)
    f = Fields(raw, outer.where, problems)
    disclosed = _disclosures(f) if "disclosed" in raw else None
    bridged = _bridges(f, config) if "bridged" in raw else None
    expect = Expect(
        disclosed=disclosed,
        language=f.name("language", required=False),
        offer=f.name("offer", required=False),
        bridged=bridged,
        transfer=f.choice("transfer", TRANSFERS, ""),
        handoff=f.name("handoff", required=False),
        ends=f.choice("ends", ENDINGS, ""),
        heard=f.names("heard", required=False),
        not_heard=f.names("not_heard", required=False),
        steps=f.names("steps", required=False),
        not_steps=f.names("not_steps", required=False),
    )
    for name in ("steps", "not_steps"):
        for i, step in enumerate(getattr(expect, name)):
            if step not in STEPS:
                f.add(f"{name}[{i}]", f"'{step}' is not an evidence step ({', '.join(STEPS)})")
    f.done()
    for error in problems.errors:
        outer.add(f"expect.{error.field}" if error.field else "expect", error.message)
    return expect


def _disclosures(f: Fields) -> tuple[Disclosure, ...]:
    out = []
    for i, item in enumerate(f.get("disclosed", list, False, [])):
        if isinstance(item, str) and item:
            out.append(Disclosure(item))
        elif isinstance(item, dict) and set(item) == {"exact"} and isinstance(item["exact"], str):
            out.append(Disclosure(item["exact"], exact=True))
        else:
            f.add(f"disclosed[{i}]", f'must be words of the disclosure or {{ exact = "..." }}, not {item!r}')
    return tuple(out)


def _bridges(f: Fields, config: Config) -> tuple[Bridged, ...]:
    out = []
    for i, item in enumerate(f.get("bridged", list, False, [])):
        if isinstance(item, str):
            item = {"center": item}
        center, domestic = (
            (item.get("center"), item.get("domestic")) if isinstance(item, dict) else (None, None)
        )
        if (
            not isinstance(center, str)
            or not set(item) <= {"center", "domestic"}
            or domestic is not None
            and not isinstance(domestic, bool)
        ):
            f.add(
                f"bridged[{i}]", f'must be a center id or {{ center = "...", domestic = true }}, not {item!r}'
            )
        elif center not in config.centers:
            f.add(f"bridged[{i}]", f"names unknown center '{center}'")
        else:
            out.append(Bridged(center, domestic))
    return tuple(out)
