"""Outage benchmark (`make bench-outage`): webhook answer times while Redis is hung.

On private servers it starts and stops itself (tests/servers.py): a redis-server with
flows/ published, and gunicorn with deploy/gunicorn.conf.py and its default workers (2 per
core). Signed "a call comes in" webhooks to +18005550100 arrive at 40 calls/s, open loop
(tests/load.py: each call is sent on time whatever the others took). Redis is stopped with
SIGSTOP for 10 s, then, after it was back long enough for the spool to drain, for 60 s.

For each stop it prints p50, p99 and p100 of the answer times, the answers per second and
how late the load generator itself sent (a busy machine shows there, not in the server's
figures). Exit status 1 when an answer was not 200 valid TwiML, p100 reached 1 s, fewer
answers per second than 95 % of the offered rate came back, or the spool did not drain.
About 2 minutes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.check import check_folder  # noqa: E402
from ivr.store import Store, connect  # noqa: E402
from tests.load import figures, paced  # noqa: E402
from tests.servers import Gunicorn, RedisServer, wait_for  # noqa: E402
from tests.twiml_check import assert_valid_twiml  # noqa: E402

TOKEN = secrets.token_hex(16)
SUPPORT = "+18005550100"
BUDGET = 1.0


def run(rate: float, stops: list[float]) -> bool:
    spool = Path(tempfile.mkdtemp(prefix="onshore-outage-spool-"))
    redis = RedisServer()
    gunicorn = None
    ok = True
    try:
        redis.start()
        _, sources, errors = check_folder(ROOT / "flows", "US")
        assert not errors, errors
        Store(connect(redis.url, timeout=5)).publish(sources, by="bench")
        workers = 2 * multiprocessing.cpu_count()  # the conf's default
        gunicorn = Gunicorn(
            {
                "REDIS_URL": redis.url,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "IVR_CALLER_HASH_KEY": secrets.token_hex(32),
                "IVR_SPOOL_DIR": str(spool),
                "IVR_FLOWS_DIR": str(ROOT / "flows"),
            },
            workers=workers,
        )
        gunicorn.start()
        paced(gunicorn.base_url, TOKEN, SUPPORT, rate, 3)  # every worker has read Redis
        print(f"{workers} workers, {rate:g} calls/s")
        for seconds in stops:
            redis.pause()
            try:
                answers = paced(gunicorn.base_url, TOKEN, SUPPORT, rate, seconds)
            finally:
                redis.resume()
            f = figures(answers)
            bad = [a for a in answers if a.status != 200]
            for a in answers:
                if a.status == 200:
                    try:
                        assert_valid_twiml(a.body, a.content_type)
                    except AssertionError:
                        bad.append(a)
            print(
                f"Redis stopped {seconds:g} s: {int(f['answers'])}/{len(answers)} answers, "
                f"p50 {f['p50'] * 1000:.1f} ms, p99 {f['p99'] * 1000:.1f} ms, "
                f"p100 {f['p100'] * 1000:.1f} ms, {f['per_second']:.1f} answers/s "
                f"(load generator up to {f['late'] * 1000:.0f} ms late)"
            )
            if bad:
                print(f"  FAIL: {len(bad)} answers not 200 valid TwiML, e.g. {bad[0]}")
            if f["p100"] >= BUDGET:
                print(f"  FAIL: p100 {f['p100']:.3f} s is not under {BUDGET} s")
            if f["per_second"] < 0.95 * rate:
                print(f"  FAIL: {f['per_second']:.1f} answers/s for {rate:g} calls/s offered")
            ok = ok and not bad and f["p100"] < BUDGET and f["per_second"] >= 0.95 * rate
            started = time.monotonic()
            try:
                wait_for(lambda: not list(spool.glob("spool-*.jsonl")), timeout=30, what="the spool draining")
                print(
                    f"  spool drained {time.monotonic() - started:.1f} s after Redis came back, with no calls"
                )
            except RuntimeError as exc:
                print(f"  FAIL: {exc}")
                ok = False
        return ok
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        redis.stop()
        shutil.rmtree(redis.dir, ignore_errors=True)
        shutil.rmtree(spool, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=40.0, help="calls per second")
    parser.add_argument(
        "--stops",
        type=float,
        nargs="+",
        default=[10.0, 60.0],
        help="seconds Redis stays stopped, one run each",
    )
    args = parser.parse_args()
    return 0 if run(args.rate, args.stops) else 1


if __name__ == "__main__":
    sys.exit(main())
