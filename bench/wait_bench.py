"""CPU per request of the hold (waitUrl) webhook beside the other webhooks, in-process.

A private redis-server (tests/servers.py) with bench/flows/ published; the app's WSGI
callable is driven directly with pre-built, signed Twilio posts (no HTTP server, no test
client: only what a gunicorn worker runs per request), and this process's CPU time is read
around each batch, so Redis's own work is not counted. Per kind of request, the median over
``ROUNDS`` rounds of ``N`` requests:

    voice        POST /voice: a call comes in (the first turn, four sealed events)
    step         the disclosure's silence: the bridge (<Enqueue>), two events
    wait         a hold document between announcements (no Redis at all)
    wait+place   the document that announces the place in line and the estimated wait
                 (one Redis read of the queue's recent waits)
    wait-limit   past max_wait: the wait_limit event recorded, then <Leave/>

    .venv/bin/python bench/wait_bench.py
"""

from __future__ import annotations

import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.in_process import CALL, disclose_step, environ, published_app  # noqa: E402
from ivr import keys  # noqa: E402

N, ROUNDS = 1000, 5


def main() -> int:
    with published_app() as (server, app, version):
        wsgi = app.wsgi_app
        statuses: list[str] = []

        def start_response(status: str, headers: list) -> None:
            statuses.append(status)

        wait = {"f": "bench", "v": version, "c": "manila", "n": "2", "s": "bridge", "w": "900"}
        step = disclose_step(version)
        for i in range(20):  # recent waits of the queue, so the estimate is computed
            server.client().zadd(keys.queue_waits("manila"), {f"CA{i:032d}:{300 + i}": 1e9 + 60 * i})

        def kinds(n: int) -> dict[str, list[Callable[[], dict]]]:
            sids = ["CA" + secrets.token_hex(16) for _ in range(n)]
            call = CALL
            return {
                "voice": [environ("/voice", {**call, "CallSid": s, "CallStatus": "ringing"}) for s in sids],
                "step": [environ("/voice/step?" + urlencode(step), {**call, "CallSid": s}) for s in sids],
                "wait": [
                    environ(
                        "/voice/wait?" + urlencode(wait),
                        {**call, "CallSid": s, "QueueTime": "100", "QueuePosition": "3"},
                    )
                    for s in sids
                ],
                "wait+place": [
                    environ(
                        "/voice/wait?" + urlencode(wait),
                        {**call, "CallSid": s, "QueueTime": "0", "QueuePosition": "3"},
                    )
                    for s in sids
                ],
                "wait-limit": [
                    environ(
                        "/voice/wait?" + urlencode(wait),
                        {**call, "CallSid": s, "QueueTime": "905", "QueuePosition": "3"},
                    )
                    for s in sids
                ],
            }

        for build in kinds(200).values():  # warm up: configuration read, caches filled
            for make in build:
                b"".join(wsgi(make(), start_response))
        results: dict[str, list[float]] = {}
        for _ in range(ROUNDS):
            for name, built in kinds(N).items():
                envs = [make() for make in built]
                start = time.process_time()
                for env in envs:
                    b"".join(wsgi(env, start_response))
                results.setdefault(name, []).append((time.process_time() - start) / N * 1e6)
        if set(statuses) != {"200 OK"}:
            print(f"FAILED: answers other than 200: {sorted(set(statuses))}")
            return 1
        print(f"CPU per request in this process, median of {ROUNDS} rounds of {N} (min-max), µs:")
        for name, values in results.items():
            print(f"  {name:<11} {statistics.median(values):7.0f}   ({min(values):.0f}-{max(values):.0f})")
        return 0


if __name__ == "__main__":
    sys.exit(main())
