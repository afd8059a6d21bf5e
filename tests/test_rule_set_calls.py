"""Calls over the webhooks (in-process, signed as Twilio signs, a real redis-server) on the
rule-set examples: the rule sets in force and home_only are in each call's evidence as
`ivr load` published them, a bot is announced before Twilio connects it and its hand-off
reaches a human at home. Twilio's cloud cannot run here: ``ivr.caller.Phone`` plays it,
ConversationRelay included (the session's end posted to the <Connect> action)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr import create_app
from ivr.caller import Caller, Phone
from ivr.cli import main
from tests.conftest import HASH_KEY, TOKEN, flask_transport, publish, stream_entries

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "rulesets"


@pytest.fixture
def phone_on(redis_server, redis_client, spool_dir):
    """A phone on an app serving one example folder, published as `ivr load` does."""

    def make(case: str) -> Phone:
        publish(redis_server.url, EXAMPLES / case)
        app = create_app(
            {
                "testing": True,
                "auth_token": TOKEN,
                "caller_hash_key": HASH_KEY,
                "redis_url": redis_server.url,
                "spool_dir": str(spool_dir),
            }
        )
        return Phone("http://localhost", TOKEN, flask_transport(app.test_client()))

    return make


def events(redis_client, sid: str) -> list[dict[str, str]]:
    return [f for _, f in stream_entries(redis_client) if f["call"] == sid]


def test_the_rule_sets_and_home_only_are_in_each_calls_evidence(phone_on, redis_client):
    phone = phone_on("home-only-federal-line")

    federal = phone.call(Caller("+18005550142"))
    customer = phone.call(Caller("+18005550100"))

    first = events(redis_client, federal.call_sid)[0]
    assert (first["step"], first["rules"], first["home_only"]) == ("received", "us-2025:1", "true")
    assert federal.bridges == [("number", "+15705550123")]
    other = events(redis_client, customer.call_sid)[0]
    assert (other["rules"], other["home_only"]) == ("us-2025:1", "false")


def test_a_policys_rule_sets_are_written_into_the_numbers_it_publishes(phone_on, redis_client):
    phone = phone_on("nj-2020-reporting")

    call = phone.call(Caller("+18005550100"))

    assert events(redis_client, call.call_sid)[0]["rules"] == "us-2019:1,nj-2020:1"
    published = redis_client.hget("onshore:numbers", "+18005550100")
    assert b'"rules": ["us-2019", "nj-2020"]' in published


@pytest.mark.parametrize("bot, ends", [("agent", "number"), ("done", None)])
def test_a_bot_is_announced_then_connected_and_its_hand_off_reaches_a_person_at_home(
    phone_on, redis_client, bot, ends
):
    phone = phone_on("automated-with-notice")

    call = phone.call(Caller("+18005550100", bot=bot))

    assert any("automated assistant run from Manila, the Philippines" in h for h in call.heard)
    assert call.bridges[0] == ("relay", "wss://bots.acme.example.com/relay")
    recorded = events(redis_client, call.call_sid)
    steps = [e["step"] for e in recorded]
    notice = next(e for e in recorded if e["step"] == "automated")
    assert notice["country"] == "PH" and "Say 'agent'" in notice["notice"]
    ended = next(e for e in recorded if e["step"] == "automated_ended")
    assert ended["handoff"] == str(bot == "agent").lower()
    if ends:
        assert call.bridges[1] == ("number", "+15705550123")
        assert next(e for e in recorded if e["step"] == "transfer_requested")["by"] == "automated"
    else:
        assert "transfer_requested" not in steps
        assert "Thank you for calling. Goodbye." in call.heard


def test_the_report_states_each_lines_rule_sets_and_certifies_per_rule_set(phone_on, redis_server, capsys):
    phone = phone_on("home-only-federal-line")
    for to in ("+18005550142", "+18005550142", "+18005550100"):
        phone.call(Caller(to))
    day = datetime.now(UTC).date().isoformat()
    # a call may have started just before midnight UTC: the period spans yesterday and today
    start = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    capsys.readouterr()

    assert (
        main(["report", "--from", start, "--to", day, "--format", "json", "--redis-url", redis_server.url])
        == 0
    )
    data = json.loads(capsys.readouterr().out)

    lines = {line["number"]: line for line in data["lines"]}
    assert lines["+18005550142"] == {
        "number": "+18005550142",
        "calls": 2,
        "rules": {"us-2025:1": 2},
        "home_only": True,
        "offshore_bridges": 0,
        "refused_abroad": 0,
        "stayed_home": True,
    }
    assert lines["+18005550100"]["stayed_home"] is None
    [cert] = data["certification"]
    assert (cert["rules"], cert["calls"], cert["bills"]) == ("us-2025:1", 3, "S. 2495 / H.R. 4954")
    shown = {(ev["requirement"], ev["shows"]): (ev["count"], ev["of"]) for ev in cert["evidence"]}
    assert shown[("R19", "calls of home_only lines that never left the home country")] == (2, 2)
    assert shown[("R12", "calls recorded under this rule set in the period")] == (3, None)
    assert [ev["requirement"] for ev in cert["evidence"]][:3] == ["R1", "R2", "R3"]

    assert main(["report", "--from", start, "--to", day, "--redis-url", redis_server.url]) == 0
    text = capsys.readouterr().out
    assert "9. Lines and the rule sets in force (R19)" in text
    assert "10. Certification (R12): us-2025:1" in text
