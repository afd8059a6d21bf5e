"""Waits and abandons per center, from how each bridge ended: pure, no I/O.

``ivr.report`` reads the evidence once and hands every bridge here (its center, what its end
meant per ``ivr.outcomes``, the wait Twilio reported, the time until the end was reported);
``Tally.result`` sums them up per center. The definitions below are printed with every
report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.outcomes import ANSWERED, GONE

DEFINITIONS = (
    (
        "Abandoned",
        "A bridge whose 'bridge_ended' means the caller hung up before an agent "
        "answered: QueueResult=hangup, or a Dial reported after the caller's own leg "
        "had ended (CallStatus=completed). An abandoned call is never answered and "
        "never overflows to another center.",
    ),
    ("Abandon rate", "Abandoned bridges / bridges to the center."),
    (
        "Time to abandon",
        "The seconds the caller waited in the queue (QueueTime) before hanging "
        "up; for a Dial, 'at' of its 'bridge_ended' minus 'at' of its 'bridged'. "
        "Nearest-rank percentiles.",
    ),
    (
        "Wait",
        "The seconds in the center's queue (QueueTime, recorded on 'bridge_ended' as "
        "'wait') of every bridge that reported one, answered or not; Twilio reports no wait "
        "for a Dial. Nearest-rank percentiles.",
    ),
)


@dataclass
class CenterWaits:
    """One center's bridges, answers, abandons and waits in the period."""

    center: str
    bridges: int = 0
    answered: int = 0
    abandoned: int = 0
    abandon_rate: float | None = None  # abandoned / bridges
    seconds_to_abandon_p50: float | None = None
    seconds_to_abandon_p90: float | None = None
    waits_reported: int = 0
    wait_p50: float | None = None
    wait_p90: float | None = None
    wait_p99: float | None = None


@dataclass
class Waits:
    """Section 8: abandoned calls and waits, per center."""

    abandoned_calls: int = 0  # calls with at least one abandoned bridge
    by_center: list[CenterWaits] = field(default_factory=list)


def nearest_rank(values: list[float], percent: int) -> float | None:
    """The nearest-rank percentile: the smallest value with ``percent`` % at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-percent * len(ordered) // 100) - 1)]


@dataclass
class _Center:
    bridges: int = 0
    answered: int = 0
    to_abandon: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)


class Tally:
    """Adds up bridges one at a time."""

    def __init__(self) -> None:
        self.centers: dict[str, _Center] = {}
        self.abandoned_calls = 0

    def add(self, center: str, read: str, wait: float | None, to_end: float | None) -> None:
        """One bridge: what its end meant, the reported wait, and (needed only for an abandon
        without a reported wait) the seconds until its end was reported."""
        c = self.centers.get(center)
        if c is None:
            c = self.centers[center] = _Center()
        c.bridges += 1
        c.answered += read == ANSWERED
        if wait is not None:
            c.waits.append(wait)
        if read == GONE:
            took = wait if wait is not None else to_end
            c.to_abandon.append(max(0.0, took or 0.0))

    def result(self) -> Waits:
        """The figures, centers in name order."""
        out = Waits(self.abandoned_calls)
        for name in sorted(self.centers):
            c = self.centers[name]
            abandoned = len(c.to_abandon)
            out.by_center.append(
                CenterWaits(
                    name,
                    c.bridges,
                    c.answered,
                    abandoned,
                    abandoned / c.bridges,
                    nearest_rank(c.to_abandon, 50),
                    nearest_rank(c.to_abandon, 90),
                    len(c.waits),
                    nearest_rank(c.waits, 50),
                    nearest_rank(c.waits, 90),
                    nearest_rank(c.waits, 99),
                )
            )
        return out
