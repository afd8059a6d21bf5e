"""ivr.publishing against a real redis-server: a publish that changes nothing keeps every
version, a changed flow gets the next one, a publish that would take a live number away is
refused unless named, a rollback makes an earlier version live again, and every change is
in the configuration log with its publisher."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from ivr import keys
from ivr.check import check_folder
from ivr.errors import RemovalRefused, StoreUnavailable
from ivr.flowfile import Sources
from ivr.publishing import publisher
from ivr.store import Store, connect
from tests.conftest import BILLING, FLOWS

OLD = "Your call will be answered by our team in {city}, {country}."
NEW = "Your call will be answered by our people in {city}, {country}."


@pytest.fixture
def store(redis_server, redis_client) -> Store:
    return Store(connect(redis_server.url, timeout=5))


def sources(folder: Path = FLOWS) -> Sources:
    _, found, errors = check_folder(folder, "US")
    assert not errors, errors
    return found


def changed(tmp: Path) -> Sources:
    """The shipped flows with the support flow's disclosure reworded."""
    folder = tmp / "flows"
    shutil.copytree(FLOWS, folder)
    path = folder / "acme.toml"
    text = path.read_text()
    assert OLD in text
    path.write_text(text.replace(OLD, NEW))
    return sources(folder)


def test_an_unchanged_flow_keeps_its_version_and_a_changed_one_gets_the_next(store, redis_client, tmp_path):
    first = store.publish(sources(), by="ana")
    assert set(first.values()) == {1}
    assert store.publish(sources(), by="ana") == first
    second = store.publish(changed(tmp_path), by="bo", message="reworded")
    assert second == {**first, "support": 2}
    assert [v["version"] for v in store.versions("support")] == [1, 2]
    assert [v["live"] for v in store.versions("support")] == [False, True]
    assert (
        store.versions("support")[1]["by"] == "bo" and store.versions("support")[1]["message"] == "reworded"
    )
    assert store.live_version("support") == 2 and store.live_version("nobody") is None
    doc = store.flow_doc("support", 1)
    assert doc is not None and OLD in json.dumps(doc["flow"]) and store.flow_doc("support", 9) is None
    log = store.config_log()
    assert [e["action"] for e in log] == ["publish"] * 3 and log[0]["by"] == "bo"
    assert json.loads(log[0]["was"]) == first and json.loads(log[0]["flows"]) == second


def test_a_publish_that_drops_a_live_number_is_refused_unless_named(store, redis_client):
    store.publish(sources(), by="ana")
    before = {k: redis_client.dump(k) for k in redis_client.keys("*")}
    whole = sources()
    without = dataclasses.replace(whole, numbers={n: v for n, v in whole.numbers.items() if n != BILLING})
    with pytest.raises(RemovalRefused) as refused:
        store.publish(without, by="ana")
    assert refused.value.numbers == [BILLING] and refused.value.centers == []
    assert {k: redis_client.dump(k) for k in redis_client.keys("*")} == before  # nothing written
    store.publish(without, by="ana", allow_removal=[BILLING])
    assert not redis_client.hexists(keys.NUMBERS, BILLING)


def test_a_rollback_makes_an_earlier_version_live_and_logs_it(store, redis_client, tmp_path):
    store.publish(sources(), by="ana")
    store.publish(changed(tmp_path), by="ana")
    assert store.rollback("support", 1, by="bo", message="back") == 2
    assert store.live_version("support") == 1
    assert redis_client.hget(keys.FLOWS_REACH, "support") is not None
    assert store.config_log(count=1)[0] | {"id": ""} == {
        "id": "",
        "action": "rollback",
        "by": "bo",
        "message": "back",
        "flows": json.dumps({"support": 1}),
        "was": json.dumps({"support": 2}),
    }
    with pytest.raises(StoreUnavailable, match="no version 7"):
        store.rollback("support", 7, by="bo")


def test_the_policy_keeps_its_version_while_unchanged(store, redis_client):
    whole = sources()
    assert whole.policy is not None
    store.publish(whole, by="ana")
    store.publish(whole, by="ana")
    assert redis_client.get(keys.POLICY) == b"1" and redis_client.get(keys.POLICY_SEQ) == b"1"
    assert store.policy() is not None
    store.publish(dataclasses.replace(whole, policy=None), by="ana")
    assert store.policy() is None and not redis_client.exists(keys.POLICY)


def test_the_fallback_build_is_remembered(store):
    assert store.fallback_built() == {}
    store.record_fallback("d" * 64, by="ana", numbers=2)
    built = store.fallback_built()
    assert built["digest"] == "d" * 64 and built["by"] == "ana" and built["numbers"] == "2"


def test_the_publisher_is_ivr_publisher_else_the_os_user(monkeypatch):
    monkeypatch.setenv("IVR_PUBLISHER", "ops-bot")
    assert publisher() == "ops-bot"
    monkeypatch.delenv("IVR_PUBLISHER")
    monkeypatch.setenv("LOGNAME", "someone")
    assert publisher() == "someone"
