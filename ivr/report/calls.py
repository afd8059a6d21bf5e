"""What the report keeps of one call while it reads the call's events, and how its bridges ended.

Order within a call is the order of ``at`` (then the call's own stream order for equal
``at``), not the stream order alone: events that waited in the local spool while Redis was
down are appended later than events of the call's next webhooks. So a call keeps positions
(``at``, its nth event) and decides "earlier" only once it is complete (``outcomes``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ivr.outcomes import ANSWERED, meaning

Pos = tuple[str, int]  # (at, canonical UTC with milliseconds; the call's nth event read)
CAUTIOUS = "*"  # where a cautious "may be answered outside" disclosure points


@dataclass(slots=True)
class Bridge:
    """A 'bridged' event."""

    pos: Pos
    center: str
    city: str
    country: str
    region: str  # upper case
    domestic: bool | None  # None: the event does not say (older records)

    def offshore(self, home: str) -> bool:
        return not self.domestic if self.domestic is not None else self.country != home


@dataclass(slots=True)
class Ended:
    """A 'bridge_ended' event."""

    pos: Pos
    read: str  # what the end meant (ivr.outcomes)
    wait: str  # QueueTime, when Twilio reported one


End = tuple[str, Pos | None, str]  # what a bridge's end meant, where it was reported, the wait
UNREPORTED: End = (ANSWERED, None, "")  # connected, and Twilio said nothing else
MOVED_ON: End = ("", None, "")  # another bridge or a transfer came before any report


@dataclass(slots=True)
class Call:
    """The facts of one call the figures need, read one event at a time."""

    last: str | None = None  # the stream id of its latest entry: when it was last heard of
    out: bool = False  # received outside the period or in another flow: not in the report
    events: int = 0  # the call's events read so far: its own stream order
    day: str | None = None  # YYYY-MM-DD, once 'received' was read
    state: str = ""  # the caller's, upper case
    country: str = ""  # the caller's, upper case
    exempt_number: str = ""  # the exemption of the number called
    handed_off: bool = False
    bound: bool = False  # told at the bridge where the agent reserved or dequeuing sits (ivr.bind)
    disclosed: dict[object, Pos] = field(default_factory=dict)  # (city, country) or CAUTIOUS -> first
    offers: list[Pos] = field(default_factory=list)
    bridges: list[Bridge] = field(default_factory=list)
    ends: list[Ended] = field(default_factory=list)
    requests: list[tuple[Pos, str]] = field(default_factory=list)  # (position, by)
    exempt: list[str] = field(default_factory=list)  # reasons
    safe: list[str] = field(default_factory=list)  # reasons
    number: str = ""  # the number called
    rules: str = ""  # the rule sets in force with their versions ("us-2025:1"); "": not recorded
    home_only: bool = False  # the line never leaves the home country (R19)
    kept_home: int = 0  # centers abroad refused for it
    bots: int = 0  # hand-offs to an automated agent
    bot_notices: int = 0  # ... after its notice
    bot_handoffs: int = 0  # sessions the bot handed back to a human
    domestic: list[tuple[Pos, str, dict[str, str]]] = field(default_factory=list)  # ivr.domestic's steps

    def received(self, ev: Mapping[str, str], day: str) -> None:
        self.day = day
        self.number = ev.get("number", "")
        self.rules = ev.get("rules", "")
        self.home_only = ev.get("home_only") == "true"
        self.state = (ev.get("caller_state") or "").strip().upper()
        self.country = (ev.get("caller_country") or "").strip().upper()
        self.exempt_number = ev.get("exempt", "")

    def bridged(self, ev: Mapping[str, str], pos: Pos) -> None:
        domestic = ev.get("domestic")
        self.bridges.append(
            Bridge(
                pos,
                ev.get("center", ""),
                ev.get("city", ""),
                ev.get("country", ""),
                (ev.get("region") or "").strip().upper(),
                domestic == "true" if domestic in ("true", "false") else None,
            )
        )

    def bound_bridge(self, ev: Mapping[str, str], pos: Pos) -> None:
        """A 'joined' (a TaskRouter worker's conference) or 'dequeued' (a shared queue's
        agent): a bridge at the site of the agent who actually took the call. The shared
        center's own bridge before it then moved on (ivr.report.calls.outcomes)."""
        domestic = ev.get("domestic")
        self.bridges.append(
            Bridge(
                pos,
                ev.get("site") or ev.get("center", ""),
                ev.get("city", ""),
                ev.get("country", ""),
                (ev.get("region") or "").strip().upper(),
                domestic == "true" if domestic in ("true", "false") else None,
            )
        )

    def bridge_ended(self, ev: Mapping[str, str], pos: Pos) -> None:
        # what the engine read it as; events recorded before it said so: the table's reading
        self.ends.append(Ended(pos, ev.get("outcome") or meaning(ev.get("status", "")), ev.get("wait", "")))

    def disclosed_at(self, ev: Mapping[str, str], pos: Pos) -> None:
        self.bound = self.bound or bool(ev.get("bind"))
        where = CAUTIOUS if ev.get("cautious") == "true" else (ev.get("city", ""), ev.get("country", ""))
        first = self.disclosed.get(where)
        if first is None or pos < first:
            self.disclosed[where] = pos

    def offered(self, ev: Mapping[str, str], pos: Pos) -> None:
        self.offers.append(pos)

    def exempted(self, ev: Mapping[str, str], pos: Pos) -> None:
        self.exempt.append(ev.get("reason", ""))

    def transfer_requested(self, ev: Mapping[str, str], pos: Pos) -> None:
        self.requests.append((pos, ev.get("by", "")))

    def handoff(self, ev: Mapping[str, str], pos: Pos) -> None:
        self.handed_off = True

    def safe_answer(self, ev: Mapping[str, str], pos: Pos) -> None:
        self.safe.append(ev.get("reason", ""))

    def kept(self, ev: Mapping[str, str], pos: Pos) -> None:
        self.kept_home += 1

    def automated(self, ev: Mapping[str, str], pos: Pos) -> None:
        self.bots += 1
        self.bot_notices += bool(ev.get("notice"))

    def automated_ended(self, ev: Mapping[str, str], pos: Pos) -> None:
        self.bot_handoffs += ev.get("handoff") == "true"

    def domestic_step(self, ev: Mapping[str, str], pos: Pos) -> None:
        kept = ("reason", "state", "outcome", "final", "waited")
        self.domestic.append((pos, ev.get("step", ""), {k: ev[k] for k in kept if k in ev}))

    def disclosed_before(self, where: tuple[str, str], bridge: Pos) -> Pos | None:
        """The first disclosure naming this place (or a cautious one) before the bridge."""
        places = (self.disclosed.get(where), self.disclosed.get(CAUTIOUS))
        found = [p for p in places if p is not None and p < bridge]
        return min(found) if found else None


# The steps a call's figures read besides 'received' (which decides whether the call is in the
# report at all); routed, no_center, unavailable, status ... count for nothing.
READERS: dict[str, Callable[[Call, Mapping[str, str], Pos], None]] = {
    "bridged": Call.bridged,
    "bridge_ended": Call.bridge_ended,
    "joined": Call.bound_bridge,
    "dequeued": Call.bound_bridge,
    "disclosed": Call.disclosed_at,
    "offered": Call.offered,
    "exempt": Call.exempted,
    "transfer_requested": Call.transfer_requested,
    "handoff": Call.handoff,
    "safe_answer": Call.safe_answer,
    "kept_home": Call.kept,
    "automated": Call.automated,
    "automated_ended": Call.automated_ended,
    **{
        step: Call.domestic_step
        for step in (
            "domestic_choice",
            "callback_requested",
            "callback_answered",
            "callback_bridged",
            "callback_failed",
            "callback_cancelled",
            "callback_unrecorded",
            "voicemail_left",
            "unavailable",
        )
    },
}


def outcomes(c: Call) -> list[End]:
    """Per bridge of the call, how it ended, walking its bridges in call order: the first
    report after a bridge and before the next bridge or transfer request is its end."""
    if len(c.bridges) == 1 and not c.requests:  # most calls
        made = c.bridges[0].pos
        later = [e for e in c.ends if e.pos > made]
        if not later:
            return [UNREPORTED]
        first = min(later, key=lambda e: e.pos)
        return [(first.read, first.pos, first.wait)]
    # a bridge (its index), a report of an end, or a transfer request (None), in call order
    items: list[tuple[Pos, int | Ended | None]] = [(b.pos, i) for i, b in enumerate(c.bridges)]
    items += [(e.pos, e) for e in c.ends]
    items += [(pos, None) for pos, _ in c.requests]
    items.sort(key=lambda item: item[0])  # positions are unique within a call
    ends = [MOVED_ON] * len(c.bridges)
    current: int | None = None
    for _, item in items:
        if isinstance(item, int):  # a new bridge: the previous one, unreported, did not hold the caller
            current = item
        elif current is not None:
            if item is not None:
                ends[current] = (item.read, item.pos, item.wait)
            current = None
    if current is not None:
        ends[current] = UNREPORTED
    return ends
