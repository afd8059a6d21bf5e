"""Slow clients against signed webhooks: the attack of issue 10, point 4, with figures.

On private servers it starts and stops itself (a redis-server, gunicorn with
deploy/gunicorn.conf.py and 4 sync workers, the shipped deploy/nginx/ in front with a
self-signed certificate), it sends 100 signed "a call comes in" webhooks, 4 at a time:

1. through the proxy, nothing else going on (the reference);
2. through the proxy while 8 clients stall mid-body (half with a forged signature) and one
   declares Content-Length: 1000000 and sends 10 bytes (tests/slow_clients.py);
3. the same attack straight at gunicorn (what a deployment without the proxy gets: the
   app's own bounds, ivr/twilio_request.py).

It prints p50, p99 and max of the signed webhooks and what each stalled client got. Exit 1
when a signed webhook did not get 200 or a stalled client got anything but a refusal.
Needs redis-server and nginx (`make nginx`).
"""

from __future__ import annotations

import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from ivr.caller import Phone  # noqa: E402
from tests.conftest import FLOWS, SUPPORT, checked, publish  # noqa: E402
from tests.servers import NGINX, Gunicorn, Nginx, RedisServer, wait_for  # noqa: E402
from tests.slow_clients import attack, percentile  # noqa: E402

TOKEN = secrets.token_hex(16)
WORKERS = 4
WEBHOOKS = 100
REFUSED = {"400", "403", "408", "413", "closed"}


def phone_at(base_url: str, verify: str | bool) -> Phone:
    session = requests.Session()

    def send(url, params, headers):
        r = session.post(url, data=params, headers=headers, timeout=30, verify=verify)
        return checked(r.status_code, r.headers.get("Content-Type", ""), r.text)

    return Phone(base_url, TOKEN, send)


def webhook(phone: Phone):
    def send(i: int) -> int:
        sid = "CA" + secrets.token_hex(16)
        return phone.post(
            "/voice",
            {
                "CallSid": sid,
                "AccountSid": "AC" + "0" * 32,
                "From": f"+1202555{i:04d}",
                "To": SUPPORT,
                "FromCountry": "US",
                "Direction": "inbound",
                "CallStatus": "ringing",
                "ApiVersion": "2010-04-01",
            },
        )[0]

    return send


def report(name: str, results: list[tuple[int, float]], stalled: dict[str, str]) -> bool:
    seconds = [s for _, s in results]
    statuses = sorted({status for status, _ in results})
    print(
        f"{name}: {len(results)} signed webhooks, statuses {statuses}, "
        f"p50 {percentile(seconds, 50) * 1000:.0f} ms, p99 {percentile(seconds, 99) * 1000:.0f} ms, "
        f"max {max(seconds) * 1000:.0f} ms, over 1 s: {sum(s > 1 for s in seconds)}"
    )
    for client, got in stalled.items():
        print(f"    {client}: {got}")
    return statuses == [200] and set(stalled.values()) <= REFUSED


def main() -> int:
    if NGINX is None:
        print("nginx is not installed: make nginx")
        return 1
    spool = Path(tempfile.mkdtemp(prefix="onshore-bench-spool-"))
    redis_server = RedisServer()
    redis_server.start()
    nginx = Nginx(upstream="")
    gunicorn = Gunicorn(
        env={
            "REDIS_URL": redis_server.url,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_CALLER_HASH_KEY": secrets.token_hex(32),
            "IVR_SPOOL_DIR": str(spool),
            "PUBLIC_BASE_URL": nginx.base_url,
        },
        workers=WORKERS,
    )
    ok = True
    try:
        wait_for(lambda: redis_server.client().ping(), what="redis-server")
        publish(redis_server.url, FLOWS)
        gunicorn.start()
        nginx.upstream = f"127.0.0.1:{gunicorn.port}"
        nginx.start()
        proxied = phone_at(nginx.base_url, nginx.cert)
        attack(nginx.base_url, webhook(proxied), 40, cafile=nginx.cert, stalls=0)  # warm-up
        results, _ = attack(nginx.base_url, webhook(proxied), WEBHOOKS, cafile=nginx.cert, stalls=0)
        ok &= report("through the proxy, no attack", results, {})
        results, stalled = attack(nginx.base_url, webhook(proxied), WEBHOOKS, cafile=nginx.cert)
        ok &= report("through the proxy, under attack", results, stalled)
        # straight at gunicorn: the signature check sees gunicorn's own URL
        direct = Gunicorn(env={**gunicorn.env, "PUBLIC_BASE_URL": ""}, workers=WORKERS)
        direct.start()
        try:
            attack(direct.base_url, webhook(phone_at(direct.base_url, True)), 40, stalls=0)
            results, stalled = attack(direct.base_url, webhook(phone_at(direct.base_url, True)), WEBHOOKS)
            ok &= report("straight at gunicorn, under attack", results, stalled)
        finally:
            direct.stop()
    finally:
        nginx.stop()
        gunicorn.stop()
        redis_server.stop()
    print("OK" if ok else "FAILED: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
