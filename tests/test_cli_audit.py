"""`ivr audit verify|anchor|export|archive|prune|replay` (ivr/cli/audit.py) as operators run
them, against a real redis-server: each happy path, and each failure as one line and its exit
code."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from ivr.cli import FILE_PROBLEM, REDIS_DOWN, USAGE, main
from ivr.evidence import Keyring
from ivr.keys import EVENTS
from tests import records
from tests.conftest import FLOWS, HASH_KEY, one_line

KEYS = Keyring("k1", HASH_KEY.encode())
START = datetime(2026, 11, 1, tzinfo=UTC)  # the record's calls: fixed days, not today's


@pytest.fixture
def record(redis_server, redis_client, monkeypatch):
    """40 simulated calls over the first 10 days of November 2026, sealed under k1."""
    monkeypatch.setenv("IVR_CALLER_HASH_KEY", HASH_KEY)
    monkeypatch.delenv("IVR_CALLER_HASH_KEY_ID", raising=False)
    monkeypatch.delenv("IVR_CALLER_HASH_KEYS_OLD", raising=False)
    monkeypatch.delenv("IVR_ANCHOR_LOG", raising=False)
    monkeypatch.delenv("IVR_ARCHIVE_DIR", raising=False)
    events = records.simulated(40, START, 10)
    records.append(redis_client, KEYS, events)
    return events


def test_anchor_then_verify_holds_the_record_to_the_anchor_log(redis_server, record, tmp_path, capsys):
    log = tmp_path / "anchors.jsonl"
    assert main(["audit", "anchor", "--log", str(log), "--redis-url", redis_server.url]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"anchored {len(record)} entries up to "), out
    assert len(log.read_text().splitlines()) == 1

    assert main(["audit", "verify", "--anchors", str(log), "--redis-url", redis_server.url]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"intact: {len(record)} entries, held to 1 anchors"), out


def test_verify_names_the_first_broken_link(redis_server, redis_client, record, capsys):
    ids = [i for i, _ in redis_client.xrange(EVENTS)]
    redis_client.xdel(EVENTS, ids[5])
    assert main(["audit", "verify", "--redis-url", redis_server.url]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"BROKEN at {ids[6].decode()} "), out


def test_verify_with_an_anchor_log_that_is_not_there_or_not_one(redis_server, record, tmp_path, capsys):
    missing = tmp_path / "no-such-folder" / "anchors.jsonl"
    assert main(["audit", "verify", "--anchors", str(missing), "--redis-url", redis_server.url]) == (
        FILE_PROBLEM
    )
    assert f"cannot read the anchor log {missing}" in one_line(capsys)
    garbled = tmp_path / "anchors.jsonl"
    garbled.write_text("not json\nnot json either\n")
    assert main(["audit", "verify", "--anchors", str(garbled), "--redis-url", redis_server.url]) == 1
    assert "not an anchor line" in one_line(capsys)


def test_anchor_into_a_missing_folder_is_one_line_and_exit_4(redis_server, record, tmp_path, capsys):
    log = tmp_path / "no-such-folder" / "anchors.jsonl"
    assert main(["audit", "anchor", "--log", str(log), "--redis-url", redis_server.url]) == FILE_PROBLEM
    assert str(log) in one_line(capsys)
    assert not log.parent.exists()


def test_anchor_with_redis_not_answering_raises_the_alarm_and_exits_3(unanswering_redis, capsys):
    assert main(["audit", "anchor", "--redis-url", unanswering_redis.url]) == REDIS_DOWN
    assert one_line(capsys).startswith("ALARM: cannot read the record: ")


def test_anchor_every_goes_on_while_redis_is_down(unanswering_redis, monkeypatch, capsys):
    """A timer that starts while Redis is down keeps trying (time.sleep stands in for the wait
    between rounds, and ends the loop after the third)."""
    rounds = []

    def sleep(seconds: float) -> None:
        rounds.append(seconds)
        if len(rounds) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr("ivr.cli.audit.time.sleep", sleep)
    with pytest.raises(KeyboardInterrupt):
        main(["audit", "anchor", "--every", "60", "--redis-url", unanswering_redis.url])
    assert rounds == [60.0, 60.0, 60.0]
    assert capsys.readouterr().err.count("ALARM: cannot read the record") == 3


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_export_writes_the_days_and_says_their_digest(redis_server, record, tmp_path, capsys, form):
    out = tmp_path / f"evidence.{form}"
    command = ["audit", "export", "--from", "2026-11-01", "--to", "2026-11-03", "--format", form]
    assert main([*command, "--out", str(out), "--redis-url", redis_server.url]) == 0
    said = capsys.readouterr().out
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    lines = out.read_text().splitlines()
    count = len(lines) - (1 if form == "csv" else 0)  # csv: a header line
    assert said == f"exported {count} entries to {out} (sha256 {digest})\n"
    assert 0 < count < len(record)  # three of the ten days
    if form == "jsonl":
        assert all(json.loads(line)["id"] for line in lines)


@pytest.mark.parametrize(
    "start, end, message",
    [
        ("2026-13-01", "2026-11-02", "from '2026-13-01' is not a date like 2026-11-01"),
        ("2026-11-05", "2026-11-01", "the period ends (2026-11-01) before it starts (2026-11-05)"),
    ],
)
def test_export_of_a_bad_period_is_one_line_and_exit_1(redis_server, tmp_path, capsys, start, end, message):
    out = tmp_path / "evidence.jsonl"
    command = ["audit", "export", "--from", start, "--to", end, "--out", str(out)]
    assert main([*command, "--redis-url", redis_server.url]) == 1
    assert one_line(capsys) == f"ivr: {message}\n"
    assert not out.exists()


def test_prune_deletes_only_what_was_exported(redis_server, redis_client, record, tmp_path, capsys):
    url = redis_server.url
    prune = ["audit", "prune", "--before", "2026-11-04", "--retention-days", "0", "--redis-url", url]
    assert main(prune) == 1  # nothing exported yet
    assert "was never exported: export its range first" in capsys.readouterr().out
    out = tmp_path / "evidence.jsonl"
    export = ["audit", "export", "--from", "2026-11-01", "--to", "2026-11-03", "--out", str(out)]
    assert main([*export, "--redis-url", url]) == 0
    exported = len(out.read_text().splitlines())
    capsys.readouterr()
    assert main(prune) == 0
    assert capsys.readouterr().out == f"pruned {exported} entries\n"
    assert redis_client.xlen(EVENTS) == len(record) - exported
    assert main(["audit", "verify", "--redis-url", url]) == 0  # what is left still verifies
    assert main([*prune[:3], "2026-11-01", *prune[4:]]) == 0  # nothing that old: not a failure
    assert "nothing pruned: no entries before 2026-11-01" in capsys.readouterr().out


def test_archive_needs_a_folder_and_a_sensible_hot_window(
    redis_server, redis_client, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("IVR_ARCHIVE_DIR", raising=False)
    assert main(["audit", "archive", "--redis-url", redis_server.url]) == USAGE
    assert "no archive folder: set IVR_ARCHIVE_DIR or pass --archive" in one_line(capsys)
    command = ["audit", "archive", "--archive", str(tmp_path), "--redis-url", redis_server.url]
    assert main([*command, "--hot-days", "0"]) == 1
    assert one_line(capsys).startswith("ivr: hot-days 0 must be 1 to ")
    assert main(command) == 0  # an empty Redis: nothing to move
    assert capsys.readouterr().out.startswith("nothing to archive: no complete day older than ")


def test_replay_sends_a_spooled_call_to_redis(redis_server, redis_client, tmp_path, capsys, monkeypatch):
    """A call answered while Redis was down (from IVR_FLOWS_DIR) spools its evidence; once
    Redis is back, `ivr audit replay` sends it and the record verifies."""
    spool = tmp_path / "spool"
    monkeypatch.setenv("IVR_SPOOL_DIR", str(spool))
    monkeypatch.setenv("IVR_FLOWS_DIR", str(FLOWS))
    monkeypatch.setenv("IVR_CALLER_HASH_KEY", HASH_KEY)
    monkeypatch.delenv("IVR_CALLER_HASH_KEY_ID", raising=False)
    assert main(["call", "+18005550100", "--press", "1,1"]) == 0  # REDIS_URL: nothing listens
    assert any(spool.iterdir()) and redis_client.xlen(EVENTS) == 0
    capsys.readouterr()
    assert main(["audit", "replay", "--spool", str(spool), "--redis-url", redis_server.url]) == 0
    out = capsys.readouterr().out
    sent = redis_client.xlen(EVENTS)
    assert sent > 0 and out == f"replayed {sent} spooled event(s) from {spool}\n"
    assert main(["audit", "verify", "--redis-url", redis_server.url]) == 0


@pytest.mark.parametrize(
    "command",
    [
        ["verify"],
        ["export", "--from", "2026-11-01", "--to", "2026-11-02", "--out", "unused.jsonl"],
        ["prune", "--before", "2026-11-01"],
        ["archive", "--archive", "unused"],
        ["replay", "--spool", "unused"],
    ],
)
def test_every_audit_command_with_redis_not_answering_is_one_line_and_exit_3(
    unanswering_redis, command, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main(["audit", *command, "--redis-url", unanswering_redis.url]) == REDIS_DOWN
    assert one_line(capsys).startswith(f"ivr: Redis at 127.0.0.1:{unanswering_redis.port} did not answer")
    assert not any(tmp_path.iterdir())  # nothing written
