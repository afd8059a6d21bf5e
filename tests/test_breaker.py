"""The circuit breaker as a table: events on a clock we hold, and what the breaker says."""

from __future__ import annotations

import pytest

from ivr.breaker import Breaker, State


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# Each step: ("at", seconds) moves the clock; ("allow", expected) asks; ("ok",) and ("fail",)
# report the round trip; ("state", expected) checks. Delays draw 0.5: 3/4 of the nominal.
TABLE = {
    "closed lets every call through": [("allow", True), ("ok",), ("allow", True), ("state", State.CLOSED)],
    "a failure opens: calls skip Redis until the jittered delay is over": [
        ("allow", True),
        ("fail",),
        ("state", State.OPEN),
        ("allow", False),
        ("at", 0.37),
        ("allow", False),
        ("at", 0.375),
        ("allow", True),
        ("state", State.HALF_OPEN),
    ],
    "half-open: one probe at a time, the others still skip": [
        ("fail",),
        ("at", 0.4),
        ("allow", True),
        ("allow", False),
        ("allow", False),
        ("state", State.HALF_OPEN),
    ],
    "the probe's success closes": [
        ("fail",),
        ("at", 0.4),
        ("allow", True),
        ("ok",),
        ("state", State.CLOSED),
        ("allow", True),
        ("allow", True),
    ],
    "the probe's failure opens for twice as long, up to the cap": [
        ("fail",),
        ("at", 0.4),
        ("allow", True),
        ("fail",),
        ("state", State.OPEN),
        ("at", 0.74),
        ("allow", False),
        ("at", 0.01),
        ("allow", True),
        ("fail",),  # 2 s: 1.5
        ("at", 1.49),
        ("allow", False),
        ("at", 0.01),
        ("allow", True),
        ("fail",),  # capped
        ("at", 1.49),
        ("allow", False),
        ("at", 0.01),
        ("allow", True),
    ],
    "a probe that never reports is given up after the cap": [
        ("fail",),
        ("at", 0.4),
        ("allow", True),
        ("at", 1.95),
        ("allow", False),
        ("at", 0.1),
        ("allow", True),
        ("state", State.HALF_OPEN),
    ],
    "a late failure of a call sent before the breaker opened keeps the delay": [
        ("fail",),
        ("at", 0.3),
        ("fail",),
        ("at", 0.075),
        ("allow", True),
    ],
    "success after an outage starts the delays over": [
        ("fail",),
        ("at", 0.4),
        ("allow", True),
        ("fail",),
        ("at", 0.8),
        ("allow", True),
        ("ok",),
        ("fail",),
        ("at", 0.375),
        ("allow", True),
    ],
}


@pytest.mark.parametrize("steps", TABLE.values(), ids=TABLE.keys())
def test_breaker(steps):
    clock = Clock()
    moves: list[tuple[State, State]] = []
    breaker = Breaker(clock, lambda: 0.5, on_change=lambda was, now, why: moves.append((was, now)))
    for step in steps:
        match step:
            case ("at", seconds):
                clock.now += seconds
            case ("allow", expected):
                assert breaker.allow() is expected, (step, breaker.state, clock.now)
            case ("ok",):
                breaker.succeeded()
            case ("fail",):
                breaker.failed("timed out")
            case ("state", expected):
                assert breaker.state is expected
    assert all(was is not now for was, now in moves)  # every change logged is a change


def test_jitter_spreads_the_probes_of_processes_that_failed_together():
    delays = []
    for draw in (0.0, 0.25, 0.999):
        clock = Clock()
        breaker = Breaker(clock, lambda draw=draw: draw)
        breaker.failed("timed out")
        delays.append(round(breaker.retry_at - clock.now, 3))
    assert delays == [0.25, 0.312, 0.5]


def test_every_change_is_reported_with_its_reason():
    clock = Clock()
    log: list[str] = []
    breaker = Breaker(
        clock, lambda: 0.5, on_change=lambda was, now, why: log.append(f"{was.value} -> {now.value}: {why}")
    )
    breaker.failed("Timeout reading from socket")
    clock.now += 1
    breaker.allow()
    breaker.succeeded()
    assert log == [
        "closed -> open: Timeout reading from socket; calls skip Redis for 0.38 s",
        "open -> half-open: probing Redis with one call",
        "half-open -> closed: Redis answers again after 1 failure(s)",
    ]
