"""Long evidence records for archive tests and benchmarks: the report tests' simulated
calls, sealed with the real sealing code and chained as the commit script chains them, with
stream ids at the time each event happened (so that a record spans days, as real ones do)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ivr import evidence, keys
from ivr.evidence import Keyring
from ivr.vocabulary import Event
from tests.report_oracle import Sim

COMMON = ("call", "caller", "at")


def simulated(calls: int, start: datetime, days: int, seed: int = 7) -> list[dict[str, str]]:
    """Events of ``calls`` simulated calls over ``days`` days from ``start``, in time order."""
    sim = Sim(seed).month(calls, start, start + timedelta(days=days))
    return sorted(sim.events(), key=lambda e: e["at"])


def append(client: Any, keyring: Keyring, events: list[dict[str, str]], prev: str = "") -> str:
    """Seal each event and append it with the id of its time, chained after ``prev``;
    returns the chain head, which is also set as Redis's."""
    last_ms, seq = 0, 0
    pipe = client.pipeline(transaction=False)
    for n, event in enumerate(events, 1):
        ms = int(datetime.fromisoformat(event["at"]).astimezone(UTC).timestamp() * 1000)
        seq = seq + 1 if ms <= last_ms else 0
        last_ms = max(ms, last_ms)
        common = {name: event[name] for name in COMMON}
        own = tuple((k, v) for k, v in event.items() if k not in COMMON and k != "step")
        ((_, body),) = evidence.seal_all(keyring, common, [Event(f"e{n}", event["step"], own)])
        prev, previous = evidence.link(prev, body), prev
        pipe.xadd(keys.EVENTS, {"event": body, "prev": previous, "hash": prev}, id=f"{last_ms}-{seq}")
        if n % 5000 == 0:
            pipe.execute()
    pipe.set(keys.CHAIN_HEAD, prev)
    pipe.execute()
    return prev
