"""Does remembering first turns (ivr.first_turns) pay for itself? CPU per request, in-process,
with the cache and with plain ``engine.begin`` in its place, on the same app in the same run.

bench/in_process.py's set-up (a private redis-server, bench/flows/ published, the app's WSGI
callable driven directly with signed posts; this process's CPU time is read around each
batch, so Redis's own work is not counted). A realistic mix is what one queued call sends:
the first webhook (POST /voice: greet, route, disclose and offer, four sealed events), the
disclosure's silence (the bridge), ``WAITS`` hold documents and the status callback. Rounds
alternate between the two, each a fresh batch of ``N`` calls (new CallSids), and the median
of ``ROUNDS`` is shown. Then the engine alone, per number of the shipped flows/ and of
bench/flows/: ``engine.begin`` against the remembered turn (a weighted flow, as the shipped
support line is, is never remembered: its line shows what the check costs).

    .venv/bin/python bench/first_turns_bench.py
"""

from __future__ import annotations

import secrets
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.in_process import CALL, disclose_step, environ, published_app  # noqa: E402
from ivr import engine  # noqa: E402
from ivr.check import check_folder  # noqa: E402
from ivr.first_turns import FirstTurns  # noqa: E402
from ivr.flow import Flow  # noqa: E402
from ivr.vocabulary import Facts, Turn  # noqa: E402

N, ROUNDS, WAITS = 400, 11, 4
ROOT = Path(__file__).resolve().parent.parent


class Plain(FirstTurns):
    """No memory: every first turn decided afresh, as ``engine.begin`` does."""

    def begin(self, flow: Flow, facts: Facts, digest: str) -> Turn:
        return engine.begin(flow, facts)


def main() -> int:
    with published_app() as (_server, app, version):
        wsgi, onshore = app.wsgi_app, app.extensions["onshore"]
        statuses: list[str] = []

        def start_response(status: str, headers: list) -> None:
            statuses.append(status)

        step = disclose_step(version)
        wait = {"f": "bench", "v": version, "c": "manila", "n": "2", "s": "bridge", "w": "900"}

        def calls(n: int) -> dict[str, list[Callable[[], dict]]]:
            sids = ["CA" + secrets.token_hex(16) for _ in range(n)]
            call = CALL
            waiting, ended = {"QueueTime": "100", "QueuePosition": "3"}, {"CallDuration": "60"}
            return {
                "voice": [environ("/voice", {**call, "CallSid": s, "CallStatus": "ringing"}) for s in sids],
                "step": [environ("/voice/step?" + urlencode(step), {**call, "CallSid": s}) for s in sids],
                "wait": [
                    environ("/voice/wait?" + urlencode(wait), {**call, "CallSid": s, **waiting})
                    for s in sids
                    for _ in range(WAITS)
                ],
                "status": [
                    environ("/voice/status", {**call, "CallSid": s, "CallStatus": "completed", **ended})
                    for s in sids
                ],
            }

        def batch(first_turns: FirstTurns) -> dict[str, float]:
            onshore.first_turns = first_turns
            out = {}
            for kind, built in calls(N).items():
                envs = [make() for make in built]
                start = time.process_time()
                for env in envs:
                    b"".join(wsgi(env, start_response))
                out[kind] = (time.process_time() - start) * 1e6
            return out

        remembered, plain = FirstTurns(), Plain()
        batch(remembered), batch(plain)  # warm up: configuration read, caches filled
        results: dict[str, list[dict[str, float]]] = {"cache": [], "plain": []}
        for _ in range(ROUNDS):
            results["cache"].append(batch(remembered))
            results["plain"].append(batch(plain))
        if set(statuses) - {"200 OK", "204 No Content"}:
            print(f"FAILED: unexpected answers: {sorted(set(statuses))}")
            return 1

        def median(name: str, kind: str | None) -> float:
            per = [sum(r.values()) if kind is None else r[kind] for r in results[name]]
            return statistics.median(per) / N

        print(f"CPU in this process, median of {ROUNDS} rounds of {N} calls, µs:")
        print(f"  {'':<26} {'with cache':>10} {'plain':>8} {'saved':>7} {'ratio':>6}")
        kinds = results["cache"][0]
        rows = [(f"  {kind}" + (f" (x{WAITS})" if kind == "wait" else ""), kind) for kind in kinds]
        for label, kind in [*rows, (f"one call ({3 + WAITS} requests)", None)]:
            cached, fresh = median("cache", kind), median("plain", kind)
            print(f"  {label:<26} {cached:10.0f} {fresh:8.0f} {fresh - cached:7.1f} {cached / fresh:6.3f}")
    engine_alone()
    return 0


def engine_alone(n: int = 20000) -> None:
    """The first turn of each configured number: the engine's against the remembered one."""
    print(f"The engine alone, best of 5 runs of {n} first turns, µs:")
    now = datetime(2026, 3, 3, 15, tzinfo=UTC)  # a Tuesday, 15:00 UTC: every center open
    for folder in (ROOT / "flows", ROOT / "bench" / "flows"):
        config, _, errors = check_folder(folder, "US")
        assert not errors, errors
        for number in config.numbers.values():
            flow = config.flows[number.flow]
            facts = Facts("CA" + "0" * 32, now, config.centers, "US", number.exempt, True, number.language)
            fresh, cached = (
                min(timeit.repeat(decide, number=n, repeat=5)) / n * 1e6
                for decide in _first_turns(flow, facts)
            )
            name = flow.id + (", weighted" if flow.weighted else "")
            print(
                f"  {folder.relative_to(ROOT)}/ {number.e164} ({name}):"
                f" begin {fresh:.1f}, remembered {cached:.1f}, saved {fresh - cached:.1f}"
            )


def _first_turns(flow: Flow, facts: Facts) -> tuple[Callable[[], Turn], Callable[[], Turn]]:
    """The engine's first turn, and the remembered one."""
    remembered = FirstTurns()
    return (lambda: engine.begin(flow, facts)), (lambda: remembered.begin(flow, facts, "digest"))


if __name__ == "__main__":
    sys.exit(main())
