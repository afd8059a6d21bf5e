"""Log injection (issue 10, point 9): CR, LF and quotes in a path and in a step URL's state
give exactly one parseable JSON line per event, over real HTTP to gunicorn as configured by
deploy/gunicorn.conf.py, with the CallSid and never the caller's number."""

from __future__ import annotations

import json
import logging
import socket
from urllib.parse import quote, urlencode

from ivr import logs
from ivr.caller import Caller, Phone
from tests.conftest import FLOWS, SUPPORT, TOKEN, http_transport, serving

FORGED = '" 200 -\r\n127.0.0.1 "GET /admin" 200 {"level": "info"}'


def raw_get(port: int, target: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return sock.recv(4096)


def test_cr_lf_and_quotes_in_a_path_and_a_step_state_give_one_json_line_per_event(tmp_path):
    caller = Caller(SUPPORT, from_="+12025550143")
    with serving(FLOWS, tmp_path / "spool") as (_, gunicorn):
        assert raw_get(gunicorn.port, "/voice" + quote(FORGED, safe="")).startswith(b"HTTP/1.1 404")
        phone = Phone(gunicorn.base_url, TOKEN, http_transport())
        step = "/voice/step?" + urlencode({"f": "support", "v": "1", "s": FORGED})
        status, _, _ = phone.post(
            step, {"CallSid": caller.call_sid, "From": caller.from_, "To": SUPPORT, "Digits": "1"}
        )
        assert status == 200  # an unknown state still gets the flow's safe answer
        gunicorn.stop()
        lines = [line for line in gunicorn.output().splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [e for e in events if e["logger"] == "gunicorn.access"]
    assert [e["path"] for e in access if "/admin" in e["path"]] == ["/voice" + FORGED]
    step_lines = [e for e in access if e["path"] == "/voice/step"]
    assert len(step_lines) == 1 and step_lines[0]["call_sid"] == caller.call_sid
    assert step_lines[0]["status"] == "200"
    failed = [e for e in events if e["logger"] == "ivr.webhooks" and FORGED in e["event"]]
    assert len(failed) == 1 and failed[0]["call_sid"] == caller.call_sid, failed
    for line in (step_lines[0], failed[0]):  # where the call is: flow, version, step
        assert (line["flow"], line["version"], line["step"]) == ("support", "1", FORGED), line
    assert not any(line.startswith("127.0.0.1") for line in lines)  # no forged line
    assert all(caller.from_ not in line for line in lines)


def test_the_formatter_escapes_every_value_onto_one_line():
    record = logging.LogRecord("ivr.x", logging.ERROR, __file__, 1, "state %s", (FORGED,), None)
    record.fields = {"path": "/a\nb"}
    with logs.call("CA" + "1" * 32):
        line = logs.JsonFormatter().format(record)
    assert "\n" not in line and "\r" not in line
    assert json.loads(line)["event"] == "state " + FORGED
    assert json.loads(line)["call_sid"] == "CA" + "1" * 32
    assert json.loads(line)["path"] == "/a\nb"
