"""The `ivr` command as operators run it: `ivr.cli.main([...])` against a real redis-server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from ivr import keys
from ivr.cli import FILE_PROBLEM, NO_SERVER, REDIS_DOWN, SETTINGS, UNVERIFIED, main
from ivr.errors import SettingsError
from ivr.settings import Settings
from ivr.store import Store, connect
from tests.conftest import FLOWS, HASH_KEY, one_line
from tests.servers import ROOT, RedisServer, free_port


@pytest.fixture
def folder(tmp_path):
    copy = tmp_path / "flows"
    shutil.copytree(FLOWS, copy)
    return copy


def _edit(folder, old: str, new: str) -> None:
    acme = folder / "acme.toml"
    text = acme.read_text()
    assert old in text
    acme.write_text(text.replace(old, new))


def test_rollback_of_the_shipped_example_is_checked_against_the_published_policy(
    folder, redis_server, redis_client, capsys
):
    url = redis_server.url
    assert main(["load", str(folder), "--redis-url", url]) == 0
    _edit(folder, "Thank you for calling Acme Wireless support.", "Thanks for calling Acme.")
    assert main(["load", str(folder), "--redis-url", url]) == 0
    store = Store(connect(url, timeout=5))
    assert store.live_version("support") == 2
    assert store.policy() is not None and "media.acme.example.com" in store.policy().url_hosts

    assert main(["rollback", "support", "--redis-url", url, "-m", "the old greeting"]) == 0
    assert "flow support: version 1 live (was 2)" in capsys.readouterr().out
    assert store.live_version("support") == 1


def test_the_policy_is_versioned_and_a_rollback_it_no_longer_allows_is_refused(
    folder, redis_server, redis_client, capsys
):
    url = redis_server.url
    assert main(["load", str(folder), "--redis-url", url]) == 0
    assert main(["load", str(folder), "--redis-url", url]) == 0  # unchanged: same policy version
    store = Store(connect(url, timeout=5))
    log = store.config_log()
    assert [row["policy"] for row in log] == ["1", "1"]
    # v2 of support plays its chime from another host, which the policy v2 allows instead
    _edit(
        folder,
        "https://media.acme.example.com/audio/acme-chime.mp3",
        "https://cdn.acme.example.com/audio/acme-chime.mp3",
    )
    _edit(folder, '"media.acme.example.com"]', '"cdn.acme.example.com"]')
    assert main(["load", str(folder), "--redis-url", url]) == 0
    assert store.config_log(1)[0]["policy"] == "2"
    assert "cdn.acme.example.com" in store.policy().url_hosts
    capsys.readouterr()

    assert main(["rollback", "support", "--redis-url", url]) == 1
    err = capsys.readouterr().err
    assert "host 'media.acme.example.com' is not on the policy's url_hosts allowlist" in err
    assert "not rolled back" in err
    assert store.live_version("support") == 2


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_ivr_call_sends_the_status_callback_as_the_number_is_configured(
    folder, redis_server, redis_client, capsys, monkeypatch, method
):
    url = redis_server.url
    assert main(["load", str(folder), "--redis-url", url]) == 0
    monkeypatch.setenv("REDIS_URL", url)
    assert main(["call", "+18005550100", "--press", "1,1,1", "--status-method", method]) == 0
    out = capsys.readouterr().out
    assert "status callback" not in out, out  # it got 200, as the call's webhooks did
    assert "the called side presses 1" in out, out  # Scranton's agent took it at the whisper
    steps = [e for _, e in redis_client.xrange(keys.EVENTS)]
    assert any(b'"status","status","completed"' in e[b"event"] for e in steps if b"event" in e)


# -- failures: one line and an exit code, never a traceback ---------------------------------

REDIS_COMMANDS = (
    ["load", str(FLOWS)],
    ["versions", "support"],
    ["diff", "support", "1", "2"],
    ["report", "--from", "2026-01-01", "--to", "2026-01-02"],
    ["audit", "verify"],
    ["rollback", "support"],
    ["call-record", "CA123"],
)


@pytest.mark.parametrize("fault", ["stopped", "hung"])
def test_a_stopped_or_hung_redis_is_one_line_and_exit_3(fault, capsys):
    server = RedisServer()
    server.start()
    if fault == "stopped":
        server.kill()
    else:
        server.pause()  # SIGSTOP: the port accepts connections, nothing answers
    try:
        for command in REDIS_COMMANDS:
            started = time.monotonic()
            assert main([*command, "--redis-url", server.url]) == REDIS_DOWN, command
            took = time.monotonic() - started
            err = one_line(capsys)
            assert err.startswith(f"ivr: Redis at 127.0.0.1:{server.port} did not answer"), err
            with capsys.disabled():
                print(f"{fault} Redis, ivr {command[0]}: {took:.2f} s")
            assert took < 5.0  # the 1 s PING, not the 5 s reads' timeout
    finally:
        server.kill()
        shutil.rmtree(server.dir, ignore_errors=True)


def test_export_into_a_missing_folder_is_one_line_and_exit_4(redis_server, redis_client, capsys, tmp_path):
    out = tmp_path / "no-such-folder" / "evidence.jsonl"
    assert (
        main(
            [
                "audit",
                "export",
                "--from",
                "2026-01-01",
                "--to",
                "2026-01-02",
                "--out",
                str(out),
                "--redis-url",
                redis_server.url,
            ]
        )
        == FILE_PROBLEM
    )
    assert str(out) in one_line(capsys)


def test_call_to_a_url_where_no_server_listens_is_one_line_and_exit_5(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["call", "+18005550100", "--url", url, "--token", "t" * 32]) == NO_SERVER
    assert f"no server answered at {url}" in one_line(capsys)


def test_a_change_me_password_is_refused_by_the_settings_and_the_cli(capsys):
    env = {
        "TWILIO_AUTH_TOKEN": "t" * 32,
        "IVR_CALLER_HASH_KEY": "k" * 32,
        "REDIS_URL": "redis://onshore-app:CHANGE-ME-app@redis:6379/0",
    }
    with pytest.raises(SettingsError, match="REDIS_URL still holds a CHANGE-ME placeholder"):
        Settings.from_env(env)
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        Settings.from_env({**env, "REDIS_URL": "redis://x", "TWILIO_AUTH_TOKEN": "CHANGE-ME"})
    assert main(["load", str(FLOWS), "--redis-url", env["REDIS_URL"]]) == SETTINGS
    assert "CHANGE-ME" in one_line(capsys)


@pytest.mark.parametrize("missing", ["TWILIO_AUTH_TOKEN", "CHANGE-ME"])
def test_gunicorn_without_its_settings_prints_one_line(missing, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TWILIO_AUTH_TOKEN", "REDIS_URL")}
    env.update(IVR_CALLER_HASH_KEY="k" * 32, BIND=f"127.0.0.1:{free_port()}", WEB_CONCURRENCY="1")
    if missing == "CHANGE-ME":
        env.update(TWILIO_AUTH_TOKEN="t" * 32, REDIS_URL="redis://app:CHANGE-ME-app@127.0.0.1:1/0")
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "ivr:create_app()",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ran.returncode == 1
    assert ran.stdout == "" and ran.stderr.count("\n") == 1, ran.stderr
    assert ran.stderr.startswith("onshore: ") and (
        "TWILIO_AUTH_TOKEN is required" in ran.stderr or "REDIS_URL still holds" in ran.stderr
    )


# -- audit verify: never "intact" about MACs it could not check ------------------------------


@pytest.fixture
def called(redis_server, redis_client, monkeypatch):
    """One call in-process (as `ivr call` plays it), its evidence sealed under key id k1."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("IVR_CALLER_HASH_KEY", HASH_KEY)
    monkeypatch.delenv("IVR_CALLER_HASH_KEY_ID", raising=False)
    monkeypatch.delenv("IVR_CALLER_HASH_KEYS_OLD", raising=False)
    monkeypatch.delenv("IVR_ANCHOR_LOG", raising=False)
    assert main(["load", str(FLOWS), "--redis-url", redis_server.url]) == 0
    assert main(["call", "+18005550100", "--press", "1,1"]) == 0
    return redis_server.url


@pytest.mark.parametrize(
    "keys, named",
    [
        ({}, "no entry's MAC was checked: IVR_CALLER_HASH_KEY is not set"),
        (
            {"IVR_CALLER_HASH_KEY": "another", "IVR_CALLER_HASH_KEY_ID": "k2"},
            "entries' MACs were not checked: their key ids are not configured here",
        ),
    ],
)
def test_verify_without_the_key_says_what_it_could_not_check_and_exits_6(
    called, keys, named, monkeypatch, capsys
):
    monkeypatch.delenv("IVR_CALLER_HASH_KEY")
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["audit", "verify", "--redis-url", called]) == UNVERIFIED
    out = capsys.readouterr().out
    assert out.startswith("chain intact, MACs NOT VERIFIED") and named in out, out
    assert main(["audit", "verify", "--redis-url", called, "--accept-unverified-macs"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("intact: ") and "accepted unverified" in out and named in out


def test_verify_with_the_key_is_intact(called, capsys):
    capsys.readouterr()
    assert main(["audit", "verify", "--redis-url", called]) == 0
    out = capsys.readouterr().out
    assert out.startswith("intact: ") and "NOT VERIFIED" not in out and "unverified" not in out


# -- small things -------------------------------------------------------------------------------


def test_versions_name_the_os_user_and_diff_takes_versions_as_shown(
    folder, redis_server, redis_client, monkeypatch, capsys
):
    monkeypatch.delenv("IVR_PUBLISHER", raising=False)
    monkeypatch.setenv("LOGNAME", "operator-ann")  # getpass reads LOGNAME first
    url = redis_server.url
    assert main(["load", str(folder), "--redis-url", url]) == 0
    _edit(folder, "Thank you for calling Acme Wireless support.", "Thanks for calling Acme.")
    monkeypatch.setenv("IVR_PUBLISHER", "release-bot")
    assert main(["load", str(folder), "--redis-url", url]) == 0
    capsys.readouterr()
    assert main(["versions", "support", "--redis-url", url]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert "operator-ann" in rows[0] and "release-bot" in rows[1] and "unknown" not in rows[0]
    assert main(["diff", "support", "v1", "v2", "--redis-url", url]) == 0
    out = capsys.readouterr().out
    assert "-" in out and "Thanks for calling Acme." in out
    with pytest.raises(SystemExit) as usage:
        main(["diff", "support", "first", "v2", "--redis-url", url])
    assert usage.value.code == 2
    assert "'first' is not a version like 3 or v3" in capsys.readouterr().err


@pytest.mark.parametrize("number", ["18005550100", "+1-800-555-0100", "+1 800 555 0100"])
def test_call_refuses_a_number_without_e164_form(number, capsys):
    with pytest.raises(SystemExit) as usage:
        main(["call", number])
    assert usage.value.code == 2
    assert "is not an E.164 number like +18005550100" in capsys.readouterr().err


def test_a_call_to_an_unpublished_number_says_so_and_the_server_logs_it(
    redis_server, redis_client, monkeypatch, capsys, caplog
):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("IVR_SPOOL_DIR", str(redis_server.dir))
    assert main(["load", str(FLOWS), "--redis-url", redis_server.url]) == 0
    capsys.readouterr()
    assert main(["call", "+18005559999"]) == 1
    out, err = capsys.readouterr()
    assert "We are sorry" in out
    assert "+18005559999 reached no flow: it is not a published number" in err
    assert any(
        "+18005559999 got the apology: unknown number" in r.getMessage()
        for r in caplog.records
        if r.name == "ivr.webhooks"
    )
    assert main(["call", "+18005550100", "--press", "1,1"]) == 0  # a published one: no note
    assert "reached no flow" not in capsys.readouterr().err


def test_call_tells_words_not_understood_and_answers_never_asked_for(
    redis_server, redis_client, monkeypatch, capsys
):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    assert main(["load", str(FLOWS), "--redis-url", redis_server.url]) == 0
    capsys.readouterr()
    assert main(["call", "+18005550100", "--say", "agent"]) == 0  # at the language menu
    lines = capsys.readouterr().out.splitlines()
    said = lines.index("  says 'agent'")
    assert lines[said + 1] == "  (the words said were not understood there: the same prompt again)"
    assert main(["call", "+18005550100", "--press", "1,2", "--say", "agent"]) == 0  # orders: a handoff
    out = capsys.readouterr().out
    assert "(never asked for: the words 'agent'; no prompt was left to answer)" in out


def test_a_version_redis_does_not_hold_is_a_finding_not_a_redis_outage(
    folder, redis_server, redis_client, capsys
):
    assert main(["load", str(folder), "--redis-url", redis_server.url]) == 0
    capsys.readouterr()
    assert main(["rollback", "support", "v9", "--redis-url", redis_server.url]) == 1
    err = one_line(capsys)
    assert "no version to roll back to" in err and "did not answer" not in err
