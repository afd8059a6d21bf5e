"""Redis hung under load, and what happens after: real gunicorn (deploy/gunicorn.conf.py, 2
sync workers) over HTTP, a real redis-server stopped with SIGSTOP, signed webhooks.

* Under load (40 calls/s for 10 s) every answer is valid TwiML that discloses and offers
  the transfer, and only a few requests wait for Redis's timeout: after a failure, each
  worker's circuit breaker (ivr/breaker.py) skips Redis and answers from memory at once,
  and only one probe at a time, after a jittered delay, finds out whether Redis is back.
  The answer times are printed; the one-second goal is checked by bench/outage_bench.py,
  not here (a shared machine makes any timed assertion flaky).
* Once Redis is back, the evidence spooled meanwhile goes into Redis with no call to carry
  it: each worker's chores timer (ivr/chores.py) replays the spool on its own.
* A write Redis ran whose reply came too late (Redis hung, or died, right after running
  it): the caller got the answer from memory, and the record says which of its entries
  the caller never heard.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from ivr import audit, create_app
from ivr.breaker import BASE_DELAY, MAX_DELAY
from ivr.caller import Caller, Phone
from ivr.evidence import Keyring
from ivr.spool import Spool
from ivr.store import Store, connect
from tests.conftest import HASH_KEY, TOKEN, flask_transport, publish, serving, stream_entries
from tests.load import Answer, figures, first_post, paced
from tests.servers import DelayingProxy, wait_for
from tests.twiml_check import assert_valid_twiml

FLOWS = Path(__file__).resolve().parent / "e2e_flows"
BILLING = "+18885550198"  # Bangalore disclosed; Redis unreadable: the cautious disclosure
HOME = "+18005550102"  # Scranton only
DISCLOSURES = (
    "Your call will be answered by our billing team in Bangalore, India.",
    "Your call may be answered by an agent outside the United States.",
)
OFFER = "To speak with an agent in the United States, press 1 or say 'agent'."
WORKERS = 2  # serving()'s
RATE, SECONDS = 40, 10


def discloses_and_offers(answer: Answer) -> bool:
    """A <Gather> whose prompt says where the agent may be and offers the transfer."""
    root = ET.fromstring(answer.body)
    said = [" ".join((s.text or "").split()) for g in root.iter("Gather") for s in g.iter("Say")]
    return any(d in line and OFFER in line for line in said for d in DISCLOSURES)


def waited_for_redis(log: str) -> int:
    """Webhooks that waited for Redis's timeout (each logs why it answered from memory)."""
    return len(re.findall(r"redis unavailable \(Timeout", log))


def probes_at_most(seconds: float) -> int:
    """Round trips one worker's breaker lets through in a stop this long: the first
    failure, then one probe per delay, each at least half its nominal length."""
    count, elapsed, failures = 1, 0.0, 1
    while elapsed <= seconds:
        elapsed += min(MAX_DELAY, BASE_DELAY * 2 ** (failures - 1)) / 2
        count, failures = count + 1, failures + 1
    return count


def received_per_call(server) -> Counter:
    return Counter(f["call"] for _, f in stream_entries(server.client()) if f["step"] == "received")


def assert_record_intact(server) -> None:
    verdict = audit.verify(Store(connect(server.url, timeout=5)), Keyring("k1", HASH_KEY.encode()))
    assert verdict.intact, verdict


def spool_drains(spool: Path, seconds: float) -> None:
    """With no request at all, the spool is replayed within this long."""
    wait_for(
        lambda: not list(spool.glob("spool-*.jsonl")),
        timeout=seconds,
        what="the chores timer replaying the spool",
    )


@pytest.mark.slow
def test_hung_redis_under_load_answers_at_once_from_memory(tmp_path):
    spool = tmp_path / "spool"
    with serving(FLOWS, spool, IVR_FLOWS_DIR=str(FLOWS)) as (server, gunicorn):
        warm = paced(gunicorn.base_url, TOKEN, BILLING, RATE, 2)  # both workers read Redis
        assert {a.status for a in warm} == {200}
        server.pause()
        try:
            during = paced(gunicorn.base_url, TOKEN, BILLING, RATE, SECONDS)
        finally:
            server.resume()
        waited = waited_for_redis(gunicorn.output())
        shown = {k: round(v, 3) for k, v in figures(during).items()}
        print(
            f"\nRedis stopped {SECONDS} s at {RATE} calls/s: {shown}; "
            f"{waited} webhooks waited for Redis's timeout"
        )
        assert waited <= WORKERS * probes_at_most(SECONDS), f"{waited} waited for the timeout"
        spool_drains(spool, 3 * MAX_DELAY + 5)
        stream = received_per_call(server)
        assert_record_intact(server)
        log = gunicorn.output()

    assert len(during) == RATE * SECONDS
    for answer in during:
        assert answer.status == 200, answer
        assert_valid_twiml(answer.body, answer.content_type)
        assert discloses_and_offers(answer), answer.body
    assert sum(DISCLOSURES[1] in a.body for a in during) > len(during) // 2  # from memory
    assert "redis circuit closed -> open" in log and "half-open -> closed" in log
    # Nothing lost, nothing twice: every call answered has its one `received` in Redis.
    assert all(stream[a.call_sid] == 1 for a in warm + during)


def test_spooled_evidence_goes_in_with_no_call_to_carry_it(tmp_path):
    spool = tmp_path / "spool"
    with serving(FLOWS, spool, IVR_FLOWS_DIR=str(FLOWS)) as (server, gunicorn):
        made = paced(gunicorn.base_url, TOKEN, BILLING, 10, 1)
        server.pause()
        try:
            made += paced(gunicorn.base_url, TOKEN, BILLING, 10, 1)
        finally:
            server.resume()
        assert list(spool.glob("spool-*.jsonl")), "nothing was spooled: the test proves nothing"
        spool_drains(spool, 3 * MAX_DELAY + 5)  # no request from here on
        stream = received_per_call(server)
        assert_record_intact(server)
        gunicorn.stop()  # the workers stop their timers and exit within gunicorn's grace time
        log = gunicorn.output()
    assert {a.status for a in made} == {200}
    assert all(stream[a.call_sid] == 1 for a in made), stream
    assert "Traceback" not in log, log


def late_reply(redis_server, redis_client, spool: Path, to: str) -> tuple[str, list[dict]]:
    """One first webhook whose write Redis runs at once and whose reply comes 0.3 s later,
    past the 0.25 s timeout (as when Redis stops right after running a command, or is
    killed then); then the spool replayed. The answer, and the call's entries."""
    publish(redis_server.url, FLOWS)
    proxy = DelayingProxy(redis_server.port)
    try:
        app = create_app(
            {
                "testing": True,
                "auth_token": TOKEN,
                "caller_hash_key": HASH_KEY,
                "redis_url": proxy.url,
                "spool_dir": str(spool),
            }
        )
        phone = Phone("http://localhost", TOKEN, flask_transport(app.test_client()))
        phone.post("/voice", first_post(Caller(to)))  # the worker has read Redis
        c = Caller(to)
        proxy.delay = 0.3
        status, _, body = phone.post("/voice", first_post(c))
        proxy.delay = 0.0
        Spool(spool).replay(Store(connect(redis_server.url, timeout=5)).append)
    finally:
        proxy.close()
    assert status == 200
    return body, [f for _, f in stream_entries(redis_client) if f["call"] == c.call_sid]


def test_a_write_redis_ran_but_did_not_confirm_in_time_is_declared_unheard(
    redis_server, redis_client, tmp_path
):
    """The worker answers from memory. Before this was known, the record then said the
    caller heard Bangalore's disclosure while they heard the cautious one."""
    body, mine = late_reply(redis_server, redis_client, tmp_path / "spool", BILLING)
    assert DISCLOSURES[1] in body and "Bangalore" not in body, body
    steps = [(f["step"], f.get("city") or f.get("cautious") or "") for f in mine]
    assert steps[:4] == [
        ("received", ""),
        ("routed", "Bangalore"),
        ("disclosed", "Bangalore"),
        ("offered", ""),
    ], steps  # what Redis ran before its reply was lost
    (declared,) = [f for f in mine if f["step"] == "unconfirmed"]
    assert declared["macs"].split(",") == [f["mac"] for f in mine[1:4]]
    assert declared["steps"] == "routed:0:route,disclosed:0:disclose,offered:0:disclose"
    heard = [f for f in mine if f["mac"] not in declared["macs"].split(",")]
    assert [(f["step"], f.get("cautious", "")) for f in heard] == [
        ("received", ""),
        ("safe_answer", ""),
        ("disclosed", "true"),
        ("offered", ""),
        ("unconfirmed", ""),
    ], heard
    assert_record_intact(redis_server)


def test_an_event_both_answers_hold_word_for_word_is_kept_once(redis_server, redis_client, tmp_path):
    """The domestic-only line: Redis's answer and the one from memory both bridge to
    Scranton, under different step keys; the record keeps that bridge once."""
    body, mine = late_reply(redis_server, redis_client, tmp_path / "spool", HOME)
    assert "+15705550123" in body, body
    (declared,) = [f for f in mine if f["step"] == "unconfirmed"]
    heard = [f for f in mine if f["mac"] not in declared["macs"].split(",")]
    assert [f["step"] for f in heard].count("bridged") == 1, heard
    assert [f["step"] for f in mine].count("bridged") == 1, mine
    assert_record_intact(redis_server)
