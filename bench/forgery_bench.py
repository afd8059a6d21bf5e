"""What a forged request costs a worker: CPU before its refusal, and memory after many.

1. CPU, in-process on the WSGI app (a redis-server it starts, flows/ published): the
   median time of a signed "a call comes in" webhook (answered and recorded) against
   forged posts refused by ivr/twilio_request.py and the signature check: an unsigned
   1 MiB body, a 1 MiB body with a forged signature, a forged 64 kB body of %-escapes (the
   most a refused post can make the worker decode) and a forged post of Twilio's size.
   For comparison, what decoding 1 MiB of %-escapes costs: what main did before its 403.
2. Memory, over HTTP to gunicorn (deploy/gunicorn.conf.py, 4 workers): the workers' total
   RSS before and after N forged posts (default 32,000), each with its own Host header and
   step query string, then the same after 1,000 more, to see whether it still grows.

Prints the figures; exit 1 when a forgery got anything but its 403/413.
"""

from __future__ import annotations

import argparse
import io
import logging
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from ivr import create_app, twilio_request  # noqa: E402
from tests.conftest import FLOWS, SUPPORT, publish  # noqa: E402
from tests.servers import Gunicorn, RedisServer, wait_for  # noqa: E402

TOKEN = secrets.token_hex(16)
HASH_KEY = secrets.token_hex(32)
MIB = 1 << 20


def call_params(i: int) -> dict[str, str]:
    return {
        "CallSid": "CA" + secrets.token_hex(16),
        "AccountSid": "AC" + "0" * 32,
        "From": f"+1202555{i % 10000:04d}",
        "To": SUPPORT,
        "FromCountry": "US",
        "ToCountry": "US",
        "Direction": "inbound",
        "CallStatus": "ringing",
        "ApiVersion": "2010-04-01",
    }


def environ(body: bytes, headers: dict[str, str]) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/voice",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.input": io.BytesIO(body),
        **headers,
    }


def timed(app, make, runs: int) -> tuple[float, set[str]]:
    """Median µs per request, and the statuses seen."""
    statuses, times = set(), []
    for i in range(runs):
        env = make(i)
        start = time.perf_counter()
        b"".join(app.wsgi_app(env, lambda status, headers, *_: statuses.add(status[:3])))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6, statuses


def cpu(redis_url: str, spool: Path) -> bool:
    logging.getLogger("ivr").setLevel(logging.ERROR)  # one warning per refusal otherwise
    app = create_app(
        {
            "testing": True,
            "auth_token": TOKEN,
            "caller_hash_key": HASH_KEY,
            "redis_url": redis_url,
            "spool_dir": str(spool),
        }
    )
    validator = RequestValidator(TOKEN)
    url = "http://localhost/voice"

    def signed(i: int) -> dict:
        params = call_params(i)
        return environ(
            urlencode(params).encode(), {"HTTP_X_TWILIO_SIGNATURE": validator.compute_signature(url, params)}
        )

    forged = {"HTTP_X_TWILIO_SIGNATURE": "Zm9yZ2VkIHNpZ25hdHVyZQ=="}
    big = (urlencode(call_params(0)) + "&Junk=" + "%41" * MIB).encode()[:MIB]
    widest = (urlencode(call_params(0)) + "&Junk=" + "%C3%A9" * MIB).encode()
    widest = widest[: twilio_request.MAX_BODY - twilio_request.MAX_BODY % 6]
    small = urlencode(call_params(0)).encode()
    invalid = (urlencode(call_params(0)) + "&Junk=" + "%FF" * MIB).encode()[: twilio_request.MAX_BODY]
    many = (urlencode(call_params(0)) + "&a=b" * MIB).encode()[: twilio_request.MAX_BODY]
    cases = {
        "signed webhook, answered and recorded (200)": (signed, 2000),
        "unsigned 1 MiB body (403)": (lambda i: environ(big, {}), 2000),
        "1 MiB body, forged signature (413)": (lambda i: environ(big, forged), 2000),
        f"{len(widest) // 1024} kB of %-escapes, forged signature (403)": (
            lambda i: environ(widest, forged),
            200,
        ),
        "Twilio-sized post, forged signature (403)": (lambda i: environ(small, forged), 2000),
        f"{len(invalid) // 1024} kB of %FF (not UTF-8), forged signature (403)": (
            lambda i: environ(invalid, forged),
            2000,
        ),
        f"{len(many) // 1024} kB of 'a=b&' pairs, forged signature (403)": (
            lambda i: environ(many, forged),
            2000,
        ),
    }
    ok = True
    timed(app, signed, 300)  # warm-up: configuration read, first turns decided
    for name, (make, runs) in cases.items():
        micros, statuses = timed(app, make, runs)
        print(f"  {name}: {micros:,.0f} µs (median of {runs}), statuses {sorted(statuses)}")
        ok &= statuses <= {"200", "403", "413"}
    start = time.perf_counter()
    twilio_request._decoded_pairs(big)
    print(
        f"  for comparison, decoding 1 MiB of %-escapes (main, before its 403): "
        f"{(time.perf_counter() - start) * 1000:,.0f} ms"
    )
    return ok


def rss_mib(gunicorn: Gunicorn) -> float:
    """The workers' total resident memory (the gunicorn master's children)."""
    assert gunicorn.proc is not None
    children = Path(f"/proc/{gunicorn.proc.pid}/task/{gunicorn.proc.pid}/children")
    total = 0
    for pid in children.read_text().split():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def forge(base_url: str, first: int, count: int, threads: int = 8) -> set[int]:
    statuses: set[int] = set()
    numbers = iter(range(first, first + count))
    lock = threading.Lock()
    body = urlencode(call_params(0))

    def run() -> None:
        session = requests.Session()
        while True:
            with lock:
                i = next(numbers, None)
            if i is None:
                return
            query = urlencode({"f": "support", "v": "1", "s": f"menu{i}", "pad": "x" * 300})
            r = session.post(
                f"{base_url}/voice/step?{query}",
                data=body,
                timeout=10,
                headers={
                    "Host": f"h{i}.attacker.example:{1000 + i % 9000}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": "Zm9yZ2VkIHNpZ25hdHVyZQ==",
                },
            )
            with lock:
                statuses.add(r.status_code)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return statuses


def memory(redis_url: str, spool: Path, forgeries: int) -> bool:
    gunicorn = Gunicorn(
        env={
            "REDIS_URL": redis_url,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_CALLER_HASH_KEY": HASH_KEY,
            "IVR_SPOOL_DIR": str(spool),
        },
        workers=4,
    )
    gunicorn.env["GUNICORN_CMD_ARGS"] = "--access-logfile /dev/null --max-requests 0"
    gunicorn.start()
    try:
        before = rss_mib(gunicorn)
        start = time.monotonic()
        statuses = forge(gunicorn.base_url, 0, forgeries)
        after = rss_mib(gunicorn)
        more = forge(gunicorn.base_url, forgeries, 1000)
        last = rss_mib(gunicorn)
        print(
            f"  4 workers' RSS: {before:.0f} MiB before, {after:.0f} MiB after {forgeries:,} "
            f"forgeries ({time.monotonic() - start:.0f} s), {last:.0f} MiB after 1,000 more; "
            f"statuses {sorted(statuses | more)}"
        )
        return (statuses | more) == {403}
    finally:
        gunicorn.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forgeries", type=int, default=32_000)
    args = parser.parse_args()
    spool = Path(tempfile.mkdtemp(prefix="onshore-bench-spool-"))
    server = RedisServer()
    server.start()
    try:
        wait_for(lambda: server.client().ping(), what="redis-server")
        publish(server.url, FLOWS)
        print("CPU per request (in-process, WSGI):")
        ok = cpu(server.url, spool)
        print("memory:")
        ok &= memory(server.url, spool, args.forgeries)
    finally:
        server.stop()
    print("OK" if ok else "FAILED: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
