"""What a compliance report holds, and the definitions printed with it: pure data.

``ivr.report.build`` fills these in from the evidence; the renderers (``text``, ``csv_table``,
``json_data``, ``html_page``) print them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from ivr import waits
from ivr.waits import Waits

WARNING_PERCENT = 25  # R17: warn while nearing the notice threshold
NOTICE_PERCENT = 30  # R17: moving >= 30% of call volume overseas needs a notice
NJ_TARGET_PERCENT = 65  # R20: >= 65% of NJ-originating volume answered in New Jersey
EXEMPT_CALL = frozenset({"emergency", "foreign-business"})  # exemptions that cover a bridge
EXEMPT_REASONS = ("domestic-center", "emergency", "foreign-business")
CHANNELS = ("key", "voice", "hold")
DEFINITIONS = (
    (
        "Domestic requests",
        "A call with a transfer request or the domestic choices. Its outcome: callback when "
        "a callback was answered by the domestic destination (time to callback: request to the "
        "person pressing 1), voicemail when one was left, bridge when a domestic bridge after the "
        "request was answered, caller gone when the caller hung up first; otherwise callback open, "
        "callback failed or cancelled, or not honoured, each with its reason. Offshore (must be 0): "
        "a request followed by an answered offshore bridge.",
    ),
    (
        "Period",
        "A call belongs to the period when the UTC date of its 'received' event is within "
        "the period (inclusive); all its events count, whenever they were recorded.",
    ),
    ("Order", "Within a call, events are ordered by 'at', then by stream order."),
    (
        "Offshore call",
        "A call an offshore agent answered: at least one 'bridged' event with "
        "domestic=false whose bridge was answered (see Answered bridge). A call "
        "bridged offshore that was abandoned, failed or moved on is not one. A call "
        "answered at several offshore centers counts once in the total and once "
        "under each country and center.",
    ),
    (
        "Offshore share",
        "Offshore calls (answered offshore) / calls received (R17): warning at 25%, notice threshold at 30%.",
    ),
    (
        "Disclosure coverage",
        "Offshore bridges (each one, not each call) preceded in the call by a "
        "disclosure naming the bridge's city and country, or by a cautious "
        "disclosure, or whose call is exempt (emergency or foreign-business, "
        "from an 'exempt' event or the number's flag on 'received').",
    ),
    (
        "Offer coverage",
        "Offshore bridges with an 'offered' event after such a disclosure and "
        "before the bridge, or whose call is exempt.",
    ),
    (
        "Bridges of shared queues and TaskRouter",
        "A 'joined' event (the caller and a TaskRouter worker in the reservation's "
        "conference) or a 'dequeued' event (an agent dequeued the caller from a shared "
        "queue) is a bridge at the site of that agent, with its city and country: the "
        "share answered offshore counts where that agent sits, not the center picked "
        "at entry, whose own bridge moved on. 'Disclosed at the bridge' counts calls with "
        "a 'disclosed' event made at a reservation or a dequeue (bind).",
    ),
    (
        "Answered bridge",
        "A bridge counts as answered unless its 'bridge_ended' status means "
        "otherwise (answered: DialCallStatus completed/answered, QueueResult "
        "bridged/bridging-in-process/redirected-from-bridged; a caller who hung "
        "up first is never answered), or the call moved on to another bridge or "
        "a transfer before any 'bridge_ended'. A bridge with no report counts "
        "as answered.",
    ),
    (
        "Transfer requests",
        "Each 'transfer_requested' event. Completed: a domestic bridge after "
        "it (and before the call's next request) was answered. Time to bridge: "
        "'at' of the first such bridge minus 'at' of the request, nearest-rank "
        "percentiles; the engine records both in one webhook, so this measures "
        "our decision time, not the time until a human answers.",
    ),
    (
        "Exemptions",
        "Calls with an 'exempt' event, per reason; callers outside the home country "
        "and of unknown country (R11) from 'received'.",
    ),
    (
        "New Jersey",
        "Calls whose 'received' caller_state is NJ; answered in NJ: an answered bridge "
        "to a center whose region is NJ (country US) (R20: target 65%).",
    ),
    (
        "Lines",
        "Per number called ('received' number): the rule sets its calls were recorded under "
        "('received' rules, name:version), and for a home_only line the offshore bridges "
        "(must be none) and the centers abroad refused for it ('kept_home').",
    ),
    (
        "Certification",
        "Per rule set in force ('received' rules): each requirement the set applies and "
        "what the record of its calls shows, by the figures defined above computed over "
        "those calls only; automated agents from 'automated' (a notice heard) and "
        "'automated_ended' (handed back to a human).",
    ),
    *waits.DEFINITIONS,
)


# -- the report -----------------------------------------------------------------------------


@dataclass
class Source:
    """What the report was computed from."""

    events_read: int = 0
    calls_seen: int = 0  # distinct CallSids in the input
    calls_outside_period: int = 0
    calls_other_flow: int = 0
    calls_without_received: int = 0  # events whose call has no 'received' in the input
    malformed_events: int = 0  # no call, or an 'at' that is not ISO 8601


@dataclass
class Volume:
    """Section 1 (R17): calls received and calls answered offshore."""

    calls_received: int = 0
    offshore_calls: int = 0  # calls an offshore agent answered
    offshore_share: float | None = None  # offshore_calls / calls_received
    offshore_bridges: int = 0  # every offshore bridge made, answered or not
    offshore_by_country: dict[str, int] = field(default_factory=dict)
    offshore_by_center: dict[str, int] = field(default_factory=dict)
    handed_off: int = 0  # calls given to the company's own TwiML application (not covered)
    disclosed_at_bind: int = 0  # calls told at the bridge where the agent taking them sits
    warning: bool = False  # share >= 25%
    threshold_reached: bool = False  # share >= 30%
    message: str = ""


@dataclass
class Uncovered:
    """One offshore bridge without the required disclosure or offer."""

    call: str
    at: str
    center: str
    city: str
    country: str


@dataclass
class Coverage:
    """Section 2 (R1, R8): offshore bridges covered by a disclosure (or offer)."""

    offshore_bridges: int = 0
    covered: int = 0
    via_exemption: int = 0  # covered only because the call is exempt
    coverage: float | None = None  # covered / offshore_bridges; None without bridges
    complete: bool = True
    exceptions: list[Uncovered] = field(default_factory=list)
    exception_calls: list[str] = field(default_factory=list)


@dataclass
class Transfers:
    """Section 3 (R7): transfer requests and how fast they reached a domestic bridge."""

    requested: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    completed: int = 0
    not_completed: int = 0
    reached_domestic_bridge: int = 0
    seconds_to_bridge_p50: float | None = None
    seconds_to_bridge_p90: float | None = None


@dataclass
class DomesticRequests:
    """Section 3b: how every domestic request ended (the caller asked for an agent in the home
    country, or was offered the domestic choices): by a domestic bridge an agent answered, a
    callback an agent answered (with the time from the request to the answer), a voicemail
    left, the caller gone; or still open, or not honoured, with the reason. ``offshore`` counts
    requests followed by an answered offshore bridge: it must be 0."""

    requests: int = 0
    by_bridge: int = 0
    by_callback: int = 0
    by_voicemail: int = 0
    caller_gone: int = 0
    callbacks_open: int = 0
    callbacks_failed: int = 0
    cancelled: int = 0
    not_honoured: int = 0
    offshore: int = 0
    seconds_to_callback_p50: float | None = None
    seconds_to_callback_p90: float | None = None
    unresolved: list[str] = field(default_factory=list)  # "CallSid outcome: reason"


@dataclass
class Exemptions:
    """Section 4 (R3, R5, R6, R11)."""

    by_reason: dict[str, int] = field(default_factory=dict)  # calls per exempt reason
    exempt_calls: int = 0
    caller_outside_home: int = 0
    caller_country_unknown: int = 0


@dataclass
class SafeAnswers:
    """Section 5: calls that got the safe answer, by reason."""

    calls: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


@dataclass
class NewJersey:
    """Section 6 (R20): NJ-originating calls and where they were answered."""

    calls_from_nj: int = 0
    bridged_to_nj: int = 0
    answered_in_nj: int = 0
    share_answered_in_nj: float | None = None
    target: float = NJ_TARGET_PERCENT / 100
    meets_target: bool | None = None  # None without NJ-originating calls
    nj_centers: list[str] = field(default_factory=list)  # NJ centers bridged in the period
    message: str = ""


@dataclass
class Day:
    """Section 7: one day of the period (calls by the UTC date they were received)."""

    day: date
    calls_received: int = 0
    offshore_calls: int = 0
    offshore_share: float | None = None
    offshore_bridges: int = 0
    covered_bridges: int = 0
    disclosure_coverage: float | None = None


@dataclass
class Line:
    """Section 9: one number called in the period, the rule sets its calls were recorded
    under, and for a home_only line (R19) the proof that every call stayed home."""

    number: str
    calls: int = 0
    rules: dict[str, int] = field(default_factory=dict)  # "us-2025:1" -> calls; "" not recorded
    home_only: bool = False
    offshore_bridges: int = 0
    refused_abroad: int = 0  # centers abroad the engine refused for it (kept_home)
    stayed_home: bool | None = None  # home_only lines: no bridge abroad; None for others


@dataclass
class Evidence:
    """One requirement of a rule set and what the record shows for it: ``count`` of ``of``
    (None: proven by `ivr check` on the configuration, not counted per call)."""

    requirement: str
    means: str
    shows: str
    count: int | None = None
    of: int | None = None


@dataclass
class Certification:
    """Section 10 (R12): what a yearly certification to the FTC would rest on, for the
    calls of one rule set in force (name and version, as each call's evidence recorded it)."""

    rules: str
    title: str
    bills: str
    calls: int
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class Report:
    start: date
    end: date
    flow: str | None
    home: str
    source: Source
    volume: Volume
    disclosure: Coverage
    offer: Coverage
    transfers: Transfers
    exemptions: Exemptions
    safe_answers: SafeAnswers
    new_jersey: NewJersey
    daily: list[Day]
    waits: Waits = field(default_factory=Waits)
    lines: list[Line] = field(default_factory=list)
    certification: list[Certification] = field(default_factory=list)
    domestic: DomesticRequests = field(default_factory=DomesticRequests)


def percent(part: int, whole: int) -> str:
    """part/whole as a percentage with two decimals, rounded half to even (32/54 is 59.26%),
    except that only all is 100.00% and only none is 0.00% (99.996% shows 99.99%)."""
    if not whole:
        return "n/a"
    hundredths = round(Fraction(part * 10000, whole))  # exact: no float rounding on the way
    if part < whole:
        hundredths = min(hundredths, 9999)
    if part > 0:
        hundredths = max(hundredths, 1)
    return f"{hundredths // 100}.{hundredths % 100:02d}%"
