"""A local stand-in for the few endpoints of Twilio's REST API that Onshore uses.

It exists only because Twilio's cloud cannot be reached from the machines the tests run
on. It is a real HTTP server on a free port, and the twilio SDK's own client is pointed at
it (``TWILIO_API_BASE_URL``, ``ivr.twilio_rest``); it plays Twilio's documented behaviour,
including the inconvenient parts:

- HTTP Basic authentication with the account SID and auth token, or an API key SID and
  secret (https://www.twilio.com/docs/iam/api-keys); anything else, or an account in the
  URL that is not the key's, is 401 with error 20003;
- ``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` (the Call resource,
  https://www.twilio.com/docs/voice/api/call-resource): ``To`` and ``From`` are required
  (21201, 21213), ``From`` must be one of the account's numbers (21210), numbers must be
  E.164 (21211, 21212), one of ``Url``, ``Twiml`` or ``ApplicationSid`` is required and a
  ``Url`` must be absolute http(s) (21200, 21205), methods are GET or POST,
  ``StatusCallbackEvent`` is among initiated, ringing, answered, completed, ``Timeout`` is
  1 to 600 s; 201 with the call's JSON (``status`` queued, ``direction`` outbound-api);
- ``POST .../Calls/{CallSid}.json``: ``Url`` or ``Twiml`` redirects a call in progress (a call
  not in progress: 21220), ``Status=canceled`` ends a queued or ringing call, ``Status=completed``
  ends it whatever its state; an unknown call is 404 with error 20404; ``GET`` fetches it;
- ``GET .../Calls.json`` reads the account's calls (https://www.twilio.com/docs/voice/api/call-resource#read-multiple-call-resources),
  filtered by ``To``, ``From`` and ``Status`` (one of the call statuses, else 400 error 20001),
  ``PageSize`` 1 to 1000 (default 50), as one page with Twilio's paging fields;
- errors are JSON: ``code``, ``message``, ``more_info``, ``status``, as the SDK reads them.

After a call is created the stand-in plays it as the telephone network would, in a thread:
per the script of the number called (``script``), it rings and is answered, or is busy,
not answered or failed; it posts the status callbacks asked for (``completed`` alone by
default), each with ``SequenceNumber`` and ``CallbackSource``, and when the call is answered it
requests the call's ``Url`` (or runs its ``Twiml``) and follows the TwiML with
``ivr.caller.Phone``, signed with the account's auth token as Twilio signs webhooks.
``fail`` makes the next requests fail with a 5xx (or any status) first.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

from ivr.caller import ACCOUNT_SID, Caller, Phone, Transcript

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
API = "/2010-04-01"


@dataclass
class CloudCall:
    """One call the stand-in placed, as its resource says and as it went."""

    sid: str
    to: str
    from_: str
    url: str
    twiml: str
    status_callback: str
    events: tuple[str, ...]
    timeout: int
    status: str = "queued"
    created: float = field(default_factory=time.time)
    outcome: str = ""  # how the script said the call goes
    callbacks: list[dict[str, str]] = field(default_factory=list)  # status callbacks posted
    transcript: Transcript | None = None
    updates: list[dict[str, str]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def resource(self, account: str) -> dict[str, object]:
        return {
            "sid": self.sid,
            "account_sid": account,
            "to": self.to,
            "to_formatted": self.to,
            "from": self.from_,
            "from_formatted": self.from_,
            "status": self.status,
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "answered_by": None,
            "caller_name": None,
            "duration": None,
            "price": None,
            "price_unit": "USD",
            "parent_call_sid": None,
            "phone_number_sid": "PN" + "0" * 32,
            "queue_time": "0",
            "start_time": None,
            "end_time": None,
            "date_created": formatdate(self.created, usegmt=True),
            "date_updated": formatdate(time.time(), usegmt=True),
            "uri": f"{API}/Accounts/{account}/Calls/{self.sid}.json",
            "subresource_uris": {
                "recordings": f"{API}/Accounts/{account}/Calls/{self.sid}/Recordings.json",
                "notifications": f"{API}/Accounts/{account}/Calls/{self.sid}/Notifications.json",
            },
        }


class RestError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


class TwilioCloud:
    """The stand-in: ``start()``, point ``TWILIO_API_BASE_URL`` at ``url``, ``stop()``."""

    def __init__(
        self,
        auth_token: str,
        numbers: tuple[str, ...] = ("+18005550100", "+18885550199"),
        account_sid: str = ACCOUNT_SID,
        api_keys: dict[str, str] | None = None,
        ring_seconds: float = 0.0,
    ) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.numbers = set(numbers)
        self.api_keys = dict(api_keys or {})
        self.ring_seconds = ring_seconds  # how long a phone rings before it is answered
        self.create_delay = 0.0  # seconds Twilio takes to answer a Calls create (a slow API)
        # cleared: created calls stay queued, their status callbacks held (a slow webhook queue)
        self.started = threading.Event()
        self.started.set()
        self.calls: dict[str, CloudCall] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []  # method, path, form
        self.scripts: dict[str, deque[str]] = {}
        self.failures: deque[tuple[int, int]] = deque()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.phone = Phone("http://unused.invalid/", auth_token, _transport)
        self.server: ThreadingHTTPServer | None = None

    # The test's controls ------------------------------------------------------------------
    def script(self, to: str, *outcomes: str) -> None:
        """How the next calls to this number go, in turn: "answer" (the person presses
        nothing), "answer:KEYS" (presses them, comma-separated per prompt), "no-answer",
        "busy", "failed". Without a script a call is answered and the person presses 1."""
        with self.lock:
            self.scripts.setdefault(to, deque()).extend(outcomes)

    def fail(self, times: int, status: int = 503, code: int = 20500) -> None:
        """The next ``times`` requests fail with this HTTP status and Twilio error code."""
        with self.lock:
            self.failures.extend([(status, code)] * times)

    def placed(self, to: str = "") -> list[CloudCall]:
        """The calls created, in order (to one number, when given)."""
        with self.lock:
            return [c for c in self.calls.values() if not to or c.to == to]

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until every call placed so far has been played to its end."""
        deadline = time.monotonic() + timeout
        for call in self.placed():
            if not call.done.wait(max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"call {call.sid} was still being played after {timeout} s")

    # The server ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> TwilioCloud:
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_DELETE(self) -> None:
                self._answer("DELETE")

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                try:
                    status, body = cloud.handle(method, self.path, dict(self.headers), raw)
                except RestError as err:
                    status, body = err.status, err.body()
                send_json(self, status, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # Twilio's part -----------------------------------------------------------------------
    def handle(
        self, method: str, path: str, headers: dict[str, str], raw: str
    ) -> tuple[int, dict[str, object]]:
        parts = urlsplit(path)
        form = parse_qs(raw, keep_blank_values=True) if method == "POST" else parse_qs(parts.query)
        with self.lock:
            self.requests.append((method, parts.path, form))
            failure = self.failures.popleft() if self.failures else None
        account = self._authenticated(headers, parts.path)
        if failure is not None:
            raise RestError(failure[0], failure[1], "Internal server error (the stand-in's injected failure)")
        if method == "POST" and "application/x-www-form-urlencoded" not in headers.get("Content-Type", ""):
            raise RestError(400, 20001, "Content-Type must be application/x-www-form-urlencoded")
        calls = f"{API}/Accounts/{account}/Calls"
        if parts.path == f"{calls}.json" and method == "POST":
            time.sleep(self.create_delay)  # the call is placed even if the client is gone by then
            return 201, self._create(account, form)
        if parts.path == f"{calls}.json" and method == "GET":
            return 200, self._read(account, parts.path, form)
        match = re.fullmatch(re.escape(calls) + r"/(CA[0-9a-f]{32})\.json", parts.path)
        if match and method in ("GET", "POST"):
            call = self.calls.get(match.group(1))
            if call is None:
                raise RestError(404, 20404, f"The requested resource {parts.path} was not found")
            if method == "POST":
                self._update(call, form)
            return 200, call.resource(account)
        raise RestError(404, 20404, f"The requested resource {parts.path} was not found")

    def _authenticated(self, headers: dict[str, str], path: str) -> str:
        """The account the request may act for (HTTP Basic), or 401 error 20003."""
        header = headers.get("Authorization", "")
        try:
            scheme, _, encoded = header.partition(" ")
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            scheme, user, password = "", "", ""
        ok = scheme == "Basic" and (
            (user == self.account_sid and secrets.compare_digest(password, self.auth_token))
            or (user in self.api_keys and secrets.compare_digest(password, self.api_keys[user]))
        )
        named = re.match(rf"{API}/Accounts/([^/.]+)", path)
        if not ok or (named is not None and named.group(1) != self.account_sid):
            raise RestError(401, 20003, "Authenticate")
        return self.account_sid

    def _create(self, account: str, form: dict[str, list[str]]) -> dict[str, object]:
        one = {name: values[-1] for name, values in form.items()}
        to, from_ = one.get("To", ""), one.get("From", "")
        if not to:
            raise RestError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise RestError(400, 21213, "No 'From' number is specified")
        if not E164.match(to):
            raise RestError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not E164.match(from_):
            raise RestError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if from_ not in self.numbers:
            raise RestError(400, 21210, f"The source phone number provided, {from_}, is not yet verified")
        url, twiml = one.get("Url", ""), one.get("Twiml", "")
        if not (url or twiml or one.get("ApplicationSid")):
            raise RestError(400, 21200, "A 'Url', 'Twiml' or 'ApplicationSid' parameter is required")
        for name in ("Url", "StatusCallback"):
            if one.get(name) and not absolute(one[name]):
                raise RestError(400, 21205, f"{name} is not a valid URL: {one[name]}")
        for name in ("Method", "StatusCallbackMethod", "FallbackMethod"):
            if one.get(name, "POST").upper() not in ("GET", "POST"):
                raise RestError(400, 21200, f"{name} must be GET or POST")
        events = tuple(e for value in form.get("StatusCallbackEvent", []) for e in value.split())
        if any(e not in CALL_EVENTS for e in events):
            raise RestError(400, 21200, f"StatusCallbackEvent must be among {', '.join(CALL_EVENTS)}")
        timeout = one.get("Timeout", "60")
        if not timeout.isdigit() or not 1 <= int(timeout) <= 600:
            raise RestError(400, 21200, "Timeout must be between 1 and 600 seconds")
        if len(twiml) > 4000:
            raise RestError(400, 21200, "Twiml must be at most 4000 characters")
        call = CloudCall(
            "CA" + secrets.token_hex(16),
            to,
            from_,
            url,
            twiml,
            one.get("StatusCallback", ""),
            events or ("completed",),  # Twilio's default: only the call's end
            int(timeout),
        )
        with self.lock:
            self.calls[call.sid] = call
            script = self.scripts.get(to)
            call.outcome = script.popleft() if script else "answer:1"
        resource = call.resource(account)
        thread = threading.Thread(target=self._play, args=(call,), daemon=True)
        self.threads.append(thread)
        thread.start()
        return resource

    def _read(self, account: str, path: str, query: dict[str, list[str]]) -> dict[str, object]:
        """One page of the account's calls, the most recent first, filtered as asked."""
        one = {name: values[-1] for name, values in query.items()}
        status = one.get("Status", "")
        statuses = (
            "queued",
            "ringing",
            "in-progress",
            "canceled",
            "completed",
            "failed",
            "busy",
            "no-answer",
        )
        if status and status not in statuses:
            raise RestError(400, 20001, f"Status must be one of {', '.join(statuses)}")
        try:
            size = int(one.get("PageSize", "50"))
        except ValueError:
            size = 0
        if not 1 <= size <= 1000:
            raise RestError(400, 20001, "PageSize must be between 1 and 1000")
        with self.lock:
            found = [
                c
                for c in sorted(self.calls.values(), key=lambda c: c.created, reverse=True)
                if one.get("To", c.to) == c.to
                and one.get("From", c.from_) == c.from_
                and status in ("", c.status)
            ][:size]
        uri = f"{path}?PageSize={size}&Page=0"
        return {
            "calls": [c.resource(account) for c in found],
            "end": max(0, len(found) - 1),
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": size,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }

    def _update(self, call: CloudCall, form: dict[str, list[str]]) -> None:
        one = {name: values[-1] for name, values in form.items()}
        call.updates.append(one)
        status = one.get("Status", "")
        if status and status not in ("canceled", "completed"):
            raise RestError(400, 21200, "Status must be canceled or completed")
        if (one.get("Url") or one.get("Twiml")) and call.status != "in-progress":
            raise RestError(400, 21220, "Call is not in-progress. Cannot redirect.")
        if status == "canceled" and call.status in ("queued", "ringing"):
            call.status = "canceled"
        elif status == "completed":
            call.status = "completed"

    def _play(self, call: CloudCall) -> None:
        """The call as the network plays it: ring, the outcome, the callbacks, the TwiML."""
        try:
            kind, _, keys = call.outcome.partition(":")
            self.started.wait(120)  # still queued meanwhile
            self._event(call, "initiated", "initiated")
            if kind == "failed":
                call.status = "failed"
            elif kind == "busy":
                call.status = "busy"
            else:
                call.status = "ringing"
                self._event(call, "ringing", "ringing")
                time.sleep(self.ring_seconds)
                if call.status == "canceled":
                    pass
                elif kind == "no-answer":
                    call.status = "no-answer"
                else:
                    call.status = "in-progress"
                    self._event(call, "answered", "in-progress")
                    call.transcript = self._answer(call, keys)
                    if call.status == "in-progress":
                        call.status = "completed"
            self._event(call, "completed", call.status, duration=call.status == "completed")
        finally:
            call.done.set()

    def _answer(self, call: CloudCall, keys: str) -> Transcript:
        form = self._form(call, "in-progress")
        person = Caller(to=call.to, from_=call.from_, press=keys, call_sid=call.sid, outcomes=["answered"])
        if call.url:  # relative URLs in its TwiML are resolved against the call's Url's host
            origin = urlsplit(call.url)
            phone = Phone(f"{origin.scheme}://{origin.netloc}/", self.auth_token, _transport)
            return phone.answer(call.url, form, person)
        transcript = Transcript(call.sid, call.from_)
        transcript.documents.append(call.twiml)
        return transcript

    def _form(self, call: CloudCall, status: str) -> dict[str, str]:
        return {
            "CallSid": call.sid,
            "AccountSid": self.account_sid,
            "From": call.from_,
            "To": call.to,
            "CallStatus": status,
            "ApiVersion": "2010-04-01",
            "Direction": "outbound-api",
        }

    def _event(self, call: CloudCall, event: str, status: str, duration: bool = False) -> None:
        """Post one status callback when the call asked for this event."""
        if not call.status_callback or event not in call.events:
            return
        form = self._form(call, status)
        form.update(
            CallbackSource="call-progress-events",
            Timestamp=formatdate(time.time(), usegmt=True),
            SequenceNumber=str(len(call.callbacks)),
        )
        if duration or event == "completed":
            seconds = str(max(1, round(time.time() - call.created))) if status == "completed" else "0"
            form.update(CallDuration=seconds, Duration=seconds)
        call.callbacks.append(form)
        self.phone.post(call.status_callback, form)


def absolute(url: object) -> bool:
    """An absolute http(s) URL, as Twilio wants every URL it is given."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: object) -> None:
    """Answer a stand-in's request with ``payload`` as JSON, as Twilio's REST APIs do."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _transport(
    url: str, params: dict[str, str], headers: dict[str, str], method: str = "POST"
) -> tuple[int, str, str]:
    """How Twilio requests a webhook: a form POST (or GET), 15 s in all."""
    try:
        if method == "GET":
            response = requests.get(url, headers=headers, timeout=15)
        else:
            response = requests.post(url, data=params, headers=headers, timeout=15)
    except requests.RequestException:
        return 502, "", ""
    return response.status_code, response.headers.get("Content-Type", ""), response.text
