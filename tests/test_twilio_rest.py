"""The REST client (ivr.twilio_rest) against the local stand-in for Twilio's REST API.

Twilio's cloud cannot be reached from here: tests/twilio_cloud.py plays the few endpoints
used, checking authentication and parameters as Twilio documents them, and the SDK's own
client is pointed at it through TWILIO_API_BASE_URL.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from ivr import twilio_rest
from ivr.caller import ACCOUNT_SID
from ivr.errors import SettingsError
from tests.twilio_cloud import TwilioCloud

TOKEN = "12345678901234567890123456789012"
KEY, SECRET = "SK" + "1" * 32, "key-secret"
FROM, TO = "+18005550100", "+12025550143"
WITH_KEY = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_KEY": KEY}
WITH_TOKEN = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TOKEN}


@pytest.fixture
def cloud():
    stand_in = TwilioCloud(TOKEN, api_keys={KEY: SECRET}).start()
    yield stand_in
    stand_in.stop()


def env(cloud: TwilioCloud, **more: str) -> dict[str, str]:
    return {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_BASE_URL": cloud.url, **more}


def test_an_api_key_creates_a_call_and_twilio_answers_with_the_resource(cloud):
    client = twilio_rest.client(
        twilio_rest.rest_settings(env(cloud, TWILIO_API_KEY=KEY, TWILIO_API_SECRET=SECRET))
    )
    call = client.calls.create(to=TO, from_=FROM, twiml="<Response><Hangup/></Response>")
    assert call.sid.startswith("CA") and len(call.sid) == 34
    assert (call.status, call.direction, call.to, call._from) == ("queued", "outbound-api", TO, FROM)
    method, path, form = cloud.requests[-1]
    assert (method, path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")
    assert form["To"] == [TO] and form["From"] == [FROM]


def test_the_auth_token_authenticates_too_and_a_call_is_updated_and_fetched(cloud):
    client = twilio_rest.client(twilio_rest.rest_settings(env(cloud, TWILIO_AUTH_TOKEN=TOKEN)))
    cloud.script(TO, "busy")
    call = client.calls.create(to=TO, from_=FROM, url="http://127.0.0.1:1/voice/callback")
    cloud.settle()
    assert client.calls(call.sid).fetch().status == "busy"
    ended = client.calls(call.sid).update(status="completed")
    assert ended.status == "completed"
    assert cloud.calls[call.sid].updates == [{"Status": "completed"}]


@pytest.mark.parametrize(
    ("secret", "code"),
    [("wrong-secret", 20003), (SECRET, None)],
)
def test_a_wrong_secret_is_refused_as_twilio_refuses_it(cloud, secret, code):
    client = twilio_rest.client(
        twilio_rest.rest_settings(env(cloud, TWILIO_API_KEY=KEY, TWILIO_API_SECRET=secret))
    )
    if code is None:
        assert client.calls.create(to=TO, from_=FROM, twiml="<Response/>").sid
        return
    with pytest.raises(TwilioRestException) as raised:
        client.calls.create(to=TO, from_=FROM, twiml="<Response/>")
    assert (raised.value.status, raised.value.code) == (401, code)
    assert not twilio_rest.retryable(raised.value)
    assert twilio_rest.reason(raised.value).startswith("twilio HTTP 401 error 20003")
    assert SECRET not in twilio_rest.reason(raised.value)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"to": "2025550143"}, 21211),
        ({"from_": "+15555550100"}, 21210),
        ({"url": "/relative"}, 21205),
        ({"status_callback_event": ["initiated", "picked-up"]}, 21200),
        ({"timeout": 0}, 21200),
        ({"twiml": "<Response>" + "x" * 4000 + "</Response>"}, 21200),
    ],
)
def test_parameters_twilio_refuses_are_refused_with_its_error_code(cloud, fields, code):
    client = twilio_rest.client(twilio_rest.rest_settings(env(cloud, TWILIO_AUTH_TOKEN=TOKEN)))
    given = {"to": TO, "from_": FROM, "url": "http://127.0.0.1:1/voice/callback", **fields}
    with pytest.raises(TwilioRestException) as raised:
        client.calls.create(**given)
    assert (raised.value.status, raised.value.code) == (400, code)
    assert raised.value.uri.endswith("/Calls.json")
    assert not cloud.placed()


def test_an_unknown_call_is_20404_and_a_call_not_in_progress_cannot_be_redirected(cloud):
    client = twilio_rest.client(twilio_rest.rest_settings(env(cloud, TWILIO_AUTH_TOKEN=TOKEN)))
    with pytest.raises(TwilioRestException) as unknown:
        client.calls("CA" + "f" * 32).update(status="completed")
    assert (unknown.value.status, unknown.value.code) == (404, 20404)
    cloud.script(TO, "no-answer")
    call = client.calls.create(to=TO, from_=FROM, twiml="<Response/>")
    cloud.settle()
    with pytest.raises(TwilioRestException) as late:
        client.calls(call.sid).update(twiml="<Response><Say>hello</Say></Response>")
    assert late.value.code == 21220


def test_a_5xx_and_a_dead_host_are_worth_another_try(cloud):
    client = twilio_rest.client(twilio_rest.rest_settings(env(cloud, TWILIO_AUTH_TOKEN=TOKEN)))
    cloud.fail(1, status=503)
    with pytest.raises(TwilioRestException) as raised:
        client.calls.create(to=TO, from_=FROM, twiml="<Response/>")
    assert raised.value.status == 503 and twilio_rest.retryable(raised.value)
    assert client.calls.create(to=TO, from_=FROM, twiml="<Response/>").sid  # the next one goes through
    dead = twilio_rest.client(
        twilio_rest.rest_settings(
            {
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "TWILIO_API_BASE_URL": "http://127.0.0.1:1",
            }
        )
    )
    with pytest.raises(requests.ConnectionError) as refused:
        dead.calls.create(to=TO, from_=FROM, twiml="<Response/>")
    assert twilio_rest.retryable(refused.value) and twilio_rest.reason(refused.value) == "twilio unreachable"


def test_every_twilio_host_is_rebased_and_no_other():
    base = "http://127.0.0.1:9"
    assert twilio_rest.rebased("https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json", base) == (
        "http://127.0.0.1:9/2010-04-01/Accounts/AC1/Calls.json"
    )
    assert twilio_rest.rebased("https://taskrouter.twilio.com/v1/Workspaces?PageSize=5", base) == (
        "http://127.0.0.1:9/v1/Workspaces?PageSize=5"
    )
    assert (
        twilio_rest.rebased("https://api.twilio.com.evil.example/x", base)
        == "https://api.twilio.com.evil.example/x"
    )
    assert twilio_rest.rebased("https://api.twilio.com/x", "") == "https://api.twilio.com/x"


def test_a_slow_twilio_costs_the_timeout_and_no_more():
    """A host that accepts and never answers: the request gives up after IVR_TWILIO_TIMEOUT."""

    class Silent(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            threading.Event().wait(5)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = twilio_rest.rest_settings(
            {
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "TWILIO_API_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}",
                "IVR_TWILIO_TIMEOUT": "0.3",
            }
        )
        with pytest.raises(requests.Timeout) as raised:
            twilio_rest.client(settings).calls.create(to=TO, from_=FROM, twiml="<Response/>")
        assert twilio_rest.reason(raised.value) == "twilio timeout"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID}, "TWILIO_API_KEY"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_KEY": "key"}, "TWILIO_API_KEY"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_KEY": KEY}, "TWILIO_API_SECRET"),
        (
            {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_KEY": KEY, "TWILIO_API_SECRET": "CHANGE-ME"},
            "TWILIO_API_SECRET",
        ),
        (
            {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_API_BASE_URL": "ftp://x"},
            "TWILIO_API_BASE_URL",
        ),
        (
            {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TOKEN, "IVR_TWILIO_TIMEOUT": "0"},
            "IVR_TWILIO_TIMEOUT",
        ),
    ],
)
def test_incomplete_credentials_name_the_variable(given, named):
    with pytest.raises(SettingsError, match=named):
        twilio_rest.rest_settings(given)


def test_the_auth_token_is_the_password_only_without_an_api_key():
    both = twilio_rest.rest_settings(
        {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_KEY": KEY,
            "TWILIO_API_SECRET": SECRET,
        }
    )
    assert (both.username, both.password, both.uses_api_key) == (KEY, SECRET, True)
    token = twilio_rest.rest_settings({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TOKEN})
    assert (token.username, token.password, token.uses_api_key) == (ACCOUNT_SID, TOKEN, False)


def test_an_answered_call_requests_its_url_and_posts_its_status_callbacks_signed(cloud):
    """What comes back to the app: the call's Url, its Gather action, then the status
    callbacks asked for, in order, each signed with the auth token as Twilio signs."""
    from twilio.request_validator import RequestValidator

    seen: list[tuple[str, dict[str, str], bool]] = []
    validator = RequestValidator(TOKEN)

    class App(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            from urllib.parse import parse_qsl

            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            form = dict(parse_qsl(body, keep_blank_values=True))
            url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
            seen.append((self.path, form, validator.validate(url, form, self.headers["X-Twilio-Signature"])))
            doc = (
                '<Response><Gather numDigits="1" action="/pressed"><Say>Press 1.</Say></Gather></Response>'
                if self.path == "/answer"
                else "<Response><Hangup/></Response>"
            )
            data = doc.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    app = ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{app.server_address[1]}"
    try:
        client = twilio_rest.client(twilio_rest.rest_settings(env(cloud, TWILIO_AUTH_TOKEN=TOKEN)))
        call = client.calls.create(
            to=TO,
            from_=FROM,
            url=f"{base}/answer",
            status_callback=f"{base}/status",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
        )
        cloud.settle()
    finally:
        app.shutdown()
        app.server_close()
    assert all(signed for _, _, signed in seen)
    paths = [path for path, _, _ in seen]
    assert paths == ["/status", "/status", "/status", "/answer", "/pressed", "/status"]
    statuses = [form["CallStatus"] for path, form, _ in seen if path == "/status"]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert [form["SequenceNumber"] for path, form, _ in seen if path == "/status"] == ["0", "1", "2", "3"]
    pressed = seen[4][1]
    assert (pressed["Digits"], pressed["CallSid"], pressed["Direction"]) == ("1", call.sid, "outbound-api")
