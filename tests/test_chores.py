"""The chores and their timer: each chore at most once per interval, only when due, quiet
while the breaker keeps Redis skipped; the timer runs them with no request and stops."""

from __future__ import annotations

import threading

from ivr.chores import Chore, Chores
from ivr.errors import CircuitOpen, StoreUnavailable


def test_a_chore_runs_when_due_at_most_once_per_interval():
    runs, pending = [], [True]
    chore = Chore("replay", 1.0, lambda: runs.append(1), due=lambda: pending[0])
    for now in (10.0, 10.5, 11.0):
        chore.run_if_due(now)
    pending[0] = False
    chore.run_if_due(12.5)  # nothing to do: not run, and the next look is not delayed
    pending[0] = True
    chore.run_if_due(12.6)
    assert len(runs) == 3


def test_a_failing_chore_is_tried_again_on_a_later_tick(caplog):
    tries = []

    def work() -> None:
        tries.append(1)
        raise CircuitOpen("skipped") if len(tries) == 1 else StoreUnavailable("timed out")

    chore = Chore("replay", 1.0, work)
    for now in (0.0, 1.0, 2.0):
        chore.run_if_due(now)
    assert len(tries) == 3
    assert [r.getMessage() for r in caplog.records] == ["replay stopped: timed out"] * 2


def test_the_timer_runs_the_chores_with_no_request_and_stops():
    ran = threading.Event()
    chores = Chores([Chore("replay", 0.0, ran.set)], tick=0.01)
    chores.start()
    chores.start()  # idempotent: one timer
    assert ran.wait(2)
    assert [t.name for t in threading.enumerate()].count("chores") == 1
    chores.stop()
    assert "chores" not in [t.name for t in threading.enumerate()]
