"""Static TwiML for each number's Fallback URL: what callers get when every app host is down.

Twilio requests a number's Fallback URL when it cannot fetch or run the TwiML of its
primary URL (https://www.twilio.com/docs/usage/security/availability-reliability). These
documents are rendered ahead of time (``ivr fallback build OUT/``) and served as plain files
by another host, object storage or a CDN, so they must work with no app, no Redis and no
input: a static file cannot take the caller's answer (a ``<Gather action>`` would have to
reach a server), so nothing in them asks for one and no URL in them points at the app.

What the caller hears, in every language the number's flow offers (the number's own
first): that the phone system is in trouble, a cautious disclosure naming every country
the flow could send the call to, and the transfer offer made good at once: the call goes
straight to the flow's domestic destination, which is in the home country, so no bridge
from these documents ever goes offshore. An emergency number (R6) is bridged at once with
nothing said. If the bridge ends with the caller still on the line (busy, no answer, or the
agent hung up first), Twilio goes on with the document (https://www.twilio.com/docs/voice/
twiml/dial: without an action URL it "will continue to render the original TwiML
document"): the flow's unavailable text, then a hang-up.

The build's digest is the SHA-256 of every document and the index, so ``ivr check
--redis-url`` can tell whether the files built last still match what the published
configuration gives.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel.core import UnknownLocaleError
from babel.lists import format_list

from ivr.flow import Config, Flow, Number
from ivr.places import country_name
from ivr.twiml import static_bridge
from ivr.vocabulary import Facts, Speak
from ivr.wording import fill

INDEX = "index.json"
# {countries}: every offshore country the flow may route to; {home_country}: where it goes.
NOTICE = {
    "en": "Our phone system is having trouble right now. Calls to this number may be answered "
    "by our teams in {countries}. To speak with an agent in {home_country}, stay on the "
    "line: we are connecting you to one now.",
    "es": "Nuestro sistema telefónico tiene problemas en este momento. Las llamadas a este "
    "número pueden ser atendidas por nuestros equipos en {countries}. Para hablar con un "
    "agente en {home_country}, permanezca en la línea: le comunicamos con uno ahora.",
}
DOMESTIC_NOTICE = {
    "en": "Our phone system is having trouble right now. Please stay on the line: we are "
    "connecting you to an agent in {home_country}.",
    "es": "Nuestro sistema telefónico tiene problemas en este momento. Permanezca en la línea: "
    "le comunicamos con un agente en {home_country}.",
}


@dataclass(frozen=True)
class Build:
    """The documents of one build: file name -> TwiML, number -> file name, and the digest."""

    documents: dict[str, str]
    index: dict[str, str]
    digest: str
    notes: list[str]


def file_name(e164: str) -> str:
    """The document's file name: digits only, since some object stores read "+" as a space."""
    return e164.lstrip("+") + ".xml"


def render_all(config: Config, home: str) -> Build:
    """One document per number that has a flow and a domestic destination in ``config``."""
    documents, index, notes = {}, {}, []
    for e164, number in sorted(config.numbers.items()):
        flow = config.flows.get(number.flow)
        domestic = config.centers.get(flow.domestic) if flow else None
        if flow is None or domestic is None or domestic.country != home:
            notes.append(f"number {e164}: no fallback: its flow or domestic destination is missing")
            continue
        lines, missing = _notice(flow, number, config, home)
        notes += [
            f"number {e164}: no built-in fallback text in '{code}'; it hears English" for code in missing
        ]
        facts = Facts("", datetime.now(UTC), config.centers, home)
        closing = _speak(
            flow, fill(flow.unavailable_text, flow, facts, None, _first(flow, number)), _first(flow, number)
        )
        attributes = (
            ("center", domestic.id),
            ("country", domestic.country),
            ("language", flow.speaking(_first(flow, number)).tag),
            ("domestic", "true"),
            ("fallback", "true"),
        )
        name = file_name(e164)
        documents[name] = static_bridge(lines, domestic.target, e164, attributes, (closing,))
        index[e164] = name
    digest = hashlib.sha256(json.dumps([index, documents], sort_keys=True).encode()).hexdigest()
    return Build(documents, index, digest, notes)


def write(build: Build, out: Path, source: str) -> Path:
    """Write the documents and the index (with the digest) into ``out``; return the index."""
    out.mkdir(parents=True, exist_ok=True)
    index = out / INDEX
    try:  # a number the configuration no longer has must not keep its old document
        before = set(json.loads(index.read_text(encoding="utf-8")).get("numbers", {}).values())
    except (OSError, ValueError, AttributeError):
        before = set()
    for name in before - set(build.documents):
        if name.endswith(".xml") and "/" not in name:
            (out / name).unlink(missing_ok=True)
    for name, document in build.documents.items():
        (out / name).write_text(document, encoding="utf-8")
    index.write_text(
        json.dumps(
            {
                "numbers": build.index,
                "digest": build.digest,
                "source": source,
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            indent=2,
            sort_keys=True,
        )
        + "\n",
        encoding="utf-8",
    )
    return index


def _first(flow: Flow, number: Number) -> str:
    """The language code a call to this number starts in."""
    return number.language if number.language in flow.codes else flow.codes[0]


def _notice(flow: Flow, number: Number, config: Config, home: str) -> tuple[tuple[Speak, ...], list[str]]:
    """The notice in each of the flow's languages, the number's first (none when exempt),
    and the languages that have no built-in text."""
    if number.exempt == "emergency":  # R6: never delay such calls
        return (), []
    codes = [_first(flow, number), *(c for c in flow.codes if c != _first(flow, number))]
    places = [c for c in (config.centers.get(i) for i in flow.routable) if c is not None]
    places += [config.centers[s] for c in places for s in c.target.sites if s in config.centers]
    offshore = sorted({c.country for c in places if c.country != home and not c.target.shared})
    if number.exempt == "foreign-business":  # R5: the caller knew; no disclosure is owed
        offshore = []
    lines, missing = [], []
    for code in codes:
        templates = NOTICE if offshore else DOMESTIC_NOTICE
        spoken = code if code in templates else "en"
        if spoken != code:
            missing.append(code)
        tag = flow.speaking(code).tag if spoken == code else "en-US"
        names = [country_name(c, tag) for c in offshore]
        text = templates[spoken].format(countries=_listed(names, tag), home_country=country_name(home, tag))
        lines.append(Speak(text, tag, flow.speaking(code).voice if spoken == code else ""))
    return tuple(dict.fromkeys(lines)), missing


def _listed(names: list[str], tag: str) -> str:
    """Names joined as the language joins a list: "the Philippines and India"."""
    for locale in (tag.replace("-", "_"), tag.split("-")[0], "en"):
        try:
            return format_list(names, locale=locale) if names else ""
        except (UnknownLocaleError, ValueError):
            continue
    return ", ".join(names)


def _speak(flow: Flow, text: str, code: str) -> Speak:
    lang = flow.speaking(code)
    return Speak(text, lang.tag, lang.voice)
