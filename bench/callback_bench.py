"""Callbacks over a generated day: are they placed in the order asked, and how long do they wait?

One domestic destination (``AGENTS`` agents, open 08:00-20:00) and a day of domestic requests
(seeded Poisson arrivals, busier in the morning and the afternoon, a few at night). A caller
who asks while the destination is open and its estimated wait (the line ahead of them times
the mean handle time over the agents) is at most ``MAX_WAIT`` waits live in the line;
otherwise they ask for a callback (night callers always do). Agents take the line first come,
first served; which callbacks are placed, and when, is decided by Onshore's own rule,
``ivr.callbacks.due``, with ``lines`` the agents free at that moment. A callback's call is
answered with probability ``ANSWER`` (else tried again after ``SPACING`` s, at most
``ATTEMPTS`` calls). Time advances in steps of ``STEP`` seconds.

It prints how many callbacks were placed, how many were placed before a live caller who had
asked earlier was served (jumped ahead) or after a live caller who asked later (fell behind),
and the time from request to the person taking the call, p50 and p90, for night and day
requests. The same rule then runs for real: ``REAL`` callbacks requested in one Redis with
made-up request times, two ``ivr worker`` processes, the stand-in for Twilio's REST API, and
the order the calls were placed in is compared with the order asked.

    .venv/bin/python bench/callback_bench.py
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr import callbacks  # noqa: E402
from ivr.callbacks import Callback  # noqa: E402

AGENTS, HANDLE, MAX_WAIT, ANSWER, SPACING, ATTEMPTS, STEP = 4, 300.0, 900.0, 0.8, 600, 3, 10
OPEN, CLOSE = 8 * 3600, 20 * 3600
REAL = 40


def rate(t: float) -> float:
    """Requests per second at second t of the day: peaks at 10:00 and 15:00, few at night."""
    hour = t / 3600
    peak = math.exp(-((hour - 10) ** 2) / 4) + math.exp(-((hour - 15) ** 2) / 4)
    return (2 + 50 * peak) / 3600  # requests an hour -> per second


def simulate(seed: int = 13) -> dict[str, object]:
    rng = random.Random(seed)
    arrivals, t = [], 0.0
    while t < 86400:
        t += rng.expovariate(max(rate(t), 1e-6))
        if t < 86400:
            arrivals.append(t)
    line: list[tuple[str, float]] = []  # (member, asked)
    cbs: dict[str, Callback] = {}
    live: set[str] = set()
    busy: list[float] = []  # when each busy agent frees up
    served: list[tuple[float, str, float]] = []  # (when, member, asked)
    taken: dict[str, float] = {}  # callback id -> when the person took it
    nxt, n = 0, 0
    for step in range(0, 86400 + 12 * 3600, STEP):  # the night's callbacks are placed next morning
        now = float(step)
        day = now % 86400
        is_open = OPEN <= day < CLOSE
        busy = [b for b in busy if b > now]
        while nxt < len(arrivals) and arrivals[nxt] <= now:
            asked = arrivals[nxt]
            nxt += 1
            n += 1
            ahead = len(line)
            estimate = ahead * HANDLE / AGENTS
            if is_open and estimate <= MAX_WAIT:
                live.add(f"c{n}")
                line.append((f"live:c{n}", asked))
            else:
                cb = Callback(
                    f"{n}", "home", f"c{n}", "+12025550143", "h", "+18005550100", "f", 1, "en-US", asked,
                    attempts=ATTEMPTS, spacing=SPACING,
                )  # fmt: skip
                cbs[cb.id] = cb
                line.append((cb.member, asked))
        free = AGENTS - len(busy)
        if not is_open or free <= 0:
            continue
        # callbacks Onshore would place now, by its own rule
        for cb in callbacks.due(line, cbs, live, now, is_open, lines=free):
            if free <= 0:
                break
            if rng.random() < ANSWER:
                taken[cb.id] = now
                cbs[cb.id] = callbacks.close(cb, "done", "bridged", now)
                line.remove((cb.member, cb.requested))
                served.append((now, cb.member, cb.requested))
                busy.append(now + rng.expovariate(1 / HANDLE))
                free -= 1
            else:
                cbs[cb.id] = callbacks.attempt_failed(cb, "no-answer", now)
                if cbs[cb.id].state != "pending":
                    line.remove((cb.member, cb.requested))
        # live callers ahead of every waiting callback take the agents left, first come first served
        for member, asked in sorted(line, key=lambda e: e[1]):
            if free <= 0:
                break
            if member.startswith("live:"):
                line.remove((member, asked))
                live.discard(member[5:])
                served.append((now, member, asked))
                busy.append(now + rng.expovariate(1 / HANDLE))
                free -= 1
            elif callbacks.blocks(member, cbs, live, now):
                break  # a due callback ahead: its turn comes first (placed next step)
    jumped = fell = fell_after_miss = 0
    order = sorted(served)
    for i, (when, member, asked) in enumerate(order):
        if not member.startswith("cb:"):
            continue
        # a live caller who asked earlier and was served later: the callback jumped ahead
        jumped += any(m.startswith("live:") and a < asked and w > when for w, m, a in order[i + 1 :])
        # a live caller who asked later and was served earlier: the callback fell behind
        behind = any(m.startswith("live:") and a > asked and w < when for w, m, a in order[:i])
        if cbs[member[3:]].attempt > 1:  # it missed a call: its spacing lets others by
            fell_after_miss += behind
        else:
            fell += behind
    waits_night = sorted(
        taken[i] - cbs[i].requested for i in taken if not OPEN <= cbs[i].requested % 86400 < CLOSE
    )
    waits_day = sorted(taken[i] - cbs[i].requested for i in taken if OPEN <= cbs[i].requested % 86400 < CLOSE)

    def pct(values: list[float], p: int) -> str:
        return (
            f"{values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))] / 60:.0f} min"
            if values
            else "n/a"
        )

    return {
        "requests": n,
        "live": sum(1 for _, m, _ in served if m.startswith("live:")),
        "callbacks": len(cbs),
        "callbacks taken": len(taken),
        "callbacks failed": sum(1 for c in cbs.values() if c.state == "failed"),
        "jumped ahead": jumped,
        "fell behind": fell,
        "fell behind after a missed call (by design: the spacing)": fell_after_miss,
        "night: to callback p50/p90": f"{pct(waits_night, 50)} / {pct(waits_night, 90)} ({len(waits_night)})",
        "day: to callback p50/p90": f"{pct(waits_day, 50)} / {pct(waits_day, 90)} ({len(waits_day)})",
    }


def real(count: int = REAL) -> dict[str, object]:
    """``count`` callbacks through real workers: the order placed against the order asked."""
    import tempfile

    from ivr.callback_store import CallbackStore, new_id
    from tests.conftest import FLOWS, TOKEN, serving
    from tests.servers import wait_for
    from tests.test_callbacks import Workers, worker_env
    from tests.twilio_cloud import TwilioCloud

    cloud = TwilioCloud(TOKEN).start()
    with tempfile.TemporaryDirectory() as spool, serving(FLOWS, Path(spool)) as (server, gunicorn):
        store = CallbackStore(server.client())
        start = time.time() - 86400
        numbers = [f"+1312555{i:04d}" for i in range(count)]
        asked = list(range(count))
        random.Random(7).shuffle(asked)  # requested in a shuffled order of their request times
        for i in asked:
            store.request(
                Callback(
                    new_id(),
                    "scranton",
                    f"CA{i:032d}",
                    numbers[i],
                    f"h{i}",
                    "+18005550100",
                    "support",
                    1,
                    "en-US",
                    start + 60 * i,
                )  # fmt: skip
            )
        workers = Workers(worker_env(server.url, cloud.url, gunicorn.base_url))
        began = time.monotonic()
        try:
            workers.start()
            workers.start()
            wait_for(lambda: len(cloud.placed()) == count and not store.open_ids(), 600, what="the callbacks")
            took = time.monotonic() - began
            cloud.settle()
        finally:
            workers.stop()
            cloud.stop()
    placed = [numbers.index(c.to) for c in sorted(cloud.placed(), key=lambda c: c.created)]
    return {
        "callbacks": count,
        "calls placed": len(placed),
        "placed in the order asked": placed == sorted(placed),
        "out of order": sum(1 for a, b in zip(placed, placed[1:], strict=False) if b < a),
        "seconds for all (2 workers, one line)": f"{took:.1f}",
    }


if __name__ == "__main__":
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, value in simulate().items():
        print(f"  {name}: {value}")
    if "--no-real" not in sys.argv:
        for name, value in real().items():
            print(f"  real: {name}: {value}")
