"""deploy/users.acl on a real redis-server: the app can do its work and cannot destroy
evidence; the operator can publish and audit."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest
import redis

from ivr import create_app
from ivr.caller import Caller, Phone
from ivr.evidence import Keyring
from ivr.store import Store, connect
from tests.conftest import HASH_KEY, ROOT, SUPPORT, TOKEN, flask_transport, publish
from tests.servers import RedisServer

APP = {"username": "onshore-app", "password": "CHANGE-ME-app"}
OPERATOR = {"username": "onshore-operator", "password": "CHANGE-ME-operator"}


@pytest.fixture(scope="module")
def acl_redis():
    server = RedisServer("--aclfile", str(ROOT / "deploy" / "users.acl"))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


def url(server: RedisServer, who: dict[str, str]) -> str:
    return f"redis://{who['username']}:{who['password']}@127.0.0.1:{server.port}/0"


def test_app_user_answers_and_records_calls(acl_redis, tmp_path):
    publish(url(acl_redis, OPERATOR))
    app = create_app({"testing": True, "auth_token": TOKEN, "caller_hash_key": HASH_KEY,
                      "redis_url": url(acl_redis, APP), "spool_dir": str(tmp_path)})
    phone = Phone("http://localhost", TOKEN, flask_transport(app.test_client()))
    # English at the language menu, an agent at the main menu, the US agent at the disclosure
    transcript = phone.call(Caller(SUPPORT, press="1,1,1"))
    assert transcript.bridges == [("number", "+15705550123")]
    operator = acl_redis.client(**OPERATOR)
    assert operator.xlen("onshore:events") >= 4
    assert list(tmp_path.iterdir()) == []  # nothing had to be spooled
    length = operator.xlen("onshore:events")
    Store(connect(url(acl_redis, APP), timeout=5)).anchor(
        Keyring("k1", HASH_KEY.encode()), datetime.now(UTC))  # the webhooks anchor too
    assert operator.xlen("onshore:events") == length + 1


@pytest.mark.parametrize("command", [
    ("DEL", "onshore:events"), ("XTRIM", "onshore:events", "MAXLEN", "0"),
    ("XDEL", "onshore:events", "0-1"), ("EXPIRE", "onshore:events", "1"),
    ("SET", "onshore:flow:support:1", "x"), ("HSET", "onshore:centers", "manila", "{}"),
    ("FLUSHALL",), ("CONFIG", "SET", "appendonly", "no"),
])
def test_app_user_cannot_destroy_or_rewrite(acl_redis, command):
    app = acl_redis.client(**APP)
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.execute_command(*command)
    with pytest.raises(redis.exceptions.ResponseError):  # not through a script either
        app.eval(f"return redis.call({', '.join(repr(c) for c in command)})", 0)


def test_default_user_is_off(acl_redis):
    with pytest.raises(redis.exceptions.AuthenticationError):
        acl_redis.client().ping()
