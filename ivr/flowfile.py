"""Reading operator files (TOML) into centers, numbers, flows and the folder's policy.

Every problem becomes a FlowError naming the file, the center/number/flow/state and the
field. The same parsers read the JSON documents ``ivr load`` publishes to Redis, so a
published flow and a flow on disk can never mean different things.
"""

from __future__ import annotations

import io
import re
import string
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import phonenumbers

from ivr.errors import FlowError
from ivr.flow import (
    CAUTIOUS_TEXT,
    ENGLISH,
    HOLD_OFFER,
    OFFER_EVERY,
    QUEUE_POSITION,
    QUEUE_WAIT,
    TRANSFER_WORDS,
    UNAVAILABLE_TEXT,
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
    Number,
    Overflow,
    Policy,
    Route,
    Say,
    State,
    Target,
    Text,
)
from ivr.hours import HoursError, Schedule, parse_closures, parse_holidays, parse_hours, parse_zone
from ivr.outcomes import HELD
from ivr.places import is_country_code
from ivr.progress import Progress
from ivr.toml_values import kind_name, shown

# XML 1.0 forbids these; Twilio rejects a document holding one (error 12100).
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
PLACEHOLDERS = frozenset({"city", "country", "home_country", "center", "key"})
QUEUE_PLACEHOLDERS = PLACEHOLDERS | {"position", "minutes"}  # hold announcements only
MAX_TEXT = 1000
MIN_WAIT = 30  # seconds: a max_wait below this leaves before the first hold document ends
MAX_URL = 2000
DTMF_KEYS = tuple("0123456789*#")
_WORKFLOW_SID = re.compile(r"^WW[0-9a-f]{32}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9 _.\-]{1,64}$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
VOICE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # Polly.Lupe, Google.es-US-Neural2-A
# A spoken word or phrase: letters, digits, spaces, ' and - (no comma: hints are comma-separated).
_WORD = re.compile(r"^\w[\w' -]{0,39}$")
_SCHEDULE_FIELDS = ("timezone", "hours", "holidays", "closures")


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
    policy: tuple[str, dict[str, Any]] | None = None  # published, versioned (store.py)


class _Fields:
    """Typed access to one table's fields, recording what is missing or wrong.

    ``codes`` are the language codes of the flow the table belongs to (default first): a
    text may then be a table with one text per code.
    """

    def __init__(
        self, raw: Mapping[str, Any], where: str, problems: Problems, codes: tuple[str, ...] = ()
    ) -> None:
        self.raw, self.where, self.problems, self.codes = raw, where, problems, codes
        self.used: set[str] = set()

    def add(self, field_name: str, message: str) -> None:
        self.problems.add(self.where, field_name, message)

    def get(self, name: str, kind: type | tuple[type, ...], required: bool, default: Any) -> Any:
        self.used.add(name)
        if name not in self.raw:
            if required:
                self.add(name, "is required")
            return default
        value = self.raw[name]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            self.add(name, f"must be {kind_name(kind)}, not {shown(value)}")
            return default
        if required and isinstance(value, (str, list)) and not value:
            self.add(name, "must not be empty")
        return value

    def text(
        self, name: str, required: bool = True, default: str = "", placeholders: frozenset[str] = PLACEHOLDERS
    ) -> Text:
        """Operator text: one plain string or, in a flow, a table { en = "...", es = "..." }."""
        value = self.get(name, (str, dict) if self.codes else str, required, default)
        if isinstance(value, dict):
            if required and not value:
                self.add(name, "must not be empty")
            return {
                code: self._clean(f"{name}.{code}", text, placeholders)
                for code, text in self.per_language(name, value, str).items()
            }
        return self._clean(name, value, placeholders) if value else value

    def name(self, name: str, required: bool = True) -> str:
        return str(self.get(name, str, required, ""))

    def integer(self, name: str, default: int) -> int:
        return int(self.get(name, int, False, default))

    def share(self, name: str, default: float) -> float:
        """A number from 0 to 1, such as a confidence."""
        raw = self.get(name, (int, float), False, default)
        value = default if isinstance(raw, bool) else float(raw)
        if isinstance(raw, bool) or not 0 <= value <= 1:
            self.add(name, f"must be a number between 0 and 1, not {shown(raw)}")
            return default
        return value

    def names(self, name: str, required: bool = True) -> tuple[str, ...]:
        value = self.get(name, list, required, [])
        if not all(isinstance(v, str) for v in value):
            self.add(name, "must be a list of names")
            return ()
        return tuple(value)

    def table(self, name: str, required: bool = True) -> dict[str, Any]:
        return dict(self.get(name, dict, required, {}))

    def choice(self, name: str, options: tuple[str, ...], default: str | None) -> Any:
        value = self.get(name, str, default is None, default)
        if name in self.raw and value not in options:
            self.add(name, f"must be one of {', '.join(options)}, not {value!r}")
            return default
        return value

    def url(self, name: str, required: bool = True) -> str:
        """An https URL; its host is checked against the folder's policy by ``ivr check``."""
        value = self.name(name, required)
        if value and not is_https_url(value):
            self.add(name, f"{value[:80]!r} is not an https:// URL")
        return value

    def keys(self, name: str) -> dict[str, str]:
        """A table of single DTMF keys to names: options = { "1" = "billing" }."""
        out, table = {}, self.table(name)
        if name in self.raw and not table:
            self.add(name, "must hold at least one key")
        for key, value in table.items():
            if key not in DTMF_KEYS:
                self.add(f"{name}.{key}", "must be one key: 0-9, * or #")
            elif not isinstance(value, str) or not value:
                self.add(f"{name}.{key}", f"must be a name, not {value!r}")
            else:
                out[key] = value
        return out

    def words(self, name: str) -> dict[str, str]:
        """A table of spoken words or phrases to names: words = { "tech support" = "support" }."""
        return self._words(name, self.table(name, required=False))

    def words_per_language(self, name: str) -> dict[str, dict[str, str]]:
        """Words for each language: a plain table is the default language's."""
        value = self.table(name, required=False)
        if value and all(isinstance(v, dict) for v in value.values()):
            return {
                code: self._words(f"{name}.{code}", words)
                for code, words in self.per_language(name, value, dict).items()
            }
        return {self.codes[0]: self._words(name, value)} if value and self.codes else {}

    def _words(self, name: str, table: Mapping[str, Any]) -> dict[str, str]:
        out = {}
        for word, value in table.items():
            if not _WORD.match(word):
                self.add(
                    f"{name}.{word}",
                    "must be a word or phrase of letters, digits, spaces, ' and - (at most 40)",
                )
            elif not isinstance(value, str) or not value:
                self.add(f"{name}.{word}", f"must be a name, not {value!r}")
            else:
                out[word.lower()] = value
        return out

    def per_language(self, name: str, table: Mapping[str, Any], kind: type) -> dict[str, Any]:
        """The entries of a per-language table whose keys are this flow's language codes."""
        out = {}
        for code, value in table.items():
            if code not in self.codes:
                offered = ", ".join(self.codes) or "none"
                self.add(f"{name}.{code}", f"is not a language of this flow ({offered})")
            elif not isinstance(value, kind):
                self.add(f"{name}.{code}", f"must be {kind_name(kind)}, not {shown(value)}")
            else:
                out[code] = value
        return out

    def seconds(self, name: str, default: int, least: int) -> int:
        """A whole number of seconds, at least ``least`` (0, the default, is allowed: none)."""
        value = self.integer(name, default)
        if value and value < least:
            self.add(name, f"must be at least {least} seconds, not {value}")
            return default
        return value

    def urls(self, name: str) -> tuple[str, ...]:
        """One https URL or a list of them."""
        value = self.get(name, (str, list), False, [])
        values = [value] if isinstance(value, str) else value
        if not all(isinstance(v, str) and v for v in values):
            self.add(name, "must be an https URL or a list of them")
            return ()
        for i, url in enumerate(values):
            if not is_https_url(url):
                self.add(
                    name if isinstance(value, str) else f"{name}[{i}]", f"{url[:80]!r} is not an https:// URL"
                )
        return tuple(values)

    def _clean(self, name: str, value: str, placeholders: frozenset[str] = PLACEHOLDERS) -> str:
        bad = XML_ILLEGAL.search(value)
        if bad:
            self.problems.add(
                self.where,
                name,
                f"holds the XML-illegal character {bad.group()!r} at {bad.start()}",
                repaired=True,
            )
            value = XML_ILLEGAL.sub("", value)
        if len(value) > MAX_TEXT:
            self.add(name, f"is {len(value)} characters; at most {MAX_TEXT}")
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError as exc:
            self.add(name, f"has a broken placeholder: {exc}")
            return value
        for unknown in sorted(fields - placeholders):
            self.add(
                name,
                f"uses unknown placeholder {{{unknown}}}; known: "
                + ", ".join("{" + p + "}" for p in sorted(placeholders)),
            )
        return value

    def done(self) -> None:
        for extra in sorted(set(self.raw) - self.used):
            self.add(extra, "is not a known field")


def is_https_url(value: str) -> bool:
    """True for an https URL with a host and nothing a TwiML document could choke on."""
    if len(value) > MAX_URL or XML_ILLEGAL.search(value) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)


def url_host(url: str) -> str:
    """The host of a URL, lower case ("" when it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


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


def sip_host(uri: str) -> str:
    """The host of a SIP URI: sip:agents@pbx.example.com;transport=tls -> pbx.example.com."""
    return uri.split("@", 1)[-1].split(";", 1)[0].split(":", 1)[0].lower()


def parse_target(raw: dict[str, Any], where: str, problems: Problems) -> Target:
    """A center's connect table: exactly one of queue, number, sip, workflow; a number or
    sip may say ``confirm = true`` (or false)."""
    kinds = [k for k in ("queue", "number", "sip", "workflow") if k in raw]
    extra = sorted(set(raw) - {"queue", "number", "sip", "workflow", "confirm"})
    if extra or len(kinds) != 1:
        problems.add(
            where,
            "connect",
            "needs exactly one of queue, number, sip, workflow"
            + (" (and confirm)" if "confirm" in raw else ""),
        )
        return Target("queue", "invalid")
    kind = kinds[0]
    value = raw[kind]
    valid: dict[str, Callable[[str], bool]] = {
        "queue": lambda v: bool(_QUEUE_NAME.match(v)),
        "number": valid_e164,
        "sip": lambda v: v.startswith(("sip:", "sips:")) and "@" in v and not XML_ILLEGAL.search(v),
        "workflow": lambda v: bool(_WORKFLOW_SID.match(v)),
    }
    ok = isinstance(value, str) and valid[kind](value)
    if not ok:
        hint = {
            "queue": "a queue name of letters, digits, space, _ . - (at most 64)",
            "number": "a valid E.164 number like +15705550100",
            "sip": "a SIP URI like sip:agent@pbx.example.com",
            "workflow": "a TaskRouter workflow SID (WW and 32 hex digits)",
        }[kind]
        problems.add(where, f"connect.{kind}", f"{value!r} is not {hint}")
    confirm = raw.get("confirm")
    if confirm is not None and not isinstance(confirm, bool):
        problems.add(where, "connect.confirm", f"must be true or false, not {confirm!r}")
        confirm = None
    elif confirm is not None and kind not in ("number", "sip"):
        # the whisper runs on the answering leg of a <Dial><Number> or <Sip>; a queue or a
        # workflow has no such leg (https://www.twilio.com/docs/voice/twiml/number#url)
        problems.add(where, "connect.confirm", f"needs a number or sip target, not a {kind}")
        confirm = None
    return Target(kind, str(value), confirm)


def _schedule(f: _Fields, hours_default: object | None) -> Schedule:
    """Time zone, weekly hours, holidays and closures (None: hours are required)."""
    zone_name = f.name("timezone")
    f.used.update(_SCHEDULE_FIELDS)
    if hours_default is None and "hours" not in f.raw:
        f.add("hours", "is required")
    zone = parse_zone("UTC")
    readers: list[tuple[str, Callable[[object], Any], object]] = [
        ("hours", parse_hours, "24/7" if hours_default is None else hours_default),
        ("holidays", parse_holidays, []),
        ("closures", parse_closures, []),
    ]
    parsed = {}
    for name, read, default in readers:
        try:
            parsed[name] = read(f.raw.get(name, default))
        except HoursError as exc:
            f.add(name, str(exc))
            parsed[name] = read(default)
    if zone_name:
        try:
            zone = parse_zone(zone_name)
        except HoursError as exc:
            f.add("timezone", str(exc))
    return Schedule(zone, parsed["hours"], parsed["holidays"], parsed["closures"])


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
        f.add("country", f"{country!r} is not an ISO 3166 alpha-2 code like PH")
    schedule = _schedule(f, hours_default="24/7")
    region = f.name("region", required=False)
    connect = f.table("connect")
    max_wait = f.seconds("max_wait", 0, MIN_WAIT)
    f.done()
    target = parse_target(connect, where, problems) if "connect" in raw else Target("queue", "invalid")
    if max_wait and target.kind not in HELD:
        f.add(
            "max_wait",
            f"applies to queue and workflow centers; a {target.kind} bridge is a "
            "<Dial>, which gives up after its own timeout",
        )
    return Center(
        center_id,
        str(name),
        str(city),
        country,
        schedule.zone,
        schedule.weekly,
        target,
        region,
        schedule.holidays,
        schedule.closures,
        max_wait,
    )


def parse_number(e164: str, raw: Mapping[str, Any], problems: Problems) -> Number:
    """One [numbers."+1..."] table."""
    where = f"number '{e164}'"
    if not valid_e164(e164):
        problems.add(where, "", "is not a valid E.164 number like +18005550100")
    f = _Fields(raw, where, problems)
    flow = f.name("flow")
    exempt = f.choice("exempt", ("emergency", "foreign-business"), default="") or None
    label = f.text("label", required=False)
    language = f.name("language", required=False)
    f.done()
    return Number(e164, flow, exempt, str(label), language)


def _disclose(name: str, f: _Fields) -> Disclose:
    for old, new in (("key", "transfer_key"), ("keywords", "transfer_words")):
        if old in f.raw:  # one transfer key and set of words per flow, live in every prompt
            f.used.add(old)
            f.add(old, f"is set once for the whole flow: use {new} in the flow's table")
    return Disclose(
        name,
        f.text("text"),
        f.text("offer"),
        f.name("next"),
        f.integer("timeout", 5),
        f.text("courtesy", False),
        f.integer("retries", 2),
        f.name("invalid", False),
    )


def _hours_state(name: str, f: _Fields) -> Hours:
    center = f.name("center", required=False)
    if center and any(k in f.raw for k in _SCHEDULE_FIELDS):
        f.add("center", "give either a center or this state's own timezone and hours, not both")
        f.used.update(_SCHEDULE_FIELDS)
    schedule = None if center else _schedule(f, hours_default=None)
    return Hours(name, f.name("open"), f.name("closed"), center, schedule)


STATE_PARSERS: dict[str, Callable[[str, _Fields], State]] = {
    "say": lambda n, f: Say(
        n, f.text("text", required="play" not in f.raw), f.name("next"), f.url("play", required=False)
    ),
    "route": lambda n, f: Route(
        n,
        f.names("centers"),
        f.name("next"),
        f.name("closed"),
        f.choice("strategy", ("weight", "priority"), "priority"),
        f.table("weights", False),
    ),
    "disclose": lambda n, f: _disclose(n, f),
    "bridge": lambda n, f: Bridge(n, f.name("on_failure", False), f.name("on_wait_limit", False)),
    "overflow": lambda n, f: Overflow(n, f.names("centers"), f.name("next"), f.name("exhausted")),
    "domestic": lambda n, f: Domestic(n, f.name("on_failure", False)),
    "hangup": lambda n, f: Hangup(n, f.text("text", False)),
    "menu": lambda n, f: Menu(
        n,
        f.text("prompt"),
        f.keys("options"),
        f.name("no_input"),
        f.name("invalid"),
        f.words_per_language("words"),
        f.integer("retries", 2),
        f.integer("timeout", 5),
    ),
    "language": lambda n, f: LanguageMenu(
        n,
        f.text("prompt"),
        f.keys("options"),
        f.name("next"),
        f.words("words"),
        f.integer("retries", 2),
        f.integer("timeout", 5),
    ),
    "hours": _hours_state,
    "handoff": lambda n, f: Handoff(n, f.url("url")),
}
STATE_KINDS = tuple(STATE_PARSERS)


def _state(
    name: str, raw: Mapping[str, Any], where: str, problems: Problems, codes: tuple[str, ...]
) -> State | None:
    f = _Fields(raw, where, problems, codes)
    kind = f.choice("type", STATE_KINDS, default=None)
    if kind is None:
        return None
    state = STATE_PARSERS[kind](name, f)
    f.done()
    return state


def _languages(f: _Fields) -> tuple[Language, ...]:
    """language = "en-US" or languages = ["en-US", "es-US"]; voice(s) and transfer words."""
    one, many = f.name("language", False), f.names("languages", False)
    if one and many:
        f.add("languages", "give language (one) or languages (a list), not both")
    tags = many or ((one,) if one else (ENGLISH.tag,))
    for tag in tags:
        if not _LANGUAGE_TAG.match(tag):
            f.add("languages" if many else "language", f"{tag!r} is not a language tag like en-US")
    codes = tuple(Language(tag).code for tag in tags)
    for code in sorted({c for c, n in Counter(codes).items() if n > 1}):
        f.add("languages", f"offers '{code}' twice; give one tag per language")
    f.codes = codes
    voice, voices = f.name("voice", False), f.table("voices", False)
    if voice and (voices or len(codes) > 1):
        f.add("voice", 'is for a one-language flow; give voices = { en = "...", es = "..." }')
    voices = {codes[0]: voice} if voice else f.per_language("voices", voices, str)
    for code, name in voices.items():
        if not VOICE_NAME.match(name):
            f.add("voice" if voice else f"voices.{code}", f"{name!r} is not a voice name like Polly.Lupe")
    words = _transfer_words(f)
    return tuple(
        Language(tag, voices.get(code, ""), words.get(code, TRANSFER_WORDS.get(code, ())))
        for tag, code in zip(tags, codes, strict=True)
    )


def _transfer_words(f: _Fields) -> dict[str, tuple[str, ...]]:
    """transfer_words = ["agent", ...] (default language) or { en = [...], es = [...] }."""
    value = f.get("transfer_words", (list, dict), False, {})
    table = value if isinstance(value, dict) else {f.codes[0]: value} if value else {}
    out = {}
    for code, words in f.per_language("transfer_words", table, list).items():
        field_name = f"transfer_words.{code}" if isinstance(value, dict) else "transfer_words"
        good = [w for w in words if isinstance(w, str) and _WORD.match(w)]
        if len(good) != len(words) or not good:
            f.add(field_name, "must be a list of words or phrases (letters, digits, spaces, ' and -)")
        out[code] = tuple(w.lower() for w in good)
    return out


def parse_flow(flow_id: str, raw: Mapping[str, Any], problems: Problems, version: int = 0) -> Flow:
    """One [flows.ID] table with its [flows.ID.states.NAME] tables."""
    where = f"flow '{flow_id}'"
    f = _Fields(raw, where, problems)
    start = f.name("start")
    domestic = f.name("domestic")
    states_raw = f.table("states")
    languages = _languages(f)
    options = dict(
        languages=languages,
        transfer_key=f.name("transfer_key", False) if "transfer_key" in raw else "1",
        on_lookup_failure=f.choice("on_lookup_failure", ("domestic", "cautious"), "domestic"),
        cautious_text=f.text("cautious_text", False) or dict(CAUTIOUS_TEXT),
        unavailable_text=f.text("unavailable_text", False) or dict(UNAVAILABLE_TEXT),
        hold_music=f.urls("hold_music"),
        hold_offer=f.text("hold_offer", False) or dict(HOLD_OFFER),
        min_confidence=f.share("min_confidence", 0.5),
        offer_every=f.seconds("offer_every", OFFER_EVERY, 10) or OFFER_EVERY,
        max_wait=f.seconds("max_wait", 0, MIN_WAIT),
        queue_position=f.text("queue_position", False, placeholders=QUEUE_PLACEHOLDERS)
        or dict(QUEUE_POSITION),
        queue_wait=f.text("queue_wait", False, placeholders=QUEUE_PLACEHOLDERS) or dict(QUEUE_WAIT),
    )
    f.used.add("version")
    f.done()
    states: dict[str, State] = {}
    for name, state_raw in states_raw.items():
        state_where = f"{where} state '{name}'"
        if not isinstance(state_raw, dict):
            problems.add(state_where, "", "must be a table")
            continue
        state = _state(name, state_raw, state_where, problems, f.codes)
        if state is not None:
            states[name] = state
    return Flow(flow_id, version, start, domestic, states, **options)


_POLICY_LISTS: dict[str, tuple[Callable[[str], bool], str]] = {
    "transfer_numbers": (valid_e164, "a valid E.164 number like +15705550100"),
    "queues": (lambda v: bool(_QUEUE_NAME.match(v)), "a queue name"),
    "sip_domains": (lambda v: bool(_HOST.match(v)), "a host name like pbx.example.com"),
    "workflows": (lambda v: bool(_WORKFLOW_SID.match(v)), "a workflow SID (WW and 32 hex digits)"),
    "url_hosts": (lambda v: bool(_HOST.match(v)), "a host name like media.example.com (no https://)"),
}


def parse_policy(raw: Mapping[str, Any], problems: Problems) -> Policy:
    """The [policy] table: allowlists of connect targets and URL hosts."""
    f = _Fields(raw, "policy", problems)
    lists = {}
    for name, (valid, hint) in _POLICY_LISTS.items():
        values = f.names(name, required=False)
        for value in values:
            if not valid(value):
                f.add(name, f"{value!r} is not {hint}")
        lists[name] = frozenset(v.lower() if name.endswith(("domains", "hosts")) else v for v in values)
    f.done()
    return Policy(**lists)


MAX_DEPTH = 12  # tables and lists within each other; the deepest field (a menu's words) is 6


def read_folder(folder: Path) -> tuple[Sources, list[FlowError]]:
    """Collect [centers], [numbers], [flows] and [policy] tables from every *.toml file in a folder."""
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
        except RecursionError:  # tomllib reads nested arrays and inline tables recursively
            problems.add(
                "",
                "",
                f"cannot be read: it nests too deep (tables and lists may nest at most {MAX_DEPTH} levels)",
            )
        else:
            collect(doc, sources, problems)
        errors.extend(problems.errors)
    return sources, errors


def collect(doc: Mapping[str, Any], sources: Sources, problems: Problems) -> None:
    """File one TOML document's tables into ``sources``; what cannot be filed is a problem."""
    file = problems.file
    for section in sorted(set(doc) - {"centers", "numbers", "flows", "policy", "scenarios"}):
        problems.add("", section, "is not a known section (centers, numbers, flows, policy)")
    for section, bucket in (
        ("centers", sources.centers),
        ("numbers", sources.numbers),
        ("flows", sources.flows),
    ):
        tables = doc.get(section, {})
        if not isinstance(tables, dict):
            problems.add("", section, f"must be tables like [{section}.ID], not {_shown(tables)}")
            continue
        for key, table in tables.items():
            where = f"{section[:-1]} '{key}'"
            deepest = _depth(table)
            if not isinstance(table, dict):
                problems.add(where, "", "must be a table")
            elif deepest[0] > MAX_DEPTH:
                problems.add(where, deepest[1], f"nests {deepest[0]} levels deep; at most {MAX_DEPTH}")
            elif key in bucket:
                problems.add(where, "", f"is already defined in {bucket[key][0]}")
            else:
                bucket[key] = (file, table)
    if "policy" in doc:
        if not isinstance(doc["policy"], dict):
            problems.add("policy", "", "must be a table")
        elif _depth(doc["policy"])[0] > MAX_DEPTH:
            problems.add("policy", "", f"nests deeper than {MAX_DEPTH} levels")
        elif sources.policy is not None:
            problems.add("policy", "", f"is already defined in {sources.policy[0]}; one per folder")
        else:
            sources.policy = (file, doc["policy"])


def _shown(value: object) -> str:
    return repr(value) if len(repr(value)) <= 40 else f"a {type(value).__name__}"


def _depth(value: object) -> tuple[int, str]:
    """How deep tables and lists nest in a value, and the dotted path to the deepest field;
    without recursion, so a hostile file cannot exhaust the stack."""
    deepest, where = 0, ""
    stack: list[tuple[object, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        if depth > deepest:
            deepest, where = depth, path
        if depth > MAX_DEPTH:
            break
        children = item.items() if isinstance(item, dict) else enumerate(item)
        stack.extend((child, depth + 1, f"{path}.{name}" if path else str(name)) for name, child in children)
    return deepest, where


def build(sources: Sources, progress: Progress | None = None) -> tuple[Config, list[FlowError]]:
    """Parse every table; return the config and every problem found."""
    errors: list[FlowError] = []
    progress = progress or Progress(io.StringIO())

    def each(bucket: dict[str, tuple[str, dict[str, Any]]], parse: Callable[..., Any]) -> dict[str, Any]:
        out = {}
        what = "parsing " + parse.__name__.removeprefix("parse_") + "s"
        for key, (file, raw) in progress.counting(what, bucket.items(), len(bucket)):
            problems = Problems(file)
            out[key] = parse(key, raw, problems)
            errors.extend(problems.errors)
        return out

    policy = None
    if sources.policy is not None:
        problems = Problems(sources.policy[0])
        policy = parse_policy(sources.policy[1], problems)
        errors.extend(problems.errors)
    config = Config(
        centers=each(sources.centers, parse_center),
        numbers=each(sources.numbers, parse_number),
        flows=each(sources.flows, parse_flow),
        policy=policy,
    )
    return config, errors
