"""How wrong the hold announcement's wait estimate is, on a generated month of queue waits.

A month of calls to one center's queue is generated (seeded, so every run prints the same):
Poisson arrivals whose rate follows the hour of the day (quiet nights, a morning and an
afternoon peak near the agents' capacity), handle times drawn from an exponential of mean
``HANDLE`` seconds, ``AGENTS`` agents taking callers first come, first served. Each caller's
wait is what the queue makes it. Onshore learns a wait only when that caller's bridge ends
(the <Enqueue> action with QueueResult=bridged comes after the agent hangs up), so the
samples an estimate may use at a moment are the newest ``RECENT`` waits whose calls had
ended by then, exactly what ``Store.recent_waits`` would hold.

For every caller still waiting at 0 s, 2, 5 and 10 minutes into their wait (when the
announcements would come), it compares ``ivr.estimate.remaining`` with the wait that was
really still ahead, and prints the median and 90th percentile absolute error and how often
an estimate was given at all: with the caller's QueuePosition (what Twilio posts to the
waitUrl), without it (the fallback), and for the mean of the same recent waits (what an
average like Twilio's AvgQueueTime says, which ignores the caller's place and elapsed time).

    .venv/bin/python bench/estimate_bench.py
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
import sys
from bisect import bisect_right
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.estimate import RECENT, remaining  # noqa: E402

SEED = 20261130
DAYS = 30
AGENTS = 8
HANDLE = 300.0  # seconds, mean
# Calls per hour by hour of the day; the peaks ask for about 95% of the agents' capacity.
PER_HOUR = [4, 3, 2, 2, 3, 6, 20, 45, 80, 91, 88, 80, 70, 75, 88, 91, 85, 70, 50, 35, 25, 15, 10, 6]
AT = (0, 120, 300, 600)  # seconds into a caller's wait when the estimate is said


def month(rng: random.Random) -> list[tuple[float, float, float]]:
    """(arrival, wait, bridge end) of every call, in arrival order, in seconds."""
    calls, now, horizon = [], 0.0, DAYS * 86400.0
    free = [0.0] * AGENTS  # when each agent is next free
    heapq.heapify(free)
    while True:
        rate = PER_HOUR[int(now // 3600) % 24] / 3600.0
        now += rng.expovariate(rate)
        if now >= horizon:
            return calls
        start = max(now, heapq.heappop(free))
        end = start + rng.expovariate(1 / HANDLE)
        heapq.heappush(free, end)
        calls.append((now, start - now, end))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def main() -> int:
    calls = month(random.Random(SEED))
    starts = [arrival + wait for arrival, wait, _ in calls]  # first come, first served: sorted
    ended = sorted((end, wait) for _, wait, end in calls)
    ends = [end for end, _ in ended]
    all_waits = [w for _, w, _ in calls]
    print(
        f"{len(calls)} calls in {DAYS} days to {AGENTS} agents (mean handle {HANDLE:.0f} s); "
        f"waits p50 {statistics.median(all_waits):.0f} s, p90 {percentile(all_waits, 0.9):.0f} s,"
        f" max {max(all_waits):.0f} s"
    )
    print(
        f"{'at':>5} {'waiting':>8} {'ahead p50':>9}  {'with position: said, p50, p90 error':>36}  "
        f"{'without position':>22}  {'mean of recent waits':>22}"
    )
    for at in AT:
        errors: dict[str, list[float]] = {"position": [], "elapsed": [], "mean": []}
        waiting, aheads = 0, []
        for i, (arrival, wait, _) in enumerate(calls):
            if wait <= at:
                continue  # answered before this announcement
            waiting += 1
            now, ahead = arrival + at, wait - at
            aheads.append(ahead)
            known = bisect_right(ends, now)
            recent = ended[max(0, known - RECENT) : known]
            position = i - min(i, bisect_right(starts, now)) + 1  # callers before it, still queued
            for name, estimate in (
                ("position", remaining(recent, at, position)),
                ("elapsed", remaining(recent, at)),
                ("mean", statistics.fmean(w for _, w in recent) if recent else None),
            ):
                if estimate is not None:
                    errors[name].append(abs(estimate - ahead))
        cells = [
            f"{100 * len(e) / waiting:5.1f}% {statistics.median(e):6.0f}s {percentile(e, 0.9):6.0f}s"
            if e
            else f"{'-':>22}"
            for e in errors.values()
        ]
        print(
            f"{at:>4}s {waiting:>8} {statistics.median(aheads):8.0f}s  {cells[0]:>36}  "
            f"{cells[1]:>22}  {cells[2]:>22}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
