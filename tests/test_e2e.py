"""End-to-end calls over real HTTP: gunicorn (deploy/gunicorn.conf.py, 2 workers) in front of
a redis-server this module owns, with ivr.caller.Phone playing Twilio's part.

The flows are in tests/e2e_flows/ (every center open "24/7", so nothing depends on the clock):

    +18005550101 support  Manila -> overflow Bangalore -> domestic Scranton -> retry
                          (lists Manila, Bangalore, Dublin, Austin; only Austin is domestic)
    +18885550198 billing  Bangalore, then Scranton; Redis unreadable: cautious disclosure
    +18005550102 home     Scranton only (no disclosure due)
    +18005550103 support  exempt = "emergency"
    +18005550104 support  exempt = "foreign-business"
    +18005550105 roving   the "lisbon" center, whose city and country the tests change
    +18005550106 notice   texts saying "version one", changed to "version two" by a test
    +18005550107 support  exempt = "emergency", first called while Redis hangs

Caller numbers (From) come from ``new_caller()`` and are never company or center numbers,
so the privacy scan at the end can look for each of them in every Redis key.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import redis
import requests

from ivr import keys
from ivr.caller import Caller, Phone, Transcript, first_post
from ivr.cli import main
from ivr.evidence import caller_hash
from tests.conftest import FLOWS as ACME_FLOWS
from tests.conftest import HASH_KEY, TOKEN, http_transport, publish, serving, stream_entries
from tests.servers import Gunicorn, RedisServer, dump_redis, on_each_worker

FLOWS = Path(__file__).resolve().parent / "e2e_flows"
EVENTS = keys.EVENTS

SUPPORT, BILLING, HOME = "+18005550101", "+18885550198", "+18005550102"
EMERGENCY, FOREIGN, ROVING, NOTICE = "+18005550103", "+18005550104", "+18005550105", "+18005550106"
COLD_EMERGENCY = "+18005550107"  # never called before Redis hangs

MANILA = ("queue", "e2e-manila")
BANGALORE = ("sip", "sip:agents@bangalore.e2e.example.com")
LISBON = ("queue", "e2e-roving")
SCRANTON = ("number", "+15705550123")
AUSTIN = ("number", "+15125550188")
DOMESTIC_TARGETS = {SCRANTON, AUSTIN}

OFFER = "To speak with an agent in the United States, press 1 or say 'agent'."
MANILA_DISCLOSURE = "Your call will be answered by our team in Manila, the Philippines."
BANGALORE_DISCLOSURE = "Your call will be answered by our team in Bangalore, India."
CAUTIOUS = (
    "Your call may be answered by an agent outside the United States. "
    "To speak with an agent in the United States, press 1 or say 'agent'."
)
SUPPORT_GREETING = "Thank you for calling the end to end support line."
BILLING_GREETING = "Thank you for calling the end to end billing line."
HOME_GREETING = "Thank you for calling the end to end home line."
UNAVAILABLE = "We are sorry, no agent can take your call right now. Please call again later."

# Answer times while Redis is hung or down are printed, not asserted (a busy machine would
# fail them): bench/outage_bench.py checks the one-second target.
# Webhook Rules' SharedKeys the servers accept (TWILIO_WEBHOOK_SHARED_KEYS), mid-rotation
SHARED_KEYS = (
    ("webhooks_sharedkey_01old", "old-secret-of-a-rule"),
    ("webhooks_sharedkey_02new", "new-secret-of-a-rule"),
)

REPORT_TOKEN = "e2e-report-token"
CALLERS: set[str] = set()  # every From number used in this module
_next_caller = iter(range(100, 1000))


def new_caller() -> str:
    """A fresh caller number (US, fictional 555-0100..0999), remembered for the privacy scan."""
    number = f"+1202555{next(_next_caller):04d}"
    CALLERS.add(number)
    return number


# -- servers ---------------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    status: int
    seconds: float
    body: str


@dataclass
class Recorder:
    """A transport over real HTTP (200s checked as TwiML) that times every request and can
    run a hook just before its n-th request (counted from 0 over all calls it carries)."""

    requests: list[Request] = field(default_factory=list)
    hooks: dict[int, Callable[[], None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._send = http_transport(timeout=5.0)

    def __call__(self, url: str, params: dict[str, str], headers: dict[str, str], method: str = "POST"):
        hook = self.hooks.pop(len(self.requests), None)
        if hook is not None:
            hook()
        start = time.monotonic()
        status, ctype, body = self._send(url, params, headers, method)
        self.requests.append(Request(urlsplit(url).path, status, time.monotonic() - start, body))
        return status, ctype, body


@dataclass
class Stack:
    redis: RedisServer
    gunicorn: Gunicorn

    def phone(self, recorder: Recorder | None = None) -> Phone:
        return Phone(self.gunicorn.base_url, TOKEN, recorder or http_transport())

    def client(self) -> redis.Redis:
        return self.redis.client()

    def get(self, path: str) -> requests.Response:
        return requests.get(self.gunicorn.base_url + path, timeout=5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # A private evidence spool: what these workers spool while the test Redis is down must
    # never be replayed by another process into another Redis.
    shared_keys = ",".join(f"{kid}:{secret}" for kid, secret in SHARED_KEYS)
    with serving(
        FLOWS,
        tmp_path_factory.mktemp("spool"),
        TWILIO_WEBHOOK_SHARED_KEYS=shared_keys,
        IVR_REPORT_TOKEN=REPORT_TOKEN,
    ) as (server, gunicorn):
        yield Stack(server, gunicorn)


@pytest.fixture(autouse=True)
def back_to_normal(stack):
    """Whatever a test did to Redis or the configuration, the next one starts from normal."""
    yield
    if stack.redis.proc is None:
        stack.redis.start()
    else:
        stack.redis.resume()
    publish(stack.redis.url, FLOWS)  # unchanged flows keep their versions
    stack.redis.settle()


# -- reading answers and evidence ---------------------------------------------------------------


def root(body: str) -> ET.Element:
    return ET.fromstring(body)


def gather_action(body: str) -> str:
    gather = root(body).find("Gather")
    assert gather is not None, body
    return gather.get("action", "")


def redirect_url(body: str) -> str:
    redirect = root(body).find("Redirect")
    assert redirect is not None, body
    return redirect.text or ""


def bridge_verb(body: str) -> ET.Element:
    verbs = [v for v in root(body) if v.tag in ("Dial", "Enqueue")]
    assert len(verbs) == 1, body
    return verbs[0]


def says(body: str) -> list[str]:
    return [e.text or "" for e in root(body).iter("Say")]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def events(stack: Stack, sid: str) -> list[dict[str, str]]:
    """The call's evidence, in stream order."""
    return [fields for _, fields in stream_entries(stack.client()) if fields.get("call") == sid]


def steps(evs: list[dict[str, str]]) -> list[str]:
    return [e["step"] for e in evs]


def only(evs: list[dict[str, str]], step: str) -> dict[str, str]:
    found = [e for e in evs if e["step"] == step]
    assert len(found) == 1, f"expected one {step} event, got {steps(evs)}"
    return found[0]


def first_line(t: Transcript, text: str) -> int:
    for i, line in enumerate(t.lines):
        if text in line:
            return i
    raise AssertionError(f"{text!r} not in transcript:\n{t}")


def bridge_lines(t: Transcript) -> list[int]:
    return [i for i, line in enumerate(t.lines) if line.startswith("  bridged to ")]


OFFSHORE_DISCLOSURE = {MANILA: "Manila, the Philippines", BANGALORE: "Bangalore, India"}


def assert_no_undisclosed_offshore_bridge(t: Transcript) -> None:
    """Every bridge to an offshore target comes after, in this call, a disclosure naming
    that center's city and country, or the cautious disclosure, always with the offer."""
    assert len(bridge_lines(t)) == len(t.bridges)
    for line_no, target in zip(bridge_lines(t), t.bridges, strict=True):
        if target in DOMESTIC_TARGETS:
            continue
        place = OFFSHORE_DISCLOSURE.get(target)
        assert place is not None, f"bridged to unexpected target {target}:\n{t}"
        before = [line for line in t.lines[:line_no] if line.startswith("  hears: ")]
        told = [i for i, h in enumerate(before) if place in h or "may be answered" in h]
        assert told and any(OFFER in h for h in before[told[-1] :]), (
            f"bridged to offshore {target} without hearing where the agent is:\n{t}"
        )


def call(stack: Stack, to: str, **kwargs) -> tuple[Transcript, list[dict[str, str]]]:
    t = stack.phone().call(Caller(to, from_=new_caller(), **kwargs))
    assert t.statuses and all(s == 200 for s in t.statuses), t
    return t, events(stack, t.call_sid)


def live_version(stack: Stack, flow: str) -> str:
    live = stack.client().hget(keys.FLOWS, flow)  # "version:digest"
    assert live is not None, flow
    return live.decode().partition(":")[0]


# -- health ----------------------------------------------------------------------------------


def assert_health(stack: Stack, ready: int) -> None:
    r = stack.get("/healthz")
    assert (r.status_code, r.text) == (200, "ok\n")
    r = stack.get("/readyz")
    assert (r.status_code, r.text) == ((200, "ready\n") if ready == 200 else (503, "redis unavailable\n"))


def test_healthz_and_readyz_answer_200(stack):
    on_each_worker(stack.gunicorn, lambda: assert_health(stack, 200))


# -- disclosure, transfer, exemptions -----------------------------------------------------------


def test_offshore_center_discloses_city_country_and_offer_before_the_bridge(stack):
    t, evs = call(stack, SUPPORT)

    assert t.heard == [SUPPORT_GREETING, MANILA_DISCLOSURE, OFFER]
    assert t.bridges == [MANILA]
    assert first_line(t, MANILA_DISCLOSURE) < bridge_lines(t)[0]
    first = root(t.documents[0])
    assert first.find("Gather") is not None and first.find("Enqueue") is None, t.documents[0]
    assert bridge_verb(t.documents[1]).get("waitUrl", "").startswith("/voice/wait?")

    names = steps(evs)
    assert names.count("disclosed") == 1 and names.count("offered") == 1, names
    assert names.count("bridged") == 1, names
    assert names.index("disclosed") < names.index("bridged")
    assert names.index("offered") < names.index("bridged")
    disclosed = only(evs, "disclosed")
    assert (disclosed["center"], disclosed["city"], disclosed["country"]) == ("manila", "Manila", "PH")
    assert disclosed["text"] == MANILA_DISCLOSURE and disclosed["language"] == "en-US"
    offered = only(evs, "offered")
    assert offered["text"] == OFFER and offered["key"] == "1"
    assert "agent" in offered["keywords"].split("|")
    bridged = only(evs, "bridged")
    assert (bridged["center"], bridged["country"], bridged["target"], bridged["domestic"]) == (
        "manila",
        "PH",
        "queue",
        "false",
    )
    received = only(evs, "received")
    assert (received["flow"], received["number"], received["caller_country"], received["fresh"]) == (
        "support",
        SUPPORT,
        "US",
        "true",
    )
    assert only(evs, "status")["status"] == "completed"


def test_stray_input_at_the_disclosure_hears_the_offer_again_and_is_never_bridged(stack):
    """Issue 9, point 1, over the wire: "hello?" and key 3 at the disclosure step are not
    consent. Each gets the offer again (no bridge); a third miss goes home, never offshore."""
    phone = stack.phone()
    caller = Caller(SUPPORT, from_=new_caller())
    params = first_post(caller)
    status, _, body = phone.post("/voice", params)
    assert status == 200
    verbs = [v.tag for v in root(body)]
    assert verbs == ["Say", "Say", "Gather", "Redirect"], body  # the location before the Gather
    assert root(body)[1].text == MANILA_DISCLOSURE
    assert [s.text for s in root(body).find("Gather")] == [OFFER]
    assert root(body).find("Gather").get("finishOnKey") == ""
    params["CallStatus"] = "in-progress"

    for answer in ({"SpeechResult": "hello?", "Confidence": "0.91"}, {"Digits": "3"}):
        status, _, body = phone.post(gather_action(body), {**params, **answer})
        assert status == 200
        assert [v.tag for v in root(body)] == ["Gather", "Redirect"], body  # no Enqueue, no Dial
        assert says(body) == [OFFER]
    status, _, body = phone.post(gather_action(body), {**params, "Digits": "3"})
    assert bridge_verb(body).tag == "Dial" and bridge_verb(body)[0].text == SCRANTON[1]

    evs = events(stack, caller.call_sid)
    ended = [(e["ended"], e["matched"], e["result"]) for e in evs if e["step"] == "offer_ended"]
    assert ended == [
        ("speech", "unrecognised", "again"),
        ("key", "unrecognised", "again"),
        ("key", "unrecognised", "invalid"),
    ]
    assert [e["attempt"] for e in evs if e["step"] == "offered"] == ["1", "2", "3"]
    assert only(evs, "disclosed")["prompt"] == "alone"
    assert [e["center"] for e in evs if e["step"] == "bridged"] == ["scranton"]
    assert "transfer_requested" not in steps(evs)
    assert not any("hello" in value for e in evs for value in e.values())  # speech never kept


def test_a_caller_who_barges_in_with_3_hears_the_offer_cut_then_again(stack):
    t, evs = call(stack, SUPPORT, press="3", barge_in=True)

    assert t.heard == [SUPPORT_GREETING, MANILA_DISCLOSURE, OFFER, OFFER]
    assert "    ^ cut off by key 3 while it played (barge-in)" in t.lines
    assert t.bridges == [MANILA]  # after the silence that followed the second offer
    assert [e["result"] for e in evs if e["step"] == "offer_ended"] == ["again", "next"]
    assert_no_undisclosed_offshore_bridge(t)


@pytest.mark.parametrize(
    "how, caller_input, recorded",
    [
        ("key", {"press": "1"}, "key 1"),
        ("voice", {"say": "agent"}, "said 'agent'"),
        ("sentence", {"say": "Can I talk to an Agent, please?"}, "said 'agent'"),
    ],
)
def test_transfer_request_reaches_the_domestic_center(stack, how, caller_input, recorded):
    t, evs = call(stack, SUPPORT, **caller_input)

    assert t.heard == [SUPPORT_GREETING, MANILA_DISCLOSURE, OFFER]
    assert t.bridges == [SCRANTON], t
    requested = only(evs, "transfer_requested")
    assert (requested["how"], requested["center"]) == (recorded, "manila")
    bridged = only(evs, "bridged")
    assert (bridged["center"], bridged["country"], bridged["domestic"]) == ("scranton", "US", "true")
    assert steps(evs).index("transfer_requested") < steps(evs).index("bridged")


@pytest.mark.parametrize(
    "from_, reason",
    [
        ("anonymous", "anonymous"),
        ("Restricted", "restricted"),
        ("", "withheld"),
        ("2025550143", "not-e164"),
        ("+19995550143", "invalid"),
        ("+266696687", "invalid"),
    ],
)
def test_a_withheld_or_invalid_caller_id_asking_for_the_us_is_bridged_showing_the_number_dialed(
    stack, from_, reason
):
    # Twilio warning 13214: a <Dial> without callerId passes the caller's ID on, and the
    # called network may refuse a withheld or invalid one; the called number is accepted.
    t = stack.phone().call(Caller(SUPPORT, from_=from_, press="1"))
    assert t.statuses and set(t.statuses) == {200}, t
    assert t.bridges == [SCRANTON], t
    dial = bridge_verb(t.documents[-2])
    assert dial.tag == "Dial" and dial.get("callerId") == SUPPORT, t.documents[-2]
    evs = events(stack, t.call_sid)
    shown = only(evs, "caller_id")
    assert (shown["reason"], shown["shown"], shown["center"]) == (reason, "called-number", "scranton")
    assert steps(evs).index("bridged") < steps(evs).index("caller_id")
    if any(c.isdigit() for c in from_):  # the caller's number is only ever a keyed hash
        assert all(from_ not in value for e in evs for value in e.values())


def test_a_valid_caller_id_is_passed_on_as_it_is(stack):
    t, evs = call(stack, SUPPORT, press="1")
    assert bridge_verb(t.documents[-2]).get("callerId") is None
    assert "caller_id" not in steps(evs)


def hold_documents(t: Transcript) -> list[ET.Element]:
    """The answers to the call's waitUrl requests, in order (a <Leave/> ends the hold)."""
    return [
        root(d)
        for d in t.documents
        if root(d).find("Leave") is not None or root(d).find("Gather/Play") is not None
    ]


def assert_holds_with_music_and_the_offer(document: ET.Element) -> None:
    """A hold document: the offer and music inside a Gather for the key, at most 2 s of
    silence (no Pause, a short timeout), never a hang-up."""
    gather = document.find("Gather")
    assert gather is not None and [v.tag for v in document] == ["Gather"], ET.tostring(document)
    assert gather.get("input") == "dtmf" and int(gather.get("timeout", "5")) <= 2
    assert any("press 1" in (s.text or "") for s in gather.iter("Say"))
    assert gather.find("Play") is not None and document.find(".//Pause") is None


def test_transfer_key_on_hold_leaves_the_queue_for_the_domestic_center(stack):
    phone = stack.phone()
    caller = Caller(SUPPORT, from_=new_caller())
    wait = "/voice/wait?" + urlencode({"f": "support", "v": live_version(stack, "support")})
    hold_params = {
        **first_post(caller),
        "CallStatus": "in-progress",
        "QueuePosition": "3",
        "QueueTime": "100",
        "AvgQueueTime": "60",
        "CurrentQueueSize": "3",
    }
    status, _, body = phone.post(wait, hold_params)
    assert status == 200
    gather = root(body).find("Gather")
    assert gather is not None and gather.get("action") == wait, body
    assert says(body) == ["To speak with an agent in the United States, press 1 at any time."]
    assert_holds_with_music_and_the_offer(root(body))
    status, _, body = phone.post(wait, {**hold_params, "Digits": "1"})
    assert status == 200 and [v.tag for v in root(body)] == ["Leave"], body

    # A whole call: the key on hold, then Twilio reports QueueResult=leave on the action.
    t = phone.call(Caller(SUPPORT, from_=caller.from_, wait=60, hold_press="1"))
    evs = events(stack, t.call_sid)
    assert t.bridges == [MANILA, SCRANTON], t
    assert only(evs, "transfer_requested")["how"] == "key during hold"
    assert "wait_limit" not in steps(evs)
    assert [e["center"] for e in evs if e["step"] == "bridged"] == ["manila", "scranton"]


# The day this module began: its reports span it and the next, so a report taken before a
# call and one taken after it count the same calls even when midnight UTC fell between them.
BEGAN = datetime.now(UTC).date()


def todays_report(stack: Stack) -> dict:
    period = f"from={BEGAN}&to={BEGAN + timedelta(days=1)}"
    r = requests.get(
        f"{stack.gunicorn.base_url}/reports?{period}&format=json",
        headers={"Authorization": f"Bearer {REPORT_TOKEN}"},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_a_caller_who_hangs_up_in_the_queue_is_an_abandon_not_an_answer(stack):
    before = todays_report(stack)
    # The caller hangs up on hold: Twilio posts QueueResult=hangup (and the caller's own
    # CallStatus=completed) to the <Enqueue> action.
    t, evs = call(stack, SUPPORT, outcomes=["hangup"])
    after = todays_report(stack)

    assert t.bridges == [MANILA], t  # no overflow to Bangalore for a caller who is gone
    ended = only(evs, "bridge_ended")
    assert (ended["status"], ended["outcome"], ended["wait"]) == ("hangup", "gone", "12")
    assert steps(evs).count("bridged") == 1 and "transfer_requested" not in steps(evs)
    assert after["volume"]["calls_received"] == before["volume"]["calls_received"] + 1
    assert after["volume"]["offshore_calls"] == before["volume"]["offshore_calls"]  # not answered
    assert after["volume"]["offshore_bridges"] == before["volume"]["offshore_bridges"] + 1
    assert after["waits"]["abandoned_calls"] == before["waits"]["abandoned_calls"] + 1
    manila = {c["center"]: c for c in after["waits"]["by_center"]}["manila"]
    was = {c["center"]: c for c in before["waits"]["by_center"]}.get("manila", {"abandoned": 0})
    assert manila["abandoned"] == was["abandoned"] + 1
    assert "answered" in after["definitions"]["Offshore call"]


def test_a_wait_past_max_wait_leaves_the_queue_for_the_overflow_never_as_a_transfer(stack):
    recorder = Recorder()
    t = stack.phone(recorder).call(Caller(SUPPORT, from_=new_caller(), wait=3600))
    evs = events(stack, t.call_sid)

    assert set(t.statuses) == {200}, t
    waits = [r for r in recorder.requests if r.path == "/voice/wait"]
    holds = hold_documents(t)
    assert len(waits) == len(holds) >= 3, t  # Twilio asked again and again, QueueTime growing
    for document in holds[:-1]:
        assert_holds_with_music_and_the_offer(document)
    assert [v.tag for v in holds[-1]] == ["Leave"]
    # After the Leave, the overflow: Bangalore disclosed before its bridge.
    assert t.bridges == [MANILA, BANGALORE], t
    assert t.heard[-2:] == [BANGALORE_DISCLOSURE, OFFER]
    limit = only(evs, "wait_limit")
    assert (limit["center"], limit["max_wait"]) == ("manila", "120")
    assert int(limit["queue_time"]) >= 120
    ended = [e for e in evs if e["step"] == "bridge_ended"]
    assert (ended[0]["status"], ended[0]["left"]) == ("leave", "wait-limit")
    assert "transfer_requested" not in steps(evs)
    names = steps(evs)
    assert (
        names.index("wait_limit")
        < names.index("bridge_ended")
        < names.index("disclosed", names.index("bridge_ended"))
    )
    assert [e["center"] for e in evs if e["step"] == "disclosed"] == ["manila", "bangalore"]


def test_domestic_center_needs_no_disclosure_and_is_bridged_straight_away(stack):
    t, evs = call(stack, HOME)

    assert t.heard == [HOME_GREETING]
    assert t.bridges == [SCRANTON]
    first = root(t.documents[0])
    assert first.find("Gather") is None
    assert bridge_verb(t.documents[0]).findtext("Number") == "+15705550123"
    assert "disclosed" not in steps(evs) and "offered" not in steps(evs), steps(evs)
    exempt = only(evs, "exempt")
    assert (exempt["reason"], exempt["center"]) == ("domestic-center", "scranton")
    assert only(evs, "bridged")["domestic"] == "true"


@pytest.mark.parametrize("number, reason", [(EMERGENCY, "emergency"), (FOREIGN, "foreign-business")])
def test_exempt_number_is_bridged_without_disclosure_and_the_reason_recorded(stack, number, reason):
    t, evs = call(stack, number)

    assert t.heard == [SUPPORT_GREETING]
    assert t.bridges == [MANILA]
    assert root(t.documents[0]).find("Gather") is None
    assert bridge_verb(t.documents[0]).text == "e2e-manila"
    assert "disclosed" not in steps(evs) and "offered" not in steps(evs), steps(evs)
    exempt = only(evs, "exempt")
    assert (exempt["reason"], exempt["center"]) == (reason, "manila")
    assert only(evs, "received")["exempt"] == reason
    bridged = only(evs, "bridged")
    assert (bridged["center"], bridged["domestic"]) == ("manila", "false")


# -- overflow and failed domestic bridges ----------------------------------------------------------


def test_overflow_to_another_country_discloses_the_new_center_before_the_second_bridge(stack):
    t, evs = call(stack, SUPPORT, outcomes=["queue-full"])

    assert t.bridges == [MANILA, BANGALORE], t
    assert t.heard == [SUPPORT_GREETING, MANILA_DISCLOSURE, OFFER, BANGALORE_DISCLOSURE, OFFER]
    first_bridge, second_bridge = bridge_lines(t)
    assert (
        first_line(t, MANILA_DISCLOSURE) < first_bridge < first_line(t, BANGALORE_DISCLOSURE) < second_bridge
    )
    assert_no_undisclosed_offshore_bridge(t)

    disclosed = [e for e in evs if e["step"] == "disclosed"]
    assert [(e["city"], e["country"]) for e in disclosed] == [("Manila", "PH"), ("Bangalore", "IN")]
    assert steps(evs).count("offered") == 2
    assert [e["status"] for e in evs if e["step"] == "bridge_ended"] == ["queue-full", "completed"]
    names = steps(evs)
    second_disclosure = [i for i, n in enumerate(names) if n == "disclosed"][1]
    second_bridged = [i for i, n in enumerate(names) if n == "bridged"][1]
    assert names.index("bridge_ended") < second_disclosure < second_bridged
    assert evs[second_bridged]["center"] == "bangalore"


def test_requested_domestic_transfer_that_fails_never_ends_offshore(stack):
    t, evs = call(stack, SUPPORT, press="1", outcomes=["busy"])

    assert t.bridges == [SCRANTON], t
    assert t.heard[-1] == UNAVAILABLE
    assert root(t.documents[-1]).find("Hangup") is not None
    assert only(evs, "bridge_ended")["status"] == "busy"
    assert only(evs, "unavailable")["reason"] == "domestic bridge failed"


def test_the_domestic_agent_hears_the_whisper_and_presses_1_before_the_caller_is_connected(stack):
    # Twilio's cloud cannot run here: Phone plays the answering leg as Twilio does, requesting
    # the <Number url> on it before the bridge (https://www.twilio.com/docs/voice/twiml/number).
    t, evs = call(stack, SUPPORT, press="1")

    number = bridge_verb(t.documents[-2]).find("Number")
    assert number is not None and number.get("url", "").startswith("/voice/confirm?"), t
    assert t.whispers == [
        "Onshore call. The caller speaks English. They asked for an agent "
        "in the United States. Press 1 to take the call."
    ], t
    confirm = only(evs, "confirm")
    assert (confirm["outcome"], confirm["key"], confirm["center"]) == ("accepted", "1", "scranton")
    assert confirm["caller"] == only(evs, "received")["caller"]  # on the caller's own call
    ended = only(evs, "bridge_ended")
    assert (ended["status"], ended["bridged"], ended["outcome"]) == ("completed", "true", "answered")
    assert steps(evs).index("bridged") < steps(evs).index("confirm") < steps(evs).index("bridge_ended")


@pytest.mark.parametrize("answer, key", [("declined", "2"), ("voicemail", "")])
def test_a_declined_whisper_or_a_voicemail_is_a_failed_bridge_not_an_answer(stack, answer, key):
    # the SUPPORT flow's domestic state: Scranton, then on_failure overflow to Austin
    t, evs = call(stack, SUPPORT, outcomes=["queue-full", "busy", answer])

    assert t.bridges == [MANILA, BANGALORE, SCRANTON, AUSTIN], t
    assert len(t.whispers) == 2, t  # Scranton's leg, then Austin's (accepted)
    ended = [e for e in evs if e["step"] == "bridge_ended"]
    assert [(e["center"], e["status"], e.get("bridged", ""), e["outcome"]) for e in ended] == [
        ("manila", "queue-full", "", "failed"),
        ("bangalore", "busy", "false", "failed"),
        ("scranton", "completed", "false", "failed"),
        ("austin", "completed", "true", "answered"),
    ]
    confirms = [(e["center"], e["outcome"], e["key"]) for e in evs if e["step"] == "confirm"]
    assert confirms == ([("scranton", "declined", key)] if key else []) + [("austin", "accepted", "1")]


def test_a_whisper_request_not_signed_by_twilio_is_refused_and_writes_nothing(stack):
    t, _ = call(stack, SUPPORT, press="1")
    url = bridge_verb(t.documents[-2]).find("Number").get("url")
    client = stack.client()
    before = client.xlen(EVENTS), dump_redis(client)
    params = {"CallSid": "CA" + "9" * 32, "ParentCallSid": t.call_sid, "Digits": "1"}
    wrong = Phone(stack.gunicorn.base_url, "0" * 32, http_transport())
    assert wrong.post(url, params)[0] == 403
    assert (client.xlen(EVENTS), dump_redis(client)) == before


def test_flow_domestic_destination_busy_goes_on_to_domestic_centers_only(stack):
    # Manila busy, Bangalore busy, Scranton (the flow's domestic state) busy: its on_failure
    # overflow lists Manila, Bangalore, Dublin (untried, offshore) and Austin: only Austin
    # may be chosen, and nothing about Dublin may be said.
    t, evs = call(stack, SUPPORT, outcomes=["queue-full", "busy", "busy"])

    assert t.bridges == [MANILA, BANGALORE, SCRANTON, AUSTIN], t
    assert not any("Dublin" in h for h in t.heard), t
    assert_no_undisclosed_offshore_bridge(t)
    after_domestic = t.bridges[t.bridges.index(SCRANTON) :]
    assert set(after_domestic) <= DOMESTIC_TARGETS
    bridged = [e for e in evs if e["step"] == "bridged"]
    assert [(e["center"], e["domestic"]) for e in bridged] == [
        ("manila", "false"),
        ("bangalore", "false"),
        ("scranton", "true"),
        ("austin", "true"),
    ]
    assert [e["reason"] for e in evs if e["step"] == "exempt"] == ["domestic-center"]


def test_every_bridge_of_a_long_failover_chain_is_in_the_evidence(stack):
    # Every bridge busy: Manila, Bangalore, Scranton (domestic state), Austin; then the
    # exhausted overflow leads to the domestic state again: Scranton a second time.
    t, evs = call(stack, SUPPORT, outcomes=["queue-full"] + ["busy"] * 5)

    assert t.bridges == [MANILA, BANGALORE, SCRANTON, AUSTIN, SCRANTON], t
    assert_no_undisclosed_offshore_bridge(t)
    assert set(t.bridges[2:]) <= DOMESTIC_TARGETS
    assert [e["center"] for e in evs if e["step"] == "bridged"] == [
        "manila",
        "bangalore",
        "scranton",
        "austin",
        "scranton",
    ]
    assert steps(evs).count("bridge_ended") == 5


# -- configuration changes without restart -----------------------------------------------------------


def test_center_location_change_is_heard_on_the_very_next_call(stack, tmp_path):
    t, evs = call(stack, ROVING)
    assert "Your call will be answered by our team in Lisbon, Portugal." in t.heard[1]
    assert t.bridges == [LISBON]

    # An operator edits the center and publishes the folder.
    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder)
    centers = folder / "centers.toml"
    text = centers.read_text()
    text = (
        text.replace('city = "Lisbon"', 'city = "Warsaw"')
        .replace('country = "PT"', 'country = "PL"')
        .replace('"Europe/Lisbon"', '"Europe/Warsaw"')
    )
    centers.write_text(text)
    publish(stack.redis.url, folder)

    t, evs = call(stack, ROVING)
    assert t.heard[1:3] == ["Your call will be answered by our team in Warsaw, Poland.", OFFER]
    assert not any("Lisbon" in h or "Portugal" in h for h in t.heard)
    disclosed = only(evs, "disclosed")
    assert (disclosed["city"], disclosed["country"]) == ("Warsaw", "PL")
    assert only(evs, "routed")["country"] == "PL"
    assert t.bridges == [LISBON]

    # The center moves back while a caller who heard "Warsaw" waits for the bridge: that
    # caller must not be bridged there unless told "Lisbon" first (R4).
    phone = stack.phone()
    caller = Caller(ROVING, from_=new_caller())
    params = first_post(caller)
    status, _, body = phone.post("/voice", params)
    assert status == 200 and "Warsaw, Poland" in says(body)[1]
    publish(stack.redis.url, FLOWS)
    status, _, body = phone.post(redirect_url(body), {**params, "CallStatus": "in-progress"})
    assert status == 200
    tags = [v.tag for v in root(body)]
    if "Enqueue" in tags:
        raise AssertionError(f"bridged to the moved center without a new disclosure: {body}")
    if "Gather" in tags:
        assert any("Lisbon, Portugal" in text for text in says(body)), body
    else:
        assert bridge_verb(body).findtext("Number") == "+15125550188", body  # home: Austin

    # Someone moves the center home by writing the hash directly: no disclosure is due.
    client = stack.client()
    doc = json.loads(client.hget(keys.CENTERS, "lisbon"))
    doc.update(city="Boston", country="US", timezone="America/New_York")
    client.hset(keys.CENTERS, "lisbon", json.dumps(doc, sort_keys=True))

    t, evs = call(stack, ROVING)
    assert t.heard == ["Thank you for calling the end to end roving line."]
    assert "disclosed" not in steps(evs)
    assert only(evs, "exempt")["reason"] == "domestic-center"
    bridged = only(evs, "bridged")
    assert (bridged["country"], bridged["domestic"]) == ("US", "true")


def test_call_in_progress_keeps_its_flow_version(stack, tmp_path):
    phone = stack.phone()
    live = publish(stack.redis.url, FLOWS)
    old = live["notice"]
    caller = Caller(NOTICE, from_=new_caller())
    params = first_post(caller)
    status, _, body = phone.post("/voice", params)
    assert status == 200
    assert says(body)[0] == "Welcome to the notice line, version one."
    action = gather_action(body)
    assert query(action)["v"] == str(old)

    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder)
    notice = folder / "notice.toml"
    notice.write_text(notice.read_text().replace("version one", "version two"))
    new = publish(stack.redis.url, folder)["notice"]
    assert new == old + 1

    # The caller lets the offer pass in silence: the call goes on, on its own version.
    params["CallStatus"] = "in-progress"
    status, _, body = phone.post(redirect_url(body), params)
    assert status == 200
    assert says(body) == ["Connecting you now, version one."]
    enqueue = bridge_verb(body)
    assert enqueue.text == "e2e-manila" and query(enqueue.get("action", ""))["v"] == str(old)
    status, _, body = phone.post(
        enqueue.get("action", ""), {**params, "QueueResult": "bridged", "QueueTime": "20"}
    )
    assert status == 200 and root(body).find("Hangup") is not None
    assert only(events(stack, caller.call_sid), "received")["version"] == str(old)

    t, evs = call(stack, NOTICE)
    assert t.heard == [
        "Welcome to the notice line, version two.",
        MANILA_DISCLOSURE,
        OFFER,
        "Connecting you now, version two.",
    ]
    assert only(evs, "received")["version"] == str(new)


# -- replays and signatures ------------------------------------------------------------------------


def test_replayed_webhooks_get_identical_twiml_and_add_no_events(stack):
    phone = stack.phone()
    client = stack.client()
    caller = Caller(SUPPORT, from_=new_caller())
    params = first_post(caller)

    def count() -> tuple[int, int]:
        return len(events(stack, caller.call_sid)), client.xlen(EVENTS)

    status, _, first = phone.post("/voice", params)
    assert status == 200
    after_first = count()
    assert steps(events(stack, caller.call_sid)) == ["received", "routed", "disclosed", "offered"]
    for _ in range(3):  # replays may land on either worker
        status, _, again = phone.post("/voice", params)
        assert status == 200 and again == first
        assert count() == after_first

    params["CallStatus"] = "in-progress"
    step = redirect_url(first)
    status, _, bridged = phone.post(step, params)
    assert status == 200 and bridge_verb(bridged).text == "e2e-manila"
    after_step = count()
    assert after_step[0] == after_first[0] + 2  # offer_ended, bridged
    for _ in range(3):
        status, _, again = phone.post(step, params)
        assert status == 200 and again == bridged
        assert count() == after_step

    done = bridge_verb(bridged).get("action", "")
    ended = {**params, "QueueResult": "bridged", "QueueTime": "30"}
    status, _, hangup = phone.post(done, ended)
    after_end = count()
    assert after_end[0] == after_step[0] + 1  # bridge_ended
    status, _, again = phone.post(done, ended)
    assert again == hangup and count() == after_end

    names = steps(events(stack, caller.call_sid))
    assert names == ["received", "routed", "disclosed", "offered", "offer_ended", "bridged", "bridge_ended"]


def test_unsigned_or_badly_signed_requests_get_403_and_write_nothing(stack):
    phone = stack.phone()
    client = stack.client()
    caller = Caller(SUPPORT, from_=new_caller())
    params = first_post(caller)
    base = stack.gunicorn.base_url
    step = "/voice/step?" + urlencode(
        {
            "f": "support",
            "v": live_version(stack, "support"),
            "s": "bridge",
            "c": "manila",
            "t": "manila",
            "h": "Manila|PH",
        }
    )
    tampered_step = step.replace("c=manila", "c=scranton")
    wrong = Phone(base, "0" * 32, http_transport())

    def snapshot():
        return client.xlen(EVENTS), dump_redis(client)

    before = snapshot()
    attempts = {
        "no signature": lambda: phone.transport(base + "/voice", params, {}),
        "empty signature": lambda: phone.transport(base + "/voice", params, {"X-Twilio-Signature": ""}),
        "wrong token": lambda: wrong.post("/voice", params),
        "form changed after signing": lambda: phone.transport(
            base + "/voice",
            {**params, "To": HOME},
            {"X-Twilio-Signature": phone.validator.compute_signature(base + "/voice", params)},
        ),
        "https signed, http requested": lambda: phone.transport(
            base + "/voice",
            params,
            {
                "X-Twilio-Signature": phone.validator.compute_signature(
                    base.replace("http://", "https://") + "/voice", params
                )
            },
        ),
        "step query changed after signing": lambda: phone.transport(
            base + tampered_step,
            params,
            {"X-Twilio-Signature": phone.validator.compute_signature(base + step, params)},
        ),
        "status unsigned": lambda: phone.transport(
            base + "/voice/status", {**params, "CallStatus": "completed"}, {}
        ),
        "wait wrong token": lambda: wrong.post("/voice/wait?f=support&v=1", params),
    }
    for what, attempt in attempts.items():
        status, _, _ = attempt()
        assert status == 403, what
        assert snapshot() == before, f"{what}: Redis changed"
    assert not client.exists(keys.call_steps(caller.call_sid))

    # The same request signed properly is served and recorded: the 403s were the signature.
    status, _, _ = phone.post("/voice", params)
    assert status == 200
    assert client.xlen(EVENTS) > before[0]


def test_a_webhook_rules_shared_key_signs_whole_calls_and_the_auth_token_cannot_stand_in(stack):
    # Twilio's cloud cannot run here: Phone signs as a Webhook Rule whose Setting names a
    # SharedKey (https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys), HMAC-SHA256
    # under the key's secret with X-Twilio-Webhooks-Signature-Settings naming it.
    base = stack.gunicorn.base_url
    for key in SHARED_KEYS:  # both keys of the rotation sign calls that go through
        phone = Phone(base, TOKEN, http_transport(), shared_key=key)
        t = phone.call(Caller(SUPPORT, from_=new_caller(), press="1"))
        assert t.statuses and set(t.statuses) == {200}, t
        assert t.bridges == [SCRANTON], t
        names = steps(events(stack, t.call_sid))
        assert names[0] == "received" and "bridged" in names and names[-1] == "status", names

    # The auth token under a settings header is not what Twilio does: refused, nothing written.
    client = stack.client()
    params = first_post(Caller(SUPPORT, from_=new_caller()))
    before = client.xlen(EVENTS), dump_redis(client)
    forged = [
        Phone(base, TOKEN, http_transport(), shared_key=(SHARED_KEYS[1][0], TOKEN)),
        Phone(base, TOKEN, http_transport(), shared_key=("webhooks_sharedkey_03gone", "x")),
        Phone(base, TOKEN, http_transport(), shared_key=(SHARED_KEYS[1][0], SHARED_KEYS[0][1])),
    ]
    for phone in forged:
        assert phone.post("/voice", params)[0] == 403, phone.shared_key
        assert (client.xlen(EVENTS), dump_redis(client)) == before
    # the same request signed by the named key is served
    assert Phone(base, TOKEN, http_transport(), shared_key=SHARED_KEYS[1]).post("/voice", params)[0] == 200


def test_a_status_callback_configured_as_get_is_checked_and_recorded(stack):
    base = stack.gunicorn.base_url
    phone = Phone(base, TOKEN, http_transport(), status_method="GET")
    t = phone.call(Caller(HOME, from_=new_caller()))
    assert "status callback" not in str(t), t
    status = only(events(stack, t.call_sid), "status")
    assert (status["status"], status["duration"]) == ("completed", "60")

    # the query string is what Twilio signed: changed, unsigned or signed as a POST, refused
    client = stack.client()
    before = client.xlen(EVENTS), dump_redis(client)
    params = {**first_post(Caller(HOME, from_=new_caller())), "CallStatus": "completed"}
    url = base + "/voice/status?" + urlencode(params)
    signed = phone.signed(url, {})
    attempts = {
        "query changed": (url.replace("completed", "busy"), signed),
        "unsigned": (url, {}),
        "signed as a POST of the same form": (url, phone.signed(base + "/voice/status", params)),
    }
    for what, (target, headers) in attempts.items():
        assert requests.get(target, headers=headers, timeout=5).status_code == 403, what
        assert (client.xlen(EVENTS), dump_redis(client)) == before, what
    assert requests.get(url, headers=signed, timeout=5).status_code == 200
    assert client.xlen(EVENTS) == before[0] + 1
    # other webhooks are only ever POSTed by Twilio: a GET there is refused before anything
    r = requests.get(
        base + "/voice?" + urlencode(params),
        headers=phone.signed(base + "/voice?" + urlencode(params), {}),
        timeout=5,
    )
    assert r.status_code == 405


# -- Redis hung, Redis down --------------------------------------------------------------------------


def warm_up(stack: Stack) -> None:
    """Each worker reads the configuration once (its last-good memory for Redis faults)."""

    def calls() -> None:
        for number in (SUPPORT, BILLING):
            stack.phone().call(Caller(number, from_=new_caller()))

    on_each_worker(stack.gunicorn, calls)


def assert_valid(recorder: Recorder) -> None:
    """Every answer was 200 and valid TwiML; how long they took is printed (a figure)."""
    assert recorder.requests
    for r in recorder.requests:
        assert r.status == 200, (r.path, r.status, r.body)  # and http_transport checked the TwiML
    slowest = max(recorder.requests, key=lambda r: r.seconds)
    print(f"{len(recorder.requests)} answers, slowest {slowest.seconds:.3f} s ({slowest.path})")


def circuit_opened(stack: Stack, since: int) -> bool:
    """Whether a worker logged its breaker opening after this offset of the server log: from
    then on it answered from memory without waiting for Redis's timeout."""
    return "redis circuit closed -> open" in stack.gunicorn.output()[since:]


def degraded_calls(stack: Stack, recorder: Recorder, wait_url: str) -> None:
    """Calls while Redis cannot be read: domestic policy, cautious policy, transfer key, hold."""
    phone = stack.phone(recorder)

    t = phone.call(Caller(SUPPORT, from_=new_caller()))  # on_lookup_failure = "domestic"
    assert t.statuses and set(t.statuses) == {200}, t
    assert t.bridges == [SCRANTON], t
    assert t.heard == [SUPPORT_GREETING]
    assert_no_undisclosed_offshore_bridge(t)

    t = phone.call(Caller(BILLING, from_=new_caller()))  # on_lookup_failure = "cautious"
    assert t.heard[:2] == [BILLING_GREETING, CAUTIOUS], t
    assert first_line(t, "may be answered") < bridge_lines(t)[0]
    assert len(t.bridges) == 1
    assert_no_undisclosed_offshore_bridge(t)

    t = phone.call(Caller(BILLING, from_=new_caller(), press="1"))
    assert t.heard[:2] == [BILLING_GREETING, CAUTIOUS], t
    assert t.bridges == [SCRANTON], t

    status, _, body = phone.post(wait_url, {"CallSid": "CA" + "1" * 32})
    assert status == 200 and "press 1" in says(body)[0], body


def test_redis_hung_every_answer_is_fast_valid_and_safe(stack):
    warm_up(stack)
    phone = stack.phone()
    # A call that heard Manila's disclosure just before Redis hung.
    mid = Caller(SUPPORT, from_=new_caller())
    params = first_post(mid)
    status, _, body = phone.post("/voice", params)
    assert status == 200 and says(body)[1:] == [MANILA_DISCLOSURE, OFFER]

    wait_url = "/voice/wait?" + urlencode({"f": "billing", "v": live_version(stack, "billing")})
    recorder = Recorder()
    since = len(stack.gunicorn.output())
    stack.redis.pause()
    try:
        # The call in progress goes on: bridged where it was told, or home.
        status, _, bridged = stack.phone(recorder).post(
            redirect_url(body), {**params, "CallStatus": "in-progress"}
        )
        target = bridge_verb(bridged)
        assert (target.tag, (target.text or target.findtext("Number") or "").strip()) in (
            ("Enqueue", "e2e-manila"),
            ("Dial", "+15705550123"),
        ), bridged

        degraded_calls(stack, recorder, wait_url)

        assert_health(stack, 503)
    finally:
        stack.redis.resume()
    assert_valid(recorder)
    assert len(recorder.requests) >= 10
    assert circuit_opened(stack, since)

    # Redis answers again: once the breaker's delay is over, the next call is the probe and
    # the normal one, recorded.
    stack.redis.settle()
    t, evs = call(stack, SUPPORT)
    assert t.heard[1:3] == [MANILA_DISCLOSURE, OFFER] and t.bridges == [MANILA]
    assert only(evs, "received")["fresh"] == "true" and "disclosed" in steps(evs)


def test_redis_killed_mid_call_then_restarted(stack):
    warm_up(stack)
    wait_url = "/voice/wait?" + urlencode({"f": "billing", "v": live_version(stack, "billing")})
    recorder = Recorder(hooks={1: stack.redis.kill})  # after /voice, before the first step
    t = stack.phone(recorder).call(Caller(SUPPORT, from_=new_caller()))
    assert stack.redis.proc is None, "the hook did not run"
    assert t.heard[:3] == [SUPPORT_GREETING, MANILA_DISCLOSURE, OFFER], t
    assert t.bridges in ([MANILA], [SCRANTON]), t
    assert_no_undisclosed_offshore_bridge(t)

    degraded_calls(stack, recorder, wait_url)
    assert_valid(recorder)
    on_each_worker(stack.gunicorn, lambda: assert_health(stack, 503))

    stack.redis.start()  # empty: the test Redis keeps no data
    on_each_worker(stack.gunicorn, lambda: assert_health(stack, 200))
    publish(stack.redis.url, FLOWS)
    stack.redis.settle()

    for _ in range(2):
        t, evs = call(stack, SUPPORT)
        assert t.heard == [SUPPORT_GREETING, MANILA_DISCLOSURE, OFFER] and t.bridges == [MANILA]
        assert steps(evs) == [
            "received",
            "routed",
            "disclosed",
            "offered",
            "offer_ended",
            "bridged",
            "bridge_ended",
            "status",
        ]
        assert only(evs, "received")["fresh"] == "true"


def test_flow_republished_after_redis_lost_its_data_is_served_as_published(stack, tmp_path):
    def restart_empty() -> None:
        stack.redis.kill()
        stack.redis.start()

    restart_empty()
    assert publish(stack.redis.url, FLOWS)["notice"] == 1
    on_each_worker(stack.gunicorn, lambda: call(stack, NOTICE))  # both workers know notice v1

    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder)
    notice = folder / "notice.toml"
    notice.write_text(notice.read_text().replace("version one", "version two"))
    restart_empty()
    assert publish(stack.redis.url, folder)["notice"] == 1

    t, _ = call(stack, NOTICE)
    assert t.heard[0] == "Welcome to the notice line, version two."


def test_redis_hung_number_not_yet_called_on_this_worker_still_gets_through(stack):
    warm_up(stack)  # each worker has read the centers, the flows and two other numbers
    recorder = Recorder()
    since = len(stack.gunicorn.output())
    stack.redis.pause()
    try:
        t = stack.phone(recorder).call(Caller(COLD_EMERGENCY, from_=new_caller()))
    finally:
        stack.redis.resume()
    assert_valid(recorder)
    assert circuit_opened(stack, since)
    assert not any("call again later" in h for h in t.heard), t
    assert t.bridges == [MANILA], t  # emergency: never delayed, no disclosure (R6)


# -- privacy -----------------------------------------------------------------------------------------


def test_redis_stopped_the_wait_url_keeps_every_caller_queued(stack, tmp_path):
    """Redis down: every waitUrl answer, whatever its request (a flow this worker never
    read, a malformed URL, a broken QueueTime), is music and the offer, never a hang-up;
    only a caller past max_wait leaves the queue, for the <Enqueue> action's safe path."""
    version = live_version(stack, "support")
    base = {"f": "support", "v": version, "c": "manila", "n": "2", "s": "bridge", "w": "120"}
    recorder = Recorder()
    phone = stack.phone(recorder)
    caller = Caller(SUPPORT, from_=min(CALLERS) if CALLERS else new_caller())  # numbers are few
    params = {
        **first_post(caller),
        "CallStatus": "in-progress",
        "QueueSid": "QU" + "0" * 32,
        "QueuePosition": "2",
        "CurrentQueueSize": "4",
        "AvgQueueTime": "30",
    }
    stack.redis.kill()
    holding = [
        ("/voice/wait?" + urlencode(base), {"QueueTime": "0"}),  # announcing: no estimate now
        ("/voice/wait?" + urlencode(base), {"QueueTime": "60"}),
        ("/voice/wait?" + urlencode({**base, "f": "never-published"}), {"QueueTime": "0"}),
        ("/voice/wait?" + urlencode({**base, "v": "x", "n": "?"}), {"QueueTime": "0"}),
        ("/voice/wait?" + urlencode({**base, "w": "ten"}), {"QueueTime": "-5"}),
        ("/voice/wait?" + urlencode(base), {"QueueTime": "12.5", "QueuePosition": "x"}),
    ]
    for url, more in holding:
        status, _, body = phone.post(url, {**params, **more})
        assert status == 200, (url, body)
        assert_holds_with_music_and_the_offer(root(body))
    status, _, body = phone.post("/voice/wait?" + urlencode(base), {**params, "QueueTime": "130"})
    assert status == 200 and [v.tag for v in root(body)] == ["Leave"], body
    assert_valid(recorder)

    stack.redis.start()  # empty: each worker's chores replay the spooled wait_limit
    publish(stack.redis.url, FLOWS)

    def replayed() -> bool:
        return any(e["step"] == "wait_limit" for e in events(stack, caller.call_sid))

    deadline = time.monotonic() + 15
    while not replayed() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert replayed(), "the wait_limit evidence spooled while Redis was down was never replayed"


def test_no_raw_caller_number_anywhere_in_redis(stack):
    made = [
        (Caller(SUPPORT, from_=new_caller(), press="1"), "US"),
        (Caller(BILLING, from_=new_caller(), outcomes=["busy"]), "US"),
        (Caller(EMERGENCY, from_=new_caller()), "US"),
        (Caller(HOME, from_="+639171234567", from_country="PH"), "PH"),
        (Caller(SUPPORT, from_="+442079460958", from_country=""), "unknown"),
    ]
    CALLERS.update({"+639171234567", "+442079460958"})
    phone = stack.phone()
    for caller, country in made:
        t = phone.call(caller)
        assert set(t.statuses) == {200}, t
        evs = events(stack, caller.call_sid)
        assert evs and only(evs, "received")["caller_country"] == country
        expected = caller_hash(caller.from_, HASH_KEY.encode())
        assert re.fullmatch(r"[0-9a-f]{32}", expected)
        assert {e["caller"] for e in evs} == {expected}, caller.from_
        assert "status" in steps(evs)

    client = stack.client()
    hashes = {caller_hash(number, HASH_KEY.encode()) for number in CALLERS}
    for _, fields in stream_entries(client):  # every event of every call still in Redis
        assert fields.get("caller", "") in hashes, fields

    everything = dump_redis(client)
    assert EVENTS in everything and keys.CENTERS in everything
    for number in sorted(CALLERS):
        digits = number.lstrip("+")
        assert number not in everything, number
        assert not re.search(rf"(?<!\d){digits}(?!\d)", everything), number
        national = digits[1:] if digits.startswith("1") else digits[2:]
        assert not re.search(rf"(?<!\d){national}(?!\d)", everything), number
    log = stack.gunicorn.output()
    assert not any(number in log for number in CALLERS), "a caller number is in the server log"


# What callers say at a prompt (Twilio's SpeechResult writes spoken numbers as digits) may be
# a card or phone number. Each has digit runs the scan below looks for.
SPOKEN = [
    "my card number is 4929 7362 5810 3346",
    "4929736258103346",
    "call me back on 719 555 0168",
    "(719) 555-0168, phone please",  # holds a menu word: only the word may be kept
    "agent, my card is 5274 9163 0482 7715",  # the transfer word, once it is live
    "my account is 88231907 order",
    "español, mi número es 719 555 0193",
]


def digit_runs(text: str) -> set[str]:
    """The runs of 4 or more digits in what was said, and all its digits together."""
    runs = set(re.findall(r"\d{4,}", text))
    joined = "".join(re.findall(r"\d", text))
    return runs | ({joined} if len(joined) >= 4 else set())


def test_what_callers_say_is_never_stored(tmp_path, capsys):
    # The acme flows (flows/): a language menu, a main menu, then the disclosure's offer:
    # each spoken line is said at each of those prompts, in its own call, over real HTTP.
    calls = [
        Caller(number, from_=new_caller(), press=press, say=said)
        for said in SPOKEN
        for number, press in (
            ("+18005550100", ""),
            ("+18005550100", "1"),
            ("+18005550100", "2"),
            ("+18005550100", "1,1"),
            ("+18885550199", ""),
            ("+18885550199", "1"),
        )
    ]
    # Twilio's Gather with numDigits=1 sends one key; a menu keeps only that one even if more came
    calls.append(Caller("+18005550100", from_=new_caller(), press="1,4929736258103346"))
    with serving(ACME_FLOWS, tmp_path / "spool") as (server, gunicorn):
        phone = Phone(gunicorn.base_url, TOKEN, http_transport())
        first = time.strftime("%Y-%m-%d", time.gmtime())  # the calls' days, even across midnight
        transcripts = [phone.call(caller) for caller in calls]
        assert all(set(t.statuses) == {200} for t in transcripts)
        for text in SPOKEN:  # the caller's own transcript shows it: it was really said
            assert sum(f"says '{text}'" in str(t) for t in transcripts) >= 4, text
        # and at a disclosure's offer (unless the weighted route picked Scranton every time)
        assert any(
            re.search(r"hears: Your call will be answered[^\n]*\n  hears: [^\n]*\n  says", str(t))
            for t in transcripts
        )
        url = server.url
        today = time.strftime("%Y-%m-%d", time.gmtime())
        for fmt in ("jsonl", "csv"):
            assert (
                main(
                    [
                        "audit",
                        "export",
                        "--from",
                        first,
                        "--to",
                        today,
                        "--format",
                        fmt,
                        "--out",
                        str(tmp_path / f"export.{fmt}"),
                        "--redis-url",
                        url,
                    ]
                )
                == 0
            )
        for caller in calls:
            assert main(["call-record", caller.call_sid, "--redis-url", url]) == 0
        assert main(["report", "--from", first, "--to", today, "--format", "json", "--redis-url", url]) == 0
        kept = {
            "redis": dump_redis(server.client()),
            "exports": "".join((tmp_path / f"export.{f}").read_text() for f in ("jsonl", "csv")),
            "call records and report": capsys.readouterr().out,
            "spool": "".join(p.read_text() for p in (tmp_path / "spool").glob("**/*") if p.is_file()),
            "server log": gunicorn.output(),
        }
    for text in SPOKEN + ["4929736258103346"]:
        for run in digit_runs(text):
            for where, content in kept.items():
                # a run in clear stands alone; inside a hash or an id it is chance
                found = re.search(rf"(?<![0-9A-Za-z]){run}(?![0-9A-Za-z])", content)
                assert not found, (run, where, content[max(0, found.start() - 300) : found.end() + 50])
    # what the engine matched is what the record keeps
    assert '"step","menu"' in kept["redis"] and '"step","language"' in kept["redis"]
    assert "said 'phone'" in kept["redis"] and "unrecognised" in kept["redis"]
    assert "key 4" in kept["redis"]  # the one key a menu reads, of the 16 that came
