"""A circuit breaker in front of Redis, one per process.

Theory of operation. A hung Redis makes every round trip wait the full timeout; one sync
worker serving calls one after another then answers each of them a timeout late, and calls
queue behind it past the one-second budget. The breaker remembers that Redis failed:

    closed     every call goes to Redis. A failure opens the breaker.
    open       no call goes to Redis; callers are answered at once from what the process
               last read (the store raises CircuitOpen). When the delay is over, the next
               call becomes the probe:
    half-open  exactly one call (the probe) goes to Redis; every other still skips it. The
               probe's success closes the breaker; its failure opens it again for a longer
               delay (doubled each time up to a cap). A probe that never reports back (its
               thread died) is given up after the cap, and another call probes.

Delays are jittered (between half and all of the nominal delay) so that the workers of a
host, which all saw Redis fail at the same moment, do not probe it in step. The breaker is a
pure state machine: the clock and the random draw are given, nothing here does I/O; the
store asks ``allow()`` before a round trip and reports ``succeeded()`` or ``failed()``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from enum import Enum

BASE_DELAY = 0.5  # seconds before the first probe after a failure (nominal)
MAX_DELAY = 2.0  # nominal delay cap: a Redis back is heard within about this


class State(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


Change = Callable[[State, State, str], None]  # (was, now, why)


class Breaker:
    """Whether the next round trip may go to Redis, from what the last ones did."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
        base: float = BASE_DELAY,
        cap: float = MAX_DELAY,
        on_change: Change | None = None,
    ) -> None:
        self.clock, self.draw, self.base, self.cap = clock, draw, base, cap
        self.on_change = on_change
        self.state = State.CLOSED
        self.failures = 0  # consecutive failed round trips (the first opened the breaker)
        self.retry_at = 0.0  # OPEN: when the next call may probe; HALF_OPEN: probe given up
        self._lock = threading.Lock()  # a worker's chore thread shares the store

    def allow(self) -> bool:
        """True when this call may go to Redis (the breaker is closed, or it is the probe)."""
        with self._lock:
            if self.state is State.CLOSED:
                return True
            now = self.clock()
            if now < self.retry_at:
                return False
            if self.state is State.OPEN:  # else HALF_OPEN, and the probe never came back
                self._move(State.HALF_OPEN, "probing Redis with one call")
            self.retry_at = now + self.cap
            return True

    def succeeded(self) -> None:
        """Redis answered."""
        with self._lock:
            if self.state is not State.CLOSED:
                self._move(State.CLOSED, f"Redis answers again after {self.failures} failure(s)")
            self.failures = 0

    def failed(self, why: str) -> None:
        """Redis did not answer in time, or refused."""
        with self._lock:
            if self.state is State.OPEN:
                return  # a call that went before the breaker opened: the delay stands
            self.failures += 1
            nominal = min(self.cap, self.base * 2 ** (self.failures - 1))
            delay = nominal * (0.5 + self.draw() / 2)
            self.retry_at = self.clock() + delay
            self._move(State.OPEN, f"{why}; calls skip Redis for {delay:.2f} s")

    def _move(self, to: State, why: str) -> None:
        was, self.state = self.state, to
        if self.on_change is not None:
            self.on_change(was, to, why)
