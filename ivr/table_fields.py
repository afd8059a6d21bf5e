"""Typed access to the fields of one operator table, and the checks of single values.

Every reader of operator files (``ivr.center_tables``, ``ivr.flow_tables``, the scenarios of
``ivr test``) takes a table's fields through ``Fields``, which records each missing or wrong
field in ``Problems`` as a FlowError naming the file, the place and the field, so a check
reports all of them at once instead of stopping at the first.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import phonenumbers

from ivr.errors import FlowError
from ivr.flow import Text
from ivr.rulesets import RuleSetError, named
from ivr.toml_values import kind_name, shown

# XML 1.0 forbids these; Twilio rejects a document holding one (error 12100).
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
PLACEHOLDERS = frozenset({"city", "country", "home_country", "center", "key"})
QUEUE_PLACEHOLDERS = PLACEHOLDERS | {"position", "minutes"}  # hold announcements only
SHARED_PLACEHOLDERS = PLACEHOLDERS | {"sites"}  # a shared queue's or workflow's disclosure
MAX_TEXT = 1000
MIN_WAIT = 30  # seconds: a max_wait below this leaves before the first hold document ends
MAX_URL = 2000
DTMF_KEYS = tuple("0123456789*#")
VOICE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # Polly.Lupe, Google.es-US-Neural2-A
# A spoken word or phrase: letters, digits, spaces, ' and - (no comma: hints are comma-separated).
WORD = re.compile(r"^\w[\w' -]{0,39}$")


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


class Fields:
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
            if not WORD.match(word):
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

    def rules(self, name: str = "rules") -> tuple[str, ...]:
        """The rule sets a ``rules`` field names (``ivr.rulesets``): one name or a list."""
        self.used.add(name)
        if name not in self.raw:
            return ()
        try:
            return named(self.raw[name])
        except RuleSetError as exc:
            self.add(name, str(exc))
            return ()

    def flag(self, name: str) -> bool:
        """true or false (default false)."""
        return bool(self.get(name, bool, False, False))

    def wss_url(self, name: str) -> str:
        """A wss:// URL (a WebSocket, such as a ConversationRelay bot's); its host is checked
        against the folder's policy by ``ivr check``."""
        value = self.name(name)
        if value and not is_https_url(value, scheme="wss"):
            self.add(name, f"{value[:80]!r} is not a wss:// URL")
        return value

    def done(self) -> None:
        for extra in sorted(set(self.raw) - self.used):
            self.add(extra, "is not a known field")


def is_https_url(value: str, scheme: str = "https") -> bool:
    """True for an https URL (or one of ``scheme``) with a host and nothing a TwiML document
    could choke on."""
    if len(value) > MAX_URL or XML_ILLEGAL.search(value) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme == scheme and bool(parts.hostname)


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
