"""Forged requests cost little and leave nothing behind: what is refused before the body is
read, and the caches a forgery could otherwise fill (issue 10, points 5 and 6).

Cost and memory figures are bench/forgery_bench.py's; these tests hold what is
deterministic: how many bytes a refused request made the worker read, and the size of every
cache after 20,000 forgeries."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import pytest

from ivr import keys, signature, twilio_request
from tests.conftest import SUPPORT, TOKEN
from tests.test_signature import PARAMS, sign

MIB = 1 << 20


class CountingInput(io.BytesIO):
    """A wsgi.input that counts the bytes the app read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def environ(
    body: bytes, host: str = "localhost", query: str = "", path: str = "/voice", **headers: str
) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": host,
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.input": CountingInput(body),
        **headers,
    }


def call(app, env: dict) -> int:
    statuses = []
    b"".join(app.wsgi_app(env, lambda status, headers, *_: statuses.append(status)))
    return int(statuses[0].split()[0])


BIG = urlencode({"CallSid": "CA" + "1" * 32, "Junk": "%" * (MIB // 3)}).encode()[:MIB]


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, 403),  # no signature at all
        ({"HTTP_X_TWILIO_SIGNATURE": "forged"}, 413),  # larger than any Twilio post
        ({"HTTP_X_TWILIO_SIGNATURE": "forged", "CONTENT_TYPE": "text/plain"}, 403),
        ({"HTTP_X_TWILIO_SIGNATURE": "forged", "CONTENT_TYPE": "multipart/form-data; boundary=b"}, 403),
    ],
)
def test_a_large_or_unsigned_post_is_refused_before_its_body_is_read(app, redis_client, headers, status):
    env = environ(BIG, **headers)
    assert call(app, env) == status
    assert env["wsgi.input"].taken == 0
    assert redis_client.xlen(keys.EVENTS) == 0


def test_a_forged_post_of_the_largest_size_is_read_and_decoded_once(app, redis_client, monkeypatch):
    decoded = []
    real = twilio_request.posted_pairs
    monkeypatch.setattr(twilio_request, "posted_pairs", lambda data: decoded.append(len(data)) or real(data))
    body = urlencode({**PARAMS, "Junk": "é" * 5000}).encode()
    assert len(body) <= twilio_request.MAX_BODY
    env = environ(body, HTTP_X_TWILIO_SIGNATURE="Zm9yZ2Vk")
    assert call(app, env) == 403
    assert env["wsgi.input"].taken == len(body)
    assert decoded == [len(body)]  # once, for both the signature and the form


PAD = b"&AddOns=" + b"x" * twilio_request.PLAIN_UP_TO  # large: decoded in C


@pytest.mark.parametrize(
    "body",
    [
        b"CallSid=CA1&Junk=%zz" + PAD,  # a malformed escape
        b"CallSid=CA1&Junk=%FF" + PAD,  # not UTF-8 once decoded
        b"CallSid=CA1" + b"&a=b" * 300 + PAD,  # more pairs than Twilio ever sends
    ],
)
def test_a_large_post_twilio_would_not_send_is_refused_before_its_signature(
    app, redis_client, monkeypatch, body
):
    monkeypatch.setattr(signature.SignatureChecker, "is_valid", lambda *a, **k: 1 / 0)
    env = environ(body, HTTP_X_TWILIO_SIGNATURE="Zm9yZ2Vk")
    assert call(app, env) == 403  # and the signature was never computed
    assert redis_client.xlen(keys.EVENTS) == 0


def test_twenty_thousand_forgeries_leave_every_cache_at_its_bound(app, redis_client):
    signature._signed.clear()
    twilio_request._host.cache_clear()
    for i in range(20_000):
        host = f"h{i}.example.com:{1000 + i % 9000}"
        query = f"f=support&v=1&s=menu{i}&pad={'x' * 200}"
        env = environ(
            urlencode(PARAMS).encode(),
            host=host,
            query=query,
            path="/voice/step",
            HTTP_X_TWILIO_SIGNATURE=sign(f"http://{host}/voice/step?{query}", {}),
        )
        assert call(app, env) == 403
    assert signature._signed == {}  # forged URLs are never remembered
    assert twilio_request._host.cache_info().currsize <= twilio_request._host.cache_info().maxsize
    assert twilio_request._host.cache_info().maxsize == 64
    # and a request Twilio signed is remembered, once
    url = "http://localhost/voice"
    params = {**PARAMS, "To": SUPPORT}
    for _ in range(3):
        env = environ(urlencode(params).encode(), HTTP_X_TWILIO_SIGNATURE=sign(url, params, TOKEN))
        assert call(app, env) == 200
    assert list(signature._signed) == [url]
