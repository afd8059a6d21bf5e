"""How much longer a caller in a queue will wait, from the waits Onshore recorded (pure).

Theory of operation. When a queued call's bridge ends, Twilio posts the <Enqueue> action with
QueueResult=bridged and QueueTime, the seconds that caller waited before an agent took the
call; Onshore keeps the newest ``RECENT`` of those per center, each with the moment it
learned it (``Store.record_wait``). Those moments say how fast the queue moves: k bridges
ended over a span of s seconds is one caller taken every s / (k - 1) seconds. A caller at
QueuePosition p is then told

    remaining = p * s / (k - 1)

Without a position (Twilio did not say), the estimate is the median of what the recent
callers who waited longer than this caller's elapsed t still waited after t. Below
``MIN_SAMPLES`` recent waits (or such callers) there is no estimate: no estimate is better
than a wrong one. Twilio's AvgQueueTime averages everyone, including callers answered at
once, and knows neither the caller's place nor their elapsed time.
``bench/estimate_bench.py`` prints the error of both on a generated month of queue waits.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

RECENT = 50  # waits kept per center's queue
MIN_SAMPLES = 8  # recent waits needed before anything is said about time

Sample = tuple[float, float]  # (when the bridge ended, seconds the caller had waited), Unix time


def remaining(
    recent: Sequence[Sample], waited: float, position: int = 0, least: int = MIN_SAMPLES
) -> float | None:
    """Seconds a caller at this position (0: unknown) who waited ``waited`` still has ahead;
    None when the recent waits cannot say."""
    if len(recent) < least:
        return None
    if position > 0:
        ends = [at for at, _ in recent]
        span = max(ends) - min(ends)
        return position * span / (len(recent) - 1) if span > 0 else None
    ahead = [w - waited for _, w in recent if w > waited]
    return float(statistics.median(ahead)) if len(ahead) >= least else None


def minutes(seconds: float | None) -> int:
    """Whole minutes to announce; 0 when there is nothing worth saying (under 2 minutes,
    where "about 1 minutes" helps no one, or no estimate)."""
    if seconds is None:
        return 0
    rounded = round(seconds / 60)
    return rounded if rounded >= 2 else 0
