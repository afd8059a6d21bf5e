"""`ivr call` and `ivr call-record` (ivr/cli/calls.py): a call played in-process or over real
HTTP against gunicorn, and its evidence read back; each failure one line and its exit code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr.cli import FINDING, USAGE, main
from ivr.keys import EVENTS
from tests.conftest import FLOWS, HASH_KEY, TOKEN, one_line, serving

ROUTE = (
    'centers = ["manila", "bangalore", "scranton"]\nstrategy = "weight"\n'
    "weights = { manila = 60, bangalore = 30, scranton = 10 }"
)


def only_manila(tmp_path) -> Path:
    """The shipped flows with support's route weighted all to Manila (open 24/7): a call's
    random CallSid would draw Scranton one time in ten (no disclosure, no offer), and
    Bangalore only in its hours."""
    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder)
    acme = folder / "acme.toml"
    assert ROUTE in acme.read_text()
    only = 'centers = ["manila"]\nstrategy = "weight"\nweights = { manila = 100 }'
    acme.write_text(acme.read_text().replace(ROUTE, only))
    return folder


@pytest.fixture
def server(tmp_path):
    with serving(only_manila(tmp_path), tmp_path / "spool") as (redis_server, gunicorn):
        yield redis_server, gunicorn


@pytest.fixture
def loaded(redis_server, redis_client, monkeypatch, capsys):
    """The shipped flows published; in-process calls use that Redis and seal under k1."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("IVR_CALLER_HASH_KEY", HASH_KEY)
    monkeypatch.delenv("IVR_CALLER_HASH_KEY_ID", raising=False)
    assert main(["load", str(FLOWS), "--redis-url", redis_server.url]) == 0
    capsys.readouterr()
    return redis_server.url


def _sid(transcript: str) -> str:
    first = transcript.splitlines()[0]
    assert first.startswith("call CA"), first
    return first.split()[1]


def test_a_call_over_http_to_a_running_server(server, capsys, monkeypatch):
    redis_server, gunicorn = server
    command = ["call", "+18005550100", "--url", gunicorn.base_url, "--press", "1,1,1"]
    assert main([*command, "--token", TOKEN]) == 0
    out = capsys.readouterr().out
    assert "To speak with an agent in the United States, press 1" in out and out.endswith("call ended\n")
    calls = redis_server.client().xlen(EVENTS)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)  # the token from the environment instead
    assert main(command) == 0
    capsys.readouterr()
    assert redis_server.client().xlen(EVENTS) > calls


def test_a_call_signed_with_the_wrong_token_is_refused_by_the_server(server, capsys):
    _, gunicorn = server
    assert main(["call", "+18005550100", "--url", gunicorn.base_url, "--token", "x" * 32]) == 1
    assert "403" in capsys.readouterr().out


def test_a_call_to_a_url_without_a_token_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    assert main(["call", "+18005550100", "--url", "http://127.0.0.1:1"]) == USAGE
    assert one_line(capsys) == "--url needs the server's auth token (--token or TWILIO_AUTH_TOKEN)\n"


def test_an_outcome_twilio_never_reports_is_one_line_and_exit_2(loaded, tmp_path, capsys):
    """Support's route weighted all to Manila, whose queue (<Enqueue>) has no timeout."""
    assert main(["load", str(only_manila(tmp_path)), "--redis-url", loaded]) == 0
    capsys.readouterr()
    command = ["call", "+18005550100", "--press", "1,1", "--outcome", "no-answer"]
    assert main(command) == USAGE
    assert "bridge is never no-answer: Twilio's <Enqueue> has no timeout" in one_line(capsys)


def test_call_record_prints_a_calls_evidence_in_order(loaded, capsys):
    assert main(["call", "+18005550100", "--press", "1,1"]) == 0
    sid = _sid(capsys.readouterr().out)
    assert main(["call-record", sid, "--redis-url", loaded]) == 0
    out = capsys.readouterr().out.splitlines()
    entries = [line for line in out if not line.startswith("    ")]
    assert len(entries) > 3 and all(line.endswith("  [intact]") for line in entries), entries
    assert "    step: received" in out and "    step: routed" in out
    assert not any(line.startswith(("    mac:", "    hash:", "    prev:")) for line in out)


def test_call_record_of_an_unknown_call_is_one_line_and_exit_1(loaded, capsys):
    assert main(["call-record", "CA" + "0" * 32, "--redis-url", loaded]) == 1
    assert one_line(capsys) == f"no record of call CA{'0' * 32}\n"


def test_an_in_process_call_with_redis_down_and_no_seed_reaches_no_flow(capsys, tmp_path, monkeypatch):
    """REDIS_URL (the autouse default) has nothing listening and IVR_FLOWS_DIR is unset: the
    app answers with the apology, and `ivr call` says why the call went nowhere."""
    monkeypatch.setenv("IVR_SPOOL_DIR", str(tmp_path))
    monkeypatch.delenv("IVR_FLOWS_DIR", raising=False)
    assert main(["call", "+18005550100", "--press", "1,1"]) == FINDING
    out, err = capsys.readouterr()
    assert "We are sorry" in out
    assert err.splitlines()[-1].startswith("ivr call: +18005550100 reached no flow")
