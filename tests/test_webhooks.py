"""The webhook edge in-process: every answer is 200 valid TwiML, whatever goes wrong."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import unquote_to_bytes, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Request

from ivr import engine, keys
from ivr.caller import Caller
from ivr.twilio_request import _c_pairs, _decoded_pairs
from ivr.webhooks import TwilioRequest
from tests.conftest import BILLING, SUPPORT, TOKEN, stream_entries
from tests.twiml_check import assert_valid_twiml


def events(redis_client, call_sid: str) -> list[dict[str, str]]:
    return [fields for _, fields in stream_entries(redis_client) if fields["call"] == call_sid]


def post(client, path: str, params: dict[str, str]):
    url = "http://localhost" + path
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    return client.post(url, data=params, headers={"X-Twilio-Signature": signature})


def incoming(to: str, sid: str = "CA" + "a" * 32) -> dict[str, str]:
    return {
        "CallSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+12025550143",
        "To": to,
        "FromCountry": "US",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


def test_answers_are_text_xml(client, redis_client):
    response = post(client, "/voice", incoming(SUPPORT))
    assert response.status_code == 200
    assert response.content_type.startswith("text/xml")
    assert_valid_twiml(response.get_data(as_text=True), response.content_type)


def test_unknown_number_gets_an_apology_and_a_recorded_reason(client, redis_client):
    response = post(client, "/voice", incoming("+12025550100", sid="CA" + "b" * 32))
    root = assert_valid_twiml(response.get_data(as_text=True), response.content_type)
    assert [v.tag for v in root] == ["Say", "Hangup"]
    steps = [e["step"] for e in events(redis_client, "CA" + "b" * 32)]
    assert steps == ["received", "safe_answer"]


def test_engine_crash_still_gets_the_flows_safe_answer(client, redis_client, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "begin", broken)
    response = post(client, "/voice", incoming(SUPPORT, sid="CA" + "c" * 32))
    root = assert_valid_twiml(response.get_data(as_text=True), response.content_type)
    dial = root.find("Dial")
    assert dial is not None and dial.find("Number").text == "+15705550123"  # Scranton
    safe = [e for e in events(redis_client, "CA" + "c" * 32) if e["step"] == "safe_answer"]
    # the record and the report say what happened in words; the log keeps the exception
    assert safe and safe[0]["reason"] == "internal error at state 'language'"
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


def test_with_the_breaker_open_the_callbacks_record_is_not_asked(app, client, redis_client, monkeypatch):
    """The first webhook asks Redis whether the caller has an open callback (the support
    line takes callbacks): through the store's breaker like the commit, so while Redis is
    failing it is not asked at all (a hung Redis would hold every webhook for its timeout)."""
    from ivr.callback_store import CallbackStore

    asked = []
    real = CallbackStore.of_caller
    monkeypatch.setattr(
        CallbackStore, "of_caller", lambda self, caller: asked.append(caller) or real(self, caller)
    )
    post(
        client, "/voice", incoming(SUPPORT, sid="CA" + "f" * 32)
    )  # Redis answers: the process learns the flow
    assert len(asked) == 1
    breaker = app.extensions["onshore"].store.breaker
    breaker.failed("Redis hung (test)")
    breaker.retry_at = breaker.clock() + 60  # stays open for this test
    response = post(client, "/voice", incoming(SUPPORT, sid="CA" + "9" * 32))
    root = assert_valid_twiml(response.get_data(as_text=True), response.content_type)
    assert root.find("Gather") is not None  # the flow's first prompt, from memory
    assert len(asked) == 1


def test_a_recording_at_a_step_of_an_unknown_flow_is_still_recorded(client, redis_client):
    """A <Record> action no flow can place (a worker that never read the flow, with Redis
    down, or a version gone): the recording exists at Twilio, so the record keeps it."""
    sid = "CA" + "e" * 32
    form = {
        **incoming(SUPPORT, sid=sid),
        "RecordingSid": "RE" + "1" * 32,
        "RecordingUrl": "https://x",
        "RecordingDuration": "7",
    }
    response = post(client, "/voice/step?f=support&v=99&s=@voicemail", form)
    assert_valid_twiml(response.get_data(as_text=True), response.content_type)
    kept = {e["step"]: e for e in events(redis_client, sid)}
    assert kept["safe_answer"]["reason"] == "flow version unknown"
    assert (kept["voicemail_left"]["recording"], kept["voicemail_left"]["duration"]) == ("RE" + "1" * 32, "7")


@pytest.mark.parametrize(
    "query",
    ["", "?f=support", "?f=support&v=x&s=bridge", "?f=support&v=1&s=no-such-state", "?f=nope&v=1&s=greet"],
)
def test_malformed_step_url_still_answers_valid_twiml(client, redis_client, query):
    post(client, "/voice", incoming(SUPPORT))  # the process now knows the support flow
    response = post(client, "/voice/step" + query, incoming(SUPPORT))
    assert response.status_code == 200
    root = assert_valid_twiml(response.get_data(as_text=True), response.content_type)
    offshore = [e for e in root.iter("Enqueue")] + [e for e in root.iter("Sip")]
    assert not offshore, "a lost step must never bridge offshore"


def test_cautious_policy_on_engine_crash_discloses_and_offers(client, redis_client, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("missing")

    monkeypatch.setattr(engine, "begin", broken)
    response = post(client, "/voice", incoming(BILLING, sid="CA" + "d" * 32))
    root = assert_valid_twiml(response.get_data(as_text=True), response.content_type)
    gather = root.find("Gather")
    assert gather is not None
    text = gather.find("Say").text  # the billing line starts in Spanish
    assert "puede ser atendida por un agente fuera de Estados Unidos" in text
    assert "oprima 1" in text


def test_status_callback_is_recorded_once(client, redis_client):
    params = {**incoming(SUPPORT, sid="CA" + "e" * 32), "CallStatus": "completed", "CallDuration": "42"}
    for _ in range(2):
        response = post(client, "/voice/status", params)
        assert response.status_code == 200
    status = [e for e in events(redis_client, "CA" + "e" * 32) if e["step"] == "status"]
    assert len(status) == 1 and status[0]["duration"] == "42"


def test_hold_offers_the_transfer_and_the_key_leaves_the_queue(client, redis_client):
    post(client, "/voice", incoming(SUPPORT))
    hold = post(
        client, "/voice/wait?f=support&v=1", {"CallSid": "CA1", "AccountSid": "AC1", "QueuePosition": "3"}
    )
    root = assert_valid_twiml(hold.get_data(as_text=True), hold.content_type)
    assert [s.text for s in root.find("Gather").iter("Say")] == [
        "You are number 3 in line.",
        "To speak with an agent in the United States, press 1 at any time.",
    ]
    left = post(client, "/voice/wait?f=support&v=1", {"CallSid": "CA1", "AccountSid": "AC1", "Digits": "1"})
    root = assert_valid_twiml(left.get_data(as_text=True), left.content_type)
    assert [v.tag for v in root] == ["Leave"]


def test_xml_illegal_text_that_reached_redis_is_cleaned(client, redis_client, phone):
    doc = json.loads(redis_client.get(keys.flow_version("support", 1)))
    doc["flow"]["states"]["greet"]["text"] = "Thank you\x0b for calling."
    redis_client.set(keys.flow_version("support", 2), json.dumps(doc))
    redis_client.hset(keys.FLOWS, "support", 2)
    transcript = phone.call(Caller(SUPPORT))
    assert "Thank you for calling." in transcript.heard


def test_healthz_and_readyz(client, redis_server):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


# Twilio's posts are parsed by ivr.webhooks.TwilioRequest, not by werkzeug: it must see
# exactly the parameters werkzeug sees, or a signature could pass or fail differently.
# Generated bodies and query strings: any text, repeated names, blanks, %-escapes (lower
# case too), "+", CR/LF, backslashes, bad UTF-8. A body Twilio would not post (a malformed
# escape, bytes that are not UTF-8) is refused instead of parsed.
_pieces = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        [
            "%",
            "%2",
            "%zz",
            "%C3%A9",
            "%c3%a9",
            "%FF",
            "%C3",
            "%A9",
            "%E2%82",
            "+",
            "&",
            "=",
            "==",
            ";",
            "%26",
            "%3D",
            "%3d",
            "\r\n",
            " \n",
            "=\n",
            "%0D%0A",
            "\\x41",
            "%5C",
            "_",
            " \t",
            "%25",
            "%%41",
        ]
    ),
)
_encoded = st.lists(_pieces, max_size=12).map("".join).map(
    lambda t: t.encode("utf-8", "surrogatepass")
) | st.binary(max_size=40)


def _werkzeug_items(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """werkzeug's multi items come grouped by name (first seen first), values in order."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return [(n, v) for n, vs in grouped.items() for v in vs]


@settings(max_examples=1000, deadline=None)
@given(body=_encoded, query=_encoded)
def test_twilio_form_parse_sees_what_werkzeug_sees(body, query):
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "QUERY_STRING": query.decode("latin1"),
    }
    ours = TwilioRequest({**environ, "wsgi.input": io.BytesIO(body)})
    theirs = Request({**environ, "wsgi.input": io.BytesIO(body)})
    assert _werkzeug_items(ours.pairs) == list(theirs.form.items(multi=True))
    assert ours.form == {name: theirs.form[name] for name in theirs.form}
    try:
        assert ours.args == {name: theirs.args[name] for name in theirs.args}
    except UnicodeDecodeError:  # werkzeug raises on a query string that is not UTF-8
        assert ours.args == {}  # ours reads none: the step URL is malformed, a safe answer
    # a large body is decoded in C: the same pairs, or refused when Twilio would not post it
    try:
        fast = _c_pairs(body)
    except Forbidden:
        assert re.search(rb"%(?![0-9A-Fa-f]{2})", body) or _not_utf8(body)
    else:
        assert fast == ours.pairs


def _not_utf8(body: bytes) -> bool:
    try:
        body.decode()
        for part in re.split(rb"[&=]", body.replace(b"+", b" ")):
            unquote_to_bytes(part).decode()
    except UnicodeDecodeError:
        return True
    return False


@settings(max_examples=500, deadline=None)
@given(pairs=st.lists(st.tuples(st.text(max_size=12), st.text(max_size=40)), max_size=30))
def test_any_form_encoded_as_twilio_encodes_it_is_read_not_refused(pairs):
    body = urlencode(pairs).encode()
    assert _c_pairs(body) == _decoded_pairs(body) == pairs


@pytest.mark.parametrize(
    "environ",
    [
        {
            "HTTP_HOST": "onshore.example.com",
            "wsgi.url_scheme": "https",
            "SERVER_NAME": "0.0.0.0",
            "SERVER_PORT": "8000",
        },
        {"HTTP_HOST": "127.0.0.1:8000", "SCRIPT_NAME": "/ivr", "QUERY_STRING": "f=a%7Cb&v=1"},
        {"SERVER_NAME": "10.0.0.5", "SERVER_PORT": "8080", "QUERY_STRING": "s=x+y"},
        {"SERVER_NAME": "10.0.0.5", "SERVER_PORT": "443", "wsgi.url_scheme": "https"},
        {"HTTP_HOST": "bad host/", "SERVER_NAME": "x", "SERVER_PORT": "80"},
    ],
)
def test_the_url_checked_is_werkzeugs_scheme_and_host_then_the_path_as_sent(environ):
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/voice/step",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        **environ,
    }
    theirs = Request(environ)
    target = environ.get("SCRIPT_NAME", "") + "/voice/step"
    target += "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""
    ours = TwilioRequest(environ)
    assert ours.origin + ours.target == f"{theirs.scheme}://{theirs.host}{target}"


def test_a_post_that_is_not_url_encoded_is_refused_unread(client, redis_client):
    body = b'--b\r\nContent-Disposition: form-data; name="CallSid"\r\n\r\nCA1\r\n--b--\r\n'
    response = client.post(
        "/voice",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=b", "X-Twilio-Signature": "x"},
    )
    assert response.status_code == 403  # Twilio posts url-encoded forms only
    assert redis_client.xlen(keys.EVENTS) == 0


def test_webhook_urls_take_only_signed_posts(client, redis_client):
    assert client.get("/voice").status_code == 405
    assert post(client, "/voice/nowhere", incoming(SUPPORT)).status_code == 404
    assert client.post("/voice", data=incoming(SUPPORT)).status_code == 403  # no signature
    assert redis_client.xlen(keys.EVENTS) == 0
    assert client.get("/healthz").status_code == 200  # the Flask routes behind them still answer


def test_a_crash_in_the_signature_check_still_answers_valid_twiml(app, client, redis_client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(app.extensions["onshore"].signatures, "is_valid", broken)
    response = post(client, "/voice", incoming(SUPPORT))
    assert response.status_code == 200
    root = assert_valid_twiml(response.get_data(as_text=True), response.content_type)
    assert [v.tag for v in root] == ["Say", "Hangup"]
    assert redis_client.xlen(keys.EVENTS) == 0  # nothing written for an unchecked request


WAIT = "/voice/wait?f=support&v=1&c=manila&n=3&s=bridge&w=300"


def test_any_failure_on_the_wait_url_keeps_the_caller_queued(client, redis_client, monkeypatch):
    from ivr import hold

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(hold, "hold", broken)
    response = post(client, WAIT, {"CallSid": "CA" + "d" * 32, "AccountSid": "AC1", "QueueTime": "60"})
    root = assert_valid_twiml(response.get_data(as_text=True), response.content_type)
    assert response.status_code == 200 and [v.tag for v in root] == ["Gather"]
    gather = root.find("Gather")
    assert gather.get("action") == WAIT and gather.find("Play") is not None
    assert "press 1" in gather.find("Say").text and root.find(".//Hangup") is None


def bridged_then_left(client, sid: str, queue_time: str) -> list[dict[str, str]]:
    """A call disclosed Manila and was queued; the wait URL at queue_time, then Twilio's
    <Enqueue> action with QueueResult=leave: the call's evidence."""
    from ivr.caller import Phone
    from tests.conftest import flask_transport

    send = flask_transport(client)

    def until_the_action(url, params, headers):  # the test posts the action itself
        return (200, "text/xml", "<Response/>") if "QueueResult" in params else send(url, params, headers)

    # The support route draws Manila, Bangalore or Scranton by CallSid among the centers open
    # now (Bangalore keeps office hours), so the call that reaches Manila's queue is found by
    # trying CallSids derived from the test's own: the same at any time of day.
    for attempt in range(64):
        transcript = Phone("http://localhost", TOKEN, until_the_action).call(
            Caller(SUPPORT, call_sid=sid, press="1,1")
        )
        queued = [d for d in transcript.documents if "acme-manila</Enqueue>" in d]
        if queued:
            break
        sid = sid[:-2] + f"{attempt:02x}"
    else:
        raise AssertionError("no CallSid of 64 reached Manila's queue")
    enqueue = queued[0]
    action = enqueue.split('action="')[1].split('"')[0].replace("&amp;", "&")
    wait = enqueue.split('waitUrl="')[1].split('"')[0].replace("&amp;", "&")
    answer = post(
        client, wait, {"CallSid": sid, "AccountSid": "AC1", "QueueTime": queue_time, "QueuePosition": "1"}
    )
    assert answer.status_code == 200
    post(
        client, action, {"CallSid": sid, "AccountSid": "AC1", "QueueResult": "leave", "QueueTime": queue_time}
    )
    return events(redis_client_of(client), sid)


def redis_client_of(client):
    return client.application.extensions["onshore"].store.client


def test_the_enqueue_action_tells_the_wait_limit_from_the_transfer_key(client, redis_client):
    limit = bridged_then_left(client, "CA" + "1" * 32, "400")  # manila's max_wait is 300
    key = bridged_then_left(client, "CA" + "2" * 32, "20")

    assert [e["step"] for e in limit if e["step"] in ("wait_limit", "transfer_requested")] == ["wait_limit"]
    assert [e.get("left") for e in limit if e["step"] == "bridge_ended"][-1] == "wait-limit"
    assert "wait_limit" not in [e["step"] for e in key]
    assert [e["how"] for e in key if e["step"] == "transfer_requested"] == ["key during hold"]


def test_bridged_waits_are_kept_and_give_the_next_callers_their_estimate(client, redis_client):
    from datetime import UTC, datetime, timedelta

    onshore, start = client.application.extensions["onshore"], datetime(2026, 11, 30, tzinfo=UTC)
    step = "/voice/step?f=support&v=1&s=bridge&c=manila&n=3"
    for i in range(10):  # a bridge ends every two minutes
        onshore.clock = lambda i=i: start + timedelta(seconds=120 * i)
        post(
            client,
            step,
            {
                "CallSid": f"CA{i:032d}",
                "AccountSid": "AC1",
                "QueueResult": "bridged",
                "QueueTime": str(400 + 10 * i),
            },
        )
    post(
        client,
        step,
        {"CallSid": f"CA{0:032d}", "AccountSid": "AC1", "QueueResult": "bridged", "QueueTime": "400"},
    )
    assert redis_client.zcard(keys.queue_waits("manila")) == 10  # a replay adds nothing

    response = post(
        client,
        WAIT,
        {"CallSid": "CA" + "9" * 32, "AccountSid": "AC1", "QueueTime": "0", "QueuePosition": "4"},
    )
    said = [
        s.text for s in assert_valid_twiml(response.get_data(as_text=True), response.content_type).iter("Say")
    ]
    assert said[:2] == ["You are number 4 in line.", "Your expected wait is about 8 minutes."]
