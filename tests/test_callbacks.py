"""Callbacks: the line's rules as plain tables, then real rq workers placing real (stand-in)
calls through the twilio SDK, with gunicorn answering the calls' webhooks.

Twilio's cloud cannot be reached from here: tests/twilio_cloud.py stands in for its REST
API (it checks the credentials and parameters as Twilio documents them) and plays each call,
posting the call's signed webhooks to gunicorn as Twilio would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ivr import callbacks, evidence
from ivr.callback_store import CallbackStore, new_id
from ivr.callbacks import Callback
from ivr.caller import ACCOUNT_SID
from tests.conftest import FLOWS, HASH_KEY, SUPPORT, TOKEN, serving, stream_entries
from tests.servers import ROOT, terminate, wait_for
from tests.twilio_cloud import TwilioCloud

PERSON, OTHER = "+12025550143", "+13125550111"


def callback(**changes: object) -> Callback:
    base = Callback(
        id=new_id(),
        center="scranton",
        call_sid="CA" + os.urandom(16).hex(),
        number=PERSON,
        caller=evidence.caller_hash(PERSON, HASH_KEY.encode()),
        called=SUPPORT,
        flow="support",
        version=1,
        language="en-US",
        requested=time.time(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# -- the rules ---------------------------------------------------------------------------------
def test_a_callback_waits_for_the_live_callers_who_asked_before_it_and_not_for_later_ones():
    first, cb, later = ("live:CAfirst", 10.0), callback(requested=20.0), ("live:CAlater", 30.0)
    line = [later, (cb.member, cb.requested), first]
    table = {cb.id: cb}
    assert callbacks.due(line, table, {"CAfirst", "CAlater"}, 100.0, True) == []
    assert callbacks.due(line, table, {"CAlater"}, 100.0, True) == [cb]  # the first one left
    assert callbacks.due(line, table, set(), 100.0, False) == []  # closed: nobody is called


def test_callbacks_go_in_the_order_asked_and_one_in_its_spacing_holds_nobody_back():
    a, b = callback(requested=1.0), callback(requested=2.0)
    line = [(b.member, 2.0), (a.member, 1.0)]
    assert callbacks.due(line, {a.id: a, b.id: b}, set(), 10.0, True) == [a]
    assert callbacks.due(line, {a.id: a, b.id: b}, set(), 10.0, True, lines=2) == [a, b]
    resting = callbacks.attempt_failed(a, "no-answer", now=10.0)
    assert (resting.state, resting.attempt, resting.not_before) == ("pending", 2, 10.0 + a.spacing)
    assert callbacks.due(line, {a.id: resting, b.id: b}, set(), 11.0, True) == [b]
    dialing = replace(a, state="dialing")
    assert callbacks.due(line, {a.id: dialing, b.id: b}, set(), 11.0, True) == []


def test_attempts_run_out_and_rest_errors_back_off_then_close():
    last = callback(attempt=3, attempts=3)
    closed = callbacks.attempt_failed(last, "busy", now=5.0)
    assert (closed.state, closed.reason, closed.closed) == ("failed", "busy (3 attempts)", 5.0)
    again = callbacks.rest_failed(callback(), "twilio HTTP 503", True, now=0.0, backoff=(1.0, 2.0))
    assert (again.state, again.not_before, again.rest_errors, again.attempt) == ("pending", 1.0, 1, 1)
    twice = callbacks.rest_failed(again, "twilio HTTP 503", True, now=0.0, backoff=(1.0, 2.0))
    assert twice.not_before == 2.0
    assert callbacks.rest_failed(twice, "twilio HTTP 503", True, 0.0, (1.0, 2.0)).state == "failed"
    assert callbacks.rest_failed(callback(), "twilio HTTP 400 error 21211", False, 0.0).state == "failed"


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("+12025550143", ""),
        ("2025550143", "not-e164"),
        ("+1202555014", "invalid"),
        ("+442079460958", "abroad"),
        ("+19005550143", "premium-rate"),
        ("+1 202 555 0143", "not-e164"),
    ],
)
def test_a_callback_number_is_e164_in_the_home_country_and_not_premium_rate(number, problem):
    assert callbacks.number_problem(number, "US") == problem


def test_keyed_digits_read_as_a_home_country_number():
    assert callbacks.keyed_number("3125550111", "US") == OTHER
    assert callbacks.keyed_number("", "US") == ""


def test_a_dead_claim_is_given_back_only_without_any_sign_of_a_call():
    claimed = callback(state="dialing", claimed=100.0)
    assert not callbacks.abandoned(claimed, 100.0 + callbacks.CLAIM_LEASE)
    assert callbacks.abandoned(claimed, 101.0 + callbacks.CLAIM_LEASE)
    assert not callbacks.abandoned(replace(claimed, outbound="CA1"), 10_000.0)


# -- real workers ------------------------------------------------------------------------------
def worker_env(redis_url: str, cloud_url: str, base_url: str, **more: str) -> dict[str, str]:
    """What an ``ivr worker`` needs to serve callbacks against this Redis, the stand-in
    cloud and gunicorn (the dispatcher every 0.2 s), and ``more``."""
    return {
        "REDIS_URL": redis_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE_URL": cloud_url,
        "PUBLIC_BASE_URL": base_url,
        "IVR_CALLER_HASH_KEY": HASH_KEY,
        "IVR_DISPATCH_SECONDS": "0.2",
        **more,
    }


class Workers:
    """``ivr worker`` processes (rq workers with the scheduler and the dispatcher)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: list[subprocess.Popen] = []
        self.path = os.environ.get("ONSHORE_WORKER_LOG") or tempfile.mktemp(
            prefix="onshore-worker-", suffix=".log"
        )
        self.log = open(self.path, "ab")  # noqa: SIM115 - closed by stop()

    def output(self) -> str:
        """What the workers logged (the end of it), for a failure's message."""
        self.log.flush()
        return Path(self.path).read_text(errors="replace")[-3000:]

    def start(self) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "worker", "--redis-url", self.env["REDIS_URL"]],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill takes the work horse too
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                terminate(proc)
        self.log.close()
        if not os.environ.get("ONSHORE_WORKER_LOG"):
            Path(self.path).unlink(missing_ok=True)


@pytest.fixture
def line(tmp_path):
    """Redis with the shipped flows, gunicorn, the stand-in cloud and a way to start workers."""
    cloud = TwilioCloud(TOKEN).start()
    with serving(FLOWS, tmp_path / "spool") as (server, gunicorn):
        env = worker_env(
            server.url, cloud.url, gunicorn.base_url, IVR_CALLBACK_LEASE="1.5", IVR_CALLBACK_BACKOFF="0.2,0.4"
        )
        workers = Workers(env)
        try:
            yield server, cloud, workers, CallbackStore(server.client())
        finally:
            workers.stop()
            cloud.stop()


def closed(
    store: CallbackStore, cb: Callback, timeout: float = 60.0, workers: Workers | None = None
) -> Callback:
    """The callback once it closed (a loaded machine starts workers slowly: a minute at most)."""
    try:
        wait_for(
            lambda: store.load(cb.id).state in callbacks.CLOSED_STATES, timeout, what=f"callback {cb.id}"
        )
    except RuntimeError:
        raise AssertionError(f"{store.load(cb.id)}\n{workers.output() if workers else ''}") from None
    return store.load(cb.id)


def steps(server, call_sid: str) -> list[tuple[str, dict[str, str]]]:
    return [(e["step"], e) for _, e in stream_entries(server.client()) if e["call"] == call_sid]


def test_a_due_callback_is_placed_says_who_calls_and_bridges_to_the_domestic_line(line):
    server, cloud, workers, store = line
    cb = callback()
    store.request(cb)
    workers.start()
    done = closed(store, cb, workers=workers)
    cloud.settle()
    assert (done.state, done.reason) == ("done", "bridged")
    (call,) = cloud.placed(PERSON)
    assert (call.from_, call.to) == (SUPPORT, PERSON)
    heard = " ".join(call.transcript.heard)
    assert "Acme Scranton calling you back" in heard and "agent in the United States" in heard
    assert call.transcript.bridges == [("number", "+15705550123")]
    record = steps(server, cb.call_sid)
    assert [s for s, _ in record] == ["callback_placed", "callback_answered", "callback_bridged"]
    assert all(e["caller"] == cb.caller for _, e in record)
    assert PERSON not in str(record)
    assert store.load(cb.id).number == "" and store.line("scranton") == []


def test_a_callback_not_answered_is_tried_again_after_its_spacing(line):
    server, cloud, workers, store = line
    cloud.script(PERSON, "no-answer", "answer", "answer:1")  # nobody, a voicemail, then the person
    cb = callback(spacing=1)
    store.request(cb)
    workers.start()
    done = closed(store, cb, workers=workers)
    cloud.settle()
    assert (done.state, done.attempt) == ("done", 3)
    assert [c.outcome for c in cloud.placed(PERSON)] == ["no-answer", "answer", "answer:1"]
    record = steps(server, cb.call_sid)
    failed = [e for s, e in record if s == "callback_failed"]
    assert [(e["reason"], e["final"]) for e in failed] == [
        ("no-answer", "false"),
        ("answered, no key pressed", "false"),
    ]
    placed = [c.created for c in cloud.placed(PERSON)]
    assert all(b - a >= 1 for a, b in zip(placed, placed[1:], strict=False))  # the spacing held


def test_a_callback_nobody_takes_closes_with_the_reason_after_its_attempts(line):
    server, cloud, workers, store = line
    cloud.script(PERSON, "busy", "no-answer")
    cb = callback(spacing=0, attempts=2)
    store.request(cb)
    workers.start()
    done = closed(store, cb, workers=workers)
    assert (done.state, done.reason) == ("failed", "no-answer (2 attempts)")
    assert len(cloud.placed(PERSON)) == 2


def test_two_workers_racing_for_one_callback_call_once(line):
    server, cloud, workers, store = line
    from rq import Queue

    from ivr.callback_worker import QUEUE, place

    cb = callback()
    store.request(cb)
    queue = Queue(QUEUE, connection=server.client())
    for _ in range(4):  # the same attempt enqueued four times, besides the dispatchers' own
        queue.enqueue(place, cb.id, 1)
    workers.start()
    workers.start()
    assert closed(store, cb).state == "done"
    time.sleep(1.0)  # whatever else was queued has run by now
    cloud.settle()
    assert len(cloud.placed(PERSON)) == 1


def test_a_worker_killed_after_twilio_took_the_request_does_not_call_twice(line):
    server, cloud, workers, store = line
    cloud.create_delay = 1.0  # the REST request is in flight when the worker dies
    cb = callback()
    store.request(cb)
    first = workers.start()
    wait_for(lambda: cloud.requests, 20, what="the REST request")
    workers.kill(first)
    workers.start()  # another worker, whose dispatcher finds the claim
    assert closed(store, cb).state == "done"
    time.sleep(2.0)  # past the lease: a second call would have been placed by now
    cloud.settle()
    assert len(cloud.placed(PERSON)) == 1
    assert store.load(cb.id).outbound == cloud.placed(PERSON)[0].sid  # learnt from Twilio's callback


def test_a_worker_killed_after_twilio_took_the_request_with_callbacks_late_does_not_call_twice(line):
    """Twilio accepted the create, the worker died before writing the CallSid, and Twilio's
    first status callback comes after the lease: the Calls list shows the call, which the
    dispatcher adopts instead of giving the claim back."""
    server, cloud, workers, store = line
    cloud.create_delay = 1.0  # the REST request is in flight when the worker dies
    cloud.started.clear()  # and Twilio's callbacks come after the 1.5 s lease (held until adopted)
    cb = callback()
    store.request(cb)
    first = workers.start()
    wait_for(lambda: cloud.requests, 20, what="the REST request")
    horse = int(store.load(cb.id).worker.rpartition(":")[2])  # rq's work horse, in a session of its own
    workers.kill(first)
    os.kill(horse, signal.SIGKILL)
    workers.start()
    wait_for(lambda: cloud.placed(PERSON), 20, what="the call Twilio created")
    wait_for(lambda: store.load(cb.id).outbound, 30, what="the adopted CallSid")
    (call,) = cloud.placed(PERSON)
    assert store.load(cb.id).outbound == call.sid and not call.callbacks  # before Twilio's word
    listed = [r for r in cloud.requests if r[0] == "GET" and r[1].endswith("/Calls.json")]
    assert listed and listed[0][2]["To"] == [PERSON]
    assert "callback_placed" in [s for s, _ in steps(server, cb.call_sid)]
    time.sleep(2.0)  # more passes past the lease: the adopted claim is not given back
    assert len(cloud.placed(PERSON)) == 1
    cloud.started.set()
    assert closed(store, cb, workers=workers).state == "done"
    time.sleep(2.0)  # past the lease again: a second call would have been placed by now
    cloud.settle()
    assert len(cloud.placed(PERSON)) == 1


def test_a_claim_whose_worker_died_before_calling_is_given_back_and_placed(line):
    server, cloud, workers, store = line
    cb = callback()
    store.request(cb)
    dead = store.claim(cb, "gone-host:1", time.time())  # claimed, and nothing after it
    assert dead is not None and store.claim(cb, "other:2", time.time()) is None
    workers.start()
    done = closed(store, cb, workers=workers)
    assert done.state == "done" and len(cloud.placed(PERSON)) == 1


def test_rest_errors_are_retried_with_backoff_then_the_callback_closes_with_the_reason(line):
    server, cloud, workers, store = line
    cloud.fail(2, status=503)
    ok = callback()
    store.request(ok)
    workers.start()
    assert closed(store, ok).state == "done"
    failed = [e for s, e in steps(server, ok.call_sid) if s == "callback_failed"]
    assert [e["reason"][:15] for e in failed] == ["twilio HTTP 503"] * 2
    refused = callback(number=OTHER, called="+15555550100")  # not one of the account's numbers
    store.request(refused)
    gone = closed(store, refused)
    assert gone.state == "failed" and "error 21210" in gone.reason
    assert cloud.placed(OTHER) == []


def test_a_callback_whose_destination_is_not_published_is_never_placed(line):
    server, cloud, workers, store = line
    cb = callback(center="nowhere")  # no such center: never open, so never due
    store.request(cb)
    workers.start()
    time.sleep(1.5)
    assert store.load(cb.id).state == "pending" and cloud.placed() == []


def test_ivr_callbacks_lists_the_open_ones_in_line_order(line, capsys):
    server, cloud, workers, store = line
    from ivr.cli import main

    later, first = callback(requested=200.0, center="nowhere"), callback(requested=100.0, center="nowhere")
    store.request(later)
    store.request(first)
    assert main(["callbacks", "--redis-url", server.url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [row.split()[0] for row in out] == [first.id, later.id]
    assert all("pending  attempt 1/3" in row for row in out)
    assert PERSON not in "\n".join(out)


def test_ivr_worker_needs_the_rest_settings(line, capsys, monkeypatch):
    server, *_ = line
    from ivr.cli import SETTINGS, main

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://ivr.example.com")
    monkeypatch.setenv("IVR_CALLER_HASH_KEY", HASH_KEY)
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    assert main(["worker", "--burst", "--redis-url", server.url]) == SETTINGS
    assert "TWILIO_ACCOUNT_SID is required" in capsys.readouterr().err
