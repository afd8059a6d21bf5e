"""Work a worker does in the background: replaying the spool, reading the configuration for
the fallback (``Sweep``). Never on a caller's time, and never waiting for a caller: the
chores run on a timer thread of the worker's own (started after the fork,
``Chores.start``; deploy/gunicorn.conf.py does it for each worker), each at most once per
interval and only when ``due()`` says so, one run at a time. So evidence
spooled while Redis was away goes in within seconds of its return, whether calls come or
not. (Anchoring the record is not a worker's chore: it needs the auditor's credentials,
which the webhooks never hold; see ``ivr.anchors``.)"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from ivr.errors import CircuitOpen

log = logging.getLogger(__name__)

TICK = 0.5  # seconds between two looks at the chores


class Chore:
    """``work``, at most once per ``every`` seconds, when ``due()`` says there is some."""

    def __init__(
        self, name: str, every: float, work: Callable[[], object], due: Callable[[], bool] = lambda: True
    ) -> None:
        self.name, self.every, self.work, self.due = name, every, work, due
        self._last = float("-inf")

    def run_if_due(self, now: float) -> None:
        """Run the work now if the interval has passed and there is work; never raises."""
        if now - self._last < self.every:
            return
        try:
            if not self.due():
                return
            self._last = now
            self.work()
        except CircuitOpen:
            pass  # Redis failed a moment ago: the store's breaker says when to try again
        except Exception as exc:  # noqa: BLE001 - Redis went away again; the next tick retries
            log.warning("%s stopped: %s", self.name, exc)


class Chores:
    """A process's chores and the timer thread that runs them."""

    def __init__(
        self, chores: Sequence[Chore], tick: float = TICK, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.chores, self.tick, self.clock = tuple(chores), tick, clock
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def run_due(self) -> None:
        """One look at every chore, in turn."""
        for chore in self.chores:
            chore.run_if_due(self.clock())

    def start(self) -> None:
        """Start the timer in this process (a thread does not survive a fork); idempotent."""
        if self._thread is not None and self._thread.is_alive():  # never, just after a fork
            return
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(self._stopping,), name="chores", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the timer; a chore running now finishes first (within ``timeout``)."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def _loop(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.tick):
            self.run_due()


class Sweep(Chore):
    """A chore done in steps, one per tick, until ``step()`` says the sweep ended; the next
    sweep starts ``rest`` seconds later. Reading 100,000 numbers for the fallback this way
    costs Redis and the worker a few milliseconds at a time, never one long stop."""

    def __init__(self, name: str, step: Callable[[], bool], rest: float = 60.0) -> None:
        self._next = float("-inf")
        self.step, self.rest = step, rest
        super().__init__(name, TICK, self._one_step, due=lambda: time.monotonic() >= self._next)

    def _one_step(self) -> None:
        if self.step():
            self._next = time.monotonic() + self.rest
