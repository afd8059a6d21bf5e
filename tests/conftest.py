"""Fixtures: a real redis-server per session, the app over it, and a signed phone.

app -> client -> phone, as in Flask's tutorial; every request is signed as Twilio signs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from ivr import create_app, keys
from ivr.caller import Phone, Transport
from ivr.check import check_folder
from ivr.evidence import unpack
from ivr.store import Store, connect
from tests.servers import ROOT, Gunicorn, RedisServer, wait_for
from tests.twiml_check import assert_valid_twiml

TOKEN = "12345678901234567890123456789012"
SECONDARY = "abcdefabcdefabcdefabcdefabcdef12"
HASH_KEY = "test-caller-hash-key"
REPORT_TOKEN = "operator-secret"
FLOWS = ROOT / "flows"
SUPPORT, BILLING = "+18005550100", "+18885550199"


def stream_entries(client) -> list[tuple[str, dict[str, str]]]:
    """Every entry of the events stream, read straight from Redis, as (id, fields): the
    sealed event's fields, then the chain links."""
    out = []
    for entry_id, entry in client.xrange(keys.EVENTS):
        flat = unpack([x.decode() for pair in entry.items() for x in pair])
        out.append((entry_id.decode(), dict(zip(flat[::2], flat[1::2], strict=True))))
    return out


@pytest.fixture(autouse=True)
def no_redis_by_default(monkeypatch):
    """A test reaches only a Redis it names: an in-process `ivr call` or app that falls back
    on REDIS_URL (default: the machine's own 127.0.0.1:6379) finds nothing listening."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


def one_line(capsys) -> str:
    """What a failing `ivr` command printed on stderr: one line, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


@pytest.fixture(params=["stopped", "hung"])
def unanswering_redis(request) -> Iterator[RedisServer]:
    """A Redis that does not answer: stopped (nothing listens), or hung (SIGSTOP: the port
    accepts connections and nothing answers)."""
    server = RedisServer()
    server.start()
    if request.param == "stopped":
        server.kill()
    else:
        server.pause()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture
def redis_client(redis_server):
    if redis_server.proc is None:
        redis_server.start()
    client = redis_server.client()
    client.flushall()
    yield client
    if redis_server.proc is None:  # a test killed it: leave a live one for the next
        redis_server.start()
    else:
        redis_server.resume()


def publish(redis_url: str, folder: Path = FLOWS) -> dict[str, int]:
    """Check and publish a folder the way `ivr load` does."""
    _, sources, errors = check_folder(folder, "US")
    assert not errors, errors
    return Store(connect(redis_url, timeout=5)).publish(sources, by="tests")


@pytest.fixture
def operator_app(app, redis_server, spool_dir):
    """The app with the operator token: GET /reports is on (app published the flows)."""
    return create_app(
        {
            "testing": True,
            "auth_token": TOKEN,
            "caller_hash_key": HASH_KEY,
            "redis_url": redis_server.url,
            "spool_dir": str(spool_dir),
            "report_token": REPORT_TOKEN,
        }
    )


@pytest.fixture
def spool_dir(tmp_path):
    return tmp_path / "spool"


@pytest.fixture
def app(redis_server, redis_client, spool_dir):
    publish(redis_server.url)
    return create_app(
        {
            "testing": True,
            "auth_token": TOKEN,
            "auth_token_secondary": SECONDARY,
            "caller_hash_key": HASH_KEY,
            "redis_url": redis_server.url,
            "spool_dir": str(spool_dir),
        }
    )


@pytest.fixture
def client(app):
    return app.test_client()


@contextmanager
def serving(flows: Path, spool: Path, *redis_args: str, **env: str) -> Iterator[tuple[RedisServer, Gunicorn]]:
    """A private redis-server with these flows published and gunicorn (2 workers) serving
    the app over it, its evidence spool private too; both stopped whatever happens."""
    server = RedisServer(*redis_args)
    server.start()
    gunicorn = None
    try:
        wait_for(lambda: server.client().ping(), what="redis-server")
        publish(server.url, flows)
        gunicorn = Gunicorn(
            env={
                "REDIS_URL": server.url,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "IVR_CALLER_HASH_KEY": HASH_KEY,
                "IVR_SPOOL_DIR": str(spool),
                **env,
            },
            workers=2,
        )
        gunicorn.start()
        yield server, gunicorn
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


def checked(status: int, content_type: str, body: str) -> tuple[int, str, str]:
    """Every 200 answer the suite receives must be valid TwiML (or, from TaskRouter's
    assignment callback, a JSON object or nothing)."""
    if status == 200 and content_type.startswith("application/json"):
        assert isinstance(json.loads(body), dict), f"not a JSON object: {body[:80]}"
    elif status == 200 and not (content_type.startswith("text/plain") and not body):
        assert_valid_twiml(body, content_type)
    return status, content_type, body


def flask_transport(client) -> Transport:
    """Requests through Flask's test client; answers checked as TwiML."""

    def send(url, params, headers, method="POST"):
        r = client.open(url, method=method, data=params or None, headers=headers)
        return checked(r.status_code, r.content_type or "", r.get_data(as_text=True))

    return send


def http_transport(timeout: float = 5.0) -> Transport:
    """Requests over real HTTP; answers checked as TwiML."""
    session = requests.Session()

    def send(url, params, headers, method="POST"):
        r = session.request(method, url, data=params or None, headers=headers, timeout=timeout)
        return checked(r.status_code, r.headers.get("Content-Type", ""), r.text)

    return send


@pytest.fixture
def phone(client):
    return Phone("http://localhost", TOKEN, flask_transport(client))
