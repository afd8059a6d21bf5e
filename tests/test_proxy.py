"""Slow and oversized clients, over real HTTP: against gunicorn alone (the app's own bounds
on what a worker reads before the signature check) and through the shipped nginx
(deploy/nginx/), which buffers whole requests so a slow client never holds a worker.

Every stalled client must end with a 4xx or a closed connection, and every signed webhook
sent meanwhile must get its 200. Figures (p99) are bench/slow_client_bench.py's job.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from ivr.caller import Caller, Phone
from tests.conftest import FLOWS, SUPPORT, TOKEN, checked, serving
from tests.servers import NGINX, Gunicorn, Nginx
from tests.slow_clients import attack, open_stalled, outcome

needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make nginx installs it)")
REFUSED = {"400", "403", "408", "413", "closed"}


def phone_at(base_url: str, verify: str | bool = True) -> Phone:
    session = requests.Session()

    def send(url, params, headers):
        r = session.post(url, data=params, headers=headers, timeout=10, verify=verify)
        return checked(r.status_code, r.headers.get("Content-Type", ""), r.text)

    return Phone(base_url, TOKEN, send)


def first_webhook(phone: Phone, i: int) -> int:
    caller = Caller(SUPPORT, from_=f"+1202555{i:04d}")
    status, _, _ = phone.post(
        "/voice",
        {
            "CallSid": caller.call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": caller.from_,
            "To": SUPPORT,
            "FromCountry": "US",
            "Direction": "inbound",
            "CallStatus": "ringing",
            "ApiVersion": "2010-04-01",
        },
    )
    return status


@contextmanager
def proxied(tmp_path) -> Iterator[tuple[Gunicorn, Nginx]]:
    """gunicorn behind the shipped nginx, PUBLIC_BASE_URL the proxy's https URL."""
    nginx = Nginx(upstream="")
    with serving(FLOWS, tmp_path / "spool", PUBLIC_BASE_URL=nginx.base_url) as (_, gunicorn):
        nginx.upstream = f"127.0.0.1:{gunicorn.port}"
        nginx.start()
        try:
            yield gunicorn, nginx
        finally:
            nginx.stop()


def test_a_body_shorter_than_declared_costs_a_worker_at_most_the_read_deadline(tmp_path):
    with serving(FLOWS, tmp_path / "spool") as (_, gunicorn):
        start = time.monotonic()
        sock = open_stalled(gunicorn.base_url, 1000, b"CallSid=CA", forged=True)
        assert outcome(sock, 4.0) == "408"  # gunicorn's 5 s worker timeout would say "closed"
        print(f"408 after {time.monotonic() - start:.2f} s")
        sock = open_stalled(gunicorn.base_url, 1_000_000, b"CallSid=CA", forged=True)
        assert outcome(sock, 4.0) == "413"  # refused unread: the declared length is enough
        sock = open_stalled(gunicorn.base_url, 200, b"CallSid=CA", forged=False)
        assert outcome(sock, 4.0) == "403"  # no signature header: refused unread


def test_a_client_trickling_its_body_is_cut_off_at_the_read_deadline(tmp_path):
    with serving(FLOWS, tmp_path / "spool") as (_, gunicorn):
        sock = open_stalled(gunicorn.base_url, 200, b"C", forged=True)
        start = time.monotonic()
        got = "still open"
        while time.monotonic() - start < 4.0:  # one byte every 0.2 s: no single wait is long
            try:
                sock.sendall(b"a")
            except OSError:
                break
            time.sleep(0.2)
        got = outcome(sock, 2.0)
        assert got in {"408", "closed"}, got
        print(f"{got} after {time.monotonic() - start:.2f} s")
        # cut by the read deadline, not by gunicorn killing the worker at its 5 s timeout
        assert "WORKER TIMEOUT" not in gunicorn.output()


def test_slow_clients_straight_at_gunicorn_leave_every_signed_webhook_answered(tmp_path):
    with serving(FLOWS, tmp_path / "spool") as (_, gunicorn):
        phone = phone_at(gunicorn.base_url)
        results, stalled = attack(gunicorn.base_url, lambda i: first_webhook(phone, i), webhooks=40)
    assert [status for status, _ in results] == [200] * 40
    assert set(stalled.values()) <= REFUSED, stalled


@needs_nginx
def test_signed_calls_through_the_proxy_are_checked_against_the_public_https_url(tmp_path):
    with proxied(tmp_path) as (gunicorn, nginx):
        phone = phone_at(nginx.base_url, verify=nginx.cert)
        t = phone.call(Caller(SUPPORT, from_="+12025550143", press="1"))
        assert t.statuses and set(t.statuses) == {200}, t
        # the same request signed for http (what Twilio never requests) is refused
        params = {"CallSid": "CA" + "2" * 32, "To": SUPPORT}
        signature = phone.validator.compute_signature(
            nginx.base_url.replace("https://", "http://") + "/voice", params
        )
        r = requests.post(
            nginx.base_url + "/voice",
            data=params,
            verify=nginx.cert,
            headers={"X-Twilio-Signature": signature},
            timeout=5,
        )
        assert r.status_code == 403
        assert requests.get(nginx.base_url + "/reports", verify=nginx.cert).status_code == 404
        too_big = requests.post(
            nginx.base_url + "/voice", data={"x": "y" * 70_000}, verify=nginx.cert, timeout=5
        )
        assert too_big.status_code == 413


@needs_nginx
def test_slow_clients_through_the_proxy_leave_every_signed_webhook_answered(tmp_path):
    with proxied(tmp_path) as (gunicorn, nginx):
        phone = phone_at(nginx.base_url, verify=nginx.cert)
        # slow headers too: only the proxy can bound those, gunicorn reads them unbounded
        slowloris = socket.create_connection(("127.0.0.1", nginx.http_port), timeout=30)
        slowloris.sendall(b"POST /voice HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        results, stalled = attack(
            nginx.base_url, lambda i: first_webhook(phone, i), webhooks=100, cafile=nginx.cert
        )
        stalled["slow headers"] = outcome(slowloris, 8.0)
    assert [status for status, _ in results] == [200] * 100
    assert stalled["declares 1000000, sends 10"] == "413"
    assert set(stalled.values()) <= REFUSED, stalled
