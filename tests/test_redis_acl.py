"""deploy/users.acl on a real redis-server: the app can do its work and cannot destroy
evidence unseen; the operator can publish, export and prune; only the auditor writes anchors.

What the app's user can still do to the record (``XADD`` trims with ``MAXLEN``/``MINID``,
and it must set the chain head) is played here against the shipped ACL, and ``ivr audit
verify`` must then fail and name what is missing."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from ivr import audit, create_app, keys
from ivr.caller import Caller, Phone
from ivr.cli import main
from ivr.store import Store, connect
from tests.conftest import HASH_KEY, ROOT, SUPPORT, TOKEN, flask_transport, publish
from tests.servers import RedisServer

# The shipped file with its CHANGE-ME placeholders replaced, as an operator must (the app and
# `ivr` refuse a placeholder password).
APP = {"username": "onshore-app", "password": "test-secret-app"}
OPERATOR = {"username": "onshore-operator", "password": "test-secret-operator"}
AUDITOR = {"username": "onshore-auditor", "password": "test-secret-auditor"}
WORKER = {"username": "onshore-worker", "password": "test-secret-worker"}


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory):
    acl = tmp_path_factory.mktemp("acl") / "users.acl"
    shipped = (ROOT / "deploy" / "users.acl").read_text()
    assert shipped.count(">CHANGE-ME-") == 4
    acl.write_text(shipped.replace(">CHANGE-ME-", ">test-secret-"))
    server = RedisServer("--aclfile", str(acl))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


def url(server: RedisServer, who: dict[str, str]) -> str:
    return f"redis://{who['username']}:{who['password']}@127.0.0.1:{server.port}/0"


def app_phone(server: RedisServer, spool: Path) -> Phone:
    app = create_app(
        {
            "testing": True,
            "auth_token": TOKEN,
            "caller_hash_key": HASH_KEY,
            "redis_url": url(server, APP),
            "spool_dir": str(spool),
        }
    )
    return Phone("http://localhost", TOKEN, flask_transport(app.test_client()))


def test_app_user_answers_and_records_calls(acl_redis, tmp_path):
    publish(url(acl_redis, OPERATOR))
    # English at the language menu, an agent at the main menu, the US agent at the disclosure
    transcript = app_phone(acl_redis, tmp_path).call(Caller(SUPPORT, press="1,1,1"))
    assert transcript.bridges == [("number", "+15705550123")]
    operator = acl_redis.client(**OPERATOR)
    assert operator.xlen(keys.EVENTS) >= 4
    assert list(tmp_path.iterdir()) == []  # nothing had to be spooled
    store = Store(connect(url(acl_redis, APP), timeout=5))  # what the hold and the Enqueue
    store.record_wait("manila", transcript.call_sid, 95, 1e9)  # action do besides the script
    assert store.recent_waits("manila") == [(1e9, 95.0)]
    steps = [s.decode() for s in operator.smembers(keys.call_steps(transcript.call_sid))]
    assert store.has_step(transcript.call_sid, steps[0]) and not store.has_step("CA0", "x:0:y")
    with pytest.raises(redis.exceptions.NoPermissionError):
        acl_redis.client(**APP).delete(keys.queue_waits("manila"))
    taken, problem = audit.anchor(Store(connect(url(acl_redis, AUDITOR), timeout=5)), datetime.now(UTC))
    assert problem == "" and taken is not None
    assert operator.xrevrange(keys.AUDIT_ANCHORS, count=1)[0][1][b"last"] == taken.last.encode()


@pytest.fixture
def anchored(acl_redis, tmp_path, monkeypatch):
    """Calls recorded by the app's user, then anchored by the auditor's (as its timer does)."""
    restart_empty(acl_redis)
    publish(url(acl_redis, OPERATOR))
    phone = app_phone(acl_redis, tmp_path / "spool")
    for press in ("1,1,1", "", "1,2"):
        phone.call(Caller(SUPPORT, press=press))
    monkeypatch.setenv("IVR_CALLER_HASH_KEY", HASH_KEY)
    assert (
        main(
            [
                "audit",
                "anchor",
                "--redis-url",
                url(acl_redis, AUDITOR),
                "--log",
                str(tmp_path / "anchors.jsonl"),
            ]
        )
        == 0
    )
    phone.call(Caller(SUPPORT))  # the record goes on after the anchor
    return phone


def restart_empty(server: RedisServer) -> None:
    """Empty the server between tests: no user here may FLUSHALL, so start it afresh."""
    server.stop()
    server.start()


def verify(server: RedisServer, capsys, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["audit", "verify", "--redis-url", url(server, AUDITOR), *extra])
    return code, capsys.readouterr().out


def test_the_auditor_finds_an_untouched_record_intact(acl_redis, anchored, capsys):
    code, out = verify(acl_redis, capsys)
    assert code == 0 and "intact" in out and "held to 1 anchors" in out


ANCHOR_GONE = "attests {count} entries up to {last}"  # and "or more entries were erased"


@pytest.mark.parametrize(
    "attack, named, alarm",
    [
        # the reproduction: everything trimmed away, the head made to agree
        (
            [("XADD", keys.EVENTS, "MAXLEN", "0", "*", "x", "y"), ("SET", keys.CHAIN_HEAD, "")],
            ANCHOR_GONE,
            True,
        ),
        ([("XADD", keys.EVENTS, "MAXLEN", "2", "*", "x", "y")], ANCHOR_GONE, True),
        (
            [("XADD", keys.EVENTS, "MINID", "=", "{third}", "*", "x", "y")],
            "the record's oldest entries were erased: it starts at {third}",
            True,
        ),
        ([("SET", keys.CHAIN_HEAD, "")], "but the chain head is (none)", False),
        ([("SET", keys.CHAIN_HEAD, "0" * 40)], "but the chain head is 000000000000", False),
        # an entry that is not one (its event not even JSON): named, not a traceback
        (
            [("XADD", keys.EVENTS, "*", "event", "not json]", "prev", "", "hash", "")],
            "links to (start) but the entry before it hashes to",
            False,
        ),
    ],
)
def test_what_the_app_user_may_do_to_the_record_fails_verify(
    acl_redis, anchored, capsys, tmp_path, attack, named, alarm
):
    app = acl_redis.client(**APP)
    operator = acl_redis.client(**OPERATOR)
    ids = [i.decode() for i, _ in operator.xrange(keys.EVENTS)]
    anchor = operator.xrevrange(keys.AUDIT_ANCHORS, count=1)[0][1]
    for command in attack:
        app.execute_command(*(part.format(third=ids[2]) for part in command))
    code, out = verify(acl_redis, capsys)
    assert code == 1 and out.startswith("BROKEN"), out
    assert (
        named.format(third=ids[2], count=anchor[b"count"].decode(), last=anchor[b"last"].decode()) in out
    ), out
    # the auditor's timer raises the alarm instead of anchoring what is left
    assert main(["audit", "anchor", "--redis-url", url(acl_redis, AUDITOR)]) == int(alarm)
    assert ("ALARM" in capsys.readouterr().err) is alarm
    # held to the local log as well, the verdict is the same
    assert verify(acl_redis, capsys, "--anchors", str(tmp_path / "anchors.jsonl")) == (code, out)


def test_a_forged_export_mark_is_refused_and_prune_keeps_unexported_evidence(acl_redis, anchored, capsys):
    with pytest.raises(redis.exceptions.NoPermissionError):  # a mark covering every id
        acl_redis.client(**APP).xadd(
            keys.AUDIT_EXPORTED,
            {
                "first": "0-1",
                "last": "99999999999999-0",
                "count": "1",
                "sha256": "0" * 64,
                "path": "x",
                "by": "app",
            },
        )
    operator = Store(connect(url(acl_redis, OPERATOR), timeout=5))
    later = datetime.now(UTC).date() + timedelta(days=1)
    removed, why = audit.prune(operator, later, 0, later)
    assert removed == 0 and "never exported" in why
    assert verify(acl_redis, capsys)[0] == 0


@pytest.mark.parametrize(
    "command",
    [
        ("DEL", keys.EVENTS),
        ("XTRIM", keys.EVENTS, "MAXLEN", "0"),
        ("XDEL", keys.EVENTS, "0-1"),
        ("EXPIRE", keys.EVENTS, "1"),
        ("DEL", keys.call_entries("CA1")),
        ("SET", keys.call_entries("CA1"), "x"),
        ("DEL", keys.CHAIN_HEAD),
        ("EXPIRE", keys.CHAIN_HEAD, "1"),
        ("UNLINK", keys.EVENTS),
        ("RENAME", keys.EVENTS, keys.call_steps("x")),
        ("XADD", keys.AUDIT_EXPORTED, "*", "first", "0-1", "last", "9-0"),
        ("HSET", keys.AUDIT_PRUNED, "id", "9-0"),
        ("DEL", keys.AUDIT_ANCHORS),
        ("XADD", keys.AUDIT_ANCHORS, "*", "last", "0-1"),
        ("XADD", keys.NUMBERS, "*", "x", "y"),
        ("SET", keys.flow_version("support", 1), "x"),
        ("HSET", keys.CENTERS, "manila", "{}"),
        ("FLUSHALL",),
        ("CONFIG", "SET", "appendonly", "no"),
    ],
)
def test_app_user_cannot_destroy_or_rewrite(acl_redis, command):
    app = acl_redis.client(**APP)
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.execute_command(*command)
    with pytest.raises(redis.exceptions.ResponseError):  # not through a script either
        app.eval(f"return redis.call({', '.join(repr(c) for c in command)})", 0)


@pytest.mark.parametrize(
    "who, command",
    [
        (AUDITOR, ("XADD", keys.EVENTS, "*", "x", "y")),
        (AUDITOR, ("DEL", keys.EVENTS)),
        (AUDITOR, ("SET", keys.CHAIN_HEAD, "")),
        (AUDITOR, ("XADD", keys.AUDIT_EXPORTED, "*", "x", "y")),
        (AUDITOR, ("XTRIM", keys.AUDIT_ANCHORS, "MAXLEN", "0")),
        (OPERATOR, ("DEL", keys.AUDIT_ANCHORS)),
        (OPERATOR, ("XADD", keys.AUDIT_ANCHORS, "*", "x", "y")),
        (OPERATOR, ("XTRIM", keys.AUDIT_ANCHORS, "MAXLEN", "0")),
    ],
)
def test_only_the_auditor_writes_anchors_and_it_writes_nothing_else(acl_redis, who, command):
    with pytest.raises(redis.exceptions.NoPermissionError):
        acl_redis.client(**who).execute_command(*command)


def test_default_user_is_off(acl_redis):
    with pytest.raises(redis.exceptions.AuthenticationError):
        acl_redis.client().ping()


def test_a_callback_runs_under_the_app_and_worker_users(acl_redis, tmp_path):
    """A real rq worker as onshore-worker places a callback the app's user recorded; gunicorn,
    as onshore-app, answers the call's webhooks (Twilio's REST API: the local stand-in,
    tests/twilio_cloud.py, since Twilio's cloud cannot be reached from here)."""
    import time

    from ivr.callback_store import CallbackStore
    from tests.servers import Gunicorn, wait_for
    from tests.test_callbacks import PERSON, Workers, callback, worker_env
    from tests.twilio_cloud import TwilioCloud

    restart_empty(acl_redis)
    publish(url(acl_redis, OPERATOR))
    cloud = TwilioCloud(TOKEN).start()
    gunicorn = Gunicorn(
        {
            "REDIS_URL": url(acl_redis, APP),
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_CALLER_HASH_KEY": HASH_KEY,
            "IVR_SPOOL_DIR": str(tmp_path / "spool"),
        }
    )
    gunicorn.start()
    workers = Workers(worker_env(url(acl_redis, WORKER), cloud.url, gunicorn.base_url))
    try:
        app_store = CallbackStore(acl_redis.client(**APP))
        cb = callback()
        app_store.request(cb)
        workers.start()
        try:
            wait_for(lambda: app_store.load(cb.id).state == "done", 30, what="the callback")
        except RuntimeError:
            raise AssertionError(gunicorn.output()[-4000:]) from None
        cloud.settle()
        assert len(cloud.placed(PERSON)) == 1
        assert not (tmp_path / "spool").exists() or list((tmp_path / "spool").iterdir()) == []
        operator = acl_redis.client(**OPERATOR)
        steps = {s.decode().split(":")[0] for s in operator.smembers(keys.call_steps(cb.call_sid))}
        assert steps == {"callback_placed", "callback_answered", "callback_bridged"}
        with pytest.raises(redis.exceptions.NoPermissionError):
            acl_redis.client(**WORKER).xtrim(keys.EVENTS, maxlen=0)
        with pytest.raises(redis.exceptions.NoPermissionError):
            acl_redis.client(**WORKER).flushall()
        time.sleep(0.1)
    finally:
        workers.stop()
        gunicorn.stop()
        cloud.stop()


def test_the_app_user_keeps_and_hands_over_a_callers_pending_task(acl_redis):
    """ivr.pending_tasks under the app's user: the Task held, taken once, the dial claimed."""
    from ivr import pending_tasks
    from ivr.bind import Reservation

    app = acl_redis.client(**APP)
    sid = "CA" + "a" * 32
    held = Reservation("WS" + "1" * 32, "WT" + "2" * 32, "WR" + "3" * 32, "WK" + "4" * 32, "manila")
    pending_tasks.hold(app, sid, held)
    assert pending_tasks.take(app, sid) == (held.workspace, held.task, held.reservation)
    assert pending_tasks.take(app, sid) is None
    assert pending_tasks.claim_dial(app, sid, held.reservation) is None
    pending_tasks.dialed(app, sid, held.reservation, "")
    assert pending_tasks.claim_dial(app, sid, held.reservation) == ""
    pending_tasks.release(app, sid)
