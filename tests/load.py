"""An open-loop load of signed "a call comes in" webhooks: one new call every 1/rate seconds,
sent on time whatever the answers before it took (as Twilio does: callers do not wait for
each other). Used by tests/test_outage.py and bench/outage_bench.py."""

from __future__ import annotations

import itertools
import math
import statistics
import threading
import time
from dataclasses import dataclass

import requests

from ivr.caller import Caller, Phone, first_post


@dataclass(frozen=True)
class Answer:
    """One webhook of the load, as the client saw it."""

    call_sid: str
    due: float  # monotonic: when the call was to be sent
    sent: float  # when it was (later than due when every sending thread was busy)
    seconds: float  # from sending to the whole answer; the timeout when none came
    status: int  # 0: no answer (timeout, connection refused or reset)
    content_type: str
    body: str


def paced(
    base_url: str, token: str, to: str, rate: float, seconds: float, threads: int = 24, timeout: float = 5.0
) -> list[Answer]:
    """Calls to ``to`` at ``rate`` per second for ``seconds``, each a new CallSid."""
    total = int(rate * seconds)
    start = time.monotonic() + 0.05
    numbers = itertools.count()
    answers: list[Answer] = []
    lock = threading.Lock()

    def sender() -> None:
        session = requests.Session()

        def transport(url: str, params: dict[str, str], headers: dict[str, str]):
            r = session.post(url, data=params, headers=headers, timeout=timeout)
            return r.status_code, r.headers.get("Content-Type", ""), r.text

        phone = Phone(base_url, token, transport)
        while (n := next(numbers)) < total:
            due = start + n / rate
            time.sleep(max(0.0, due - time.monotonic()))
            c = Caller(to, from_=f"+1202555{3000 + n % 7000:04d}")
            sent = time.monotonic()
            try:
                status, content_type, body = phone.post("/voice", first_post(c))
            except requests.RequestException as exc:
                status, content_type, body = 0, "", f"{type(exc).__name__}: {exc}"
            answer = Answer(c.call_sid, due, sent, time.monotonic() - sent, status, content_type, body)
            with lock:
                answers.append(answer)

    pool = [threading.Thread(target=sender, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(seconds + 2 * timeout + 5)
    return sorted(answers, key=lambda a: a.due)


def figures(answers: list[Answer]) -> dict[str, float]:
    """p50, p99 and p100 of the answer times (seconds), throughput (answers per second
    over the span the calls were sent in) and the client's own lag (max late send)."""
    times = sorted(a.seconds for a in answers if a.status)
    if not times:  # no answer at all: as slow as can be
        return {
            "answers": 0,
            "p50": math.inf,
            "p99": math.inf,
            "p100": math.inf,
            "per_second": 0.0,
            "late": max((a.sent - a.due for a in answers), default=0.0),
        }
    span = max(a.sent + a.seconds for a in answers) - min(a.sent for a in answers)
    q = statistics.quantiles(times * (2 if len(times) == 1 else 1), n=100, method="inclusive")
    return {
        "answers": len(times),
        "p50": q[49],
        "p99": q[98],
        "p100": times[-1],
        "per_second": len(times) / span if span > 0 else 0.0,
        "late": max(a.sent - a.due for a in answers),
    }
