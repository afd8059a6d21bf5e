"""CPU per request of the confirm whisper's webhook against the /voice webhook.

In one process, on a private redis-server (tests/servers.py) with bench/flows/ published: the
app's WSGI callable is called with pre-built, signed Twilio requests (no HTTP server, so
what is measured is Onshore's own work: reading the request, the signature, the engine or
the whisper, TwiML and the Redis round trip), alternating rounds of

    POST /voice                     a call comes in (one Redis round trip, four events)
    POST /voice/step                silence at the disclosure: the bridge (one round trip)
    POST /voice/confirm             the whisper on the answering leg (no Redis at all)
    POST /voice/confirm + Digits=1  its answer (one Redis round trip, one event)
    POST /voice/status              the status callback, today's other one-event webhook

and prints the median CPU time (time.process_time) per request of each, over the rounds.
Every answer is checked to be 200 TwiML of the expected kind. `python bench/confirm_bench.py`.
"""

from __future__ import annotations

import secrets
import statistics
import sys
import time
from html import unescape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.in_process import SUPPORT, environ, published_app  # noqa: E402
from ivr import twiml  # noqa: E402
from ivr.vocabulary import TRANSFER, Call  # noqa: E402

PER_ROUND, ROUNDS = 300, 7


def run(app, environs: list[dict], expect: str) -> float:
    """CPU seconds per request over these requests; each answer checked."""

    def start_response(status: str, headers: list) -> None:
        assert status == "200 OK", status

    start = time.process_time()
    for env in environs:
        body = b"".join(app.wsgi_app(env, start_response))
        assert expect.encode() in body, body[:300]
    return (time.process_time() - start) / len(environs)


def main() -> int:
    with published_app() as (_, app, version):
        then = Call(
            "bench", int(version), TRANSFER, "scranton", ("manila",), "Manila|PH", domestic=True, seq=3
        )
        counter = iter(range(10**9))  # every call's whisper URL its own, as on a live line

        def url() -> str:
            return twiml.confirm_url(then._replace(seq=3 + next(counter)))

        leg = {
            "AccountSid": "AC" + "0" * 32,
            "From": "+12025550143",
            "To": "+15705550123",
            "Direction": "outbound-dial",
            "CallStatus": "in-progress",
        }

        def start_response(status: str, headers: list) -> None:
            pass

        first = b"".join(
            app.wsgi_app(
                environ(
                    "/voice",
                    {
                        "CallSid": "CA" + "0" * 32,
                        "From": "+12025550143",
                        "To": SUPPORT,
                        "Direction": "inbound",
                        "CallStatus": "ringing",
                    },
                )(),
                start_response,
            )
        ).decode()
        disclosure = unescape(first.split('<Gather action="', 1)[1].split('"', 1)[0])

        def batch() -> dict[str, list[dict]]:
            sids = ["CA" + secrets.token_hex(16) for _ in range(PER_ROUND)]
            return {
                "POST /voice": [
                    environ(
                        "/voice",
                        {
                            "CallSid": sid,
                            "AccountSid": "AC" + "0" * 32,
                            "From": "+12025550143",
                            "To": SUPPORT,
                            "FromCountry": "US",
                            "Direction": "inbound",
                            "CallStatus": "ringing",
                        },
                    )()
                    for sid in sids
                ],
                "POST /voice/step (silence)": [
                    environ(
                        disclosure,
                        {
                            "CallSid": sid,
                            "AccountSid": "AC" + "0" * 32,
                            "From": "+12025550143",
                            "To": SUPPORT,
                            "CallStatus": "in-progress",
                        },
                    )()
                    for sid in sids
                ],
                "POST /voice/confirm (whisper)": [
                    environ(url(), {**leg, "CallSid": "CA" + secrets.token_hex(16), "ParentCallSid": sid})()
                    for sid in sids
                ],
                "POST /voice/confirm (answer)": [
                    environ(
                        url(),
                        {**leg, "CallSid": "CA" + secrets.token_hex(16), "ParentCallSid": sid, "Digits": "1"},
                    )()
                    for sid in sids
                ],
                "POST /voice/status": [
                    environ(
                        "/voice/status",
                        {
                            "CallSid": sid,
                            "AccountSid": "AC" + "0" * 32,
                            "From": "+12025550143",
                            "To": SUPPORT,
                            "CallStatus": "completed",
                            "CallDuration": "60",
                            "SequenceNumber": "0",
                        },
                    )()
                    for sid in sids
                ],
            }

        expects = {
            "POST /voice": "<Response>",
            "POST /voice/step (silence)": "<Enqueue",
            "POST /voice/confirm (whisper)": "<Gather",
            "POST /voice/confirm (answer)": "<Response />",
            "POST /voice/status": "<Response />",
        }
        for name, envs in batch().items():  # warm up: caches, the script, connections
            run(app, envs, expects[name])
        figures: dict[str, list[float]] = {name: [] for name in expects}
        for round_no in range(ROUNDS):
            order = list(batch().items())
            for name, envs in order[::-1] if round_no % 2 else order:
                figures[name].append(run(app, envs, expects[name]))
        voice = statistics.median(figures["POST /voice"])
        print(f"CPU per request, median of {ROUNDS} rounds of {PER_ROUND} (in-process WSGI):")
        for name, values in figures.items():
            median = statistics.median(values)
            print(
                f"  {name:32} {median * 1e6:7.0f} µs  ({median / voice:.2f} × /voice; "
                f"rounds {min(values) * 1e6:.0f} to {max(values) * 1e6:.0f} µs)"
            )
        return 0


if __name__ == "__main__":
    sys.exit(main())
