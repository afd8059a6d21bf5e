"""The domestic request end to end over real HTTP: gunicorn, a real redis-server, real
`ivr worker` processes, and the stand-in for Twilio's REST API (tests/twilio_cloud.py:
Twilio's cloud cannot be reached from here; it checks credentials and parameters as Twilio
documents them and posts each call's signed webhooks to gunicorn).

"At night" is Scranton closed by a closure in a copy of the shipped flows, so nothing here
depends on the time of day; "morning" is the shipped flows published again."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivr import evidence, step_query
from ivr.callback_store import CallbackStore
from ivr.caller import Caller, Phone, first_post
from ivr.domestic import NUMBER
from ivr.store import Store, connect
from tests.conftest import FLOWS, HASH_KEY, SUPPORT, TOKEN, http_transport, publish, serving, stream_entries
from tests.servers import wait_for
from tests.test_callbacks import PERSON, Workers, worker_env
from tests.twilio_cloud import TwilioCloud

CLOSED = '{ from = "2000-01-01T00:00", to = "2099-12-31T00:00" }'


def night_flows(tmp_path: Path) -> Path:
    """The shipped flows with Scranton closed (a closure over this century)."""
    folder = tmp_path / "night"
    folder.mkdir()
    text = (FLOWS / "acme.toml").read_text()
    text = text.replace(
        'connect = { number = "+15705550123" }',
        f'connect = {{ number = "+15705550123" }}\nclosures = [{CLOSED}]',
    )
    assert CLOSED in text
    (folder / "acme.toml").write_text(text)
    return folder


@pytest.fixture
def night(tmp_path):
    yield from _night(tmp_path)


@pytest.fixture
def seeded_night(tmp_path):
    """The night set-up with IVR_FLOWS_DIR as deploy/ sets it: a worker that had not read
    the flow from Redis before Redis hung still knows it (without the seed, that worker can
    only give the generic apology; what it records then: test_webhooks)."""
    yield from _night(tmp_path, seeded=True)


def _night(tmp_path, seeded=False):
    cloud = TwilioCloud(TOKEN).start()
    folder = night_flows(tmp_path)
    env = {"IVR_FLOWS_DIR": str(folder)} if seeded else {}
    with serving(folder, tmp_path / "spool", **env) as (server, gunicorn):
        workers = Workers(worker_env(server.url, cloud.url, gunicorn.base_url))
        phone = Phone(gunicorn.base_url, TOKEN, http_transport())
        try:
            yield server, gunicorn, cloud, workers, phone
        finally:
            workers.stop()
            cloud.stop()


def steps(server, call_sid: str) -> list[tuple[str, dict[str, str]]]:
    return [(e["step"], e) for _, e in stream_entries(server.client()) if e["call"] == call_sid]


def test_a_callback_asked_for_at_night_is_placed_when_scranton_opens(night):
    server, gunicorn, cloud, workers, phone = night
    # English, phone help, the US agent at the disclosure, a callback, at the number calling
    t = phone.call(Caller(SUPPORT, from_=PERSON, press="1,1,1,1,1"))
    heard = " ".join(t.heard)
    assert "cannot take your call right now" in heard
    assert "will call you back at the number ending in 0 1 4 3" in heard
    assert t.bridges == []  # never a closed line, never offshore
    store = CallbackStore(server.client())
    callback = store.of_caller(evidence.caller_hash(PERSON, HASH_KEY.encode()))
    assert callback is not None and (callback.state, callback.center, callback.called) == (
        "pending",
        "scranton",
        SUPPORT,
    )
    requested = [e for s, e in steps(server, t.call_sid) if s == "callback_requested"]
    assert [(e["place"], e["number"]) for e in requested] == [("1", "caller-id")]
    assert requested[0]["number_hash"] == evidence.caller_hash(PERSON, HASH_KEY.encode())
    workers.start()
    time.sleep(1.5)
    assert cloud.placed() == []  # Scranton is closed: nobody is called
    publish(server.url, FLOWS)  # morning: Scranton open again
    wait_for(lambda: store.load(callback.id).state == "done", 30, what="the callback")
    cloud.settle()
    (call,) = cloud.placed(PERSON)
    assert call.from_ == SUPPORT and call.transcript.bridges == [("number", "+15705550123")]
    record = [s for s, _ in steps(server, t.call_sid)]
    for step in ("callback_requested", "callback_placed", "callback_answered", "callback_bridged"):
        assert step in record
    assert PERSON not in str(steps(server, t.call_sid))


def test_a_voicemail_at_night_is_recorded_as_evidence_and_listed(night, capsys):
    server, gunicorn, cloud, workers, phone = night
    from ivr.cli import main

    t = phone.call(Caller(SUPPORT, from_=PERSON, press="1,1,1,2"))
    heard = " ".join(t.heard)
    assert "Your message will be recorded." in heard and "leave your message after the tone" in heard
    left = [e for s, e in steps(server, t.call_sid) if s == "voicemail_left"]
    assert len(left) == 1 and left[0]["recording"].startswith("RE") and left[0]["duration"] == "60"
    assert t.bridges == []
    assert main(["voicemail", "list", "--redis-url", server.url]) == 0
    assert left[0]["recording"] in capsys.readouterr().out


def test_a_caller_who_calls_again_keeps_or_cancels_the_callback(night):
    server, gunicorn, cloud, workers, phone = night
    phone.call(Caller(SUPPORT, from_=PERSON, press="1,1,1,1,1"))
    store = CallbackStore(server.client())
    hashed = evidence.caller_hash(PERSON, HASH_KEY.encode())
    kept = phone.call(Caller(SUPPORT, from_=PERSON, press="1"))
    assert "To keep your callback, press 1." in " ".join(kept.heard) and "callback is kept" in " ".join(
        kept.heard
    )
    assert store.of_caller(hashed) is not None
    cancelled = phone.call(Caller(SUPPORT, from_=PERSON, press="2,1,1"))
    assert "For English, press 1." in cancelled.heard  # the call goes on from the start
    assert store.of_caller(hashed) is None
    assert [s for s, _ in steps(server, cancelled.call_sid)].count("callback_cancelled") == 1


def test_redis_down_when_a_callback_is_requested_gives_voicemail_and_spools(seeded_night, tmp_path):
    server, gunicorn, cloud, workers, phone = seeded_night
    sent = []
    transport = http_transport()

    def stopping(url, params, headers, method="POST"):
        sent.append(url)
        if f"s={step_query.encode(NUMBER)}" in url:
            server.pause()  # Redis hangs as the caller confirms their number
        return transport(url, params, headers, method)

    try:
        t = Phone(gunicorn.base_url, TOKEN, stopping).call(Caller(SUPPORT, from_=PERSON, press="1,1,1,1,1"))
    finally:
        server.resume()
    heard = " ".join(t.heard)
    assert "will call you back" not in heard  # never promised what could not be recorded
    assert "leave your message after the tone" in heard
    assert all(status == 200 for status in t.statuses)
    server.settle()
    # both were spooled, maybe by different workers into their own files, which the chores
    # replay each in its own time: wait for both, not for the first
    wait_for(
        lambda: {"callback_unrecorded", "voicemail_left"} <= {s for s, _ in steps(server, t.call_sid)},
        20,
        what="the spool replay of callback_unrecorded and voicemail_left",
    )


def queue_flows(tmp_path: Path) -> Path:
    """The shipped flows with Scranton as a Twilio queue, where callers wait on hold."""
    folder = tmp_path / "queue"
    folder.mkdir()
    text = (FLOWS / "acme.toml").read_text()
    text = text.replace('connect = { number = "+15705550123" }', 'connect = { queue = "acme-scranton" }')
    text = text.replace('queues = ["acme-manila"]', 'queues = ["acme-manila", "acme-scranton"]')
    # the weighted route never draws Scranton here: every caller is disclosed, then asks
    route = (
        'centers = ["manila", "bangalore", "scranton"]\nstrategy = "weight"\n'
        "weights = { manila = 60, bangalore = 30, scranton = 10 }"
    )
    assert route in text
    text = text.replace(
        route,
        'centers = ["manila", "bangalore"]\nstrategy = "weight"\nweights = { manila = 60, bangalore = 30 }',
    )
    (folder / "acme.toml").write_text(text)
    return folder


def walk(phone: Phone, caller: Caller, keys: list[str]) -> ET.Element:
    """Post a call's first webhook, then each key to the prompt's action; the last document."""
    form = first_post(caller)
    status, _, body = phone.post("/voice", form)
    assert status == 200
    form["CallStatus"] = "in-progress"
    for key in keys:
        gather = ET.fromstring(body).find("Gather")
        assert gather is not None, body
        status, _, body = phone.post(gather.get("action", ""), {**form, "Digits": key})
        assert status == 200
    return ET.fromstring(body)


def on_hold(phone: Phone, caller: Caller, document: ET.Element) -> str:
    """One hold request of a caller enqueued by this document; the Enqueue's action URL."""
    enqueue = document.find("Enqueue")
    assert enqueue is not None and (enqueue.text or "").strip() == "acme-scranton"
    queue = {"QueueSid": "QU" + "0" * 32, "QueueTime": "0", "QueuePosition": "1", "CurrentQueueSize": "1"}
    status, _, _ = phone.post(
        enqueue.get("waitUrl", ""), {**first_post(caller), "CallStatus": "in-progress", **queue}
    )
    assert status == 200
    return enqueue.get("action", "")


def test_a_callback_keeps_its_place_between_earlier_and_later_live_callers(tmp_path):
    """A long domestic wait: a live caller who asked first is served first, the callback next,
    whatever live callers asked after it; the callback does not wait for them."""
    cloud = TwilioCloud(TOKEN).start()
    with serving(queue_flows(tmp_path), tmp_path / "spool") as (server, gunicorn):
        store = Store(connect(server.url, timeout=5))
        now = time.time()
        for i in range(10):  # the queue's recent waits: 25 minutes, past domestic_max_wait
            store.record_wait("scranton", f"CA{i:032d}", 1500, now - 60 * i)
        workers = Workers(worker_env(server.url, cloud.url, gunicorn.base_url))
        phone = Phone(gunicorn.base_url, TOKEN, http_transport())
        lines = CallbackStore(server.client())
        try:
            workers.start()
            first = Caller(SUPPORT, from_="+13125550101")
            # English, phone help, the US at the disclosure, then 3: keep waiting
            first_ends = on_hold(phone, first, walk(phone, first, ["1", "1", "1", "3"]))
            asker = Caller(SUPPORT, from_=PERSON)
            done = walk(phone, asker, ["1", "1", "1", "1", "1"])  # a callback at the number calling
            assert "will call you back" in ET.tostring(done, encoding="unicode")
            later = Caller(SUPPORT, from_="+13125550102")
            on_hold(phone, later, walk(phone, later, ["1", "1", "1", "3"]))
            members = [m for m, _ in lines.line("scranton")]
            assert [m.split(":")[0] for m in members] == ["live", "cb", "live"]
            assert members[0] == f"live:{first.call_sid}" and members[2] == f"live:{later.call_sid}"
            time.sleep(1.5)
            assert cloud.placed() == []  # the live caller who asked first is still ahead
            phone.post(
                first_ends,
                {
                    **first_post(first),
                    "CallStatus": "in-progress",
                    "QueueResult": "bridged",
                    "QueueTime": "40",
                },
            )  # an agent took the first caller: the callback is next
            wait_for(lambda: cloud.placed(PERSON), 20, what="the callback's call")
            assert f"live:{later.call_sid}" in [m for m, _ in lines.line("scranton")]  # still waiting
            cloud.settle()
        finally:
            workers.stop()
            cloud.stop()
