"""What operators describe: centers, numbers and flows (plain data, no I/O).

A flow is a small graph of named states. Each state kind says what the caller hears or
where the call goes next; the engine (``ivr.engine``) walks the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from ivr.hours import WeeklyHours

TargetKind = Literal["queue", "number", "sip", "workflow"]
Exemption = Literal["emergency", "foreign-business"]
LookupPolicy = Literal["domestic", "cautious"]


@dataclass(frozen=True)
class Target:
    """Where a bridge connects: a Twilio queue, an E.164 number, a SIP URI or a workflow."""

    kind: TargetKind
    value: str


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

    @property
    def location(self) -> str:
        """The place a disclosure names; a change of it needs a new disclosure."""
        return f"{self.city}|{self.country}"


@dataclass(frozen=True)
class Number:
    """A company's Twilio number and the flow that answers it."""

    e164: str
    flow: str
    exempt: Exemption | None = None
    label: str = ""


@dataclass(frozen=True)
class Say:
    name: str
    text: str
    next: str


@dataclass(frozen=True)
class Route:
    name: str
    centers: tuple[str, ...]
    next: str
    closed: str
    strategy: Literal["weight", "priority"] = "priority"
    weights: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Disclose:
    name: str
    text: str
    offer: str
    next: str
    key: str = "1"
    keywords: tuple[str, ...] = ("agent", "united states", "america")
    timeout: int = 5
    courtesy: str = ""


@dataclass(frozen=True)
class Bridge:
    name: str
    on_failure: str = ""


@dataclass(frozen=True)
class Overflow:
    name: str
    centers: tuple[str, ...]
    next: str
    exhausted: str


@dataclass(frozen=True)
class Domestic:
    name: str
    on_failure: str = ""


@dataclass(frozen=True)
class Hangup:
    name: str
    text: str = ""


State = Say | Route | Disclose | Bridge | Overflow | Domestic | Hangup


@dataclass(frozen=True)
class Flow:
    """One published version of a call flow."""

    id: str
    version: int
    start: str
    domestic: str  # center id of the home-country destination
    states: Mapping[str, State]
    language: str = "en-US"
    voice: str = ""
    on_lookup_failure: LookupPolicy = "domestic"
    cautious_text: str = (
        "Your call may be answered by an agent outside {home_country}. "
        "To speak with an agent in {home_country}, press 1 or say 'agent'."
    )
    unavailable_text: str = "We are sorry, no agent can take your call right now. Please call again later."
    hold_music: str = ""
    hold_offer: str = "To speak with an agent in {home_country}, press 1 at any time."


@dataclass(frozen=True)
class Config:
    """Everything published together: centers, numbers and flows."""

    centers: Mapping[str, Center]
    numbers: Mapping[str, Number]
    flows: Mapping[str, Flow]
