"""Reading the [flows.ID] tables, with their [flows.ID.states.NAME] tables, one parser per
state kind (``STATE_PARSERS``), and the [numbers."+1..."] tables that send a dialed number to
a flow."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from ivr.callbacks import ATTEMPTS, LINES, RING_TIMEOUT, SPACING, CallbackPolicy
from ivr.center_tables import SCHEDULE_FIELDS, read_schedule
from ivr.flow import (
    CAUTIOUS_TEXT,
    ENGLISH,
    HOLD_OFFER,
    OFFER_EVERY,
    QUEUE_POSITION,
    QUEUE_WAIT,
    SHARED_TEXT,
    TRANSFER_WORDS,
    UNAVAILABLE_TEXT,
    Automated,
    Bridge,
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
    Route,
    Say,
    State,
    Voicemail,
)
from ivr.places import is_country_code
from ivr.rulesets import in_force
from ivr.table_fields import (
    MIN_WAIT,
    QUEUE_PLACEHOLDERS,
    SHARED_PLACEHOLDERS,
    VOICE_NAME,
    WORD,
    Fields,
    Problems,
    valid_e164,
)

_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def parse_number(
    e164: str, raw: Mapping[str, Any], problems: Problems, policy_rules: tuple[str, ...] = ()
) -> Number:
    """One [numbers."+1..."] table; its rule sets are its own, else ``policy_rules`` (the
    folder's policy's), else the default (``ivr.rulesets.in_force``)."""
    where = f"number '{e164}'"
    if not valid_e164(e164):
        problems.add(where, "", "is not a valid E.164 number like +18005550100")
    f = Fields(raw, where, problems)
    flow = f.name("flow")
    exempt = f.choice("exempt", ("emergency", "foreign-business"), default="") or None
    label = f.text("label", required=False)
    language = f.name("language", required=False)
    rules = f.rules()
    home_only = f.flag("home_only")
    f.done()
    return Number(e164, flow, exempt, str(label), language, in_force(rules, policy_rules), home_only)


def _automated(name: str, f: Fields) -> Automated:
    country = f.name("country", required=False)
    if country and not is_country_code(country):
        f.add("country", f"{country!r} is not an ISO 3166 alpha-2 code like PH")
    return Automated(
        name,
        f.wss_url("relay"),
        f.text("notice", required=False),
        country,
        str(f.text("city", required=False)),
        f.name("next", required=False),
    )


def _disclose(name: str, f: Fields) -> Disclose:
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


def _hours_state(name: str, f: Fields) -> Hours:
    center = f.name("center", required=False)
    if center and any(k in f.raw for k in SCHEDULE_FIELDS):
        f.add("center", "give either a center or this state's own timezone and hours, not both")
        f.used.update(SCHEDULE_FIELDS)
    schedule = None if center else read_schedule(f, hours_default=None)
    return Hours(name, f.name("open"), f.name("closed"), center, schedule)


STATE_PARSERS: dict[str, Callable[[str, Fields], State]] = {
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
    "automated": lambda n, f: _automated(n, f),
}
STATE_KINDS = tuple(STATE_PARSERS)


def _state(
    name: str, raw: Mapping[str, Any], where: str, problems: Problems, codes: tuple[str, ...]
) -> State | None:
    f = Fields(raw, where, problems, codes)
    kind = f.choice("type", STATE_KINDS, default=None)
    if kind is None:
        return None
    state = STATE_PARSERS[kind](name, f)
    f.done()
    return state


def _languages(f: Fields) -> tuple[Language, ...]:
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


def _transfer_words(f: Fields) -> dict[str, tuple[str, ...]]:
    """transfer_words = ["agent", ...] (default language) or { en = [...], es = [...] }."""
    value = f.get("transfer_words", (list, dict), False, {})
    table = value if isinstance(value, dict) else {f.codes[0]: value} if value else {}
    out = {}
    for code, words in f.per_language("transfer_words", table, list).items():
        field_name = f"transfer_words.{code}" if isinstance(value, dict) else "transfer_words"
        good = [w for w in words if isinstance(w, str) and WORD.match(w)]
        if len(good) != len(words) or not good:
            f.add(field_name, "must be a list of words or phrases (letters, digits, spaces, ' and -)")
        out[code] = tuple(w.lower() for w in good)
    return out


def _domestic(f: Fields) -> tuple[str, dict[str, str]]:
    """domestic = "scranton", or one per language: { en = "scranton", es = "el-paso" } (the
    default language's is the flow's own)."""
    value = f.get("domestic", (str, dict), True, "")
    if isinstance(value, str):
        return value, {}
    table = {code: center for code, center in f.per_language("domestic", value, str).items() if center}
    if not f.codes or f.codes[0] not in table:
        f.add(
            "domestic", f"must name the default language's ('{f.codes[0] if f.codes else 'en'}') destination"
        )
        return "", {}
    return table[f.codes[0]], {code: c for code, c in table.items() if code != f.codes[0]}


def _flag(f: Fields, name: str) -> bool:
    value = f.get(name, bool, False, False)
    return bool(value)


def _callback(f: Fields) -> CallbackPolicy | None:
    """[flows.ID.callback]: attempts (1-10), spacing (60 s or more), ring_timeout (10-60 s)."""
    if "callback" not in f.raw:
        return None
    sub = Fields(f.table("callback"), f"{f.where} callback", f.problems)
    attempts = sub.integer("attempts", ATTEMPTS)
    spacing = sub.integer("spacing", SPACING)
    ring = sub.integer("ring_timeout", RING_TIMEOUT)
    lines = sub.integer("lines", LINES)
    sub.done()
    for name, value, low, high in (
        ("attempts", attempts, 1, 10),
        ("spacing", spacing, 60, 86400),
        ("ring_timeout", ring, 10, 60),
        ("lines", lines, 1, 1000),
    ):
        if not low <= value <= high:
            sub.add(name, f"must be from {low} to {high}, not {value}")
            return None
    return CallbackPolicy(attempts, spacing, ring, lines)


def _voicemail(f: Fields) -> Voicemail | None:
    """[flows.ID.voicemail]: max_length (10-600 s), consent, transcribe."""
    if "voicemail" not in f.raw:
        return None
    sub = Fields(f.table("voicemail"), f"{f.where} voicemail", f.problems)
    length = sub.integer("max_length", 120)
    consent, transcribe = _flag(sub, "consent"), _flag(sub, "transcribe")
    sub.done()
    if not 10 <= length <= 600:
        sub.add("max_length", f"must be from 10 to 600 seconds, not {length}")
        return None
    return Voicemail(length, consent, transcribe)


def parse_flow(flow_id: str, raw: Mapping[str, Any], problems: Problems, version: int = 0) -> Flow:
    """One [flows.ID] table with its [flows.ID.states.NAME] tables."""
    where = f"flow '{flow_id}'"
    f = Fields(raw, where, problems)
    start = f.name("start")
    languages = _languages(f)
    domestic, by_language = _domestic(f)
    states_raw = f.table("states")
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
        shared_text=f.text("shared_text", False, placeholders=SHARED_PLACEHOLDERS) or dict(SHARED_TEXT),
        agent_whisper=f.get("agent_whisper", bool, False, False),
        domestic_by_language=by_language,
        announce_domestic_wait=_flag(f, "announce_domestic_wait"),
        domestic_max_wait=f.seconds("domestic_max_wait", 0, MIN_WAIT),
        callback=_callback(f),
        voicemail=_voicemail(f),
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
