"""Reading operator files (TOML) into centers, numbers and flows.

Every problem becomes a FlowError naming the file, the center/number/flow/state and the
field. The same parsers read the JSON documents ``ivr load`` publishes to Redis, so a
published flow and a flow on disk can never mean different things.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers

from ivr.errors import FlowError
from ivr.flow import (
    Bridge,
    Center,
    Config,
    Disclose,
    Domestic,
    Flow,
    Hangup,
    Number,
    Overflow,
    Route,
    Say,
    State,
    Target,
)
from ivr.hours import HoursError, parse_hours, parse_zone
from ivr.places import is_country_code

# XML 1.0 forbids these; Twilio rejects a document holding one (error 12100).
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
PLACEHOLDERS = frozenset({"city", "country", "home_country", "center"})
MAX_TEXT = 1000
_WORKFLOW_SID = re.compile(r"^WW[0-9a-f]{32}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9 _.\-]{1,64}$")


@dataclass
class Problems:
    """Collects FlowErrors for one file and place, so a check reports all of them."""

    file: str
    errors: list[FlowError] = field(default_factory=list)

    def add(self, where: str, field_name: str, message: str, repaired: bool = False) -> None:
        self.errors.append(FlowError(self.file, where, field_name, message, repaired))

    @property
    def fatal(self) -> list[FlowError]:
        """Problems the parser could not repair."""
        return [e for e in self.errors if not e.repaired]


@dataclass
class Sources:
    """Raw tables found in a folder, each with the file it came from."""

    centers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    numbers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    flows: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


class _Fields:
    """Typed access to one table's fields, recording what is missing or wrong."""

    def __init__(self, raw: Mapping[str, Any], where: str, problems: Problems) -> None:
        self.raw, self.where, self.problems = raw, where, problems
        self.used: set[str] = set()

    def _get(self, name: str, kind: type | tuple[type, ...], required: bool, default: Any) -> Any:
        self.used.add(name)
        if name not in self.raw:
            if required:
                self.problems.add(self.where, name, "is required")
            return default
        value = self.raw[name]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.problems.add(self.where, name, f"must be {names}, not {value!r}")
            return default
        if required and isinstance(value, (str, list)) and not value:
            self.problems.add(self.where, name, "must not be empty")
        return value

    def text(self, name: str, required: bool = True, default: str = "") -> str:
        value = self._get(name, str, required, default)
        return self._clean(name, value) if value else value

    def name(self, name: str, required: bool = True) -> str:
        return str(self._get(name, str, required, ""))

    def integer(self, name: str, default: int) -> int:
        return int(self._get(name, int, False, default))

    def names(self, name: str, required: bool = True) -> tuple[str, ...]:
        value = self._get(name, list, required, [])
        if not all(isinstance(v, str) for v in value):
            self.problems.add(self.where, name, "must be a list of names")
            return ()
        return tuple(value)

    def table(self, name: str, required: bool = True) -> dict[str, Any]:
        return dict(self._get(name, dict, required, {}))

    def choice(self, name: str, options: tuple[str, ...], default: str | None) -> Any:
        value = self._get(name, str, default is None, default)
        if name in self.raw and value not in options:
            self.problems.add(self.where, name, f"must be one of {', '.join(options)}, not {value!r}")
            return default
        return value

    def _clean(self, name: str, value: str) -> str:
        bad = XML_ILLEGAL.search(value)
        if bad:
            self.problems.add(
                self.where, name, f"holds the XML-illegal character {bad.group()!r} at {bad.start()}",
                repaired=True,
            )
            value = XML_ILLEGAL.sub("", value)
        if len(value) > MAX_TEXT:
            self.problems.add(self.where, name, f"is {len(value)} characters; at most {MAX_TEXT}")
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError as exc:
            self.problems.add(self.where, name, f"has a broken placeholder: {exc}")
            return value
        for unknown in sorted(fields - PLACEHOLDERS):
            self.problems.add(
                self.where, name,
                f"uses unknown placeholder {{{unknown}}}; known: "
                + ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS)),
            )
        return value

    def done(self) -> None:
        for extra in sorted(set(self.raw) - self.used):
            self.problems.add(self.where, extra, "is not a known field")


def valid_e164(number: str) -> bool:
    """True for a valid E.164 number such as +15705550100."""
    if not number.startswith("+"):
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.is_valid_number(parsed) and e164 == number


def parse_target(raw: dict[str, Any], where: str, problems: Problems) -> Target:
    """A center's connect table: exactly one of queue, number, sip, workflow."""
    kinds = [k for k in ("queue", "number", "sip", "workflow") if k in raw]
    extra = sorted(set(raw) - {"queue", "number", "sip", "workflow"})
    if extra or len(kinds) != 1:
        problems.add(where, "connect", "needs exactly one of queue, number, sip, workflow")
        return Target("queue", "invalid")
    kind = kinds[0]
    value = raw[kind]
    ok = isinstance(value, str) and {
        "queue": lambda v: bool(_QUEUE_NAME.match(v)),
        "number": valid_e164,
        "sip": lambda v: v.startswith(("sip:", "sips:")) and "@" in v and not XML_ILLEGAL.search(v),
        "workflow": lambda v: bool(_WORKFLOW_SID.match(v)),
    }[kind](value)
    if not ok:
        hint = {
            "queue": "a queue name of letters, digits, space, _ . - (at most 64)",
            "number": "a valid E.164 number like +15705550100",
            "sip": "a SIP URI like sip:agent@pbx.example.com",
            "workflow": "a TaskRouter workflow SID (WW and 32 hex digits)",
        }[kind]
        problems.add(where, f"connect.{kind}", f"{value!r} is not {hint}")
    return Target(kind, str(value))  # type: ignore[arg-type]


def parse_center(center_id: str, raw: Mapping[str, Any], problems: Problems) -> Center:
    """One [centers.ID] table."""
    where = f"center '{center_id}'"
    if not _ID.match(center_id):
        problems.add(where, "", "an id may hold only letters, digits, _ and - (at most 40)")
    f = _Fields(raw, where, problems)
    name = f.text("name", required=False, default=center_id)
    city = f.text("city")
    country = f.name("country")
    if country and not is_country_code(country):
        problems.add(where, "country", f"{country!r} is not an ISO 3166 alpha-2 code like PH")
    zone_name = f.name("timezone")
    hours_raw = raw.get("hours", "24/7")
    f.used.add("hours")
    region = f.name("region", required=False)
    connect = f.table("connect")
    f.done()
    try:
        zone = parse_zone(zone_name) if zone_name else parse_zone("UTC")
    except HoursError as exc:
        problems.add(where, "timezone", str(exc))
        zone = parse_zone("UTC")
    try:
        hours = parse_hours(hours_raw)
    except HoursError as exc:
        problems.add(where, "hours", str(exc))
        hours = parse_hours("24/7")
    target = parse_target(connect, where, problems) if "connect" in raw else Target("queue", "invalid")
    return Center(center_id, name, city, country, zone, hours, target, region)


def parse_number(e164: str, raw: Mapping[str, Any], problems: Problems) -> Number:
    """One [numbers."+1..."] table."""
    where = f"number '{e164}'"
    if not valid_e164(e164):
        problems.add(where, "", "is not a valid E.164 number like +18005550100")
    f = _Fields(raw, where, problems)
    flow = f.name("flow")
    exempt = f.choice("exempt", ("emergency", "foreign-business"), default="") or None
    label = f.text("label", required=False)
    f.done()
    return Number(e164, flow, exempt, label)


def _state(name: str, raw: Mapping[str, Any], where: str, problems: Problems) -> State | None:
    f = _Fields(raw, where, problems)
    kind = f.choice("type", STATE_KINDS, default=None)
    if kind is None:
        return None
    state = STATE_PARSERS[kind](name, f)
    f.done()
    return state


STATE_PARSERS: dict[str, Callable[[str, _Fields], State]] = {
    "say": lambda n, f: Say(n, f.text("text"), f.name("next")),
    "route": lambda n, f: Route(
        n, f.names("centers"), f.name("next"), f.name("closed"),
        f.choice("strategy", ("weight", "priority"), "priority"), f.table("weights", False),
    ),
    "disclose": lambda n, f: Disclose(
        n, f.text("text"), f.text("offer"), f.name("next"), f.name("key", False) or "1",
        tuple(k.lower() for k in f.names("keywords", False)) or Disclose.keywords,
        f.integer("timeout", 5), f.text("courtesy", False),
    ),
    "bridge": lambda n, f: Bridge(n, f.name("on_failure", False)),
    "overflow": lambda n, f: Overflow(n, f.names("centers"), f.name("next"), f.name("exhausted")),
    "domestic": lambda n, f: Domestic(n, f.name("on_failure", False)),
    "hangup": lambda n, f: Hangup(n, f.text("text", False)),
}
STATE_KINDS = tuple(STATE_PARSERS)


def parse_flow(flow_id: str, raw: Mapping[str, Any], problems: Problems, version: int = 0) -> Flow:
    """One [flows.ID] table with its [flows.ID.states.NAME] tables."""
    where = f"flow '{flow_id}'"
    f = _Fields(raw, where, problems)
    start = f.name("start")
    domestic = f.name("domestic")
    states_raw = f.table("states")
    defaults = Flow(flow_id, version, start, domestic, {})
    options = dict(
        language=f.name("language", False) or defaults.language,
        voice=f.name("voice", False),
        on_lookup_failure=f.choice("on_lookup_failure", ("domestic", "cautious"), "domestic"),
        cautious_text=f.text("cautious_text", False) or defaults.cautious_text,
        unavailable_text=f.text("unavailable_text", False) or defaults.unavailable_text,
        hold_music=f.text("hold_music", False),
        hold_offer=f.text("hold_offer", False) or defaults.hold_offer,
    )
    f.used.add("version")
    f.done()
    if options["hold_music"] and not str(options["hold_music"]).startswith("https://"):
        problems.add(where, "hold_music", "must be an https:// URL")
    states: dict[str, State] = {}
    for name, state_raw in states_raw.items():
        state_where = f"{where} state '{name}'"
        if not isinstance(state_raw, dict):
            problems.add(state_where, "", "must be a table")
            continue
        state = _state(name, state_raw, state_where, problems)
        if state is not None:
            states[name] = state
    return Flow(flow_id, version, start, domestic, states, **options)  # type: ignore[arg-type]


def read_folder(folder: Path) -> tuple[Sources, list[FlowError]]:
    """Collect [centers], [numbers] and [flows] tables from every *.toml file in a folder."""
    sources, errors = Sources(), []
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else [folder]
    if not files:
        errors.append(FlowError(str(folder), "", "", "holds no *.toml files"))
    for path in files:
        problems = Problems(str(path))
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            problems.add("", "", f"cannot be read: {exc}")
            errors.extend(problems.errors)
            continue
        for section in sorted(set(doc) - {"centers", "numbers", "flows", "scenarios"}):
            problems.add("", section, "is not a known section (centers, numbers, flows)")
        for section, bucket in (
            ("centers", sources.centers), ("numbers", sources.numbers), ("flows", sources.flows)
        ):
            for key, table in doc.get(section, {}).items():
                if not isinstance(table, dict):
                    problems.add(f"{section[:-1]} '{key}'", "", "must be a table")
                elif key in bucket:
                    problems.add(
                        f"{section[:-1]} '{key}'", "", f"is already defined in {bucket[key][0]}"
                    )
                else:
                    bucket[key] = (str(path), table)
        errors.extend(problems.errors)
    return sources, errors


def build(sources: Sources) -> tuple[Config, list[FlowError]]:
    """Parse every table; return the config and every problem found."""
    errors: list[FlowError] = []

    def each(bucket: dict[str, tuple[str, dict[str, Any]]], parse: Callable[..., Any]) -> dict[str, Any]:
        out = {}
        for key, (file, raw) in bucket.items():
            problems = Problems(file)
            out[key] = parse(key, raw, problems)
            errors.extend(problems.errors)
        return out

    config = Config(
        centers=each(sources.centers, parse_center),
        numbers=each(sources.numbers, parse_number),
        flows=each(sources.flows, parse_flow),
    )
    return config, errors
