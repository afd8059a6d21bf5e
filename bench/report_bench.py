"""How long `ivr report` takes over a month of 100,000 calls, read from a real Redis.

Generates the month with the report tests' generator, appends it to a private
redis-server's events stream (ids in time order), then times what `ivr report` does:
reading the period from Redis, building the figures, rendering each format.

    .venv/bin/python bench/report_bench.py [--calls 100000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr import audit, evidence, keys, report  # noqa: E402
from ivr.store import Store, connect  # noqa: E402
from tests.report_oracle import Sim  # noqa: E402
from tests.servers import RedisServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        sim = Sim(args.calls)
        sim.month(args.calls, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
        events = sorted(sim.events(), key=lambda e: e["at"])
        client = server.client()
        began = time.perf_counter()
        last_ms, seq, prev = 0, 0, ""
        pipe = client.pipeline(transaction=False)
        for n, event in enumerate(events, 1):
            ms = int(datetime.fromisoformat(event["at"]).timestamp() * 1000)
            seq = seq + 1 if ms <= last_ms else 0
            last_ms = max(ms, last_ms)
            # as the evidence script appends it: the event as JSON, then the chain links
            body = json.dumps([x for pair in event.items() for x in pair], separators=(",", ":"))
            prev, previous = evidence.link(prev, body), prev
            pipe.xadd(keys.EVENTS, {"event": body, "prev": previous, "hash": prev}, id=f"{last_ms}-{seq}")
            if n % 5000 == 0:
                pipe.execute()
        pipe.execute()
        loaded = time.perf_counter() - began

        store = Store(connect(server.url, timeout=10))
        start, end = date(2026, 11, 1), date(2026, 11, 30)
        began = time.perf_counter()
        entries = list(audit.period(store, start, end))
        read = time.perf_counter() - began
        began = time.perf_counter()
        built = report.build_report(report.as_events(entries), start, end)
        build = time.perf_counter() - began
        renders = {}
        for fmt in report.FORMATS:
            t0 = time.perf_counter()
            report.render(built, fmt)
            renders[fmt] = time.perf_counter() - t0
        print(
            f"{built.volume.calls_received:,} calls, {len(entries):,} events "
            f"(loaded into Redis in {loaded:.1f} s)"
        )
        print(
            f"read from Redis {read:.2f} s, build {build:.2f} s, render "
            + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in renders.items())
            + f"; total {read + build + sum(renders.values()):.2f} s"
        )
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
