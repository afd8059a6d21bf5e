"""The `ivr` command as operators run it: `ivr.cli.main([...])` against a real redis-server."""

from __future__ import annotations

import shutil

import pytest

from ivr.cli import main
from ivr.store import Store, connect
from tests.conftest import FLOWS


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
        folder, redis_server, redis_client, capsys):
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
        folder, redis_server, redis_client, capsys):
    url = redis_server.url
    assert main(["load", str(folder), "--redis-url", url]) == 0
    assert main(["load", str(folder), "--redis-url", url]) == 0  # unchanged: same policy version
    store = Store(connect(url, timeout=5))
    log = store.config_log()
    assert [row["policy"] for row in log] == ["1", "1"]
    # v2 of support plays its chime from another host, which the policy v2 allows instead
    _edit(folder, "https://media.acme.example.com/audio/acme-chime.mp3",
          "https://cdn.acme.example.com/audio/acme-chime.mp3")
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
        folder, redis_server, redis_client, capsys, monkeypatch, method):
    url = redis_server.url
    assert main(["load", str(folder), "--redis-url", url]) == 0
    monkeypatch.setenv("REDIS_URL", url)
    assert main(["call", "+18005550100", "--press", "1,1,1", "--status-method", method]) == 0
    out = capsys.readouterr().out
    assert "status callback" not in out, out  # it got 200, as the call's webhooks did
    assert "the called side presses 1" in out, out  # Scranton's agent took it at the whisper
    steps = [e for _, e in redis_client.xrange("onshore:events")]
    assert any(b'"status","status","completed"' in e[b"event"] for e in steps if b"event" in e)
