"""What operators describe: centers, numbers, flows and the folder's policy (plain data, no I/O).

A flow is a small graph of named states. Each state kind says what the caller hears or
where the call goes next; the engine (``ivr.engine``) walks the graph.

Texts. A flow speaks one or more languages (``Flow.languages``, the first is the default).
Every text an operator writes is a ``Text``: either one plain string, which is the text in
the flow's default language, or a table with one text per language code ({"en": ...,
"es": ...}). ``ivr check`` refuses a flow that lacks a text in a language it offers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

from ivr.callbacks import CallbackPolicy
from ivr.hours import Closure, Schedule, WeeklyHours

TargetKind = Literal["queue", "number", "sip", "workflow"]
Exemption = Literal["emergency", "foreign-business"]
LookupPolicy = Literal["domestic", "cautious"]
Text = str | Mapping[str, str]  # a plain string is the default language's text

# Words that ask for the domestic transfer, per language code; a flow may replace them.
TRANSFER_WORDS: Mapping[str, tuple[str, ...]] = {
    "en": ("agent", "united states", "america"),
    "es": ("agente", "estados unidos", "américa"),
}
CAUTIOUS_TEXT: Mapping[str, str] = {
    "en": "Your call may be answered by an agent outside {home_country}. "
    "To speak with an agent in {home_country}, press {key} or say 'agent'.",
    "es": "Su llamada puede ser atendida por un agente fuera de {home_country}. "
    "Para hablar con un agente en {home_country}, oprima {key} o diga 'agente'.",
}
UNAVAILABLE_TEXT: Mapping[str, str] = {
    "en": "We are sorry, no agent can take your call right now. Please call again later.",
    "es": "Lo sentimos, ningún agente puede atender su llamada ahora. Por favor, llame más tarde.",
}
HOLD_OFFER: Mapping[str, str] = {
    "en": "To speak with an agent in {home_country}, press {key} at any time.",
    "es": "Para hablar con un agente en {home_country}, oprima {key} en cualquier momento.",
}
# Said on hold on entry and every few minutes: the place in line (Twilio's QueuePosition) and,
# when Onshore has enough recent waits of the queue, the wait ahead in whole minutes.
QUEUE_POSITION: Mapping[str, str] = {
    "en": "You are number {position} in line.",
    "es": "Usted es el número {position} en la fila.",
}
QUEUE_WAIT: Mapping[str, str] = {
    "en": "Your expected wait is about {minutes} minutes.",
    "es": "Su tiempo de espera estimado es de unos {minutes} minutos.",
}
# A disclosure for a shared queue or a TaskRouter workflow, before the bridge: who answers is
# known only then, so the caller hears every place they may be answered from ({sites}: each
# site's city and country in the call's language); at the bridge, the actual one (ivr.bind).
SHARED_TEXT: Mapping[str, str] = {
    "en": "Your call will be answered by one of our teams in {sites}.",
    "es": "Su llamada será atendida por uno de nuestros equipos en {sites}.",
}
# Twilio's own public hold music, as its <Leave> page plays it
# (https://www.twilio.com/docs/voice/twiml/leave) from the bucket of its default playlist:
# what a caller heard on hold before Onshore set a waitUrl, which replaces it.
TWILIO_HOLD_MUSIC: tuple[str, ...] = (
    "http://com.twilio.sounds.music.s3.amazonaws.com/MARKOVICHAMP-Borghestral.mp3",
    "http://com.twilio.sounds.music.s3.amazonaws.com/ClockworkWaltz.mp3",
)
OFFER_EVERY = 45  # seconds of hold music between two offers, by default


def translation(text: Text, code: str, default: str) -> str:
    """The text in one language, or "" when it has none (a plain string is the default's)."""
    if isinstance(text, str):
        return text if code == default else ""
    return text.get(code, "")


@dataclass(frozen=True)
class Target:
    """Where a bridge connects: a Twilio queue, an E.164 number, a SIP URI or a workflow.
    ``confirm``: whoever answers a number or SIP bridge must accept the call first (None: the
    default, see ``confirms``). ``sites``: the centers whose agents may answer a shared
    queue or a TaskRouter workflow (a worker's ``site`` attribute names one); () for a
    target only the center's own agents answer."""

    kind: TargetKind
    value: str
    confirm: bool | None = None
    sites: tuple[str, ...] = ()

    @property
    def shared(self) -> bool:
        """Agents of several sites answer it: who answers is known only at the bridge."""
        return bool(self.sites)

    def confirms(self, domestic: bool) -> bool:
        """Whether the answering side hears the whisper and must press a key to take the
        call: as the center says, else for a number in the home country (a voicemail there
        would otherwise count as the domestic agent the caller was promised)."""
        if self.confirm is not None:
            return self.confirm
        return domestic and self.kind == "number"


@dataclass(frozen=True)
class Center:
    """A call center: where its agents physically sit and how to reach them."""

    id: str
    name: str
    city: str
    country: str  # ISO 3166 alpha-2
    zone: ZoneInfo
    hours: WeeklyHours
    target: Target
    region: str = ""  # state or province, e.g. "PA"
    holidays: frozenset[date] = frozenset()  # closed all day, local
    closures: tuple[Closure, ...] = ()  # one-off closed intervals, local
    max_wait: int = 0  # seconds a caller waits in this center's queue at most; 0: the flow's
    caller_id: str = "caller"  # what a <Dial> to it shows: the caller's number, or "called" (ivr.caller_data)

    @property
    def location(self) -> str:
        """The place a disclosure names; a change of it needs a new disclosure. A shared
        queue's or workflow's is no one place: the agent's site is disclosed at the bridge."""
        return f"{self.id}|shared" if self.target.shared else f"{self.city}|{self.country}"

    @cached_property
    def schedule(self) -> Schedule:
        """When the center takes calls (built once: every route asks)."""
        return Schedule(self.zone, self.hours, self.holidays, self.closures)


def answers_abroad(center: Center, centers: Mapping[str, Center], home: str) -> bool:
    """Whether an agent outside the home country may answer a bridge to this center: its
    own country, or any site of a shared queue or workflow (a site not described counts as
    abroad: ``ivr check`` refuses it, and the engine must not assume it is home)."""
    if not center.target.shared:
        return center.country != home
    return any(site not in centers or centers[site].country != home for site in center.target.sites)


@dataclass(frozen=True)
class Number:
    """A company's Twilio number and the flow that answers it."""

    e164: str
    flow: str
    exempt: Exemption | None = None
    label: str = ""
    language: str = ""  # language code a call starts in; "" = the flow's default
    rules: tuple[str, ...] = ()  # the rule sets its calls follow (ivr.rulesets); (): the policy's
    home_only: bool = False  # R19: no call of this number may reach a center abroad


@dataclass(frozen=True)
class Language:
    """One language a flow speaks: its BCP 47 tag for <Say>, a voice, its transfer words."""

    tag: str  # "es-US"
    voice: str = ""
    words: tuple[str, ...] = ()

    @cached_property
    def code(self) -> str:
        """The key of this language in operator text tables ("es")."""
        return self.tag.split("-")[0].lower()


ENGLISH = Language("en-US", "", TRANSFER_WORDS["en"])


@dataclass(frozen=True)
class Say:
    name: str
    text: Text
    next: str
    play: str = ""  # an https audio URL played after the text
    TEXTS: ClassVar[tuple[str, ...]] = ("text",)


@dataclass(frozen=True)
class Route:
    name: str
    centers: tuple[str, ...]
    next: str
    closed: str
    strategy: Literal["weight", "priority"] = "priority"
    weights: Mapping[str, int] = field(default_factory=dict)
    TEXTS: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class Disclose:
    """The location, then the transfer offer; silence after the whole offer goes to ``next``.
    Input that is not the transfer hears the offer again, ``retries`` times, then goes to
    ``invalid`` ("": the domestic destination) with no center chosen."""

    name: str
    text: Text
    offer: Text
    next: str
    timeout: int = 5
    courtesy: Text = ""
    retries: int = 2
    invalid: str = ""
    TEXTS: ClassVar[tuple[str, ...]] = ("text", "offer", "courtesy")


@dataclass(frozen=True)
class Bridge:
    name: str
    on_failure: str = ""
    on_wait_limit: str = ""  # a queued caller waited max_wait: "" = on_failure, else domestic
    TEXTS: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class Overflow:
    name: str
    centers: tuple[str, ...]
    next: str
    exhausted: str
    TEXTS: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class Domestic:
    name: str
    on_failure: str = ""
    TEXTS: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class Hangup:
    name: str
    text: Text = ""
    TEXTS: ClassVar[tuple[str, ...]] = ("text",)


@dataclass(frozen=True)
class Menu:
    """A prompt answered by a key or a spoken word; each leads to a state."""

    name: str
    prompt: Text
    options: Mapping[str, str]  # key -> state
    no_input: str
    invalid: str
    words: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # code -> word -> state
    retries: int = 2
    timeout: int = 5
    TEXTS: ClassVar[tuple[str, ...]] = ("prompt",)


@dataclass(frozen=True)
class LanguageMenu:
    """A prompt, one line per language, that sets the call's language; then ``next``."""

    name: str
    prompt: Text
    options: Mapping[str, str]  # key -> language code
    next: str
    words: Mapping[str, str] = field(default_factory=dict)  # word (any language) -> code
    retries: int = 2
    timeout: int = 5
    TEXTS: ClassVar[tuple[str, ...]] = ("prompt",)


@dataclass(frozen=True)
class Hours:
    """Business hours: ``open`` or ``closed`` by a center's schedule or the state's own."""

    name: str
    open: str
    closed: str
    center: str = ""
    schedule: Schedule | None = None
    TEXTS: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class Handoff:
    """Hand the call to the company's own TwiML application; Onshore's part ends here."""

    name: str
    url: str
    TEXTS: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class Automated:
    """Hand the caller to an automated agent: Twilio's ``<Connect><ConversationRelay>`` to the
    company's bot at ``relay`` (a wss:// URL). First, where the line's rule set asks for it
    (R9), the ``notice``: that the agent is automated, where its operator sits when that is
    abroad (``city``, ``country``) and that saying the transfer word reaches a human at home.
    A session that ends with the bot's hand-off (HandoffData) goes to the domestic destination;
    one that ends otherwise goes to ``next`` ("": the call ends)."""

    name: str
    relay: str
    notice: Text
    country: str  # where the bot's operator sits (ISO 3166 alpha-2); "" = the home country
    city: str = ""
    next: str = ""
    TEXTS: ClassVar[tuple[str, ...]] = ("notice",)


State = (
    Say
    | Route
    | Disclose
    | Bridge
    | Overflow
    | Domestic
    | Hangup
    | Menu
    | LanguageMenu
    | Hours
    | Handoff
    | Automated
)

_EDGE_FIELDS = ("next", "closed", "open", "on_failure", "on_wait_limit", "exhausted", "no_input", "invalid")


def edges(state: State) -> Iterator[tuple[str, str]]:
    """(field, state name) for every edge leaving a state."""
    for name in _EDGE_FIELDS:
        target = getattr(state, name, "")
        if target:
            yield name, target
    if isinstance(state, Menu):
        for key, target in state.options.items():
            yield f"options.{key}", target
        for code, words in state.words.items():
            for word, target in words.items():
                yield f"words.{code}.{word}", target


@dataclass(frozen=True)
class Voicemail:
    """A flow's voicemail for the domestic team: ``<Record>`` of at most ``max_length``
    seconds after a beep; ``consent``: the recording notice is said first; ``transcribe``:
    Twilio's transcription is asked for."""

    max_length: int = 120
    consent: bool = False
    transcribe: bool = False


@dataclass(frozen=True)
class Flow:
    """One published version of a call flow."""

    id: str
    version: int
    start: str
    domestic: str  # center id of the home-country destination
    states: Mapping[str, State]
    languages: tuple[Language, ...] = (ENGLISH,)  # the first is the default
    transfer_key: str = "1"
    on_lookup_failure: LookupPolicy = "domestic"
    cautious_text: Text = field(default_factory=lambda: dict(CAUTIOUS_TEXT))
    unavailable_text: Text = field(default_factory=lambda: dict(UNAVAILABLE_TEXT))
    hold_music: tuple[str, ...] = ()  # segments played in turn; () = TWILIO_HOLD_MUSIC
    hold_offer: Text = field(default_factory=lambda: dict(HOLD_OFFER))
    min_confidence: float = 0.5  # speech Twilio is less sure of is not understood at an offer
    offer_every: int = OFFER_EVERY  # seconds each hold-music segment lasts, offer to offer
    max_wait: int = 0  # seconds in a queue before the wait-limit path; 0: no limit
    queue_position: Text = field(default_factory=lambda: dict(QUEUE_POSITION))
    queue_wait: Text = field(default_factory=lambda: dict(QUEUE_WAIT))
    shared_text: Text = field(default_factory=lambda: dict(SHARED_TEXT))
    agent_whisper: bool = False  # a TaskRouter worker hears the caller's language and the offer's answer
    # When the domestic destination cannot take the call now (ivr.domestic):
    domestic_by_language: Mapping[str, str] = field(default_factory=dict)  # code -> center id
    announce_domestic_wait: bool = False  # say the domestic wait before the transfer
    domestic_max_wait: int = 0  # seconds of estimated wait above which the choices are offered
    callback: CallbackPolicy | None = None  # callbacks offered (None: not)
    voicemail: Voicemail | None = None  # voicemail offered (None: not)
    TEXTS: ClassVar[tuple[str, ...]] = (
        "cautious_text",
        "unavailable_text",
        "hold_offer",
        "queue_position",
        "queue_wait",
        "shared_text",
    )

    @property
    def language(self) -> str:
        """The default language's tag, e.g. "en-US"."""
        return self.languages[0].tag

    @property
    def voice(self) -> str:
        """The default language's voice."""
        return self.languages[0].voice

    # Flows are immutable: what is derived from their languages is computed once.
    @cached_property
    def codes(self) -> tuple[str, ...]:
        """The language codes this flow offers, default first."""
        return tuple(language.code for language in self.languages)

    @cached_property
    def _by_code(self) -> dict[str, Language]:
        return {lang.code: lang for lang in reversed(self.languages)}  # the first one wins

    def speaking(self, code: str) -> Language:
        """The language with this code, or the default one."""
        return self._by_code.get(code) or self.languages[0]

    @cached_property
    def transfer_words(self) -> tuple[str, ...]:
        """Every language's transfer words: a caller may ask in any language the flow offers."""
        return tuple(dict.fromkeys(w for lang in self.languages for w in lang.words))

    @cached_property
    def routable(self) -> tuple[str, ...]:
        """Every center a route or overflow state names, each once."""
        return tuple(
            dict.fromkeys(c for state in self.states.values() for c in getattr(state, "centers", ()))
        )

    @property
    def offers_choice(self) -> bool:
        """Whether a caller the domestic destination cannot take now is offered a callback
        or voicemail (else the transfer goes ahead as it always did)."""
        return self.callback is not None or self.voicemail is not None

    def domestic_for(self, code: str) -> str:
        """The domestic destination for a language code (the flow's default one otherwise)."""
        return self.domestic_by_language.get(code, self.domestic)

    @cached_property
    def reach(self) -> tuple[str, ...]:
        """Every center a call of this flow can consult: routes, overflows, hours, the
        domestic line. The commit script checks exactly these (``ivr.config_view``)."""
        named = (
            *self.routable,
            *(h.center for h in self.hours_states),
            self.domestic,
            *self.domestic_by_language.values(),
        )
        return tuple(sorted({c for c in named if c}))

    @cached_property
    def hours_states(self) -> tuple[Hours, ...]:
        return tuple(state for state in self.states.values() if isinstance(state, Hours))

    @cached_property
    def weighted(self) -> bool:
        """True when a route shares calls between centers by weight (by CallSid)."""
        return any(isinstance(state, Route) and state.strategy == "weight" for state in self.states.values())


@dataclass(frozen=True)
class Policy:
    """A folder's allowlists: the only places calls may be sent or audio fetched from."""

    transfer_numbers: frozenset[str] = frozenset()  # home-country E.164 numbers
    queues: frozenset[str] = frozenset()
    sip_domains: frozenset[str] = frozenset()
    workflows: frozenset[str] = frozenset()
    url_hosts: frozenset[str] = frozenset()  # for handoff, play and hold music (https only)
    rules: tuple[str, ...] = ()  # the rule sets its numbers follow (ivr.rulesets); (): the default
    timing: str = ""  # "call-start": disclose before any menu, whatever the rule set allows


@dataclass(frozen=True)
class Config:
    """Everything published together: centers, numbers and flows (and the folder's policy)."""

    centers: Mapping[str, Center]
    numbers: Mapping[str, Number]
    flows: Mapping[str, Flow]
    policy: Policy | None = None
