"""`ivr voicemail list|show|done` over the evidence a voicemail leaves (voicemail_left)."""

from __future__ import annotations

from datetime import UTC, datetime

from ivr import evidence
from ivr.cli import FINDING, USAGE, main
from ivr.evidence import Keyring
from ivr.store import Store, connect
from ivr.vocabulary import Event
from tests.conftest import HASH_KEY

SID = "RE" + "a" * 32


def left(redis_server, call_sid: str, recording: str) -> None:
    store = Store(connect(redis_server.url, timeout=5))
    keyring = Keyring("k1", HASH_KEY.encode())
    common = evidence.common_fields(
        call_sid, evidence.caller_hash("+12025550143", keyring.secret), datetime.now(UTC)
    )
    event = Event(
        "voicemail_left:3:@voicemail",
        "voicemail_left",
        (
            ("center", "scranton"),
            ("recording", recording),
            ("url", f"https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/{recording}"),
            ("duration", "17"),
            ("language", "es-US"),
        ),
    )
    store.append(call_sid, evidence.seal_all(keyring, common, [event]))


def test_a_voicemail_is_listed_shown_and_marked_done(redis_server, redis_client, capsys):
    left(redis_server, "CA" + "1" * 32, SID)
    left(redis_server, "CA" + "2" * 32, "RE" + "b" * 32)
    url = ["--redis-url", redis_server.url]
    assert main(["voicemail", "list", *url]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [r.split()[0] for r in rows] == ["new", "new"] and SID in rows[0]
    assert main(["voicemail", "show", SID, *url]) == 0
    shown = capsys.readouterr().out
    assert "duration: 17" in shown and "language: es-US" in shown and "done: no" in shown
    assert "+12025550143" not in shown  # the caller only as the keyed hash
    assert main(["voicemail", "done", SID, *url]) == 0
    capsys.readouterr()
    assert main(["voicemail", "list", *url]) == 0
    assert SID not in capsys.readouterr().out  # done: no longer waiting
    assert main(["voicemail", "list", "--all", *url]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("done")


def test_show_needs_a_known_recording(redis_server, redis_client, capsys):
    assert main(["voicemail", "show", "--redis-url", redis_server.url]) == USAGE
    assert main(["voicemail", "show", "RE" + "f" * 32, "--redis-url", redis_server.url]) == FINDING
