"""What the metrics cost a webhook (`.venv/bin/python bench/metrics_bench.py`): this process's
CPU per signed POST /voice and /voice/step through the app's WSGI callable, with the metrics
(prometheus_client in multiprocess mode: values in mmap'd files, as under gunicorn) and with
them replaced by no-ops, over a private redis-server with bench/flows/ published.

Rounds alternate which goes first; the medians are printed with the difference, and the
metric calls of one /voice webhook timed alone. Exit status 0 when every answer was 200 and
the calls counted are the calls posted with the metrics on.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

# before prometheus_client is imported (ivr.metrics): it picks its mode on import
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="onshore-metrics-bench-")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.in_process import CALL, disclose_step, environ, published_app  # noqa: E402
from ivr import metrics, webhooks  # noqa: E402
from ivr.vocabulary import Event  # noqa: E402

N, ROUNDS = 1000, 7


class _Nothing:
    """A metric that records nothing."""

    def labels(self, *_: object) -> _Nothing:
        return self

    def inc(self, *_: object) -> None:
        pass

    observe = inc


NONE = SimpleNamespace(
    count=lambda events: None,
    route=metrics.route,
    refused=lambda *a: None,
    COMMIT=_Nothing(),
    LATENCY=_Nothing(),
    REDIS_ERRORS=_Nothing(),
)


def alone() -> float:
    """CPU seconds for what the edge records for one first webhook: its three events counted,
    the commit and the answer timed."""
    events = [
        Event("received", "received", ()),
        Event("disclosed:0:d", "disclosed", ()),
        Event("offered:0:d", "offered", ()),
    ]
    n = 20000
    started = time.process_time()
    for _ in range(n):
        metrics.count(events)
        metrics.COMMIT.observe(0.001)
        metrics.LATENCY.labels(metrics.route("/voice", webhooks.ROUTES)).observe(0.002)
    return (time.process_time() - started) / n


def main() -> int:
    with published_app() as (_, app, version):
        wsgi = app.wsgi_app
        statuses: list[str] = []

        def start_response(status: str, headers: list) -> None:
            statuses.append(status)

        step = disclose_step(version)
        call = CALL

        def posts(n: int) -> list[dict]:
            made = []
            for i in range(n):
                sid = f"CA{os.getpid():08x}{time.time_ns():016x}{i:08x}"
                made += [
                    environ("/voice", {**call, "CallSid": sid, "CallStatus": "ringing"})(),
                    environ("/voice/step?" + urlencode(step), {**call, "CallSid": sid})(),
                ]
            return made

        for env in posts(200):  # warm up: configuration read, caches filled
            b"".join(wsgi(env, start_response))
        figures: dict[str, list[float]] = {"with": [], "without": []}
        counted_before, posted = metrics.CALLS._value.get(), 0
        for round_ in range(ROUNDS):
            for name in ("with", "without") if round_ % 2 == 0 else ("without", "with"):
                envs = posts(N)
                webhooks.metrics = metrics if name == "with" else NONE  # type: ignore[assignment]
                started = time.process_time()
                for env in envs:
                    b"".join(wsgi(env, start_response))
                figures[name].append((time.process_time() - started) / len(envs) * 1e6)
                posted += N if name == "with" else 0
        webhooks.metrics = metrics
        counted = metrics.CALLS._value.get() - counted_before
        with_, without = (statistics.median(figures[n]) for n in ("with", "without"))
        print(
            f"CPU per webhook (POST /voice and a /voice/step, alternately), median of {ROUNDS} "
            f"rounds of {2 * N}, µs:"
        )
        print(f"  with metrics     {with_:6.1f}  ({min(figures['with']):.0f}-{max(figures['with']):.0f})")
        print(
            f"  without metrics  {without:6.1f}  ({min(figures['without']):.0f}-"
            f"{max(figures['without']):.0f})"
        )
        print(f"  metrics add      {with_ - without:6.1f}  ({(with_ - without) / without:+.1%})")
        print(f"  the metric calls of one /voice webhook alone: {alone() * 1e6:.1f} µs")
        ok = set(statuses) == {"200 OK"} and counted == posted
        print(
            f"answers all 200: {set(statuses) == {'200 OK'}}; calls counted {counted:.0f} of "
            f"{posted} posted with metrics on"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
